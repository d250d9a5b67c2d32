"""The store's TLS files: CA and client pair once per store, a server pair and copies per machine.

The CA and client pair are made under an exclusive store lock and checked again inside it, so
parallel first creates end with one CA and one matching client cert (docker-machine #3634).
A good check of the pair (parsed, dated, signed by the CA) is remembered in the certs folder,
keyed on the four files' identities, until the first of them expires: a create into a store
whose CA exists loads no cryptography unless it issues a certificate.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from machine.errors import CertificateProblem, LockTimeout, StoreDamaged
from machine.frozen import frozen
from machine.store import paths
from machine.store.files import PRIVATE_FILE, PUBLIC_FILE, ensure_dir, os_reason, write_atomic
from machine.store.locks import exclusive

if TYPE_CHECKING:
    from cryptography import x509

    from machine.store.record import AuthOptions
    from machine.tls.certs import KeyPair

CERTS_LOCK_TIMEOUT = 60.0


@frozen
class ClientFiles:
    """Where the client side of the TLS files of one store (or one machine) lives."""

    ca_cert: Path
    ca_key: Path
    client_cert: Path
    client_key: Path


def store_files(certs_dir: Path) -> ClientFiles:
    return ClientFiles(
        certs_dir / paths.CA_CERT,
        certs_dir / paths.CA_KEY,
        certs_dir / paths.CLIENT_CERT,
        certs_dir / paths.CLIENT_KEY,
    )


def record_files(auth: AuthOptions, certs_dir: Path) -> ClientFiles:
    """The CA and client files a machine's record names (docker-machine stores them per machine,
    and `--tls-ca-cert` and friends can point them anywhere); the store's where it names none."""
    default = store_files(certs_dir)
    return ClientFiles(
        Path(auth.CaCertPath) if auth.CaCertPath else default.ca_cert,
        Path(auth.CaPrivateKeyPath) if auth.CaPrivateKeyPath else default.ca_key,
        Path(auth.ClientCertPath) if auth.ClientCertPath else default.client_cert,
        Path(auth.ClientKeyPath) if auth.ClientKeyPath else default.client_key,
    )


def username() -> str:
    # docker-machine puts $USER into the certificates' O= field.
    return os.environ.get("USER") or _login_name() or "unknown"


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def bootstrap(files: ClientFiles, store_root: Path, regenerate: bool = False) -> None:
    """Make the CA and client pair if missing or expired (or when `regenerate`), exactly once."""
    if not regenerate and _current(files, store_root):
        return  # the common path takes no lock
    ours = {store_root / paths.CERTS_DIR, store_root}
    for parent in {
        f.parent for f in (files.ca_cert, files.ca_key, files.client_cert, files.client_key)
    } | ours:
        if parent not in ours and not parent.is_dir():
            # a file the user named (--tls-ca-cert ...) may be made, not a tree of folders
            raise CertificateProblem(
                f"The folder {parent} does not exist",
                hint="Name files in an existing folder with --tls-ca-cert, --tls-ca-key, "
                "--tls-client-cert and --tls-client-key.",
            )
        try:  # made 0700 when we make it; a folder the user named keeps the modes it has
            ensure_dir(parent)
        except OSError as exc:
            raise StoreDamaged(
                str(parent), f"cannot hold the certificates: {os_reason(exc)}"
            ) from None
    try:
        with exclusive(store_root / paths.CERTS_LOCK, CERTS_LOCK_TIMEOUT):
            if not regenerate and _current(files, store_root):
                return  # another process made them while we waited
            from machine.tls import certs

            user = username()
            ca = _existing_ca(files) if not regenerate else None
            if ca is None:
                ca = certs.make_ca(user)
                write_atomic(files.ca_key, ca.key_pem, PRIVATE_FILE)
                write_atomic(files.ca_cert, ca.cert_pem, PUBLIC_FILE)
            client = certs.make_client(ca, f"{user}.<bootstrap>")
            write_atomic(files.client_key, client.key_pem, PRIVATE_FILE)
            write_atomic(files.client_cert, client.cert_pem, PUBLIC_FILE)
    except LockTimeout as exc:
        raise CertificateProblem(
            f"Another process has held the certificate lock for {exc.waited:.0f}s",
            hint=f"Check for a hung command, or remove {exc.path} if none is running.",
        ) from None


