"""The bad-input corpus: well over a thousand command lines a hostile or careless user, a
script with an unset variable, or a copied store can produce (every path in it lies inside
the test's own sandbox). Every one must end with a message and a
non-zero exit: no Python traceback, no "this is a bug" line from the last-resort handler,
nothing written outside the store, nothing executed (the canary never appears).

The corpus is generated from lists of bad values per kind of input, crossed with the commands
that take them; `test_the_corpus_is_large_enough` keeps its size honest.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.cli.conftest import NO_LIBVIRT, Sandbox

URL = "tcp://127.0.0.1:2376"
NOWHERE = "http://127.0.0.1:1"  # an endpoint nothing listens on: nothing leaves this machine
KVM = ["create", "-d", "kvm", "--kvm-connection-uri", NO_LIBVIRT]


def _names(box: Sandbox) -> list[str]:
    # Paths name the sandbox's own victim folder, never one of the machine's: a regression
    # (or an old build run against this corpus) would delete what they name.
    victim = str(box.victim)
    return ["", ".", "..", "../x", victim, "a/b", "web\n", "a b", "-x", "a" * 300, "é", "x;y"]


def _hostile_strings(canary: str) -> list[str]:
    return [
        f"$(touch {canary})",
        f"`touch {canary}`",
        f"; touch {canary}",
        f"a\ntouch {canary}",
        f"-oProxyCommand=touch {canary}",
        "\x00",
        "a" * 5000,
        "%s%n%x",
        "{{.}}",
        "'\"",
    ]


NUMBERS = ["nan", "inf", "-inf", "1e308", "-1", "abc", "", "1e-400", "9" * 400, "0x10"]
TEMPLATES = [
    "{{and}}",
    "{{or}}",
    "{{ne 1}}",
    "{{eq 1}}",
    "{{lt 1}}",
    '{{lt 1 "a"}}',
    "{{join .Name 1}}",
    "{{join 1 .Name}}",
    '{{printf "%c" 99999999}}',
    '{{printf "%.1000000000f" 1}}',
    '{{printf "%*d" 5 1}}',
    '{{printf "%d" "x"}}',
    "{{printf 1}}",
    "{{" + "(" * 3000 + "1" + ")" * 3000 + "}}",
    "{{if 1}}" * 3000 + "x" + "{{end}}" * 3000,
    "{{",
    "{{.Name",
    "{{.Name}} {{",
    "{{end}}",
    "{{else}}",
    "{{if}}{{end}}",
    "{{range}}{{end}}",
    "{{range 5}}{{end}}",
    '{{template "x"}}',
    "{{define}}",
    "{{index .Name 99}}",
    "{{index . 99}}",
    "{{len 5}}",
    "{{.Nope.Deeper}}",
    "{{$x}}",
    "{{$x := }}",
    "{{call .Name}}",
    "{{html .}}",
    "{{.Name 1}}",
    "{{1 | 2}}",
    "{{" + "9" * 5000 + "}}",
    "{{/* unclosed",
    "{{-}}",
    "{{with}}{{end}}",
    "{{upper}}",
]


def corpus(box: Sandbox) -> list[dict[str, Any]]:
    canary = str(box.canary)
    hostile = _hostile_strings(canary)
    cases: list[list[str]] = []
    # 1. names that are not machine names, for every command that takes one
    name_commands = [
        ["rm", "-f"],
        ["rm", "-y"],
        ["stop"],
        ["kill"],
        ["start"],
        ["restart"],
        ["provision"],
        ["regenerate-certs", "-f"],
        ["env"],
        ["ip"],
        ["url"],
        ["status"],
        ["inspect"],
        ["config"],
        ["upgrade"],
        ["version"],
        ["ssh"],
        ["create", "-d", "none", "--url", URL],
    ]
    for command, name in itertools.product(name_commands, _names(box) + hostile):
        cases.append([*command, name])
    # 2. numbers where numbers are expected
    for value in NUMBERS:
        cases += [
            ["create", "-d", "none", "--url", URL, "--wait-timeout", value, "n1"],
            ["ls", "-t", value],
            ["active", "-t", value],
            ["create", "-d", "generic", "--generic-ip-address", "127.0.0.1",
             "--generic-ssh-port", value, "n1"],
            ["create", "-d", "generic", "--generic-ip-address", "127.0.0.1",
             "--generic-engine-port", value, "n1"],
            [*KVM, "--kvm-memory", value, "n1"],
            [*KVM, "--kvm-cpu-count", value, "n1"],
            [*KVM, "--kvm-disk-size", value, "n1"],
            ["create", "-d", "amazonec2", "--amazonec2-endpoint", NOWHERE,
             "--amazonec2-ami", "ami-1", "--amazonec2-root-size", value, "n1"],
            ["create", "-d", "amazonec2", "--amazonec2-endpoint", NOWHERE,
             "--amazonec2-ami", "ami-1", "--amazonec2-retries", value, "n1"],
        ]  # fmt: skip
    for port in ("0", "-1", "65536", "99999999999999999999"):
        cases.append(
            ["create", "-d", "generic", "--generic-ip-address", "127.0.0.1",
             "--generic-ssh-port", port, "n1"]
        )  # fmt: skip
    # 3. strings where addresses, users, URLs and options are expected
    generic = ["create", "-d", "generic", "--wait-timeout", "5"]
    for value in [*hostile, "", "a b", "999.1.1.1", "[::1]", "::1::2", "-x", "h\n"]:
        cases += [
            [*generic, "--generic-ip-address", value, "n1"],
            [*generic, "--generic-ip-address", "127.0.0.1", "--generic-ssh-user", value, "n1"],
            [*generic, "--generic-ip-address", "127.0.0.1", "--generic-ssh-key", value, "n1"],
            [*generic, "--generic-ip-address", "127.0.0.1", "--tls-san", value, "n1"],
            [*generic, "--generic-ip-address", "127.0.0.1", "--engine-install-url", value, "n1"],
            [*generic, "--generic-ip-address", "127.0.0.1", "--engine-env", value, "n1"],
            [*generic, "--generic-ip-address", "127.0.0.1", "--engine-label", value, "n1"],
            [*generic, "--generic-ip-address", "127.0.0.1",
             "--engine-storage-driver", value, "n1"],
            [*generic, "--generic-ip-address", "127.0.0.1",
             "--engine-insecure-registry", value, "n1"],
            [*generic, "--generic-ip-address", "127.0.0.1",
             "--engine-registry-mirror", value, "n1"],
            [*generic, "--generic-ip-address", "127.0.0.1", "--engine-opt", value, "n1"],
            [*KVM, "--kvm-network", value, "n1"],
            [*KVM, "--kvm-image", value, "n1"],
            [*KVM, "--kvm-connection-uri", value, "n1"],
            [*KVM, "--kvm-accel", value, "n1"],
            [*KVM, "--kvm-cache-mode", value, "n1"],
            [*KVM, "--kvm-ssh-user", value, "n1"],
            ["create", "-d", "amazonec2", "--amazonec2-endpoint", NOWHERE,
             "--amazonec2-ami", "ami-1", "--amazonec2-region", value, "n1"],
            ["create", "-d", "amazonec2", "--amazonec2-endpoint", NOWHERE,
             "--amazonec2-ami", "ami-1", "--amazonec2-allowed-cidr", value, "n1"],
            ["create", "-d", "amazonec2", "--amazonec2-endpoint", NOWHERE,
             "--amazonec2-ami", "ami-1", "--amazonec2-ssh-user", value, "n1"],
            ["create", "-d", value or "x y", "n1"],
            ["env", "--shell", value or "-", "m1", "extra"],
            ["scp", f"{value}:/x", "y"],
            ["scp", f"m1:{value}", "y"],
            ["mount", f"{value}:/x", "mnt"],
            ["ls", "--filter", value or "="],
            ["ls", "--filter", f"name={value}("],
            ["-s", str(box.victim / "precious.txt"), "create", "-d", "none", "--url", URL,
             "n1"],
        ]  # fmt: skip
    missing = str(box.root / "no-such-folder" / "ca.pem")
    for ca in (str(box.victim), str(box.victim / "precious.txt"), missing):
        cases.append(["--tls-ca-cert", ca, "create", "-d", "none", "--url", URL, "n1"])
    # 4. templates
    for template in TEMPLATES:
        cases += [["inspect", "-f", template, "m1"], ["ls", "--format", template]]
    # 5. commands that cannot succeed on what the store holds
    cases += [
        ["ssh", "m1"],
        ["scp", "m1:/x", "y"],
        ["provision", "m1"],
        ["regenerate-certs", "-f", "m1"],
        ["start", "m1"],
        ["stop", "m1"],
        ["kill", "m1"],
        ["upgrade", "m1"],
        ["version", "down"],
        ["active", "extra"],
        ["env", "-u", "m1"],
        ["env", "--swarm", "m1"],
        ["config", "--swarm", "m1"],
        ["image", "pull", "nosuch-image"],
        ["image", "rm", "nosuch-image"],
        ["orphans", "--remove", "x"],
        ["rm"],
        ["create"],
        ["frobnicate"],
        ["create", "-d", "none", "--url", URL, "--swarm", "n1"],
        ["create", "-d", "none", "--url", URL, "--swarm-discovery", "token://x", "n1"],
        ["create", "-d", "none", "--url", URL, "m1"],
        ["create", "-d", "none", "--url", URL, "n1", "extra"],
        ["ls", "extra"],
        ["ip", "m1", "nosuch"],
        ["status", "nosuch"],
        ["inspect", "m1", "m1"],
    ]
    return [{"argv": argv, "timeout": 30} for argv in cases]


@pytest.fixture
def populated(sandbox: Sandbox) -> Sandbox:
    cli = sandbox.cli()
    cli("create", "-d", "none", "--url", URL, "m1")
    cli("create", "-d", "none", "--url", "tcp://127.0.0.1:1", "down")
    return sandbox


def test_the_corpus_is_large_enough(sandbox: Sandbox) -> None:
    assert len(corpus(sandbox)) >= 1000


def test_no_bad_input_crashes_writes_outside_the_store_or_runs_anything(
    populated: Sandbox,
) -> None:
    box = populated
    store_before = json.dumps(sorted(str(p) for p in box.store.rglob("*")))
    outside_before = box.outside_store()
    cases = corpus(box)
    results = box.run_many(cases, workers=2)
    problems = []
    for case, result in zip(cases, results, strict=True):
        text = result["stderr"] + result["stdout"]
        if (
            result["code"] == 0
            or result["timed_out"]
            or "Traceback" in text
            or "This is a bug" in text
        ):
            problems.append(f"{case['argv']!r}: exit {result['code']}: {text[-400:]}")
    assert not problems, f"{len(problems)} of {len(cases)}:\n" + "\n".join(problems[:40])
    slow = sorted(((r["seconds"], c["argv"]) for c, r in zip(cases, results, strict=True)))[-8:]
    print("slowest:", *(f"{s:.1f}s {a}" for s, a in slow), sep="\n")
    assert not box.canary.exists()
    assert box.outside_store() == outside_before
    assert (box.victim / "precious.txt").read_text() == "keep me\n"
    # the store holds what it held: the two machines and their files, nothing half made
    assert json.dumps(sorted(str(p) for p in box.store.rglob("*"))) == store_before
