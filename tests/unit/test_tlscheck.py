"""The local certificate check behind `env`/`config`, and its remembered result."""

from __future__ import annotations

from pathlib import Path

import pytest

from machine import errors
from machine.store import paths
from machine.tls import certs, tlscheck

PREFIX = "Error checking TLS connection: "


def machine_dir(tmp_path: Path, ip: str) -> tuple[Path, certs.KeyPair]:
    ca = certs.make_ca("u")
    server = certs.make_server(ca, "u.m", [ip, "m", "localhost"])
    d = tmp_path / "m"
    d.mkdir()
    (d / paths.CA_CERT).write_bytes(ca.cert_pem)
    (d / paths.SERVER_CERT).write_bytes(server.cert_pem)
    (d / paths.SERVER_KEY).write_bytes(server.key_pem)
    return d, ca


def test_ok_is_remembered_and_forgotten_on_change(tmp_path: Path) -> None:
    d, _ca = machine_dir(tmp_path, "10.0.0.1")
    tlscheck.verify(d, "10.0.0.1", "m", PREFIX)
    assert (d / paths.TLS_CHECK).exists()
    tlscheck.verify(d, "10.0.0.1", "m", PREFIX)  # remembered
    # the machine moved: the remembered result does not apply to the new address
    with pytest.raises(errors.CertificateProblem) as info:
        tlscheck.verify(d, "10.0.0.2", "m", PREFIX)
    assert "not valid for the machine's address" in info.value.message
    assert "regenerate-certs m" in info.value.hint
    # a server cert from another CA, written over the old one, is caught
    other = certs.make_server(certs.make_ca("x"), "x.m", ["10.0.0.1"])
    (d / paths.SERVER_CERT).write_bytes(other.cert_pem)
    (d / paths.SERVER_KEY).write_bytes(other.key_pem)
    with pytest.raises(errors.CertificateProblem) as info:
        tlscheck.verify(d, "10.0.0.1", "m", PREFIX)
    assert "signed by another CA" in info.value.message


def test_missing_file(tmp_path: Path) -> None:
    d, _ = machine_dir(tmp_path, "10.0.0.1")
    (d / paths.SERVER_KEY).unlink()
    errors.set_program("docker-machine")  # as the CLI does under that name or --compat
    try:
        with pytest.raises(errors.CertificateProblem) as info:
            tlscheck.verify(d, "10.0.0.1", "m", "Error running connection boilerplate: ")
    finally:
        errors.set_program("machine")
    assert info.value.message.startswith("Error running connection boilerplate: ")
    assert "server-key.pem is missing" in info.value.message
    assert "docker-machine regenerate-certs m" in info.value.hint
