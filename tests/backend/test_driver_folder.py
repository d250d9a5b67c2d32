"""A driver is added by its folder under drivers/ and nothing else: in a copy of this repository
with tests/fixtures/toy-driver copied to drivers/toy (no other file touched), the toy is bundled
by `pip install .` (setup.py), type-checked by mypy's configured files, first-party to ruff, and
its contract is checked by the contract suite with the backend its folder brings."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from testbed.wheels import build_wheel

pytestmark = pytest.mark.backend

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "tests" / "fixtures" / "toy-driver"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's tracked files, plus drivers/toy."""
    copy = tmp_path_factory.mktemp("repo")
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)
    shutil.copytree(
        TOY, copy / "drivers" / "toy", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    return copy


def test_pip_install_bundles_the_new_folder(repo: Path, tmp_path: Path) -> None:
    wheel = build_wheel(repo, tmp_path)
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        entry_points = whl.read(next(n for n in names if n.endswith("entry_points.txt")))
    assert "machine_driver_toy/__init__.py" in names
    assert "toy = machine_driver_toy:ToyDriver" in entry_points.decode()


def test_mypy_and_ruff_take_the_new_folder(repo: Path) -> None:
    from mypy.config_parser import parse_config_file
    from mypy.options import Options

    options = Options()
    cwd = os.getcwd()
    os.chdir(repo)  # the configured globs are relative to the project
    try:
        parse_config_file(options, lambda: None, "pyproject.toml", io.StringIO(), io.StringIO())
    finally:
        os.chdir(cwd)
    assert "drivers/toy/machine_driver_toy/__init__.py" in (options.files or [])
    assert "for contract in drivers/*/contract.py" in (repo / "tools" / "lint").read_text()
    # contract.py imports machine and machine_driver_toy in one block: ruff accepts that only
    # when it takes the new driver's package as first-party
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "drivers/toy"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


def test_contract_suite_checks_the_new_driver(repo: Path, tmp_path: Path) -> None:
    """Installed as tools/setup installs a driver folder (editable: the folder on the path, its
    metadata beside), the toy passes the contract suite with its folder's backend."""
    info = tmp_path / "site" / "machine_driver_toy-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(
        "[machine.drivers]\ntoy = machine_driver_toy:ToyDriver\n"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DOCKER_") or k == "DOCKER_CONFIG"
    }
    env["PYTHONPATH"] = os.pathsep.join([str(repo / "drivers" / "toy"), str(tmp_path / "site")])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/backend/test_contract.py",
            "-k",
            "toy",
            "-rA",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED tests/backend/test_contract.py::test_driver_contract[toy]" in result.stdout
