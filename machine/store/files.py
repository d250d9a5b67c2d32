"""Atomic, private file writes: temp file + fsync + rename, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PUBLIC_FILE = 0o644


def ensure_dir(path: Path, mode: int = PRIVATE_DIR) -> None:
    """Make `path` a folder with `mode` if it is not one yet. A folder that exists keeps the
    modes its owner gave it (a shared 1777 store stays so)."""
    try:
        path.mkdir(mode=mode, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise NotADirectoryError(f"{path} exists and is not a folder") from None
        return
    # mkdir's mode is filtered by the umask; folders holding keys must be 0700 whatever it is.
    path.chmod(mode)


def write_atomic(path: Path, data: bytes | str, mode: int = PRIVATE_FILE) -> None:
    """Write `data` to `path` so that readers see the old or the new file, never a mix."""
    if isinstance(data, str):
        data = data.encode()
    fd, tmp = _new_temporary(path)
    try:
        # made 0600; the final mode is set before any content is visible under the name
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _new_temporary(path: Path) -> tuple[int, str]:
    """A new file beside `path` (0600, ours alone: O_EXCL), as tempfile.mkstemp makes one
    without its import (a tenth of a create -d none)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.tmp{os.urandom(6).hex()}")
        try:
            return os.open(tmp, flags, PRIVATE_FILE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class UnreadableFile(OSError):
    """A store file that is not a regular file, or is larger than any such file can be."""


def read_small(path: Path | str, limit: int) -> bytes:
    """The content of `path`, a regular file of at most `limit` bytes.

    A store copied from elsewhere can put a FIFO (a read would block forever), a folder or a
    huge file where a record should be: each is refused with UnreadableFile instead.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UnreadableFile(f"{path} is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFile(f"{path} is not a regular file")
        if st.st_size > limit:
            raise UnreadableFile(f"{path} is larger than {limit} bytes")
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            asked = min(remaining, st.st_size + 1, 1 << 20)  # one read: `ls` reads thousands
            chunk = os.read(fd, asked)
            chunks.append(chunk)
            remaining -= len(chunk)
            if len(chunk) < asked:
                break  # a regular file ends where a read comes back short
        data = b"".join(chunks)
        if len(data) > limit:
            raise UnreadableFile(f"{path} is larger than {limit} bytes")
        return data
    finally:
        os.close(fd)


def os_reason(exc: OSError) -> str:
    """What went wrong, in words, without the path (the caller names the file)."""
    if isinstance(exc, UnreadableFile):
        return str(exc)
    return exc.strerror or str(exc) or type(exc).__name__


def copy_sparse(src: Path, dest: Path, chunk: int = 1 << 20) -> None:
    """Copy `src` to `dest`, leaving runs of zeros as holes (a raw disk image stays as small on
    disk as its data)."""
    zero = bytes(chunk)
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while block := fin.read(chunk):
            if block == zero[: len(block)]:
                fout.seek(len(block), os.SEEK_CUR)
            else:
                fout.write(block)
        fout.truncate()
