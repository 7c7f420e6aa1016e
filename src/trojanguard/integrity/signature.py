"""Sign and verify model directories in the OpenSSF model-signing (OMS) format.

The cryptography is model_signing's (``pip install trojanguard[sign]``, imported lazily);
what this module adds are the checks that library's 1.1.1 release leaves out or gets
wrong, each written where it is made:

* verification raises :class:`VerificationError` naming every modified, added, removed
  or renamed file (our own manifest diff, against the *authenticated* statement);
* a fresh verifier is built for every call: a reused ``verifying.Config`` keeps the
  hashing config (and ignored paths) of its first model, which let an unsigned planted
  file pass;
* the hashing config is passed explicitly: 1.1.1 writes ``shard_size`` as a float and
  its own guess then fails on every sharded signature;
* certificate mode pins the signer (``identity``: a subject CN, a SAN, or
  ``sha256:<fingerprint>``) and rejects certificates that are expired or not yet valid
  *now* (the library validates the chain at the certificate's own ``notBefore``);
* ``sign`` scans the model first and refuses when a finding is at least ``high``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
import pathlib
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, UsageError, VerificationError
from ..model import Report, Severity
from .digest import DEFAULT_IGNORED, FileEntry, hash_manifest, list_files
from .manifest import MAX_SIGNATURE_BYTES, ManifestDiff, SignedManifest, diff, parse_bundle, parse_statement

__all__ = [
    "SignResult",
    "VerifiedSignature",
    "default_signature_path",
    "scan_before_signing",
    "sign_model",
    "sign_model_sigstore",
    "verify_model",
]


@dataclass(frozen=True)
class SignResult:
    signature_path: str
    files: int
    scan: Report


@dataclass(frozen=True)
class VerifiedSignature:
    """What a successful verification proved: who signed, how, and how many files."""

    mode: str  # "key" or "certificate"
    signer: str  # key fingerprint, or the certificate subject
    files: int
    method: str  # "files" or "shards"


def default_signature_path(model_dir: str) -> str:
    """``model/`` -> ``model.sig`` beside it (outside the signed tree)."""
    return os.path.abspath(model_dir).rstrip(os.sep) + ".sig"


def _import_model_signing() -> Any:
    try:
        import model_signing  # noqa: F401 - needs pyopenssl too (undeclared by model-signing 1.1.1)
        from model_signing import hashing, signing, verifying

        return hashing, signing, verifying
    except ImportError as exc:
        raise UsageError(f"signing needs the 'sign' extra (pip install 'trojanguard[sign]'): {exc}") from None


def _require_dir(model_dir: str) -> None:
    if not os.path.isdir(model_dir):
        raise InputError(f"{model_dir}: not a directory")


def _relative_inside(path: str, root: str) -> str | None:
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    return None if rel.startswith("..") else rel.replace(os.sep, "/")


def _hashing_config(hashing: Any, method: str, shard_size: int | None, ignore: Sequence[str], allow_symlinks: bool) -> Any:
    """An explicit hashing config (never the library's guess: see the module docstring)."""
    config = hashing.Config()
    if method == "shards":
        config.use_shard_serialization(shard_size=int(shard_size or 0), allow_symlinks=allow_symlinks)
    else:
        config.use_file_serialization(allow_symlinks=allow_symlinks)
    return config.set_ignored_paths(paths=list(ignore), ignore_git_paths=True)


def scan_before_signing(model_dir: str, *, allow_findings: bool = False, threshold: Severity = Severity.HIGH) -> Report:
    """Refuse to vouch for a model with a finding >= ``threshold`` or an incomplete scan."""
    from ..scanner import scan

    report = scan([model_dir])
    bad = [f for f in report.findings if f.severity >= threshold]
    if allow_findings:
        return report
    if bad:
        first = bad[0]
        raise VerificationError(
            f"refusing to sign: {len(bad)} finding(s) at or above {threshold.label}, first {first.rule.id} "
            f"at {first.location}: {first.message} (use --allow-findings to sign anyway)"
        )
    if report.errors:
        raise VerificationError(
            f"refusing to sign: the scan is incomplete ({len(report.errors)} error(s), first: "
            f"{report.errors[0].location}: {report.errors[0].message}); use --allow-findings to sign anyway"
        )
    return report


class _FastHashing:
    """A stand-in for ``model_signing.hashing.Config`` whose ``hash`` is our parallel hasher.

    ``signing.Config.sign`` only calls ``hash(model_path)``; the manifest is built from the
    library's own classes, so the signed statement is the one the library would write
    (tested; every test signature is also checked by the library's own verifier).
    Security assumption: nobody else writes to the model directory while it is signed
    (the scan and the hashing read the files separately).
    """

    def __init__(self, files: Sequence[FileEntry], shard_size: int | None, ignore: Sequence[str]) -> None:
        self.files, self.shard_size, self.ignore = files, shard_size, ignore

    def hash(self, model_path: Any, *, files_to_hash: Any = None) -> Any:
        from model_signing import manifest as oms
        from model_signing._hashing.hashing import Digest

        root = os.fspath(model_path)
        ours = hash_manifest(root, shard_size=self.shard_size, files=self.files)
        ignored = frozenset(pathlib.Path(p) for p in (*DEFAULT_IGNORED, *self.ignore))
        items: list[Any] = []
        if self.shard_size is None:
            serialization: Any = oms._FileSerialization("sha256", False, ignored)
            for r in ours.resources:
                items.append(oms.FileManifestItem(path=pathlib.PurePosixPath(r.name), digest=Digest("sha256", bytes.fromhex(r.sha256))))
        else:
            serialization = oms._ShardSerialization("sha256", self.shard_size, False, ignored)
            algorithm = f"sha256-sharded-{self.shard_size}"
            for r in ours.resources:
                name, start, end = r.name.rsplit(":", 2)
                digest = Digest(algorithm, bytes.fromhex(r.sha256))
                items.append(oms.ShardedFileManifestItem(path=pathlib.PurePosixPath(name), start=int(start), end=int(end), digest=digest))
        return oms.Manifest(os.path.basename(os.path.abspath(root)), items, serialization)


def sign_model(
    model_dir: str,
    signature_path: str | None = None,
    *,
    private_key: str,
    certificate: str | None = None,
    certificate_chain: Sequence[str] = (),
    shard_size: int | None = None,
    allow_findings: bool = False,
) -> SignResult:
    """Scan, then sign ``model_dir`` with an ECDSA key (optionally bound to a certificate)."""
    _require_dir(model_dir)
    signature_path = signature_path or default_signature_path(model_dir)
    report = scan_before_signing(model_dir, allow_findings=allow_findings)
    inside = _relative_inside(signature_path, model_dir)
    ignore = [inside] if inside else []
    files = list_files(model_dir, ignore=ignore)
    if shard_size is not None and any(f.size == 0 for f in files):
        empty = next(f.name for f in files if f.size == 0)
        raise UsageError(f"sharded signatures cannot cover empty files ({empty}); sign without --shard-size")
    _, signing, _ = _import_model_signing()
    config = signing.Config()
    try:
        if certificate:
            config.use_certificate_signer(
                private_key=private_key, signing_certificate=certificate, certificate_chain=list(certificate_chain)
            )
        else:
            config.use_elliptic_key_signer(private_key=private_key)
        config.set_hashing_config(_FastHashing(files, shard_size, ignore)).sign(model_dir, signature_path)
    except Exception as exc:  # noqa: BLE001 - library boundary: bad key/certificate files of every kind
        raise UsageError(f"cannot sign {model_dir}: {type(exc).__name__}: {exc}") from None
    return SignResult(signature_path, len(files), report)


def sign_model_sigstore(model_dir: str, signature_path: str | None = None, *, allow_findings: bool = False) -> SignResult:
    """Sigstore keyless signing (OIDC login, Fulcio, Rekor): needs the network.

    UNTESTED in this project (no network in CI); the library does all the work.
    """
    _require_dir(model_dir)
    signature_path = signature_path or default_signature_path(model_dir)
    report = scan_before_signing(model_dir, allow_findings=allow_findings)
    inside = _relative_inside(signature_path, model_dir)
    ignore = [inside] if inside else []
    hashing, signing, _ = _import_model_signing()
    try:
        signing.Config().use_sigstore_signer().set_hashing_config(
            _hashing_config(hashing, "files", None, ignore, False)
        ).sign(model_dir, signature_path)
    except Exception as exc:  # noqa: BLE001 - network/OIDC failures of every kind end here
        raise UsageError(f"Sigstore signing failed: {type(exc).__name__}: {exc}") from None
    return SignResult(signature_path, len(list_files(model_dir, ignore=ignore)), report)


@contextmanager
def _private_copy(data: bytes) -> Iterator[str]:
    """The library reads signatures from a path: give it exactly the bytes we parsed."""
    fd, path = tempfile.mkstemp(prefix="trojanguard-sig-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield path
    finally:
        os.unlink(path)


def _read_signature(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SIGNATURE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read signature: {exc.strerror or exc}") from None
    return data


def _certificates(bundle: dict[str, Any]) -> list[Any]:
    from cryptography import x509

    try:
        raw = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"]
        return [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"], validate=True)) for c in raw]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise VerificationError(f"signature carries no usable certificate chain: {type(exc).__name__}: {exc}") from None


def _identities(cert: Any) -> set[str]:
    """Every name a user may pin: subject CN, SAN values, the SHA-256 fingerprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    names = {str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
    names.add(cert.subject.rfc4514_string())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for kind in (x509.RFC822Name, x509.DNSName, x509.UniformResourceIdentifier):
            names.update(str(v) for v in san.get_values_for_type(kind))
    except x509.ExtensionNotFound:
        pass
    names.add("sha256:" + cert.fingerprint(hashes.SHA256()).hex())
    return names


def _trusted_certificates(paths: Sequence[str]) -> list[Any]:
    from cryptography import x509

    certs = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                certs.extend(x509.load_pem_x509_certificates(fh.read(16 << 20)))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a PEM certificate file: {exc}") from None
    return certs


def _check_certificates(bundle: dict[str, Any], identity: str | None, now: dt.datetime, trusted: Sequence[str]) -> str:
    """Expiry of every certificate (embedded chain and trust anchors), then the signer pin.

    model_signing 1.1.1 validates the chain as of the leaf's own ``notBefore``, so an
    expired certificate verifies there forever; here validity is checked at ``now``.
    Returns the signer's subject.
    """
    chain = _certificates(bundle)
    if not chain:
        raise VerificationError("signature carries an empty certificate chain")
    for cert in [*chain, *_trusted_certificates(trusted)]:
        subject = cert.subject.rfc4514_string()
        if cert.not_valid_after_utc < now:
            raise VerificationError(f"certificate {subject!r} expired at {cert.not_valid_after_utc.isoformat()}")
        if cert.not_valid_before_utc > now:
            raise VerificationError(f"certificate {subject!r} is not valid before {cert.not_valid_before_utc.isoformat()}")
    leaf = chain[0]
    if identity is not None and identity not in _identities(leaf):
        raise VerificationError(
            f"signer {leaf.subject.rfc4514_string()!r} does not match the pinned identity {identity!r}"
        )
    return str(leaf.subject.rfc4514_string())


def _key_fingerprint(public_key: str) -> str:
    from cryptography.hazmat.primitives import serialization

    try:
        with open(public_key, "rb") as fh:
            key = serialization.load_pem_public_key(fh.read(64 << 10))
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{public_key}: not a PEM public key: {exc}") from None
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class _Trust:
    """The one trust anchor a verification uses (exactly one field is set)."""

    public_key: str | None = None
    certificate_chain: tuple[str, ...] = ()
    sigstore: tuple[str, str] | None = None  # (identity, OIDC issuer)

    @property
    def mode(self) -> str:
        return "key" if self.public_key else "certificate" if self.certificate_chain else "sigstore"


def _authenticate(sig_copy: str, trust: _Trust) -> None:
    """Check the bundle's signature with a fresh library verifier; any failure is a VerificationError."""
    from model_signing._signing import sign_certificate, sign_ec_key, sign_sigstore, sign_sigstore_pb

    public_key, certificate_chain = trust.public_key, trust.certificate_chain
    try:
        if trust.sigstore is not None:  # keyless: needs network for the trust root (untested here)
            keyless = sign_sigstore.Verifier(identity=trust.sigstore[0], oidc_issuer=trust.sigstore[1])
            keyless.verify(sign_sigstore.Signature.read(pathlib.Path(sig_copy)))
            return
        signature = sign_sigstore_pb.Signature.read(pathlib.Path(sig_copy))
        verifier: sign_sigstore_pb.Verifier
        if public_key:
            verifier = sign_ec_key.Verifier(pathlib.Path(public_key))
        else:
            verifier = sign_certificate.Verifier([pathlib.Path(c) for c in certificate_chain])
        verifier.verify(signature)
    except Exception as exc:  # noqa: BLE001 - library boundary: every failure means "does not verify"
        detail = str(exc) or type(exc).__name__
        who = {"key": "the given key", "certificate": "the given certificate chain"}.get(trust.mode, "Sigstore")
        raise VerificationError(f"signature does not verify with {who}: {type(exc).__name__}: {detail}") from None


def _library_recheck(model_dir: str, sig_copy: str, signed: SignedManifest, trust: _Trust) -> None:
    """Second opinion: model_signing's own full verification, fresh config, explicit hashing."""
    hashing, _, verifying = _import_model_signing()
    config = verifying.Config()  # never reused: see the module docstring
    if trust.public_key:
        config.use_elliptic_key_verifier(public_key=trust.public_key)
    elif trust.certificate_chain:
        config.use_certificate_verifier(certificate_chain=list(trust.certificate_chain))
    else:
        assert trust.sigstore is not None
        config.use_sigstore_verifier(identity=trust.sigstore[0], oidc_issuer=trust.sigstore[1])
    config.set_hashing_config(
        _hashing_config(hashing, signed.method, signed.shard_size, signed.ignore_paths, signed.allow_symlinks)
    )
    try:
        config.verify(model_dir, sig_copy)
    except Exception as exc:  # noqa: BLE001 - library boundary
        raise VerificationError(f"model_signing rejects the model: {type(exc).__name__}: {exc}") from None


def _trust(
    public_key: str | None, certificate_chain: Sequence[str], identity: str | None, sigstore_identity: str | None, sigstore_issuer: str | None
) -> _Trust:
    modes = [bool(public_key), bool(certificate_chain), bool(sigstore_identity)]
    if sum(modes) != 1:
        raise UsageError("give exactly one of a public key, a certificate chain, or a Sigstore identity")
    if certificate_chain and not identity:
        raise UsageError("certificate verification needs --identity (subject CN, SAN, or sha256:<fingerprint>)")
    if sigstore_identity:
        if not sigstore_issuer:
            raise UsageError("Sigstore verification needs both --sigstore-identity and --sigstore-issuer")
        return _Trust(sigstore=(sigstore_identity, sigstore_issuer))
    return _Trust(public_key=public_key, certificate_chain=tuple(certificate_chain))


def verify_model(
    model_dir: str,
    signature_path: str | None = None,
    *,
    public_key: str | None = None,
    certificate_chain: Sequence[str] = (),
    identity: str | None = None,
    sigstore_identity: str | None = None,
    sigstore_issuer: str | None = None,
    now: dt.datetime | None = None,
    library_recheck: bool = True,
    workers: int | None = None,
) -> VerifiedSignature:
    """Verify ``model_dir`` against its signature or raise :class:`VerificationError`.

    Exactly one trust anchor: ``public_key`` (key mode; the key is the pin),
    ``certificate_chain`` (``identity`` pins the signer and is required), or
    ``sigstore_identity`` + ``sigstore_issuer`` (keyless; network; untested here).
    """
    _require_dir(model_dir)
    trust = _trust(public_key, certificate_chain, identity, sigstore_identity, sigstore_issuer)
    _import_model_signing()
    signature_path = signature_path or default_signature_path(model_dir)
    data = _read_signature(signature_path)
    bundle, payload = parse_bundle(data)
    with _private_copy(data) as sig_copy:
        if trust.certificate_chain:
            signer = _check_certificates(bundle, identity, now or dt.datetime.now(dt.timezone.utc), trust.certificate_chain)
        elif trust.public_key:
            signer = _key_fingerprint(trust.public_key)
        else:
            signer = f"{sigstore_identity} ({sigstore_issuer})"
        _authenticate(sig_copy, trust)
        signed = parse_statement(payload)  # authenticated from here on
        changes = _diff_tree(model_dir, signature_path, signed, workers)
        if changes:
            raise VerificationError(f"{model_dir} does not match its signature: {changes.describe()}")
        if library_recheck:
            _library_recheck(model_dir, sig_copy, signed, trust)
    return VerifiedSignature(trust.mode, signer, len(signed.files), signed.method)


def _diff_tree(model_dir: str, signature_path: str, signed: SignedManifest, workers: int | None) -> ManifestDiff:
    ignore = list(signed.ignore_paths)
    inside = _relative_inside(signature_path, model_dir)
    if inside and inside not in ignore:
        ignore.append(inside)
    try:
        files = list_files(model_dir, ignore=ignore, allow_symlinks=signed.allow_symlinks)
    except InputError as exc:
        raise VerificationError(f"{model_dir} cannot match its signature: {exc}") from None
    actual = hash_manifest(model_dir, shard_size=signed.shard_size, files=files, workers=workers)
    return diff(signed, actual, frozenset(f.name for f in files))
