"""Certificates: docker-machine's validity and subjects, SANs, and validation findings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from machine.tls import certs, certstore

NOW = dt.datetime(2026, 1, 10, 12, 34, 56, tzinfo=dt.UTC)


def test_validity_window_is_docker_machines() -> None:
    ca = certs.make_ca("alice", now=NOW)
    cert = certs.load_cert(ca.cert_pem)
    assert cert.not_valid_before_utc == dt.datetime(2026, 1, 10, 12, 29, tzinfo=dt.UTC)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=1080)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "alice"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_client_and_server_certs() -> None:
    ca = certs.make_ca("alice")
    client = certs.load_cert(certs.make_client(ca, "alice.<bootstrap>").cert_pem)
    eku = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    server = certs.make_server(ca, "alice.node1", ["node1.example.com", "10.1.2.3", "localhost"])
    cert = certs.load_cert(server.cert_pem)
    assert certs.cert_sans(cert) == {"node1.example.com", "10.1.2.3", "localhost"}
    assert certs.signed_by(cert, certs.load_cert(ca.cert_pem))


def test_findings_tell_problems_apart() -> None:
    ca = certs.make_ca("a")
    other_ca = certs.make_ca("b")
    server = certs.make_server(ca, "a.m", ["10.0.0.1"], now=NOW)
    other = certs.make_server(ca, "a.m", ["10.0.0.1"], now=NOW)

    def check(
        cert: bytes, key: bytes, addr: str, when: dt.datetime, ca_pem: bytes = ca.cert_pem
    ) -> certs.Problem:
        return certs.check_server_cert(ca_pem, cert, key, [addr], now=when).problem

    ok_time = NOW + dt.timedelta(days=1)
    assert check(server.cert_pem, server.key_pem, "10.0.0.1", ok_time) is certs.Problem.OK
    assert check(server.cert_pem, server.key_pem, "10.0.0.2", ok_time) is (
        certs.Problem.WRONG_ADDRESS
    )
    late = NOW + dt.timedelta(days=1100)
    assert check(server.cert_pem, server.key_pem, "10.0.0.1", late) is certs.Problem.EXPIRED
    early = NOW - dt.timedelta(days=1)
    assert check(server.cert_pem, server.key_pem, "10.0.0.1", early) is (
        certs.Problem.NOT_YET_VALID
    )
    assert check(server.cert_pem, other.key_pem, "10.0.0.1", ok_time) is (
        certs.Problem.KEY_MISMATCH
    )
    assert check(server.cert_pem, server.key_pem, "10.0.0.1", ok_time, other_ca.cert_pem) is (
        certs.Problem.FOREIGN
    )


def test_existing_rsa_store_still_signs() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_ec = certs.make_ca("x")
    # Re-sign the CA cert with an RSA key to mimic a docker-machine store.
    cert = certs.load_cert(ca_ec.cert_pem)
    from cryptography.hazmat.primitives import hashes, serialization

    rsa_ca = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pair = certs.KeyPair(rsa_ca.public_bytes(serialization.Encoding.PEM), certs.key_to_pem(key))
    assert b"RSA PRIVATE KEY" in pair.key_pem
    server = certs.make_server(pair, "x.m", ["10.0.0.9"])
    assert (
        certs.check_server_cert(
            pair.cert_pem, server.cert_pem, server.key_pem, ["10.0.0.9"]
        ).problem
        is certs.Problem.OK
    )


def test_bootstrap_once_modes_and_reuse(tmp_path: Path) -> None:
    files = certstore.store_files(tmp_path / "certs")
    certstore.bootstrap(files, tmp_path)
    first = files.ca_cert.read_bytes()
    certstore.bootstrap(files, tmp_path)
    assert files.ca_cert.read_bytes() == first
    for path, mode in ((files.ca_key, 0o600), (files.client_key, 0o600), (files.ca_cert, 0o644)):
        assert path.stat().st_mode & 0o777 == mode
    assert (tmp_path / "certs").stat().st_mode & 0o777 == 0o700
    certstore.bootstrap(files, tmp_path, regenerate=True)
    assert files.ca_cert.read_bytes() != first
    client = certs.load_cert(files.client_cert.read_bytes())
    assert certs.signed_by(client, certs.load_cert(files.ca_cert.read_bytes()))


def test_ssh_keypair_is_openssh() -> None:
    private, public = certs.ssh_keypair()
    assert private.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.startswith("ssh-ed25519 ")