def _existing_ca(files: ClientFiles) -> KeyPair | None:
    from machine.tls import certs

    try:
        pair = certs.KeyPair(files.ca_cert.read_bytes(), files.ca_key.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(files.ca_cert, os_reason(exc)) from None
    _parsed(files.ca_cert, pair.cert_pem)
    return None if certs.is_expired(pair.cert_pem) else pair


BOOTSTRAP_CHECK = "bootstrap-check.json"  # in the store's certs folder


def _identity(files: ClientFiles) -> str:
    """The four files as they are now ("" when one is missing)."""
    parts = []
    for path in (files.ca_cert, files.ca_key, files.client_cert, files.client_key):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise _unreadable(path, os_reason(exc)) from None
        parts.append(f"{path}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _current(files: ClientFiles, store_root: Path) -> bool:
    """Whether the pair is complete, in date and signed by the CA (remembered when it is)."""
    identity = _identity(files)
    if not identity:
        return False
    check = store_root / paths.CERTS_DIR / BOOTSTRAP_CHECK
    try:
        data = json.loads(check.read_text())
        if (
            isinstance(data, dict)
            and data.get("identity") == identity
            and float(data.get("valid_until", 0)) > time.time()
        ):
            return True
    except (OSError, ValueError, TypeError):
        pass
    valid_until = _complete_and_current(files)
    if valid_until is None:
        return False
    with contextlib.suppress(OSError):  # a read-only store works, only without the shortcut
        entry = {"identity": identity, "valid_until": valid_until}
        write_atomic(check, json.dumps(entry) + "\n", PUBLIC_FILE)
    return True


def _complete_and_current(files: ClientFiles) -> float | None:
    """When the first of the CA and client certificate expires, if both are there, in date
    and the client's is signed by the CA; None otherwise."""
    from machine.tls import certs

    try:
        ca_pem = files.ca_cert.read_bytes()
        client_pem = files.client_cert.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(
            Path(exc.filename) if exc.filename else files.ca_cert, os_reason(exc)
        ) from None
    if not (files.ca_key.exists() and files.client_key.exists()):
        return None
    ca, client = _parsed(files.ca_cert, ca_pem), _parsed(files.client_cert, client_pem)
    now = certs.utcnow()
    if now > ca.not_valid_after_utc or now > client.not_valid_after_utc:
        return None
    if not certs.signed_by(client, ca):
        return None
    return min(ca.not_valid_after_utc, client.not_valid_after_utc).timestamp()


def _parsed(path: Path, pem: bytes) -> x509.Certificate:
    from machine.tls import certs

    try:
        return certs.load_cert(pem)
    except ValueError as exc:
        raise _unreadable(path, f"not a PEM certificate ({exc})") from None


def _unreadable(path: Path, why: str) -> CertificateProblem:
    # Never replaced silently: every machine's engine trusts the CA that is there.
    return CertificateProblem(
        f"The certificate file {path} cannot be used: {why}",
        hint="Restore it from a backup of the store. To start over with a new CA and client "
        "certificate, run `regenerate-certs --client-certs -f` on every machine (their "
        "engines then trust the new CA only).",
    )


def load_ca(files: ClientFiles) -> KeyPair:
    from machine.tls import certs

    return certs.KeyPair(files.ca_cert.read_bytes(), files.ca_key.read_bytes())


def issue_server_cert(
    files: ClientFiles, machine_name: str, hosts: list[str], cert_path: Path, key_path: Path
) -> KeyPair:
    """Make the machine's server pair for `hosts` and write it (key 0600)."""
    from machine.tls import certs

    pair = certs.make_server(load_ca(files), f"{username()}.{machine_name}", hosts)
    write_atomic(key_path, pair.key_pem, PRIVATE_FILE)
    write_atomic(cert_path, pair.cert_pem, PUBLIC_FILE)
    return pair


def copy_client_files(files: ClientFiles, machine_dir: Path) -> None:
    """Copy ca.pem, cert.pem and key.pem into the machine folder: DOCKER_CERT_PATH points there."""
    for src, name, mode in (
        (files.ca_cert, paths.CA_CERT, PUBLIC_FILE),
        (files.client_cert, paths.CLIENT_CERT, PUBLIC_FILE),
        (files.client_key, paths.CLIENT_KEY, PRIVATE_FILE),
    ):
        write_atomic(machine_dir / name, src.read_bytes(), mode)
