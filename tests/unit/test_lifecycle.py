"""start, stop, kill, restart, active through the CLI, with the in-memory FakeDriver."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from machine import registry
from machine.cli.main import main
from machine.registry import Registry
from machine.testing import FakeDriver

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    store_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    monkeypatch.setenv("MACHINE_STORAGE_PATH", str(store_root))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr("sys.argv", ["machine"])
    monkeypatch.setattr(registry, "_default", Registry(_loaded={"fake": FakeDriver}))

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def power(store_root: Path, name: str) -> str:
    data = json.loads((store_root / "machines" / name / "config.json").read_text())
    return str(data["Driver"]["Power"])


def test_stop_start_kill_restart_messages(run: Run, store_root: Path) -> None:
    assert run("create", "-d", "fake", "f1")[0] == 0
    code, out, err = run("stop", "f1")
    assert (code, out) == (0, "")
    assert 'Stopping "f1"...' in err and 'Machine "f1" was stopped.' in err
    assert power(store_root, "f1") == "off"
    assert run("status", "f1")[1] == "Stopped\n"

    code, _, err = run("stop", "f1")
    assert code == 1 and 'Machine "f1" is already stopped.' in err
    code, _, err = run("kill", "f1")
    assert code == 1 and 'Machine "f1" is already stopped.' in err

    code, _, err = run("start", "f1")
    assert code == 0
    assert 'Starting "f1"...' in err and 'Machine "f1" was started.' in err
    assert "Started machines may have new IP addresses. You may need to re-run the " in err
    code, _, err = run("start", "f1")
    assert code == 1 and 'Machine "f1" is already running.' in err

    code, _, err = run("kill", "f1")
    assert code == 0 and 'Killing "f1"...' in err and 'Machine "f1" was killed.' in err
    code, _, err = run("restart", "f1")
    assert code == 0 and 'Restarting "f1"...' in err
    assert power(store_root, "f1") == "on"


def test_several_names_run_concurrently_and_errors_are_joined(run: Run) -> None:
    run("create", "-d", "fake", "a")
    run("create", "-d", "fake", "b")
    run("stop", "a")
    code, _, err = run("stop", "a", "b", "ghost")
    assert code == 1
    assert 'Machine "a" is already stopped.' in err
    assert 'Docker machine "ghost" does not exist.' in err
    assert '(b) Machine "b" was stopped.' in err  # concurrent lines carry the name


def test_generic_has_no_stop(run: Run, store_root: Path) -> None:
    from machine.store.filestore import Store
    from machine.store.record import HostRecord

    Store(store_root).save(
        HostRecord(
            Name="g",
            DriverName="generic",
            Driver={"IPAddress": "127.0.0.1", "SSHPort": 1, "MachineName": "g"},
        )
    )
    code, _, err = run("kill", "g")
    assert code == 1 and "generic driver does not support kill" in err


def test_active(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run("active")
    assert code == 1 and "No active host found" in err
    code, _, err = run("active", "x")
    assert code == 1 and "Error: Too many arguments given" in err
    run("create", "-d", "none", "--url", "tcp://192.0.2.4:2376", "n1")
    monkeypatch.setenv("DOCKER_HOST", "tcp://192.0.2.4:2376")
    assert run("active") == (0, "n1\n", "")


def test_missing_sshfs_or_rsync_names_the_package(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    real = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda tool: None if tool in ("sshfs", "rsync") else real(tool)
    )
    code, _, err = run("mount", "f1:/srv", "/mnt/x")
    assert code == 1
    assert "sshfs is not installed on this computer" in err and "apt-get install sshfs" in err
    code, _, err = run("scp", "-d", "a.txt", "f1:/tmp/")
    assert code == 1 and "apt-get install rsync" in err
