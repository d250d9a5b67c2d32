"""Exclusive advisory locks on files (flock), waited for with a deadline and back-off.

Locks guard changes only; readers (`ls`, `env`) never take them, and rely on atomic writes.
flock locks vanish with the process that held them, so a crashed command never wedges a machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from machine.errors import LockTimeout
from machine.store.files import PRIVATE_FILE
from machine.wait import attempts

# Locks this thread holds (path -> depth): an operation that already holds a machine's lock
# (start, provision) can read the record, which may take the lock again to migrate it.
_local = threading.local()


def _held() -> dict[str, int]:
    held: dict[str, int] | None = getattr(_local, "held", None)
    if held is None:
        held = _local.held = {}
    return held


def _forget_after_fork() -> None:
    _local.held = {}  # a forked child holds none of its parent's locks


os.register_at_fork(after_in_child=_forget_after_fork)


@contextmanager
def exclusive(
    path: Path, timeout: float, remove_after: Callable[[], bool] | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the `with` block.

    When `remove_after()` says so at the end (the machine is gone: rm, a failed create), the
    lock file is deleted before it is released: nothing is left behind. Whoever waited on the
    deleted file sees that it is no longer the one at `path` and locks the new one instead.
    """
    key, held = str(path), _held()
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    fd = _acquire(path, timeout)
    held[key] = 1
    try:
        yield
    finally:
        del held[key]
        try:
            if remove_after is not None and remove_after():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
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


def _acquire(path: Path, timeout: float) -> int:
    """A descriptor of `path` holding its lock; the file still at `path` when it was got."""
    start = time.monotonic()
    for _ in attempts(start + timeout, first=0.005, cap=0.25):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        if _still_there(fd, path):
            return fd
        os.close(fd)  # the holder removed it on its way out: lock the new one
    raise LockTimeout(path, time.monotonic() - start)


def _still_there(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
