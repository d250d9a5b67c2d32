"""The on-disk store (docker-machine's layout): machine records, their folders and locks.

Reads take no lock and see whole files only (every write is atomic). A change to a machine
holds that machine's lock; the lock file sits beside the machine folder (`machines/.NAME.lock`).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from machine import paths
from machine.errors import (
    ConfigFromTheFuture,
    CorruptRecord,
    HostBusy,
    HostNotFound,
    InvalidHostname,
)
from machine.files import PRIVATE_FILE, ensure_dir, write_atomic
from machine.host import CONFIG_VERSION, HostRecord, record_from_json, record_to_text
from machine.locks import LockTimeout, exclusive, is_held

# docker-machine's rule (libmachine/host/host.go).
_VALID_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-\.]*$")

DEFAULT_LOCK_TIMEOUT = 30.0


def validate_name(name: str) -> None:
    if not _VALID_NAME.match(name):
        raise InvalidHostname(name)


def natural_key(name: str) -> list[Any]:
    """Sort key that puts web2 before web10, case-insensitively (docker-machine's ls order)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


class Store:
    def __init__(self, root: Path, prog: str = "machine") -> None:
        self.root = root
        self.prog = prog

    # --- layout ---------------------------------------------------------------------------

    @property
    def certs_dir(self) -> Path:
        return self.root / paths.CERTS_DIR

    @property
    def machines_dir(self) -> Path:
        return self.root / paths.MACHINES_DIR

    def machine_dir(self, name: str) -> Path:
        return self.machines_dir / name

    def config_path(self, name: str) -> Path:
        return self.machine_dir(name) / paths.CONFIG

    def lock_path(self, name: str) -> Path:
        return self.machines_dir / paths.machine_lock_name(name)

    def ensure_layout(self) -> None:
        ensure_dir(self.root)
        ensure_dir(self.machines_dir)

    def identity(self) -> str:
        """This store's id, made on first use: cloud resources are tagged with it, so what a
        store made (and left behind) can be told from another store's in the same account."""
        path = self.root / paths.STORE_ID
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        import os
        import uuid

        self.ensure_layout()
        try:  # O_EXCL: of two first uses at once, one writes and both read the same id
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read_until_written(path)
        with os.fdopen(fd, "w") as f:
            f.write(uuid.uuid4().hex + "\n")
        return path.read_text().strip()

    # --- reads (lock-free) ----------------------------------------------------------------

    def exists(self, name: str) -> bool:
        return self.machine_dir(name).is_dir()

    def list_names(self) -> list[str]:
        try:
            entries = list(self.machines_dir.iterdir())
        except FileNotFoundError:
            return []
        names = [p.name for p in entries if not p.name.startswith(".") and p.is_dir()]
        return sorted(names, key=natural_key)

    def load(self, name: str) -> HostRecord:
        path = self.config_path(name)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise HostNotFound(name, self.prog) from None
        except NotADirectoryError:
            raise HostNotFound(name, self.prog) from None
        data = decode_record(text, str(path))
        if data.get("ConfigVersion", 0) < CONFIG_VERSION:
            data = self._migrate(name, text, data)
        return record_from_json(data)

    def _migrate(self, name: str, original: str, data: dict[str, Any]) -> dict[str, Any]:
        """Bring an old docker-machine config to version 3, keeping the original as .bak."""
        from machine.host import record_to_text
        from machine.migrate import migrate

        migrated, _ = migrate(data, str(self.machine_dir(name)))
        backup = self.machine_dir(name) / paths.CONFIG_BACKUP
        try:
            if not backup.exists():
                write_atomic(backup, original, PRIVATE_FILE)
            write_atomic(self.config_path(name), record_to_text(record_from_json(migrated)))
        except OSError:
            pass  # a read-only store still loads; it is migrated again next time
        return migrated

    def is_locked(self, name: str) -> bool:
        return is_held(self.lock_path(name))

    # --- changes --------------------------------------------------------------------------

    @contextmanager
    def locked(self, name: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """Hold `name`'s lock; raises HostBusy when another process keeps it past `timeout`."""
        self.ensure_layout()
        try:
            with exclusive(self.lock_path(name), timeout):
                yield
        except LockTimeout as exc:
            raise HostBusy(name, exc.waited) from None

    def create_dir(self, name: str) -> Path:
        self.ensure_layout()
        d = self.machine_dir(name)
        ensure_dir(d)
        return d

    def save(self, record: HostRecord) -> None:
        self.ensure_layout()
        d = self.machine_dir(record.Name)
        ensure_dir(d)
        write_atomic(d / paths.CONFIG, record_to_text(record), PRIVATE_FILE)

    def remove(self, name: str) -> None:
        shutil.rmtree(self.machine_dir(name), ignore_errors=True)
        if self.machine_dir(name).exists():
            shutil.rmtree(self.machine_dir(name))  # second try raises with the real reason


def _read_until_written(path: Path) -> str:
    import time

    for _ in range(100):
        text = path.read_text().strip()
        if text:
            return text
        time.sleep(0.01)  # the other process has created it and is writing the line
    raise OSError(f"{path} stays empty: remove it and try again")


def decode_record(text: str, where: str) -> dict[str, Any]:
    """The JSON of a config.json, checked for shape and version (not yet migrated)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptRecord(where, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise CorruptRecord(where, "not a JSON object")
    version = data.get("ConfigVersion", 0)
    if not isinstance(version, int):
        raise CorruptRecord(where, "ConfigVersion is not a number")
    if version > CONFIG_VERSION:
        raise ConfigFromTheFuture(where, version)
    return data
