"""The VBoxManage adapter's rules, run against small stand-in programs: "The object is not
ready" retried, `error:` on stderr a failure even with exit status 0, the lock beside
VirtualBox's registry."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from machine_driver_virtualbox import vbm

pytestmark = pytest.mark.backend


def _program(tmp_path: Path, script: str) -> str:
    path = tmp_path / "VBoxManage"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_not_ready_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBOX_USER_HOME", str(tmp_path / "home"))
    counter = tmp_path / "count"
    binary = _program(
        tmp_path,
        f'echo x >> {counter}\nif [ "$(wc -l < {counter})" -lt 3 ]; then\n'
        '  echo "VBoxManage: error: The object is not ready" >&2; exit 1\nfi\necho done\n',
    )
    assert vbm.VBoxManage(binary)("list", "vms") == "done\n"
    assert counter.read_text().count("x") == 3
    # the lock sits beside VirtualBox's registry, private to the user
    lock = tmp_path / "home" / "machine-vboxmanage.lock"
    assert lock.exists() and stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_error_on_stderr_fails_even_with_exit_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VBOX_USER_HOME", str(tmp_path / "home"))
    binary = _program(tmp_path, 'echo "VBoxManage: error: Details: code E_FAIL" >&2\nexit 0\n')
    with pytest.raises(vbm.VBoxError, match="VBoxManage modifyvm: Details: code E_FAIL"):
        vbm.VBoxManage(binary)("modifyvm", "x")
    quiet = _program(tmp_path, "echo 0%...100% >&2\nexit 1\n")
    with pytest.raises(vbm.VBoxError, match="failed with no message"):
        vbm.VBoxManage(quiet)("startvm", "x")
