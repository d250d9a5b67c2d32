"""A store written by docker-machine 0.16 (every driver, config versions 0-3) keeps working."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from machine.registry import Registry
from tests import aws
from tests.storefixture import FIXTURE, make_dm_store

pytestmark = pytest.mark.backend

MACHINE = str(Path(sys.executable).parent / "machine")


@pytest.fixture(scope="module", autouse=True)
def ec2() -> Iterator[aws.EC2]:
    """dm-aws is an amazonec2 machine: its driver asks moto (a simulator), never AWS."""
    with aws.running() as ec2:
        _ec2.append(ec2)
        yield ec2
        _ec2.clear()


_ec2: list[aws.EC2] = []


def run(store: Path, *args: str, prog: str = MACHINE) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in _ec2[0].env().items()
        if not k.startswith("DOCKER_") or k == "DOCKER_CONFIG"
    }
    env.update(MACHINE_STORAGE_PATH=str(store), SHELL="/bin/bash")
    return subprocess.run([prog, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_dm_store(tmp_path / "dm")


def test_ls_lists_every_machine(store: Path) -> None:
    result = run(store, "ls", "-t", "5")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert sorted(rows) == [
        "dm-aws",
        "dm-generic",
        "dm-kvm",
        "dm-none",
        "dm-v0",
        "dm-v1",
        "dm-v2",
        "dm-vbox",
        "dm-vsphere",
    ]
    installed = Registry().names()
    for name in ("dm-vbox", "dm-vsphere"):  # listed whether or not their driver is installed
        driver = json.loads((store / "machines" / name / "config.json").read_text())["DriverName"]
        not_found = rows[name].split()[1:4] == ["-", "not", "found"]
        assert not_found == (driver not in installed), rows[name]
        assert "Error" in rows[name]
    # its instance is not in this (simulated) account
    assert rows["dm-aws"].split()[1:5] == ["-", "amazonec2", "Not", "Found"], rows["dm-aws"]
    # kvm is installed: its VM is not there (or libvirtd is not running here)
    assert rows["dm-kvm"].split()[1:3] == ["-", "kvm"]
    assert rows["dm-kvm"].split()[3] in ("Error", "Not"), rows["dm-kvm"]
    assert rows["dm-none"].split()[2] == "none"
    assert rows["dm-generic"].split()[2] == "generic"
    assert run(store, "ls", "-q").stdout.split() == sorted(rows)


def test_old_configs_migrate_once_with_a_backup(store: Path) -> None:
    originals = {
        n: (store / f"machines/{n}/config.json").read_text() for n in ("dm-v0", "dm-v1", "dm-v2")
    }
    assert run(store, "ls", "-q", "--filter", "driver=generic").returncode == 0
    for name, original in originals.items():
        mdir = store / "machines" / name
        assert (mdir / "config.json.bak").read_text() == original
        data = json.loads((mdir / "config.json").read_text())
        assert data["ConfigVersion"] == 3
        assert data["Name"] == name
        auth = data["HostOptions"]["AuthOptions"]
        assert auth["CaPrivateKeyPath"] == f"{store}/certs/ca-key.pem"
        assert auth["CertDir"] == f"{store}/certs"
        assert auth["StorePath"] == f"{store}/machines/{name}"
        assert data["Driver"]["StorePath"] == str(store)
        assert "PrivateKeyPath" not in auth
    labels = json.loads((store / "machines/dm-v1/config.json").read_text())
    assert labels["HostOptions"]["EngineOptions"]["Labels"] == ["from=v1"]
    v0 = json.loads((store / "machines/dm-v0/config.json").read_text())
    assert v0["HostOptions"]["EngineOptions"]["TlsVerify"] is True


def test_ls_migrates_a_config_only_under_the_machines_lock(store: Path) -> None:
    """A command changing the machine holds its lock: ls leaves the file alone meanwhile
    (it still shows the machine, read through the migration), and migrates it after."""
    import os

    from machine.store.filestore import Store

    config = store / "machines/dm-v1/config.json"
    original = config.read_text()
    held_r, held_w = os.pipe()  # the child says it holds the lock
    stop_r, stop_w = os.pipe()  # the parent says it may let go
    pid = os.fork()
    if pid == 0:  # another process holds dm-v1's lock until told to stop
        with Store(store).locked("dm-v1"):
            os.write(held_w, b"x")
            os.read(stop_r, 1)
        os._exit(0)
    try:
        os.read(held_r, 1)
        result = run(store, "ls", "-q", "--filter", "driver=generic")
        assert "dm-v1" in result.stdout.split()
        assert config.read_text() == original  # not migrated under someone else's lock
        assert not (store / "machines/dm-v1/config.json.bak").exists()
    finally:
        os.write(stop_w, b"x")
        os.waitpid(pid, 0)
    run(store, "ls", "-q", "--filter", "driver=generic")
    assert json.loads(config.read_text())["ConfigVersion"] == 3


def test_nothing_else_is_rewritten(store: Path) -> None:
    v3 = [
        p
        for p in (store / "machines").glob("*/config.json")
        if json.loads(p.read_text()).get("ConfigVersion") == 3
    ]
    before = {p: p.read_text() for p in v3}
    for args in (
        ("ls",),
        ("env", "dm-generic"),
        ("inspect", "dm-vbox"),
        ("ip", "dm-kvm"),
        ("config", "dm-generic"),
        ("url", "dm-none"),
    ):
        run(store, *args)
    assert {p: p.read_text() for p in v3} == before
    assert not any(p.with_name("config.json.bak").exists() for p in v3)


def test_reading_commands_on_existing_machines(store: Path) -> None:
    env = run(store, "env", "dm-generic")
    assert env.returncode == 0, env.stderr
    assert 'export DOCKER_HOST="tcp://127.0.0.1:2376"' in env.stdout
    assert f'export DOCKER_CERT_PATH="{store}/machines/dm-generic"' in env.stdout
    assert run(store, "ip", "dm-generic").stdout == "127.0.0.1\n"
    assert run(store, "url", "dm-v1").stdout == "tcp://127.0.0.1:2376\n"
    inspected = json.loads(run(store, "inspect", "dm-vbox").stdout)
    assert inspected["Driver"]["HostOnlyCIDR"] == "192.168.99.1/24"
    fmt = run(store, "inspect", "-f", "{{.HostOptions.AuthOptions.StorePath}}", "dm-aws")
    assert fmt.stdout == f"{store}/machines/dm-aws\n"
    retired = _retired(store)
    missing = run(store, "ip", retired)
    assert missing.returncode == 1 and f'Driver "{RETIRED}" not found' in missing.stderr


RETIRED = "retired-cloud"  # a driver docker-machine had that nothing here registers


def _retired(store: Path) -> str:
    """A machine of a driver that is not installed: dm-none's record under another driver."""
    assert RETIRED not in Registry().names()
    folder = store / "machines" / "dm-retired"
    shutil.copytree(store / "machines" / "dm-none", folder)
    config = json.loads((folder / "config.json").read_text())
    config["Name"], config["DriverName"] = "dm-retired", RETIRED
    config["HostOptions"]["Driver"] = RETIRED
    (folder / "config.json").write_text(json.dumps(config))
    return "dm-retired"


def test_rm_of_machines_with_and_without_their_driver(store: Path) -> None:
    retired = _retired(store)
    assert run(store, "rm", "-y", "dm-none").returncode == 0
    refused = run(store, "rm", "-y", retired)
    assert refused.returncode == 1
    assert f'Error removing host "{retired}"' in refused.stderr
    assert (store / "machines" / retired).exists()
    assert run(store, "rm", "-f", retired).returncode == 0
    assert not (store / "machines" / retired).exists()


def test_fixture_is_docker_machines_shape() -> None:
    data = json.loads((FIXTURE / "machines/dm-none/config.json").read_text())
    assert list(data) == ["ConfigVersion", "Driver", "DriverName", "HostOptions", "Name"]


def test_config_is_a_reachability_probe(store: Path) -> None:
    # dm-generic's engine (127.0.0.1:2376) is not running: config must say so and fail
    result = run(store, "config", "dm-generic")
    assert result.returncode == 1
    assert result.stderr.startswith("Error running connection boilerplate: Error checking the host")
    assert result.stdout == ""
