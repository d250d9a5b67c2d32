"""Pure crypto for the engine's mutual TLS: keys, CA, client and server certs, and validation.

No file I/O here (certstore.py owns the files). Validity follows docker-machine: NotBefore is
five minutes back (clock skew), NotAfter 1080 days later; subjects carry only O=<org>.
New keys are ECDSA P-256 (bench/certs.py: far faster to make than RSA-2048, and the engine and
docker clients accept it); existing RSA stores keep working because we only load their keys.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=1080)
SKEW = dt.timedelta(minutes=5)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: PrivateKey) -> bytes:
    # Traditional format: "EC PRIVATE KEY" / "RSA PRIVATE KEY", as Go's tools and dockerd expect.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def load_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def load_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _window(now: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    now = now or dt.datetime.now(dt.UTC)
    start = now.replace(second=0, microsecond=0) - SKEW
    return start, start + VALIDITY


def _builder(
    org: str, issuer: x509.Name | None, public_key: object, now: dt.datetime | None
) -> x509.CertificateBuilder:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])
    not_before, not_after = _window(now)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(secrets.randbits(127) + 1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _key_usage(*, cert_sign: bool, encipher: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=encipher,
        data_encipherment=False,
        key_agreement=encipher,
        key_cert_sign=cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(org: str, now: dt.datetime | None = None) -> KeyPair:
    key = new_key()
    cert = (
        _builder(org, None, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True, encipher=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), key_to_pem(key))


def _issue(
    ca: KeyPair,
    org: str,
    usage: x509.ObjectIdentifier,
    encipher: bool,
    sans: list[x509.GeneralName] | None,
    now: dt.datetime | None,
) -> KeyPair:
    """A new key and a leaf certificate for it, signed by `ca`, for one extended key usage."""
    ca_cert, ca_key = load_cert(ca.cert_pem), load_key(ca.key_pem)
    key = new_key()
    builder = (
        _builder(org, ca_cert.subject, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False, encipher=encipher), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), key_to_pem(key))


def make_client(ca: KeyPair, org: str, now: dt.datetime | None = None) -> KeyPair:
    return _issue(ca, org, ExtendedKeyUsageOID.CLIENT_AUTH, False, None, now)


def san_entries(hosts: list[str]) -> list[x509.GeneralName]:
    """Each entry becomes an IP SAN when it parses as an IP, else a DNS SAN; duplicates dropped."""
    seen: set[str] = set()
    out: list[x509.GeneralName] = []
    for host in hosts:
        if not host or host in seen:
            continue
        seen.add(host)
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def make_server(ca: KeyPair, org: str, hosts: list[str], now: dt.datetime | None = None) -> KeyPair:
    return _issue(ca, org, ExtendedKeyUsageOID.SERVER_AUTH, True, san_entries(hosts), now)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def is_expired(cert_pem: bytes, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return now > load_cert(cert_pem).not_valid_after_utc


# --- validation ------------------------------------------------------------------------------


class Problem(enum.Enum):
    OK = "ok"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    FOREIGN = "signed by another CA"
    WRONG_ADDRESS = "not valid for the machine's address"
    KEY_MISMATCH = "does not match its private key"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Finding:
    problem: Problem
    detail: str = ""


def _public_bytes(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def check_server_cert(
    ca_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
    addresses: list[str],
    now: dt.datetime | None = None,
) -> Finding:
    """Tell apart the ways a server cert can be wrong for this machine, most fundamental first."""
    try:
        ca, cert, key = load_cert(ca_pem), load_cert(cert_pem), load_key(key_pem)
    except (ValueError, TypeError) as exc:  # TypeError: a key with a passphrase
        return Finding(Problem.UNREADABLE, str(exc))
    now = now or dt.datetime.now(dt.UTC)
    if not signed_by(cert, ca):
        return Finding(Problem.FOREIGN, f"issuer {cert.issuer.rfc4514_string()}")
    if _public_bytes(cert.public_key()) != _public_bytes(key.public_key()):
        return Finding(Problem.KEY_MISMATCH)
    if now > cert.not_valid_after_utc:
        return Finding(Problem.EXPIRED, f"expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if now < cert.not_valid_before_utc:
        return Finding(
            Problem.NOT_YET_VALID, f"valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    sans = cert_sans(cert)
    missing = [a for a in addresses if a and a not in sans]
    if missing:
        return Finding(
            Problem.WRONG_ADDRESS,
            f"valid for {', '.join(sorted(sans)) or 'nothing'}, not {', '.join(missing)}",
        )
    return Finding(Problem.OK)


def cert_sans(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    ips = {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}
    return ips | set(ext.get_values_for_type(x509.DNSName))


# --- SSH keys (the machine's login key and host keys for seeds) ------------------------------


def ssh_keypair() -> tuple[bytes, str]:
    """A new ed25519 key: (OpenSSH private key PEM, "ssh-ed25519 AAAA..." public line)."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode()
