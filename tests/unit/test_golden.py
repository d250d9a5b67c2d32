"""Golden outputs: every message, format and exit code of reference §5-§6 that scripts read,
under both names (`machine`, and `docker-machine` as when run through a link of that name).

Each scenario's exit code, stdout and stderr are compared with tests/fixtures/golden/PROG/NAME.txt
(store paths shown as <STORE>). MACHINE_UPDATE_GOLDEN=1 re-records them: review the diff.
Scenarios run through the entry point users run (machine.cli.fast, which serves the common read
commands itself); those the fast path serves also run through the full command line alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from machine import registry
from machine.cli import fast
from machine.cli.main import main
from machine.registry import Registry
from machine.testing import FakeDriver

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"

URL = "tcp://192.0.2.20:2376"
SETUP = [("create", "-d", "none", "--url", URL, "m2"), ("create", "-d", "fake", "f1")]

# name -> (argv, extra environment)
SCENARIOS: dict[str, tuple[list[str], dict[str, str]]] = {
    **{
        f"env-{shell}": (["env", "--shell", shell, "m2"], {})
        for shell in (
            "bash",
            "fish",
            "powershell",
            "cmd",
            "emacs",
            "tcsh",
            "zsh",
            "nu",
            "dotenv",
            "json",
        )
    },
    **{
        f"env-unset-{shell}": (["env", "--shell", shell, "-u"], {})
        for shell in ("bash", "fish", "powershell", "cmd", "emacs", "tcsh")
    },
    "env-detected-fish": (["env", "m2"], {"SHELL": "/usr/bin/fish"}),
    "env-no-shell": (["env", "m2"], {"SHELL": ""}),
    "env-no-proxy": (["env", "--no-proxy", "m2"], {"NO_PROXY": "localhost"}),
    "env-unset-no-proxy": (["env", "-u", "--no-proxy"], {"no_proxy": "localhost"}),
    "env-unset-with-name": (["env", "-u", "m2"], {}),
    "env-two-names": (["env", "m2", "f1"], {}),
    "env-no-default": (["env"], {}),
    "config": (["config", "m2"], {}),
    "url": (["url", "m2"], {}),
    "ip": (["ip", "m2"], {}),
    "ip-two": (["ip", "m2", "m2"], {}),
    "status": (["status", "m2"], {}),
    "status-missing": (["status", "nosuch"], {}),
    "ip-missing": (["ip", "nosuch"], {}),
    "inspect-format": (["inspect", "-f", "{{.DriverName}} {{.Driver.URL}}", "m2"], {}),
    "inspect-bad-format": (["inspect", "-f", "{{.Nope}}", "m2"], {}),
    "ls-quiet": (["ls", "-q"], {}),
    "ls-format": (["ls", "--format", "table {{.Name}}\\t{{.DriverName}}\\t{{.State}}"], {}),
    "ls-active": (["ls", "--format", "{{.Name}} {{.Active}}"], {"DOCKER_HOST": URL}),
    "ls-filter-syntax": (["ls", "--filter", "state"], {}),
    "ls-filter-key": (["ls", "--filter", "color=red"], {}),
    "ls-extra": (["ls", "extra"], {}),
    "active": (["active"], {"DOCKER_HOST": URL}),
    "active-none": (["active"], {}),
    "active-args": (["active", "x"], {}),
    "create-exists": (["create", "-d", "none", "--url", URL, "m2"], {}),
    "create-invalid-name": (["create", "-d", "none", "--url", URL, "a_b"], {}),
    "create-no-name": (["create", "-d", "none", "--url", URL], {}),
    "create-extra-args": (["create", "-d", "none", "--url", URL, "n1", "extra", "x2"], {}),
    "rm-no-name": (["rm", "-y"], {}),
    "rm-invalid-name": (["rm", "-f", ".."], {}),
    "no-arguments": ([], {}),
    "version-flag": (["-v"], {}),
    "create-pre-create": (["create", "-d", "none", "n1"], {}),
    "create-none": (["create", "-d", "none", "--url", URL, "--engine-label", "a=b", "n2"], {}),
    "create-unknown-driver": (["create", "-d", "nosuch", "n1"], {}),
    "stop": (["stop", "f1"], {}),
    "start-running": (["start", "f1"], {}),
    "kill": (["kill", "f1"], {}),
    "rm-missing": (["rm", "-y", "nosuch"], {}),
    "rm": (["rm", "-y", "f1"], {}),
    "unknown-command": (["frobnicate"], {}),
    "version": (["version"], {}),
}


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., str]:
    store = tmp_path / "store"
    monkeypatch.setenv("MACHINE_STORAGE_PATH", str(store))
    monkeypatch.setenv("SHELL", "/bin/bash")
    monkeypatch.setenv("USER", "alice")
    for var in ("DOCKER_HOST", "NO_PROXY", "no_proxy", "MACHINE_COMPAT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(registry, "_default", Registry(_loaded={"fake": FakeDriver}))

    def invoke(prog: str, argv: list[str], entry: Callable[[list[str]], int] = main) -> str:
        monkeypatch.setattr("sys.argv", [prog, *argv])
        code = entry(argv)
        out, err = capsys.readouterr()
        text = f"exit {code}\n--- stdout\n{out}--- stderr\n{err}"
        text = re.sub(r"build ([0-9a-f]{7}|release)\b", "build <BUILD>", text)
        return text.replace(str(store), "<STORE>")

    for argv in SETUP:
        invoke("machine", list(argv))
    return invoke


def _environment(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> None:
    """A scenario's variables: set, or unset where its value is empty."""
    for key, value in environ.items():
        if value:
            monkeypatch.setenv(key, value)
        else:
            monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize("prog", ["machine", "docker-machine"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden(
    cli: Callable[..., str], monkeypatch: pytest.MonkeyPatch, prog: str, name: str
) -> None:
    argv, environ = SCENARIOS[name]
    _environment(monkeypatch, environ)
    text = cli(prog, list(argv), fast.main)  # the entry point users run
    golden = GOLDEN / prog / f"{name}.txt"
    if os.environ.get("MACHINE_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


# the invocations the fast path must serve itself (the rest of SCENARIOS may go either way)
FAST = {
    "env-bash",
    "env-fish",
    "env-unset-bash",
    "env-no-proxy",
    "env-unset-no-proxy",
    "env-two-names",
    "env-no-default",
    "env-unset-with-name",
    "config",
    "url",
    "ip",
    "ip-two",
    "ip-missing",
    "status",
    "status-missing",
    "inspect-format",
    "inspect-bad-format",
    "ls-quiet",
    "ls-format",
    "ls-active",
    "ls-filter-syntax",
    "ls-filter-key",
    "ls-extra",
    "active",
    "active-none",
    "active-args",
    "version",
    "create-exists",
    "create-invalid-name",
    "create-pre-create",
    "create-none",
}


@pytest.mark.parametrize("prog", ["machine", "docker-machine"])
@pytest.mark.parametrize("name", sorted(FAST))
def test_the_fast_path_says_what_the_full_command_line_says(
    cli: Callable[..., str], monkeypatch: pytest.MonkeyPatch, prog: str, name: str
) -> None:
    argv, environ = SCENARIOS[name]
    assert fast.served(list(argv))  # without the framework
    _environment(monkeypatch, environ)
    assert cli(prog, list(argv), main) == (GOLDEN / prog / f"{name}.txt").read_text()


@pytest.mark.parametrize(
    "argv",
    [
        ["env", "--help"],
        ["-D", "env", "m2"],
        ["env", "-x", "m2"],
        ["ls", "-qt5"],
        ["inspect", "-f{{.Name}}", "m2"],
        ["env", "--", "m2"],
        ["env", "--shell"],
        ["--native-ssh", "ip", "m2"],
        ["-s=/tmp", "ip", "m2"],
        ["env", "--unset=1"],
        ["create", "-d", "none", "--help"],
        ["create", "--url", URL, "m3"],  # the local default driver: the registry decides
        ["create", "-d", "nosuch", "m3"],
        ["create", "-d", "none", "--url", URL],
        ["create", "-d", "none", "--url", URL, "a", "b"],
        ["create", "-d", "none", "--url", URL, "-d", "fake", "m3"],
        ["create", "-d", "none", "--url", "-x", "m3"],
        [],
    ],
)
def test_anything_unusual_goes_to_the_full_command_line(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MACHINE_DRIVER", raising=False)
    assert not fast.served(argv)


def test_a_create_on_the_fast_path_stores_what_the_full_command_line_stores(
    cli: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGINE_REGISTRY_MIRROR", "https://mirror.example")
    flags = ["-d", "none", "--url", URL, "--engine-label", "a=b", "--engine-opt", "x=y"]
    flags += ["--engine-storage-driver", "overlay2", "--tls-san", "h.example"]
    assert fast.served(["create", *flags, "quick"])
    cli("machine", ["create", *flags, "quick"], fast.main)
    cli("machine", ["create", *flags, "slow"], main)
    store = tmp_path / "store" / "machines"
    quick = (store / "quick" / "config.json").read_text().replace("quick", "NAME")
    assert quick == (store / "slow" / "config.json").read_text().replace("slow", "NAME")
    assert '"a=b"' in quick and "https://mirror.example" in quick
