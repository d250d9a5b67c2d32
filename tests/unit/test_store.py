"""The store: docker-machine's JSON shape, modes, names, atomic writes, locks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from machine import errors
from machine.store.filestore import Store, natural_key, validate_name
from machine.store.record import HostRecord, record_from_json, record_to_text

# A config.json as docker-machine 0.16 writes it for the none driver (reference §2).
DM_NONE = {
    "ConfigVersion": 3,
    "Driver": {
        "IPAddress": "10.0.0.5:2376",
        "MachineName": "m1",
        "SSHUser": "",
        "SSHPort": 0,
        "SSHKeyPath": "",
        "StorePath": "/s",
        "SwarmMaster": False,
        "SwarmHost": "",
        "SwarmDiscovery": "",
        "URL": "tcp://10.0.0.5:2376",
    },
    "DriverName": "none",
    "HostOptions": {
        "Driver": "",
        "Memory": 0,
        "Disk": 0,
        "EngineOptions": {
            "ArbitraryFlags": [],
            "Dns": None,
            "GraphDir": "",
            "Env": [],
            "Ipv6": False,
            "InsecureRegistry": [],
            "Labels": [],
            "LogLevel": "",
            "StorageDriver": "",
            "SelinuxEnabled": False,
            "TlsVerify": True,
            "RegistryMirror": [],
            "InstallURL": "https://get.docker.com",
        },
        "SwarmOptions": {
            "IsSwarm": False,
            "Address": "",
            "Discovery": "",
            "Agent": False,
            "Master": False,
            "Host": "tcp://0.0.0.0:3376",
            "Image": "swarm:latest",
            "Strategy": "spread",
            "Heartbeat": 0,
            "Overcommit": 0,
            "ArbitraryFlags": [],
            "ArbitraryJoinFlags": [],
            "Env": None,
            "IsExperimental": False,
        },
        "AuthOptions": {
            "CertDir": "/s/certs",
            "CaCertPath": "/s/certs/ca.pem",
            "CaPrivateKeyPath": "/s/certs/ca-key.pem",
            "CaCertRemotePath": "",
            "ServerCertPath": "/s/machines/m1/server.pem",
            "ServerKeyPath": "/s/machines/m1/server-key.pem",
            "ClientKeyPath": "/s/certs/key.pem",
            "ServerCertRemotePath": "",
            "ServerKeyRemotePath": "",
            "ClientCertPath": "/s/certs/cert.pem",
            "ServerCertSANs": [],
            "StorePath": "/s/machines/m1",
        },
    },
    "Name": "m1",
}


def test_docker_machine_config_round_trips_byte_for_byte() -> None:
    text = json.dumps(DM_NONE, indent=4)
    record = record_from_json(json.loads(text))
    assert record.DriverName == "none"
    assert record.HostOptions.EngineOptions.Dns is None
    assert record.HostOptions.EngineOptions.TlsVerify is True
    assert record_to_text(record) == text


@pytest.mark.parametrize(
    ("where", "value", "read"),
    [
        (("SwarmOptions", "Overcommit"), 0, 0),  # Go writes a float64 0 as `0`
        (("SwarmOptions", "Overcommit"), 0.5, 0.5),
        (("EngineOptions", "Dns"), None, None),
        (("EngineOptions", "Dns"), ["1.1.1.1"], ("1.1.1.1",)),
        (("EngineOptions", "Labels"), ["a=b"], ("a=b",)),
    ],
)
def test_record_values_of_the_declared_type_are_read_as_they_are(
    where: tuple[str, str], value: object, read: object
) -> None:
    data = json.loads(json.dumps(DM_NONE))
    data["HostOptions"][where[0]][where[1]] = value
    options = getattr(record_from_json(data).HostOptions, where[0])
    assert getattr(options, where[1]) == read
    assert type(getattr(options, where[1])) is type(read)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("SwarmOptions", "Overcommit"), float("nan")),  # Python's json reads NaN
        (("SwarmOptions", "Overcommit"), True),
        (("EngineOptions", "Dns"), [1]),
        (("EngineOptions", "Labels"), "a=b"),
        (("EngineOptions", "StorageDriver"), "a\0b"),
        (("AuthOptions", "CertDir"), 5),
    ],
)
def test_record_values_of_another_type_are_refused_naming_the_field(
    where: tuple[str, str], value: object
) -> None:
    from machine.shape import ShapeError

    data = json.loads(json.dumps(DM_NONE))
    data["HostOptions"][where[0]][where[1]] = value
    with pytest.raises(ShapeError, match=f"HostOptions.{where[0]}.{where[1]}"):
        record_from_json(data)


def test_unknown_keys_are_kept() -> None:
    data = json.loads(json.dumps(DM_NONE))
    data["HostOptions"]["CustomInstallScript"] = "x.sh"
    data["HostOptions"]["EngineOptions"]["Future"] = [1]
    data["Extra"] = {"a": 1}
    out = json.loads(record_to_text(record_from_json(data)))
    assert out["HostOptions"]["CustomInstallScript"] == "x.sh"
    assert out["HostOptions"]["EngineOptions"]["Future"] == [1]
    assert out["Extra"] == {"a": 1}


def test_save_modes_and_atomic_replace(store_root: Path) -> None:
    store = Store(store_root)
    store.save(HostRecord(Name="a", DriverName="none"))
    cfg = store.config_path("a")
    assert oct(cfg.stat().st_mode & 0o777) == "0o600"
    assert oct(cfg.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(store_root.stat().st_mode & 0o777) == "0o700"
    store.save(HostRecord(Name="a", DriverName="generic"))
    assert store.load("a").DriverName == "generic"
    leftovers = [p.name for p in cfg.parent.iterdir() if p.name != "config.json"]
    assert leftovers == []


def test_list_skips_dot_names_and_sorts_naturally(store_root: Path) -> None:
    store = Store(store_root)
    for name in ("web10", "web2", "Web1", "db"):
        store.save(HostRecord(Name=name, DriverName="none"))
    (store.machines_dir / ".hidden").mkdir()
    assert store.list_names() == ["db", "Web1", "web2", "web10"]


def test_name_rule_is_docker_machines() -> None:
    for ok in ("a", "web-1", "a.b", "0x"):
        validate_name(ok)
    for bad in ("", "-a", ".a", "a_b", "a b", "a/b", "é"):
        with pytest.raises(errors.InvalidHostname) as info:
            validate_name(bad)
        assert "Allowed hostname chars are: 0-9a-zA-Z . -" in info.value.message


def test_missing_machine_message(store_root: Path) -> None:
    with pytest.raises(errors.HostNotFound) as info:
        Store(store_root).load("nosuch")
    assert info.value.message == (
        'Docker machine "nosuch" does not exist. Use "machine ls" to list machines. '
        'Use "machine create" to add a new one.'
    )


def test_config_from_the_future_is_refused(store_root: Path) -> None:
    store = Store(store_root)
    store.save(HostRecord(Name="f", DriverName="none"))
    data = json.loads(store.config_path("f").read_text())
    data["ConfigVersion"] = 4
    store.config_path("f").write_text(json.dumps(data))
    with pytest.raises(errors.ConfigFromTheFuture) as info:
        store.load("f")
    assert "config version is from the future" in info.value.message


def test_corrupt_record_says_what_to_do(store_root: Path) -> None:
    store = Store(store_root)
    store.save(HostRecord(Name="c", DriverName="none"))
    store.config_path("c").write_text("{half")
    with pytest.raises(errors.CorruptRecord) as info:
        store.load("c")
    assert "rm -f" in info.value.hint


def test_lock_is_exclusive_across_processes(store_root: Path) -> None:
    store = Store(store_root)
    with store.locked("a"):
        assert store.is_locked("a")
        pid = os.fork()
        if pid == 0:  # the child must time out on the held lock
            try:
                with store.locked("a", timeout=0.2):
                    os._exit(1)
            except errors.HostBusy:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    assert not store.is_locked("a")


def test_natural_key() -> None:
    assert sorted(["a10", "a9", "A1"], key=natural_key) == ["A1", "a9", "a10"]


def test_the_store_has_one_identity(tmp_path: Path) -> None:
    from machine.store import paths

    store = Store(tmp_path / "store")
    first = store.identity()
    assert len(first) == 32 and int(first, 16) >= 0
    assert Store(tmp_path / "store").identity() == first  # kept, not made again
    assert ((tmp_path / "store" / paths.STORE_ID).stat().st_mode & 0o777) == 0o600
    assert Store(tmp_path / "other").identity() != first
