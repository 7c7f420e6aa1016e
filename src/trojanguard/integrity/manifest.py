"""The signed manifest of an OpenSSF model signature, and its diff against a directory.

model_signing 1.1.1 compares manifests and raises one ``ValueError`` whose text lists
hashes; callers need to know *which* files changed.  This module reads the in-toto
statement inside a signature bundle (after its signature was verified: see
``signature.py``) and computes a diff that names every modified, added, removed and
renamed file.  Parsing is defensive: the bundle is attacker-controlled bytes until the
signature check passes, so every shape error is a :class:`VerificationError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import VerificationError
from .digest import Manifest

__all__ = ["MAX_SIGNATURE_BYTES", "ManifestDiff", "SignedManifest", "diff", "parse_bundle", "parse_statement"]

MAX_SIGNATURE_BYTES = 64 << 20
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class SignedManifest:
    """What a signature vouches for: resource name -> sha256, and how it was serialized."""

    digests: dict[str, str]
    method: str
    shard_size: int | None
    allow_symlinks: bool
    ignore_paths: tuple[str, ...]

    @property
    def files(self) -> frozenset[str]:
        """File names covered (shard names ``a:0:10`` reduced to ``a``)."""
        if self.method == "files":
            return frozenset(self.digests)
        return frozenset(name.rsplit(":", 2)[0] for name in self.digests)


@dataclass(frozen=True)
class ManifestDiff:
    """Differences between the signed manifest and the files on disk (sorted names)."""

    modified: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.modified or self.added or self.removed or self.renamed)

    def describe(self, limit: int = 20) -> str:
        """One line naming every change (truncated after ``limit`` names per kind)."""
        parts = []
        for label, names in (("modified", self.modified), ("added (unsigned)", self.added), ("removed", self.removed)):
            if names:
                shown = ", ".join(names[:limit]) + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
                parts.append(f"{label}: {shown}")
        if self.renamed:
            parts.append("renamed: " + ", ".join(f"{a} -> {b}" for a, b in self.renamed[:limit]))
        return "; ".join(parts)


def parse_bundle(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Return the bundle JSON object and its DSSE payload bytes (shape-checked only)."""
    if len(data) > MAX_SIGNATURE_BYTES:
        raise VerificationError(f"signature is larger than {MAX_SIGNATURE_BYTES} bytes")
    try:
        bundle = json.loads(data)
        payload = base64.b64decode(bundle["dsseEnvelope"]["payload"], validate=True)
        signatures = bundle["dsseEnvelope"]["signatures"]
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError) as exc:
        raise VerificationError(f"signature is malformed (not a sigstore bundle): {type(exc).__name__}: {exc}") from None
    if not isinstance(bundle, dict) or not isinstance(signatures, list) or len(signatures) != 1:
        raise VerificationError("signature is malformed: expected exactly one DSSE signature")
    return bundle, payload


def _shard_size(value: object) -> int | None:
    """model_signing 1.1.1 writes ``shard_size`` as a float (1000.0); accept integral values."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise VerificationError(f"signed manifest has an invalid shard_size {value!r}")
    return int(value)


def parse_statement(payload: bytes) -> SignedManifest:
    """Read the in-toto statement's serialization parameters and resources."""
    try:
        statement = json.loads(payload)
        predicate = statement["predicate"]
        serialization = predicate["serialization"]
        resources = predicate["resources"]
        method = serialization["method"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise VerificationError(f"signed statement is malformed: {type(exc).__name__}: {exc}") from None
    if method not in ("files", "shards") or not isinstance(resources, list):
        raise VerificationError(f"signed statement uses unsupported serialization {method!r}")
    if serialization.get("hash_type", "sha256") != "sha256":
        raise VerificationError(f"signed manifest uses {serialization.get('hash_type')!r}; only sha256 is supported")
    digests: dict[str, str] = {}
    for item in resources:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("digest"), str):
            raise VerificationError("signed statement has a malformed resource entry")
        digest = item["digest"].lower()
        if len(digest) != 64 or not set(digest) <= _HEX or item["name"] in digests:
            raise VerificationError(f"signed statement has a bad or duplicate entry for {item['name']!r}")
        digests[item["name"]] = digest
    ignore = serialization.get("ignore_paths", [])
    return SignedManifest(
        digests=digests,
        method=method,
        shard_size=_shard_size(serialization.get("shard_size")) if method == "shards" else None,
        allow_symlinks=bool(serialization.get("allow_symlinks", False)),
        ignore_paths=tuple(str(p) for p in ignore) if isinstance(ignore, list) else (),
    )


def _file_of(name: str, sharded: bool) -> str:
    return name.rsplit(":", 2)[0] if sharded else name


def diff(signed: SignedManifest, actual: Manifest, present_files: frozenset[str]) -> ManifestDiff:
    """Name every file whose content, presence or name differs from the signature.

    ``present_files`` are the files on disk (needed for sharded manifests, where an empty
    file has no shard and would otherwise be invisible).
    """
    sharded = signed.method == "shards"
    expected, found = signed.digests, actual.digests()
    modified = {_file_of(n, sharded) for n in expected.keys() & found.keys() if expected[n] != found[n]}
    signed_files = signed.files
    # A shard set that changed shape (file grew or shrank) shows up as extra/missing shards.
    for name in expected.keys() ^ found.keys():
        f = _file_of(name, sharded)
        if f in signed_files and f in present_files:
            modified.add(f)
    added = sorted(present_files - signed_files)
    removed = sorted(signed_files - present_files)
    renamed = _renames(added, removed, expected, found, sharded)
    for old, new in renamed:
        added.remove(new)
        removed.remove(old)
    return ManifestDiff(tuple(sorted(modified)), tuple(added), tuple(removed), tuple(renamed))


def _renames(
    added: list[str], removed: list[str], expected: dict[str, str], found: dict[str, str], sharded: bool
) -> list[tuple[str, str]]:
    """Pair removed and added files with identical content (whole-file digests only)."""
    if sharded or not added or not removed:
        return []
    by_digest: dict[str, str] = {}
    for name in removed:
        by_digest.setdefault(expected[name], name)
    pairs = []
    for name in added:
        old = by_digest.pop(found.get(name, ""), None)
        if old is not None:
            pairs.append((old, name))
    return pairs
