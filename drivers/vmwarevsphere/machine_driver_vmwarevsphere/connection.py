"""One verified session per vCenter (or ESXi host) and command.

docker-machine logged in and out for every call and always skipped certificate checks. Here
the server's certificate is verified: by the system's CAs, by a CA file the user names, or by
a pinned SHA-256 thumbprint (as govc's known hosts do); skipping the check takes an explicit
`--vmwarevsphere-insecure`, which `inspect` shows. A session is opened once per process and
endpoint, and closed when the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machine.driver import DriverError, PreCreateCheckFailed

PASSWORD_ENV = "VSPHERE_PASSWORD"  # noqa: S105 - the variable's name


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    user: str
    ca_file: str = ""  # PEM bundle to verify the server with (else the system's CAs)
    thumbprint: str = ""  # the server certificate's SHA-256, pinned
    insecure: bool = False  # no verification at all (the user asked for it)


_sessions: dict[Target, Any] = {}


def normal_thumbprint(text: str) -> str:
    """A SHA-256 thumbprint as 64 lower-case hex digits ("" if it is not one)."""
    digits = text.replace(":", "").strip().lower()
    if len(digits) == 64 and all(c in "0123456789abcdef" for c in digits):
        return digits
    return ""


def thumbprint_problem(text: str) -> str:
    if not text or normal_thumbprint(text):
        return ""
    digits = text.replace(":", "").strip()
    if len(digits) == 40:
        return "is a SHA-1 thumbprint: give the certificate's SHA-256 (64 hex digits)"
    return "must be the certificate's SHA-256: 64 hex digits, with or without colons"


def password(flag_value: str, stored: str, credentials_file: str) -> str:
    """The password: the flag, $VSPHERE_PASSWORD, a 0600 file the user named, or (records made
    by docker-machine) the one stored in the record."""
    if flag_value:
        return flag_value
    if env := os.environ.get(PASSWORD_ENV, ""):
        return env
    if credentials_file:
        return read_credentials(credentials_file)
    if stored:
        return stored
    raise DriverError(
        "The vCenter password is needed",
        hint=f"Set ${PASSWORD_ENV}, or create the machine with "
        "--vmwarevsphere-credentials-file FILE (a file holding only the password, mode 0600).",
    )


def read_credentials(path_text: str) -> str:
    path = Path(path_text).expanduser()
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise DriverError(f"{path} is not a file")
        if info.st_mode & 0o077:
            raise DriverError(
                f"{path} can be read by other users (mode {stat.S_IMODE(info.st_mode):o})",
                hint=f"chmod 600 {path}",
            )
        text = path.read_text().strip()
    except OSError as exc:
        raise DriverError(f"cannot read the credentials file {path}: {exc.strerror}") from None
    if not text:
        raise DriverError(f"the credentials file {path} is empty")
    return text.splitlines()[0]


class PinMismatch(ssl.SSLError):
    """The server's certificate is not the pinned one."""

    def __init__(self, seen: str) -> None:
        super().__init__(f"certificate SHA-256 {seen} is not the pinned one")
        self.seen = seen


class _PinnedContext(ssl.SSLContext):
    """Accepts exactly one certificate, by its SHA-256, on every connection made with it (the
    SOAP session, NFC uploads): no CA is asked, and nothing else gets through."""

    pin = ""

    def wrap_socket(self, *args: Any, **kwargs: Any) -> Any:
        sock = super().wrap_socket(*args, **kwargs)
        der = sock.getpeercert(True) or b""
        seen = hashlib.sha256(der).hexdigest()
        if seen != self.pin:
            sock.close()
            raise PinMismatch(seen)
        return sock


def _context(target: Target) -> ssl.SSLContext:
    if target.thumbprint:
        pinned = _PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
        pinned.check_hostname = False
        pinned.verify_mode = ssl.CERT_NONE  # the pin is the check, right after the handshake
        pinned.pin = normal_thumbprint(target.thumbprint)
        return pinned
    if target.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=target.ca_file or None)


def https(netloc: str, target: Target, timeout: float = 600) -> Any:
    """An HTTPS connection to the vCenter (NFC uploads), verified as the API session is."""
    import http.client

    return http.client.HTTPSConnection(netloc, context=_context(target), timeout=timeout)


def server_thumbprint(host: str, port: int) -> str:
    """The SHA-256 of the certificate the server presents (to show in an error; not trusted)."""
    try:
        pem = ssl.get_server_certificate((host, port), timeout=10)
    except (OSError, ssl.SSLError):
        return ""
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def connect(target: Target, secret: str) -> Any:
    """The ServiceInstance of a logged-in session, made once per process and endpoint."""
    si = _sessions.get(target)
    if si is not None:
        return si
    from machine_driver_vmwarevsphere import sdk

    SmartConnect = sdk.connect().SmartConnect
    from machine_driver_vmwarevsphere import sdk

    vim = sdk.vim()

    where = f"{target.host}:{target.port}"
    try:
        si = SmartConnect(
            host=target.host,
            port=target.port,
            user=target.user,
            pwd=secret,
            sslContext=_context(target),
            disableSslCertValidation=target.insecure,
        )
    except vim.fault.InvalidLogin:
        raise DriverError(
            f"{where} refused the login of {target.user!r}",
            hint=f"Check --vmwarevsphere-username and the password (${PASSWORD_ENV}).",
        ) from None
    except PinMismatch as exc:
        seen = ":".join(exc.seen[i : i + 2] for i in range(0, 64, 2)).upper()
        raise DriverError(
            f"The certificate of {where} is not the pinned one (its SHA-256 is {seen})",
            hint="If the server's certificate was replaced on purpose, pin the new one with "
            "--vmwarevsphere-thumbprint.",
        ) from None
    except ssl.SSLCertVerificationError as exc:
        seen = server_thumbprint(target.host, target.port)
        raise DriverError(
            f"The certificate of {where} is not trusted ({exc.verify_message})",
            hint="Give its CA with --vmwarevsphere-ca-cert FILE, or pin it with "
            f"--vmwarevsphere-thumbprint {seen or 'SHA256'} once you have checked that this "
            "is its SHA-256 fingerprint (for a machine made by docker-machine: "
            "$VSPHERE_CA_CERT or $VSPHERE_THUMBPRINT).",
        ) from None
    except vim.fault.HostConnectFault as exc:
        raise DriverError(f"cannot connect to {where}: {exc.msg}") from None
    except (OSError, ssl.SSLError) as exc:
        raise DriverError(f"cannot connect to {where}: {exc}") from None
    _sessions[target] = si
    if len(_sessions) == 1:
        atexit.register(close_all)
    return si


def close_all() -> None:
    """Log out of every session this process opened (at exit)."""
    from machine_driver_vmwarevsphere import sdk

    disconnect = sdk.connect().Disconnect
    for si in list(_sessions.values()):
        with contextlib.suppress(Exception):  # a session that is gone already is fine
            disconnect(si)
    _sessions.clear()


def check_target(host: str, port: int, ca_file: str, thumbprint: str) -> None:
    """Problems a user can fix before anything is dialled."""
    if not host:
        raise PreCreateCheckFailed("vSphere driver requires the --vmwarevsphere-vcenter option")
    if not 0 < port < 65536:
        raise PreCreateCheckFailed(f"--vmwarevsphere-vcenter-port {port} is not a port")
    if ca_file and not Path(ca_file).expanduser().is_file():
        raise PreCreateCheckFailed(f"--vmwarevsphere-ca-cert: no such file {ca_file}")
    if why := thumbprint_problem(thumbprint):
        raise PreCreateCheckFailed(f"--vmwarevsphere-thumbprint {why}")
