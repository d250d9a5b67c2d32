"""`config` tells a certificate problem from a machine that is down: an engine on 127.0.0.1
that answers with a certificate of another CA gets a message about certificates and
`regenerate-certs`, not "check that the machine is running"."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from machine.tls import certs
from tests.cli.conftest import Sandbox


def _machine(box: Sandbox, port: int) -> Path:
    """A generic machine whose engine is at 127.0.0.1:port, with its files as create leaves."""
    ca = certs.make_ca("tester")
    client = certs.make_client(ca, "tester")
    server = certs.make_server(ca, "tester.m1", ["127.0.0.1", "m1", "localhost"])
    folder = box.store / "machines" / "m1"
    folder.mkdir(parents=True)
    for name, data in {
        "ca.pem": ca.cert_pem,
        "cert.pem": client.cert_pem,
        "key.pem": client.key_pem,
        "server.pem": server.cert_pem,
        "server-key.pem": server.key_pem,
    }.items():
        (folder / name).write_bytes(data)
    record = {
        "ConfigVersion": 3,
        "Driver": {
            "IPAddress": "127.0.0.1",
            "MachineName": "m1",
            "SSHUser": "root",
            "SSHPort": 22,
            "StorePath": str(box.store),
            "EnginePort": port,
        },
        "DriverName": "generic",
        "HostOptions": {"Driver": "generic"},
        "Name": "m1",
    }
    (folder / "config.json").write_text(json.dumps(record))
    return folder


@pytest.fixture
def foreign_engine(tmp_path: Path) -> Iterator[int]:
    """A TLS server on 127.0.0.1 with a certificate of a CA the store never saw."""
    other = certs.make_ca("someone-else")
    pair = certs.make_server(other, "someone-else", ["127.0.0.1"])
    (tmp_path / "c.pem").write_bytes(pair.cert_pem)
    (tmp_path / "k.pem").write_bytes(pair.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_config_names_a_certificate_problem_as_one(sandbox: Sandbox, foreign_engine: int) -> None:
    _machine(sandbox, foreign_engine)
    result = sandbox.cli()("config", "m1", check=False)
    assert result.returncode == 1
    assert "Error checking the TLS connection" in result.stderr
    assert "regenerate-certs m1" in result.stderr
    assert "machine is running" not in result.stderr


def test_config_of_an_engine_that_is_down_says_so(sandbox: Sandbox) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there now
    _machine(sandbox, port)
    result = sandbox.cli()("config", "m1", check=False)
    assert result.returncode == 1
    assert "Check that the machine is running" in result.stderr
