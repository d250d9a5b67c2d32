"""A docker context per machine, written into the docker CLI's own context store.

`docker context ls` then lists each machine with its engine URL, and `docker --context NAME`
or `docker context use NAME` reach it over the machine's TLS files, with no variables
exported. The store's format is the docker CLI's (written here directly: the CLI need not be
installed):

    $DOCKER_CONFIG/contexts/meta/<sha256 of the name>/meta.json
    $DOCKER_CONFIG/contexts/tls/<sha256 of the name>/docker/{ca,cert,key}.pem
    $DOCKER_CONFIG/config.json  "currentContext": the context `docker` uses by default

($DOCKER_CONFIG defaults to ~/.docker.) A context this module writes carries the machine
store's path in its metadata (`MachineStore`); one without it, or from another store, is the
user's or another store's, and is never overwritten or removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from machine.store.files import PRIVATE_DIR, PRIVATE_FILE, ensure_dir, write_atomic

DEFAULT = "default"  # the docker CLI's context for DOCKER_HOST or its local socket
MARKER = "MachineStore"  # in a context's Metadata: the store that made it
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


def config_dir() -> Path:
    value = os.environ.get("DOCKER_CONFIG", "")
    return Path(value) if value else Path.home() / ".docker"


def context_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def meta_file(name: str) -> Path:
    return config_dir() / "contexts" / "meta" / context_id(name) / "meta.json"


def tls_dir(name: str) -> Path:
    return config_dir() / "contexts" / "tls" / context_id(name) / "docker"


def read_meta(name: str) -> dict[str, Any] | None:
    try:
        data = json.loads(meta_file(name).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def owner(name: str) -> str | None:
    """The store that made context `name` ("" when the user made it; None when there is none)."""
    meta = read_meta(name)
    if meta is None:
        return None
    metadata = meta.get("Metadata")
    store = metadata.get(MARKER) if isinstance(metadata, dict) else None
    return store if isinstance(store, str) else ""


def is_ours(name: str, store: Path) -> bool:
    return owner(name) == str(store)


def write(name: str, url: str, cert_dir: Path, store: Path) -> bool:
    """Make or update machine `name`'s context: its engine URL and a copy of the client's
    TLS files from `cert_dir`. False (nothing written) when a context of that name is not
    this store's."""
    if name == DEFAULT or owner(name) not in (None, str(store)):
        return False
    tls = tls_dir(name)
    for folder in (config_dir(), tls.parent.parent.parent, tls.parent.parent, tls.parent, tls):
        ensure_dir(folder, PRIVATE_DIR)
    for file_name in TLS_FILES:
        write_atomic(tls / file_name, (cert_dir / file_name).read_bytes(), PRIVATE_FILE)
    meta = {
        "Name": name,
        "Metadata": {"Description": f'machine "{name}"', MARKER: str(store)},
        "Endpoints": {"docker": {"Host": url, "SkipTLSVerify": False}},
    }
    path = meta_file(name)
    for folder in (path.parent.parent.parent, path.parent.parent, path.parent):
        ensure_dir(folder, PRIVATE_DIR)
    write_atomic(path, json.dumps(meta, indent=2) + "\n", PRIVATE_FILE)
    return True


def remove(name: str, store: Path) -> bool:
    """Remove machine `name`'s context if this store made it; the docker CLI goes back to
    its default context when it was the current one."""
    if not is_ours(name, store):
        return False
    if current() == name:
        use(None)
    shutil.rmtree(meta_file(name).parent, ignore_errors=True)
    shutil.rmtree(tls_dir(name).parent, ignore_errors=True)
    return True


def _config() -> dict[str, Any]:
    try:
        data = json.loads((config_dir() / "config.json").read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        from machine.errors import MachineError

        raise MachineError(
            f"{config_dir() / 'config.json'} cannot be read as JSON: {exc}",
            hint="Fix or move it; the docker CLI reads it too.",
        ) from None
    return data if isinstance(data, dict) else {}


def current() -> str:
    value = _config().get("currentContext")
    return value if isinstance(value, str) and value else DEFAULT


def use(name: str | None) -> None:
    """Make `name` the docker CLI's current context (None: back to the default), keeping
    every other setting of its config.json."""
    data = _config()
    if name is None or name == DEFAULT:
        if "currentContext" not in data:
            return
        del data["currentContext"]
    else:
        data["currentContext"] = name
    ensure_dir(config_dir(), PRIVATE_DIR)
    path = config_dir() / "config.json"
    mode = PRIVATE_FILE
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode & 0o777  # keep the user's mode
    write_atomic(path, json.dumps(data, indent=1) + "\n", mode)
