"""Driver plugins installed with pip from outside this repository behave like bundled ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MACHINE = str(Path(sys.executable).parent / "machine")


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install the toy and the broken driver packages into a directory of their own."""
    target = tmp_path_factory.mktemp("plugins")
    for package in ("toy-driver", "broken-driver"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--target",
                str(target),
                str(FIXTURES / package),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return target


def run(plugin_path: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DOCKER_") or k == "DOCKER_CONFIG"
    }
    env.update(PYTHONPATH=str(plugin_path), MACHINE_STORAGE_PATH=str(store), SHELL="/bin/sh")
    return subprocess.run([MACHINE, *args], capture_output=True, text=True, env=env, timeout=60)


def test_third_party_driver_works_like_a_bundled_one(plugin_path: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    help_text = run(plugin_path, store, "create", "-d", "toy", "--help").stdout
    assert "--toy-greeting" in help_text and "[$TOY_GREETING]" in help_text
    created = run(plugin_path, store, "create", "-d", "toy", "--toy-port", "12376", "t1")
    assert created.returncode == 0, created.stderr
    config = json.loads((store / "machines/t1/config.json").read_text())
    assert config["DriverName"] == "toy"
    assert config["Driver"]["Greeting"] == "hello"
    assert config["Driver"]["Port"] == 12376
    env = run(plugin_path, store, "env", "t1")
    assert 'export DOCKER_HOST="tcp://127.0.0.1:12376"' in env.stdout
    ls = run(plugin_path, store, "ls")
    assert ls.stdout.splitlines()[1].split()[:4] == ["t1", "-", "toy", "Running"]
    assert run(plugin_path, store, "rm", "-y", "t1").returncode == 0


def test_broken_plugin_is_a_warning_not_a_crash(plugin_path: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run(plugin_path, store, "create", "-d", "toy", "t1").returncode == 0
    ls = run(plugin_path, store, "ls")
    assert ls.returncode == 0
    assert 'driver plugin "broken" is broken' in ls.stderr
    assert "machine_sdk_that_is_not_installed" in ls.stderr
    help_text = run(plugin_path, store, "create", "--help")
    assert 'Driver "broken" is installed but cannot be loaded' in help_text.stderr
    assert "toy" in help_text.stdout  # listed among the drivers
    used = run(plugin_path, store, "create", "-d", "broken", "b1")
    assert used.returncode == 1
    assert 'Driver "broken" is installed but cannot be loaded' in used.stderr
    assert not (store / "machines/b1").exists()
