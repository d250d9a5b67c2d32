"""The one way into VirtualBox: VBoxManage, run under a lock held across processes.

VirtualBox keeps one registry per user (VBOX_USER_HOME) and does not survive interleaved
changes from several VBoxManage processes well (docker-machine held a process-wide mutex
around every VirtualBox call for that reason; parallel creates in separate processes still
collided). Every call here holds an exclusive lock file in that folder, and a sequence that
must not interleave with another process's (find or make the host-only network, then reserve
an address on it) holds it across all its calls (`VBoxManage.held`). The lock is never held
while a guest boots, so creates of several machines still boot in parallel.

Failures follow VBoxManage's own rules: a non-zero exit, or `error:` on stderr even with exit
status 0. "The object is not ready" is retried, as docker-machine did.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from machine.driver import DriverError

NOT_READY = "error: The object is not ready"
NOT_READY_RETRIES = 5  # docker-machine's count, 100 ms apart
CALL_TIMEOUT = 900.0  # seconds: cloning a large disk is one call
LOCK_WAIT = 1800.0  # another process may hold it across a few such calls
NOT_FOUND_HINT = (
    "VBoxManage not found. Make sure VirtualBox is installed and VBoxManage is in the path"
)


class VBoxError(DriverError):
    """A failed VBoxManage call; `stderr` holds VirtualBox's own lines."""

    def __init__(self, args: tuple[str, ...], stderr: str) -> None:
        lines = [
            line.removeprefix("VBoxManage: error: ").strip()
            for line in stderr.splitlines()
            if line.strip() and not line.startswith("0%")
        ]
        message = lines[0] if lines else "failed with no message"
        super().__init__(f"VBoxManage {args[0] if args else ''}: {message}")
        self.stderr = stderr

    def mentions(self, text: str) -> bool:
        return text in self.stderr


def user_home() -> Path:
    """VirtualBox's per-user folder (its registry, and our lock beside it)."""
    if os.environ.get("VBOX_USER_HOME"):
        return Path(os.environ["VBOX_USER_HOME"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "VirtualBox"
    if sys.platform == "win32":
        return Path.home() / ".VirtualBox"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "VirtualBox"


def find_binary() -> str:
    for name in ("VBoxManage", "vboxmanage"):
        found = shutil.which(name)
        if found:
            return found
    for variable in ("VBOX_INSTALL_PATH", "VBOX_MSI_INSTALL_PATH"):  # Windows installers
        folder = os.environ.get(variable, "")
        for name in ("VBoxManage.exe", "VBoxManage"):
            if folder and (Path(folder) / name).is_file():
                return str(Path(folder) / name)
    raise DriverError(NOT_FOUND_HINT)


class _CrossProcessLock:
    """flock on a file, reentrant within a process (threads take turns)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd = -1

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                self._acquire()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    os.close(self._fd)
                    self._fd = -1

    def _acquire(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise DriverError(
                        f"another machine command has held {self.path} for "
                        f"{LOCK_WAIT:.0f} s: is a VBoxManage call hanging?"
                    ) from None
                time.sleep(0.05)
        self._fd = fd


_locks: dict[Path, _CrossProcessLock] = {}


class VBoxManage:
    def __init__(self, binary: str = "") -> None:
        self.binary = binary or find_binary()
        path = user_home() / "machine-vboxmanage.lock"
        self._lock = _locks.setdefault(path, _CrossProcessLock(path))

    def held(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock across several calls that must not interleave with another's."""
        return self._lock.held()

    def __call__(self, *args: str) -> str:
        """stdout of `VBoxManage ARGS`; VBoxError when it failed."""
        for attempt in range(NOT_READY_RETRIES + 1):
            with self._lock.held():
                try:
                    result = subprocess.run(
                        [self.binary, *args],
                        capture_output=True,
                        text=True,
                        timeout=CALL_TIMEOUT,
                        stdin=subprocess.DEVNULL,
                    )
                except FileNotFoundError:
                    raise DriverError(NOT_FOUND_HINT) from None
                except subprocess.TimeoutExpired:
                    raise DriverError(
                        f"VBoxManage {args[0]} did not finish in {CALL_TIMEOUT:.0f} s"
                    ) from None
            if NOT_READY in result.stderr and attempt < NOT_READY_RETRIES:
                time.sleep(0.1)
                continue
            if result.returncode != 0 or "error:" in result.stderr:
                raise VBoxError(args, result.stderr)
            return result.stdout
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def version(self) -> tuple[int, int, int]:
        return parse_version(self("--version"))


def parse_version(text: str) -> tuple[int, int, int]:
    """(7, 0, 20) from "7.0.20r163906", "6.1.50_Ubuntur161033" or "5.2.44r139111"."""
    head = text.strip().splitlines()[-1] if text.strip() else ""
    numbers: list[int] = []
    for part in head.split(".")[:3]:
        digits = ""
        for c in part:
            if not c.isdigit():
                break
            digits += c
        if not digits:
            break
        numbers.append(int(digits))
    if len(numbers) < 2:
        raise DriverError(f"VBoxManage --version answered {text.strip()!r}: not a version")
    while len(numbers) < 3:
        numbers.append(0)
    return numbers[0], numbers[1], numbers[2]
