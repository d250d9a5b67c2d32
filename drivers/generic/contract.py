"""The contract suite's backend for `generic` (tests/backend/test_contract.py): an address of
127.0.0.1 with a closed SSH port and a key of its own (create checks and records; it never
reaches a host here: tests/e2e/test_generic.py does)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def backend(tmp: Path) -> Iterator[dict[str, Any]]:
    from machine.tls import certs

    key = tmp / "user-key"
    key.write_bytes(certs.ssh_keypair()[0])
    key.chmod(0o600)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = int(s.getsockname()[1])  # closed again when the socket goes
    yield {"IPAddress": "127.0.0.1", "SSHPort": closed, "SSHKey": str(key)}
