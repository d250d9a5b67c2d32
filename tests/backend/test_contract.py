"""The promises every registered driver keeps, checked against each driver's backend.

A newly registered driver fails here until it is given a backend below: that is on purpose.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from machine.driver import BaseConfig, CreateRequest, Driver, State
from machine.registry import Registry

pytestmark = pytest.mark.backend


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the socket goes


def _generic(tmp: Path) -> dict[str, Any]:
    from machine import certs

    key = tmp / "user-key"
    key.write_bytes(certs.ssh_keypair()[0])
    key.chmod(0o600)
    return {"IPAddress": "127.0.0.1", "SSHPort": _closed_port(), "SSHKey": str(key)}


# driver name -> config values that point it at its backend (only ever local addresses)
BACKENDS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "none": lambda tmp: {"URL": "tcp://127.0.0.1:2376"},
    "generic": _generic,
}


def _amazonec2(tmp: Path) -> dict[str, Any]:
    """moto's EC2, in a subnet of the fenced test range (tests/aws.py)."""
    ec2 = _moto[0]
    _, subnet = ec2.subnet("10.232.254.0/28")
    return {"AMI": ec2.ubuntu_ami(), "SubnetId": subnet, "UsePrivateIP": True}


BACKENDS["amazonec2"] = _amazonec2
_moto: list[Any] = []


@pytest.fixture(scope="module")
def moto_ec2() -> Iterator[Any]:
    from tests import aws

    with aws.running() as ec2:
        _moto.append(ec2)
        yield ec2
        _moto.clear()


# Drivers whose backend is a running daemon: their contract is checked end to end there.
ELSEWHERE = {"kvm": "tests/e2e/test_kvm.py"}

REGISTRY = Registry()
CANONICAL = [n for n in REGISTRY.names() if REGISTRY.get(n).name == n]  # aliases left out


@pytest.mark.parametrize("name", CANONICAL)
def test_driver_contract(
    name: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if name in ELSEWHERE:
        path = Path(__file__).resolve().parent.parent.parent / ELSEWHERE[name]
        assert '"create"' in path.read_text() and '"rm"' in path.read_text()
        pytest.skip(f"{name} needs a running libvirtd: its contract is checked in {path.name}")
    assert name in BACKENDS, f"driver {name!r} has no backend in the contract suite"
    cls = REGISTRY.get(name)
    assert issubclass(cls.Config, BaseConfig)
    if name == "amazonec2":
        for key, value in request.getfixturevalue("moto_ec2").env().items():
            monkeypatch.setenv(key, value)
    machine_dir = tmp_path / "machines" / "c1"
    machine_dir.mkdir(parents=True)
    config = cls.Config(**BACKENDS[name](tmp_path), MachineName="c1", StorePath=str(tmp_path))
    driver = cls(config)
    driver.pre_create_check()
    recorded: list[tuple[str, str]] = []
    public_key = host_private = host_public = ""
    if cls.features.makes_ssh_key or cls.features.seeds_host_key:
        from machine import certs

        private, public_key = certs.ssh_keypair()
        (machine_dir / "id_rsa").write_bytes(private)
        host_pem, host_public = certs.ssh_keypair()
        host_private = host_pem.decode()
    driver.create(
        CreateRequest(
            machine_dir,
            machine_dir / "id_rsa",
            public_key,
            2376,
            record=lambda kind, ident: recorded.append((kind, ident)),
            host_key_private=host_private,
            host_key_public=host_public,
        )
    )

    # the persisted state is the flat JSON of BaseConfig's fields plus the driver's own
    data = driver.to_json()
    assert {f.name for f in dataclasses.fields(BaseConfig)} <= set(data)
    again = cls.from_json(data)
    assert again.to_json() == data

    ep = again.endpoint()
    assert ep.ip and 0 < ep.engine_port < 65536
    if cls.features.provisions_engine:
        assert ep.ssh_host and ep.ssh_user and 0 < ep.ssh_port < 65536
    assert again.url().startswith("tcp://")
    assert isinstance(again.state(), State)
    assert cls.states([again, cls.from_json(data)]) == [again.state()] * 2

    # removing twice (the second time, nothing is left) is success both times
    again.remove()
    again.remove()


def test_names_are_docker_machines() -> None:
    for name in REGISTRY.names():
        cls: type[Driver] = REGISTRY.get(name)
        assert cls.name == name or name in cls.aliases
