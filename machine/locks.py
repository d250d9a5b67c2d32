"""Exclusive advisory locks on files (flock), waited for with a deadline and back-off.

Locks guard changes only; readers (`ls`, `env`) never take them, and rely on atomic writes.
flock locks vanish with the process that held them, so a crashed command never wedges a machine.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from machine.files import PRIVATE_FILE


class LockTimeout(Exception):
    def __init__(self, path: Path, waited: float) -> None:
        super().__init__(f"{path} is held by another process (waited {waited:.1f}s)")
        self.path = path
        self.waited = waited


@contextmanager
def exclusive(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the `with` block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        _acquire(fd, path, timeout)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_held(path: Path) -> bool:
    """True when some process holds `path` (probed without waiting, released at once)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _acquire(fd: int, path: Path, timeout: float) -> None:
    start = time.monotonic()
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            waited = time.monotonic() - start
            if waited >= timeout:
                raise LockTimeout(path, waited) from None
            time.sleep(min(delay, max(timeout - waited, 0.001)))
            delay = min(delay * 2, 0.25)
