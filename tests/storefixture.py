"""Copies of the hand-written docker-machine store (tests/fixtures/dm-store) with real files:
paths filled in, RSA certificates as docker-machine made them, the machines' SSH keys."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "dm-store"


def _rsa_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _cert(
    org: str,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None,
    ca: bool,
    usage: x509.ObjectIdentifier | None,
    sans: list[str],
) -> bytes:
    import ipaddress

    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0] if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1080))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        entries: list[x509.GeneralName] = []
        for s in sans:
            try:
                entries.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                entries.append(x509.DNSName(s))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


def make_dm_store(
    dest: Path, host_ip: str = "127.0.0.1", ssh_key: Path | None = None, vcenter: str = "127.0.0.1"
) -> Path:
    """A docker-machine store at `dest`; generic machines point at `host_ip` with `ssh_key`,
    the vSphere machine at the vCenter `vcenter` (nothing outside is ever dialled)."""
    shutil.copytree(FIXTURE / "machines", dest / "machines")
    dest.chmod(0o700)
    for config in (dest / "machines").glob("*/config.json"):
        text = config.read_text().replace("@STORE@", str(dest)).replace("@HOST@", host_ip)
        text = text.replace("@VCENTER@", vcenter)
        config.write_text(text)
        config.chmod(0o600)
        config.parent.chmod(0o700)
    certs = dest / "certs"
    certs.mkdir(mode=0o700)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_cert = _cert("alice", ca_key, None, True, None, [])
    ca_name = x509.load_pem_x509_certificate(ca_cert).subject
    client_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_cert = _cert(
        "alice.<bootstrap>",
        client_key,
        (ca_name, ca_key),
        False,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        [],
    )
    files = {
        "ca.pem": ca_cert,
        "ca-key.pem": _rsa_pem(ca_key),
        "cert.pem": client_cert,
        "key.pem": _rsa_pem(client_key),
    }
    for name, data in files.items():
        (certs / name).write_bytes(data)
        (certs / name).chmod(0o600 if "key" in name else 0o644)
    for mdir in (dest / "machines").iterdir():
        server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ip = host_ip if mdir.name in ("dm-generic", "dm-v0", "dm-v1", "dm-v2") else "127.0.0.1"
        server = _cert(
            f"alice.{mdir.name}",
            server_key,
            (ca_name, ca_key),
            False,
            ExtendedKeyUsageOID.SERVER_AUTH,
            [ip, "localhost"],
        )
        for name, data in (
            ("ca.pem", ca_cert),
            ("cert.pem", client_cert),
            ("key.pem", _rsa_pem(client_key)),
            ("server.pem", server),
            ("server-key.pem", _rsa_pem(server_key)),
        ):
            (mdir / name).write_bytes(data)
            (mdir / name).chmod(0o600 if "key" in name else 0o644)
        if ssh_key is not None:
            shutil.copyfile(ssh_key, mdir / "id_rsa")
            (mdir / "id_rsa").chmod(0o600)
    return dest
