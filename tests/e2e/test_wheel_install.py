"""machine installed as users install it: the wheel built from this repository, into a fresh
virtualenv (not editable, no access to the checkout), then a generic machine on a test host.

The fresh virtualenv gets its dependencies from the wheelhouse tools/setup fills: tests reach
no package index."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from testbed.hosts import CACHE
from testbed.wheels import build_wheel

ROOT = Path(__file__).resolve().parents[2]
WHEELS = CACHE / "wheels"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `machine` script of a fresh virtualenv with only the built wheel in it."""
    if not any(WHEELS.glob("*.whl")):
        pytest.fail(f"no wheelhouse at {WHEELS}: run tools/setup (as root) first")
    dist = tmp_path_factory.mktemp("dist")
    wheel = build_wheel(ROOT, dist)
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin/python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(WHEELS),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    _compiled_at_install(venv)
    return venv / "bin" / "machine"


def _compiled_at_install(venv: Path) -> None:
    """Every module of the wheel has its bytecode from the install: a user whose environment
    says PYTHONDONTWRITEBYTECODE, or who cannot write to site-packages, does not compile
    machine on every command. (Checked before anything has run from the virtualenv.)"""
    import importlib.util

    (site,) = venv.glob("lib/python3*/site-packages")
    modules = [*site.glob("machine/**/*.py"), *site.glob("machine_driver_*/**/*.py")]
    assert len(modules) > 50, modules
    missing = [m for m in modules if not Path(importlib.util.cache_from_source(str(m))).is_file()]
    assert not missing, f"no bytecode for {missing[:5]}"


def _run(machine: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCKER_", "PYTHON")) or k == "DOCKER_CONFIG"
    }
    env["MACHINE_STORAGE_PATH"] = str(store)
    # run from elsewhere: nothing of the checkout may be picked up
    return subprocess.run(
        [str(machine), *args], capture_output=True, text=True, env=env, cwd="/", timeout=600
    )


def test_plain_install_brings_the_drivers_without_sdk(installed: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    help_text = " ".join(_run(installed, store, "create", "--help").stdout.split())
    import re

    listed = re.split(r"[,.] ", help_text.split("Drivers: ", 1)[-1])
    assert "generic" in listed and "none" in listed, help_text  # no SDK: usable as installed
    # bundled drivers whose SDK is not installed say which extra brings it
    assert "kvm (needs: pip install 'machine[kvm]')" in help_text
    assert "amazonec2 (needs: pip install 'machine[aws]')" in help_text
    assert "vmwarevsphere (needs: pip install 'machine[vsphere]')" in help_text
    refused = _run(installed, store, "create", "-d", "kvm", "k1")
    assert refused.returncode == 1
    assert "The kvm driver needs libvirt, which is not installed" in refused.stderr
    assert "pip install 'machine[kvm]'" in refused.stderr
    assert not (store / "machines" / "k1").exists()


def test_generic_machine_from_the_wheel(
    installed: Path, tmp_path: Path, host_factory: Any, ssh_key: tuple[Path, str]
) -> None:
    host = host_factory("docker")
    store = tmp_path / "store"
    created = _run(
        installed,
        store,
        *("create", "-d", "generic", "--generic-ip-address", host.ip),
        *("--generic-ssh-key", str(ssh_key[0]), "--wait-timeout", "120", "w1"),
    )
    assert created.returncode == 0, created.stderr
    listed = _run(installed, store, "ls", "--format", "{{.Name}} {{.DriverName}} {{.State}}")
    assert listed.stdout.split() == ["w1", "generic", "Running"]
    version = _run(installed, store, "ssh", "w1", "docker", "version", "--format", "{{.Server.Os}}")
    assert version.stdout.strip() == "linux", version.stderr
    removed = _run(installed, store, "rm", "-y", "w1")
    assert removed.returncode == 0, removed.stderr
