"""Every on-disk name of the store in one place (docker-machine's layout plus our additions)."""

from __future__ import annotations

import os
from pathlib import Path

STORAGE_PATH_ENV = "MACHINE_STORAGE_PATH"

CERTS_DIR = "certs"
MACHINES_DIR = "machines"
CACHE_DIR = "cache"

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
CLIENT_CERT = "cert.pem"
CLIENT_KEY = "key.pem"
SERVER_CERT = "server.pem"
SERVER_KEY = "server-key.pem"

CONFIG = "config.json"
CONFIG_BACKUP = "config.json.bak"
SSH_KEY = "id_rsa"  # docker-machine's name, whatever the key type, so stored configs stay valid
SSH_PUBLIC_KEY = "id_rsa.pub"
KNOWN_HOSTS = "known_hosts"  # our addition: the pinned SSH host key
JOURNAL = "journal.json"  # our addition: resources a create made, and its phase
SSH_CONFIG = "ssh_config"  # our addition: the OpenSSH config `mount` leaves for sshfs
STORE_ID = ".store-id"  # our addition: marks cloud resources as this store's (tags)
TLS_CHECK = "tls-check.json"  # our addition: the last good certificate check (tlscheck.py)
# our addition: present while the host holds a saved copy of its settings from before a
# provisioning pass that has not finished (provision finishes it, rm puts the host back)
HOST_SAVED = "host-saved.json"

# Lock files live beside the machine folders, not inside them, so a create can hold the lock
# before the folder exists and rm can hold it while the folder goes. Store.List skips dot names.
CERTS_LOCK = ".certs.lock"


def machine_lock_name(name: str) -> str:
    return f".{name}.lock"


def default_store_root() -> Path:
    return Path(os.path.expanduser("~")) / ".docker" / "machine"


def resolve_store_root(flag: str | None) -> Path:
    """`--storage-path`, else $MACHINE_STORAGE_PATH, else ~/.docker/machine (docker-machine's)."""
    if flag:
        return Path(flag).expanduser().absolute()
    env = os.environ.get(STORAGE_PATH_ENV)
    if env:
        return Path(env).expanduser().absolute()
    return default_store_root()
