"""Atomic, private file writes: temp file + fsync + rename, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PUBLIC_FILE = 0o644


def ensure_dir(path: Path, mode: int = PRIVATE_DIR) -> None:
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask; folders holding keys must be 0700 whatever it is.
    if (path.stat().st_mode & 0o777) != mode:
        path.chmod(mode)


def write_atomic(path: Path, data: bytes | str, mode: int = PRIVATE_FILE) -> None:
    """Write `data` to `path` so that readers see the old or the new file, never a mix."""
    import tempfile  # only writers pay for it; `env` and `ls` only read

    if isinstance(data, str):
        data = data.encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; set the final mode before any content is visible under the name.
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
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
