"""The promises every registered driver keeps, checked against each driver's backend.

Each driver folder brings its backend in `contract.py` beside its package: a context manager
`backend(tmp)` yielding the config values that point the driver at it (only ever local
addresses or simulators), or `ELSEWHERE`, the test that checks a driver needing a daemon end to
end. A registered driver without one fails here: that is on purpose.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from machine.driver import BaseConfig, BootImage, CreateRequest, Driver, State
from machine.frozen import fields
from machine.registry import Registry

pytestmark = pytest.mark.backend

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = Registry()
CANONICAL = [n for n in REGISTRY.names() if REGISTRY.get(n).name == n]  # aliases left out


def contract_of(cls: type[Driver]) -> ModuleType:
    """The driver folder's contract.py (the folder holding the driver's package)."""
    package = Path(inspect.getfile(cls)).resolve().parent
    path = package.parent / "contract.py"
    assert path.is_file(), f"driver {cls.name!r} has no {path} for the contract suite"
    spec = importlib.util.spec_from_file_location(f"contract_{cls.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", CANONICAL)
def test_driver_contract(name: str, tmp_path: Path) -> None:
    cls = REGISTRY.get(name)
    contract = contract_of(cls)
    assert issubclass(cls.Config, BaseConfig)
    # a driver never changes its config: what it learns, it returns (Driver.learn applies it)
    with pytest.raises(AttributeError):  # machine.frozen.FrozenInstanceError
        cls.Config().IPAddress = "192.0.2.1"  # type: ignore[misc]
    elsewhere = getattr(contract, "ELSEWHERE", "")
    if elsewhere:
        path = ROOT / elsewhere
        assert '"create"' in path.read_text() and '"rm"' in path.read_text()
        pytest.skip(f"{name} runs against its backend end to end: its contract is in {path.name}")
    with contract.backend(tmp_path) as values:
        _check(cls, values, tmp_path)


def _boot_image(cls: type[Driver], tmp_path: Path) -> BootImage | None:
    """What the core hands a driver that boots images: a small disk in the driver's first
    format, made as the core makes one (machine image export's conversion)."""
    if not cls.features.image_formats:
        return None
    from machine.images import imageformats

    raw = tmp_path / "contract-disk.raw"
    with open(raw, "wb") as f:
        f.truncate(64 << 20)
    fmt = cls.features.image_formats[0]
    disk = tmp_path / f"contract-disk.{fmt}"
    if fmt == "ova":
        vmdk = tmp_path / "contract-disk.vmdk"
        imageformats.convert_disk(raw, "vmdk", vmdk)
        imageformats.write_ova(vmdk, 64 << 20, imageformats.Hardware(name="contract"), disk)
    elif fmt == "raw":
        disk = raw
    else:
        imageformats.convert_disk(raw, fmt, disk)
    return BootImage("contract", disk, fmt, "docker")


def _check(cls: type[Driver], values: dict[str, Any], tmp_path: Path) -> None:
    machine_dir = tmp_path / "machines" / "c1"
    machine_dir.mkdir(parents=True)
    config = cls.Config(**values, MachineName="c1", StorePath=str(tmp_path))
    driver = cls(config)
    driver.store_root = tmp_path
    driver.learn(driver.pre_create_check())
    chosen = driver.config  # what the record holds before create
    image = _boot_image(cls, tmp_path)
    recorded: list[tuple[str, str]] = []
    public_key = host_private = host_public = ""
    if cls.features.makes_ssh_key or cls.features.seeds_host_key:
        from machine.tls import certs

        private, public_key = certs.ssh_keypair()
        (machine_dir / "id_rsa").write_bytes(private)
        host_pem, host_public = certs.ssh_keypair()
        host_private = host_pem.decode()
    learned = driver.create(
        CreateRequest(
            machine_dir,
            machine_dir / "id_rsa",
            public_key,
            2376,
            record=lambda kind, ident: recorded.append((kind, ident)),
            host_key_private=host_private,
            host_key_public=host_public,
            image=image,
        )
    )
    driver.learn(learned)  # only fields of the driver's config (else a DriverError)

    # the persisted state is the flat JSON of BaseConfig's fields plus the driver's own
    data = driver.to_json()
    assert {f.name for f in fields(BaseConfig)} <= set(data)
    again = cls.from_json(data)
    assert again.to_json() == data

    ep = again.endpoint()
    assert ep.ip and 0 < ep.engine_port < 65536
    if cls.features.provisions_engine:
        assert ep.ssh_host and ep.ssh_user and 0 < ep.ssh_port < 65536
    assert again.url().startswith("tcp://")
    assert isinstance(again.state(), State)
    assert cls.states([again, cls.from_json(data)]) == [again.state()] * 2

    # A create that failed (or was killed) returned nothing; its journal (what it recorded)
    # must be enough to remove all it made: the core adopts the journal, then removes.
    if recorded:
        orphaned = cls(chosen)
        orphaned.store_root = tmp_path
        orphaned.learn(orphaned.adopt(recorded))
        orphaned.remove()
        if cls.features.owns_host:
            assert again.state() in (State.NOT_FOUND, State.ERROR)  # ERROR: terminated (EC2)
    # removing again (nothing is left) is success
    again.remove()
    again.remove()


def test_names_are_docker_machines() -> None:
    for name in REGISTRY.names():
        cls: type[Driver] = REGISTRY.get(name)
        assert cls.name == name or name in cls.aliases
