"""The on-disk store (docker-machine's layout): machine records, their folders and locks.

Reads take no lock and see whole files only (every write is atomic). A change to a machine
holds that machine's lock; the lock file sits beside the machine folder (`machines/.NAME.lock`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from machine.errors import (
    ConfigFromTheFuture,
    CorruptRecord,
    HostBusy,
    HostNotFound,
    InvalidHostname,
    LockTimeout,
    StoreDamaged,
    Unfinished,
)
from machine.store import paths
from machine.store.files import PRIVATE_FILE, ensure_dir, os_reason, read_small, write_atomic
from machine.store.locks import exclusive, is_held

if TYPE_CHECKING:  # the record's classes are built when a record is read, not before
    from machine.store.record import HostRecord

# docker-machine's rule (libmachine/host/host.go), matched in full: `re.match` with `$` would
# let a trailing newline through.
_VALID_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-\.]*")
# Every name becomes file names (`machines/NAME/`, `machines/.NAME.lock`): NAME_MAX is 255.
MAX_NAME = 200
# A new machine's name becomes its host name (HOST_NAME_MAX on Linux).
MAX_HOSTNAME = 64

DEFAULT_LOCK_TIMEOUT = 30.0
# docker-machine's configs are a few KiB; anything this large was not written by a machine tool.
MAX_RECORD_BYTES = 1 << 20


def is_valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME and _VALID_NAME.fullmatch(name) is not None


def validate_name(name: str, creating: bool = False) -> None:
    """Refuse anything but a machine name: no path built from it can leave `machines/NAME/`."""
    if not is_valid_name(name):
        why = f"longer than {MAX_NAME} characters" if len(name) > MAX_NAME else ""
        raise InvalidHostname(name, creating, why)
    if creating and len(name) > MAX_HOSTNAME:
        raise InvalidHostname(name, creating, f"a host name has at most {MAX_HOSTNAME} characters")


def natural_key(name: str) -> list[Any]:
    """Sort key that puts web2 before web10, case-insensitively (docker-machine's ls order)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._machines = root / paths.MACHINES_DIR
        self._dirs: dict[str, Path] = {}  # name -> its folder, checked once (ls asks often)
        self._dir_texts: dict[str, str] = {}  # the same as text: `ls` builds no Path per row
        self._machines_text = str(self._machines)

    # --- layout ---------------------------------------------------------------------------

    @property
    def certs_dir(self) -> Path:
        return self.root / paths.CERTS_DIR

    @property
    def machines_dir(self) -> Path:
        return self._machines

    def machine_dir(self, name: str) -> Path:
        folder = self._dirs.get(name)
        if folder is None:
            folder = self._dirs[name] = Path(self.machine_dir_text(name))
        return folder

    def machine_dir_text(self, name: str) -> str:
        """machine_dir(name) as a string (what `ls` uses: 10,000 Paths cost a tenth of it)."""
        folder = self._dir_texts.get(name)
        if folder is None:
            validate_name(name)  # the one place names become paths
            folder = self._dir_texts[name] = f"{self._machines_text}/{name}"
        return folder

    def config_path(self, name: str) -> Path:
        return self.machine_dir(name) / paths.CONFIG

    def lock_path(self, name: str) -> Path:
        validate_name(name)
        return self.machines_dir / paths.machine_lock_name(name)

    def ensure_layout(self) -> None:
        for folder in (self.root, self.machines_dir):
            try:
                ensure_dir(folder)
            except OSError as exc:
                raise StoreDamaged(
                    str(folder), f"cannot be made a folder: {os_reason(exc)}"
                ) from None

    def identity(self) -> str:
        """This store's id, made on first use: cloud resources are tagged with it, so what a
        store made (and left behind) can be told from another store's in the same account."""
        path = self.root / paths.STORE_ID
        try:
            return _read_store_id(path)
        except FileNotFoundError:
            pass
        import uuid

        self.ensure_layout()
        try:  # O_EXCL: of two first uses at once, one writes and both read the same id
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read_store_id(path)
        with os.fdopen(fd, "w") as f:
            f.write(uuid.uuid4().hex + "\n")
        return _read_store_id(path)

    # --- reads (lock-free) ----------------------------------------------------------------

    def exists(self, name: str) -> bool:
        return self.machine_dir(name).is_dir()

    def list_names(self) -> list[str]:
        try:
            with os.scandir(self.machines_dir) as listing:  # the type comes with each name
                # Folders that are not machine names (made by hand, a foreign tool) are not
                # machines; a link to a folder is one, as docker-machine reads it.
                names = [e.name for e in listing if is_valid_name(e.name) and e.is_dir()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            why = f"cannot be listed: {os_reason(exc)}"
            raise StoreDamaged(str(self.machines_dir), why) from None
        return sorted(names, key=natural_key)

    def load(self, name: str) -> HostRecord:
        path = f"{self.machine_dir_text(name)}/{paths.CONFIG}"
        try:
            raw = read_small(path, MAX_RECORD_BYTES)
        except (FileNotFoundError, NotADirectoryError):
            if self.machine_dir(name).is_dir():
                raise Unfinished(name) from None
            raise HostNotFound(name) from None
        except OSError as exc:
            raise CorruptRecord(path, os_reason(exc)) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptRecord(path, "it is not UTF-8 text") from None
        from machine.store.record import CONFIG_VERSION

        data = decode_record(text, path)
        if data.get("ConfigVersion", 0) < CONFIG_VERSION:
            data = self._migrate(name, text, data)
        from machine.shape import ShapeError
        from machine.store.record import record_from_json

        try:
            record = record_from_json(data)
        except ShapeError as exc:
            raise CorruptRecord(path, str(exc)) from None
        if not record.DriverName:
            raise CorruptRecord(path, "it names no driver (DriverName)")
        if record.Name != name:
            raise CorruptRecord(
                path, f"it names machine {record.Name!r}, but lies in the folder of {name!r}"
            )
        return record

    def _migrate(self, name: str, original: str, data: dict[str, Any]) -> dict[str, Any]:
        """Bring an old docker-machine config to version 3, keeping the original as .bak."""
        from machine.shape import ShapeError
        from machine.store.migrate import migrate
        from machine.store.record import record_from_json, record_to_text

        where = str(self.config_path(name))
        try:
            migrated, _ = migrate(data, str(self.machine_dir(name)))
            text = record_to_text(record_from_json(migrated))
        except ShapeError as exc:
            raise CorruptRecord(where, str(exc)) from None
        except (AttributeError, TypeError, ValueError) as exc:
            raise CorruptRecord(where, f"its old format cannot be migrated ({exc})") from None
        backup = self.machine_dir(name) / paths.CONFIG_BACKUP
        try:
            # under the machine's lock: a command changing the machine must not be overwritten
            with self.locked(name, timeout=0.5):
                if not backup.exists():
                    write_atomic(backup, original, PRIVATE_FILE)
                write_atomic(self.config_path(name), text)
        except (OSError, HostBusy):
            pass  # a read-only or busy store still loads; it is migrated again next time
        return migrated

    def is_locked(self, name: str) -> bool:
        return is_held(self.lock_path(name))

    # --- changes --------------------------------------------------------------------------

    @contextmanager
    def locked(self, name: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """Hold `name`'s lock; raises HostBusy when another process keeps it past `timeout`.
        The lock file exists only while the lock is held: nothing is left behind."""
        self.ensure_layout()
        try:
            with exclusive(self.lock_path(name), timeout, remove_after=lambda: True):
                yield
        except LockTimeout as exc:
            raise HostBusy(name, exc.waited) from None

    def prune_locks(self) -> None:
        """Remove lock files nobody holds (left by a command that was killed before it could
        remove its own): taken and released, each goes."""
        try:
            entries = os.listdir(self.machines_dir)
        except OSError:
            return
        for entry in entries:
            name = entry[1:-5] if entry.startswith(".") and entry.endswith(".lock") else ""
            if is_valid_name(name):
                with contextlib.suppress(HostBusy, OSError), self.locked(name, timeout=0):
                    pass

    def create_dir(self, name: str) -> Path:
        self.ensure_layout()
        d = self.machine_dir(name)
        ensure_dir(d)
        return d

    def save(self, record: HostRecord) -> None:
        from machine.store.record import record_to_text

        self.ensure_layout()
        d = self.machine_dir(record.Name)
        ensure_dir(d)
        write_atomic(d / paths.CONFIG, record_to_text(record), PRIVATE_FILE)

    def remove(self, name: str) -> None:
        import shutil  # with bz2 and lzma: not for the commands that only read

        shutil.rmtree(self.machine_dir(name), ignore_errors=True)
        if self.machine_dir(name).exists():
            shutil.rmtree(self.machine_dir(name))  # second try raises with the real reason


def _read_store_id(path: Path) -> str:
    """The id in `path`; waits briefly for a first writer to finish its one line."""
    import time

    for _ in range(50):
        try:
            text = read_small(path, 4096).decode("ascii", errors="replace").strip()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreDamaged(str(path), f"cannot be read: {os_reason(exc)}") from None
        if text:
            if len(text) == 32 and not text.strip("0123456789abcdef"):
                return text
            break
        time.sleep(0.01)  # another process has just created it and is writing the line
    raise StoreDamaged(
        str(path),
        "does not hold a store id (32 hexadecimal digits)",
        hint="Restore it from a backup of this store if you have one (cloud resources this "
        "store made are tagged with it); else remove it and a new id is made.",
    )


def decode_record(text: str, where: str) -> dict[str, Any]:
    """The JSON of a config.json, checked for shape and version (not yet migrated)."""
    from machine.store.record import CONFIG_VERSION

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptRecord(where, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise CorruptRecord(where, "its JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. a number with more digits than Python converts
        raise CorruptRecord(where, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CorruptRecord(where, "not a JSON object")
    version = data.get("ConfigVersion", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CorruptRecord(where, "ConfigVersion is not a number")
    if version > CONFIG_VERSION:
        raise ConfigFromTheFuture(where, version)
    return data
