"""Every command that takes a machine name refuses anything that is not one, before any path
is built from it: nothing outside `machines/NAME/` is read, written, locked or removed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.conftest import Sandbox

# argv templates: NAME is replaced by the name under test
COMMANDS = [
    ["rm", "-f", "NAME"],
    ["rm", "-y", "NAME"],
    ["rm", "-y", "m1", "NAME"],  # a bad name among good ones: nothing is removed
    ["stop", "NAME"],
    ["kill", "NAME"],
    ["start", "NAME"],
    ["restart", "NAME"],
    ["provision", "NAME"],
    ["regenerate-certs", "-f", "NAME"],
    ["ssh", "NAME", "true"],
    ["scp", "NAME:/etc/hostname", "out.txt"],
    ["mount", "NAME:/srv", "mnt"],
    ["env", "NAME"],
    ["ip", "NAME"],
    ["url", "NAME"],
    ["status", "NAME"],
    ["inspect", "NAME"],
    ["config", "NAME"],
    ["upgrade", "NAME"],
    ["version", "NAME"],
    ["create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "NAME"],
]


def bad_names(sandbox: Sandbox) -> list[str]:
    return [
        "",
        ".",
        "..",
        str(sandbox.victim),
        "./../../victim",
        "../victim",
        "m1/../..",
        "web\n",
        "m1\n",
        "-rf",
        "~",
        "a" * 250,
        "a b",
        "é",
    ]


@pytest.fixture
def populated(sandbox: Sandbox) -> Sandbox:
    sandbox.cli()("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "m1")
    return sandbox


def test_every_command_refuses_names_that_are_not_machine_names(populated: Sandbox) -> None:
    box = populated
    before_store = sorted(p.name for p in (box.store / "machines").iterdir())
    before_outside = box.outside_store()
    cases: list[dict[str, Any]] = []
    for name in bad_names(box):
        for template in COMMANDS:
            if template[0] in ("scp", "mount") and "/" in name:
                continue  # as for scp, a slash before the colon makes it a local path
            argv = [name if w == "NAME" else w.replace("NAME", name) for w in template]
            cases.append({"argv": argv, "timeout": 20})
    results = box.run_many(cases)
    for case, result in zip(cases, results, strict=True):
        where = f"machine {case['argv']!r}: {result}"
        assert result["code"] == 1, where
        assert "Traceback" not in result["stderr"], where
        assert (
            "Invalid hostname specified" in result["stderr"]
            # `-rf` is an option to the commands that take options (ssh: its own)
            or "No such option" in result["stderr"]
            or "ssh options go after the machine name" in result["stderr"]
        ), where
        assert result["stdout"] == "" or case["argv"][0] == "rm", where
    # nothing was removed, made or locked anywhere
    assert sorted(p.name for p in (box.store / "machines").iterdir()) == before_store
    assert (box.store / "certs" / "ca-key.pem").is_file()
    assert (box.victim / "precious.txt").read_text() == "keep me\n"
    assert box.outside_store() == before_outside


def test_rm_without_a_name_or_with_an_empty_variable(populated: Sandbox) -> None:
    cli = populated.cli()
    result = cli("rm", "-f", check=False)
    assert result.returncode == 1
    assert "Expected to get one or more machine names as arguments" in result.stderr
    for argv in (["rm", "-f", ""], ["rm", "-f", "."], ["rm", "-f", ".."]):
        result = cli(*argv, check=False)
        assert result.returncode == 1 and "Invalid hostname specified" in result.stderr
    assert cli("ls", "-q").stdout == "m1\n"
    assert (populated.store / "certs" / "ca.pem").is_file()


def test_an_over_long_name_is_refused_at_create_with_the_reason(sandbox: Sandbox) -> None:
    result = sandbox.cli()("create", "-d", "none", "--url", "tcp://h:1", "a" * 65, check=False)
    assert result.returncode == 1
    assert "a host name has at most 64 characters" in result.stderr
    assert not (sandbox.store / "machines").exists() or not any(
        (sandbox.store / "machines").iterdir()
    )
