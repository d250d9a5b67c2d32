"""A store copied from elsewhere can hold anything. Each bad record gives a one-line error
naming its file, `ls` shows it as an Error row and goes on with the others, `rm -f` removes
it; damaged store files (certs/, machines/, ca.pem, .store-id) stop with a clear error."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Sandbox

URL = "tcp://127.0.0.1:2376"


def _good_config(store: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((store / "machines/m1/config.json").read_text())
    data["Name"] = name
    data["Driver"]["MachineName"] = name
    return data


def _write(store: Path, name: str, data: Any) -> Path:
    folder = store / "machines" / name
    folder.mkdir(exist_ok=True)
    path = folder / "config.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _mutated(change: Callable[[dict[str, Any]], None]) -> Callable[[Path, str], None]:
    def make(store: Path, name: str) -> None:
        data = _good_config(store, name)
        change(data)
        _write(store, name, data)

    return make


def _set(path: str, value: Any) -> Callable[[Path, str], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value

    return _mutated(change)


def _raw(text: str | bytes) -> Callable[[Path, str], None]:
    def make(store: Path, name: str) -> None:
        folder = store / "machines" / name
        folder.mkdir(exist_ok=True)
        mode = "wb" if isinstance(text, bytes) else "w"
        with open(folder / "config.json", mode) as f:
            f.write(text)

    return make


def _folder(store: Path, name: str) -> None:
    (store / "machines" / name / "config.json").mkdir(parents=True)


def _fifo(store: Path, name: str) -> None:
    folder = store / "machines" / name
    folder.mkdir()
    os.mkfifo(folder / "config.json")


CORRUPTIONS: dict[str, Callable[[Path, str], None]] = {
    "half-json": _raw('{"ConfigVersion": 3, "Driver": {'),
    "not-utf8": _raw(b'{"Name": "\xff\xfe"}'),
    "deeply-nested": _raw("[" * 100_000 + "]" * 100_000),
    "huge": _raw('{"ConfigVersion": 3, "Pad": "' + "x" * (2 << 20) + '"}'),
    "long-number": _raw('{"ConfigVersion": 3, "HostOptions": {"Memory": ' + "9" * 5000 + "}}"),
    "a-list": _raw("[1, 2, 3]"),
    "empty": _raw(""),
    "folder": _folder,
    "fifo": _fifo,
    "ip-number": _set("Driver.IPAddress", 5),
    "driver-list": _set("Driver", [1]),
    "options-string": _set("HostOptions", "x"),
    "labels-string": _set("HostOptions.EngineOptions.Labels", "a=b"),
    "labels-numbers": _set("HostOptions.EngineOptions.Labels", [1, 2]),
    "tls-verify-string": _set("HostOptions.EngineOptions.TlsVerify", "yes"),
    "memory-float": _set("HostOptions.Memory", 1.5),
    "version-string": _set("ConfigVersion", "3"),
    "version-future": _set("ConfigVersion", 7),
    "version-true": _set("ConfigVersion", True),
    "name-number": _set("Name", 5),
    "name-elsewhere": _set("Name", "m1"),
    "name-path": _set("Name", "../../victim"),
    "drivername-list": _set("DriverName", ["none"]),
    "driver-unknown": _set("DriverName", "nosuchdriver"),
    "v0-driver-string": _raw('{"Driver": "x", "DriverName": "none", "Name": "BAD"}'),
    "v1-options-list": _raw('{"ConfigVersion": 1, "HostOptions": [], "Name": "BAD"}'),
    "v2-auth-number": _raw(
        '{"ConfigVersion": 2, "HostOptions": {"AuthOptions": 5}, "Name": "BAD", '
        '"DriverName": "none", "Driver": {}}'
    ),
}

# Commands that read or change one machine: each must fail with one message, no traceback.
COMMANDS = [
    ["inspect", "BAD"],
    ["env", "BAD"],
    ["ip", "BAD"],
    ["url", "BAD"],
    ["status", "BAD"],
    ["config", "BAD"],
    ["start", "BAD"],
    ["stop", "BAD"],
    ["provision", "BAD"],
    ["regenerate-certs", "-f", "BAD"],
    ["ssh", "BAD", "true"],
    ["upgrade", "BAD"],
    ["version", "BAD"],
    ["rm", "-y", "BAD"],
]


@pytest.fixture
def populated(sandbox: Sandbox) -> Sandbox:
    sandbox.cli()("create", "-d", "none", "--url", URL, "m1")
    return sandbox


def _fix_names(text: str, name: str) -> str:
    return text.replace("BAD", name)


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_bad_record_is_an_error_row_a_one_line_error_and_removable(
    populated: Sandbox, kind: str
) -> None:
    box = populated
    name = f"bad-{kind}"
    CORRUPTIONS[kind](box.store, name)
    for path in (box.store / "machines" / name).glob("config.json"):
        if path.is_file() and not path.is_fifo():
            path.write_bytes(path.read_bytes().replace(b"BAD", name.encode()))
    cases = [{"argv": ["ls"]}, {"argv": ["ls", "-q"]}, {"argv": ["ls", "--filter", "label=a"]}]
    cases += [{"argv": [_fix_names(w, name) for w in argv]} for argv in COMMANDS]
    results = box.run_many(cases)
    for case, result in zip(cases, results, strict=True):
        where = f"{case['argv']}: {result}"
        assert "Traceback" not in result["stderr"], where
        assert "This is a bug" not in result["stderr"], where
        assert not result["timed_out"], where
    ls, quiet, _filtered = results[:3]
    assert ls["code"] == 0, ls
    rows = {line.split()[0]: line for line in ls["stdout"].splitlines()[1:]}
    assert "Running" in rows["m1"]  # the others are listed as usual
    if kind == "version-future":  # docker-machine's words, which scripts match on
        assert "Error" in rows[name] and "config version is from the future" in rows[name]
    elif kind != "driver-unknown":
        assert "Error" in rows[name] and "config.json" in rows[name], rows[name]
    assert quiet["stdout"].split() == sorted(["m1", name])
    for case, result in zip(cases[3:], results[3:], strict=True):
        where = f"{case['argv']}: {result}"
        if kind == "driver-unknown" and case["argv"][0] == "inspect":
            assert result["code"] == 0, where  # the record as stored, without its driver
            continue
        assert result["code"] != 0, where
        lines = [line for line in result["stderr"].splitlines() if line.strip()]
        if kind != "driver-unknown":
            assert "config.json" in result["stderr"], where
        assert len(lines) <= 4, where
    removed = box.cli()("rm", "-f", name, check=False)
    assert removed.returncode == 0, removed
    assert not (box.store / "machines" / name).exists()
    assert box.cli()("ls", "-q").stdout == "m1\n"
    assert not (box.store / "machines" / f".{name}.lock").exists()


def test_a_journal_that_is_not_json_does_not_hide_the_machine(populated: Sandbox) -> None:
    (populated.store / "machines/m1/journal.json").write_text("{garbage")
    result = populated.cli()("ls", check=False)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "m1" in result.stdout and "Running" in result.stdout
    assert populated.cli()("rm", "-y", "m1").returncode == 0


def _machines_a_file(store: Path) -> None:
    import shutil

    shutil.rmtree(store / "machines")
    (store / "machines").write_text("")


def _certs_a_file(store: Path) -> None:
    import shutil

    shutil.rmtree(store / "certs")
    (store / "certs").write_text("")


def _garbage_ca(store: Path) -> None:
    (store / "certs/ca.pem").write_text("-----BEGIN CERTIFICATE-----\ngarbage\n")


def _empty_store_id(store: Path) -> None:
    (store / ".store-id").write_text("")


STORE_DAMAGE: dict[str, tuple[Callable[[Path], None], list[str], str]] = {
    # kind: (damage, a command that needs the damaged part, what the error names)
    "machines-a-file": (_machines_a_file, ["ls"], "machines"),
    "certs-a-file": (_certs_a_file, ["create", "-d", "none", "--url", URL, "n2"], "certs"),
    "garbage-ca": (_garbage_ca, ["create", "-d", "none", "--url", URL, "n2"], "ca.pem"),
}


@pytest.mark.parametrize("kind", sorted(STORE_DAMAGE))
def test_a_damaged_store_stops_with_the_file_and_what_to_do(populated: Sandbox, kind: str) -> None:
    damage, argv, named = STORE_DAMAGE[kind]
    damage(populated.store)
    result = populated.cli()(*argv, check=False)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and "This is a bug" not in result.stderr, result
    assert named in result.stderr, result
    assert not (populated.store / "machines" / "n2").exists()


def test_an_empty_store_id_is_an_error_that_says_what_to_do(populated: Sandbox) -> None:
    from machine import errors
    from machine.store.filestore import Store

    _empty_store_id(populated.store)
    with pytest.raises(errors.StoreDamaged) as info:
        Store(populated.store).identity()
    assert ".store-id" in info.value.message and "remove it" in info.value.hint
