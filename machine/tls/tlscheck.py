"""Is a machine's server certificate right for its address? Checked locally, and remembered.

`env` and `config` run this on every call. The full check (parse, signature, SANs, dates)
needs cryptography (~25 ms to import), so its OK is remembered in the machine folder, keyed on
the identity of the three files and the address, and valid until the certificate expires. Any
change to a file or the address means a full check again.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from machine.errors import CertificateProblem, program
from machine.store import paths
from machine.store.files import PRIVATE_FILE, write_atomic

CHECKED = (paths.CA_CERT, paths.SERVER_CERT, paths.SERVER_KEY)


def _identity(machine_dir: Path, address: str) -> str:
    parts = [address]
    for name in CHECKED:
        st = os.stat(machine_dir / name)
        parts.append(f"{name}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _remembered(machine_dir: Path, identity: str) -> bool:
    try:
        data = json.loads((machine_dir / paths.TLS_CHECK).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and data.get("identity") == identity
        and float(data.get("valid_until", 0)) > time.time()
    )


def verify(machine_dir: Path, address: str, name: str, prefix: str) -> None:
    """Raise CertificateProblem (with `prefix`, docker-machine's wording) unless all is right."""
    hint = (
        f"You can attempt to regenerate them using '{program()} regenerate-certs {name}'.\n"
        "Be advised that this will trigger a Docker daemon restart which might stop "
        "running containers."
    )
    try:
        identity = _identity(machine_dir, address)
    except FileNotFoundError as exc:
        raise CertificateProblem(f"{prefix}{exc.filename} is missing", hint=hint) from None
    if _remembered(machine_dir, identity):
        return
    from machine.tls import certs

    ca, cert, key = ((machine_dir / n).read_bytes() for n in CHECKED)
    finding = certs.check_server_cert(ca, cert, key, [address])
    if finding.problem is not certs.Problem.OK:
        detail = f" ({finding.detail})" if finding.detail else ""
        raise CertificateProblem(
            f"{prefix}Error checking and/or regenerating the certs: There was an error "
            f'validating certificates for host "{address}": the server certificate is '
            f"{finding.problem.value}{detail}",
            hint=hint,
        )
    valid_until = certs.load_cert(cert).not_valid_after_utc.timestamp()
    record = {"identity": identity, "valid_until": valid_until}
    with contextlib.suppress(OSError):  # a read-only store works, only without the shortcut
        write_atomic(machine_dir / paths.TLS_CHECK, json.dumps(record) + "\n", PRIVATE_FILE)
