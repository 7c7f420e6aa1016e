"""Generate ECDSA keys and a private CA chain in code (no committed key material).

Everything is written as PEM files under a directory the test owns (``tmp_path``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CURVES = {"p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1}


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CertSet:
    """A signing key + leaf certificate, the intermediate and root that issued it."""

    key: Path
    leaf: Path
    chain: tuple[Path, ...]  # intermediate then root (what the signer embeds / the verifier trusts)
    root: Path
    leaf_cert: x509.Certificate


def write_key(directory: Path, name: str, curve: str = "p256") -> KeyPair:
    key = ec.generate_private_key(CURVES[curve]())
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return KeyPair(private, public, key)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trojanguard tests")])


def _cert(
    subject: str,
    public_key: ec.EllipticCurvePublicKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    not_before: dt.datetime,
    not_after: dt.datetime,
    email: str | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        if email:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def write_ca_chain(
    directory: Path,
    *,
    prefix: str = "ca",
    signer: str = "model-signer",
    email: str = "signer@example.org",
    leaf_days: tuple[int, int] = (-1, 30),
    root_days: int = 3650,
) -> CertSet:
    """Root -> intermediate -> leaf; ``leaf_days``/``root_days``: validity relative to now."""
    now = dt.datetime.now(dt.timezone.utc)
    root_key = ec.generate_private_key(ec.SECP384R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    leaf = write_key(directory, f"{prefix}-leaf")
    long = (now - dt.timedelta(days=400), now + dt.timedelta(days=3650))
    root_end = now + dt.timedelta(days=root_days)
    root = _cert(f"{prefix} root", root_key.public_key(), f"{prefix} root", root_key, ca=True, not_before=long[0], not_after=root_end)
    inter = _cert(f"{prefix} intermediate", inter_key.public_key(), f"{prefix} root", root_key, ca=True, not_before=long[0], not_after=long[1])
    leaf_cert = _cert(
        signer,
        leaf.key.public_key(),
        f"{prefix} intermediate",
        inter_key,
        ca=False,
        not_before=now + dt.timedelta(days=leaf_days[0]),
        not_after=now + dt.timedelta(days=leaf_days[1]),
        email=email,
    )
    return CertSet(
        key=leaf.private,
        leaf=_pem(directory / f"{prefix}-leaf.crt", leaf_cert),
        chain=(_pem(directory / f"{prefix}-inter.crt", inter), _pem(directory / f"{prefix}-root.crt", root)),
        root=directory / f"{prefix}-root.crt",
        leaf_cert=leaf_cert,
    )
