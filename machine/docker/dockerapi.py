"""A minimal client of the engine's HTTPS API with the machine's client cert (no docker SDK).

Enough for "is the engine up, which version" (`/version`), used by create, provision, ls and
`version NAME`. TCP connects first, and only then is TLS set up, so an engine that refuses
connections costs one syscall, not a TLS context (ls over a thousand machines stays fast).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from machine.driver import DEFAULT_ENGINE_PORT
from machine.errors import EngineUnavailable
from machine.frozen import frozen
from machine.wait import attempts


@frozen
class TLSFiles:
    ca: str
    cert: str
    key: str


_contexts: dict[TLSFiles, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _context(files: TLSFiles) -> ssl.SSLContext:
    with _contexts_lock:
        ctx = _contexts.get(files)
        if ctx is None:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=files.ca)
            ctx.load_cert_chain(files.cert, files.key)
            _contexts[files] = ctx
        return ctx


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"not an engine URL: {url!r}")
    return parts.hostname, parts.port or DEFAULT_ENGINE_PORT


def _address(host: str, port: int) -> Any:
    """For socket.create_connection: an ASCII host as bytes, since a str one makes socket load
    the idna codec (about 1 ms of a `config`). getaddrinfo takes bytes; typeshed says str."""
    return (host.encode() if host.isascii() else host), port


def handshake(url: str, files: TLSFiles, timeout: float) -> None:
    """Connect and complete a mutual TLS handshake with the engine (docker-machine's check)."""
    host, port = host_port(url)
    with socket.create_connection(_address(host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        with _context(files).wrap_socket(sock, server_hostname=host):
            pass


def get_json(url: str, path: str, files: TLSFiles, timeout: float) -> object:
    """GET `path` from the engine at `url` (tcp://host:port) over mutual TLS."""
    return call(url, "GET", path, files, timeout)


class APIError(OSError):
    """The engine answered with an error status; `message` is its own words."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"engine answered {status}: {message}")
        self.status = status
        self.message = message


def call(
    url: str, method: str, path: str, files: TLSFiles, timeout: float, body: object = None
) -> object:
    """One API call over mutual TLS: `body` sent as JSON; the JSON answer (None if empty)."""
    host, port = host_port(url)
    deadline = time.monotonic() + timeout
    sock = socket.create_connection(_address(host, port), timeout=timeout)
    try:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        tls = _context(files).wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise
    payload = b"" if body is None else json.dumps(body).encode()
    with tls:
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: machine\r\n"
            "Accept: application/json\r\nConnection: close\r\n"
        )
        if body is not None:
            request += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        tls.sendall(request.encode() + b"\r\n" + payload)
        chunks: list[bytes] = []
        while True:
            tls.settimeout(max(0.05, deadline - time.monotonic()))
            data = tls.recv(65536)
            if not data:
                break
            chunks.append(data)
    return _parse_response(b"".join(chunks))


def _parse_response(raw: bytes) -> object:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"not an HTTP response: {status_line!r}")
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    status = int(parts[1])
    if not 200 <= status < 300:
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError):
            message = body.decode(errors="replace").strip()[:300]
        raise APIError(status, message or status_line)
    return json.loads(body) if body.strip() else None


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


def version(url: str, files: TLSFiles, timeout: float = 10.0) -> str:
    data = get_json(url, "/version", files, timeout)
    if not isinstance(data, dict) or "Version" not in data:
        raise OSError("engine /version answer has no Version")
    return str(data["Version"])


def wait_until_up(url: str, files: TLSFiles, deadline: float) -> str:
    """Poll /version with back-off until it answers or `deadline` (monotonic) passes."""
    last = "no attempt made"
    for remaining in attempts(deadline, first=0.1, cap=2.0):
        try:
            return version(url, files, timeout=max(0.5, min(10.0, remaining)))
        except ssl.SSLCertVerificationError as exc:
            # A certificate problem does not pass with time: report it at once.
            raise EngineUnavailable(
                f"The engine at {url} presented a certificate that does not verify: "
                f"{exc.verify_message}",
                hint="Run `machine regenerate-certs NAME` to issue a new server certificate.",
            ) from None
        except (OSError, ValueError) as exc:
            last = str(exc) or type(exc).__name__
    raise EngineUnavailable(f"The Docker engine at {url} did not answer: {last}")
