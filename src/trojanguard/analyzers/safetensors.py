"""safetensors: a JSON header and raw tensor bytes, nothing executable — if it is well formed.

safetensors carries no code, so an attacker's interest is in the *parser*: a header length
larger than the file (allocation/DoS), duplicate JSON keys (two parsers disagree on which
tensor is which), overlapping or out-of-range offsets (one tensor aliasing another, reading
past the data section), gaps and trailing bytes (room to smuggle a second payload, e.g. a
polyglot zip), and a ``__metadata__`` block that is not the ``str -> str`` map the format
promises (loaders that trust it crash or misbehave).  Only the 8-byte length prefix and the
header are read; tensor bytes are never touched, so cost follows the header, not the file.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from math import prod

from trojanguard.analyzers.base import Context, Result
from trojanguard.artifact import Artifact
from trojanguard.errors import LimitExceeded
from trojanguard.formats import Format
from trojanguard.model import Finding, Location, Rule, Severity

HEADER_MALFORMED = Rule(
    "SFT001",
    "safetensors-header-malformed",
    Severity.MEDIUM,
    "A safetensors header is not a valid JSON object of tensor entries (bad length, not JSON, bad metadata).",
    cwe=20,
)
LAYOUT_INVALID = Rule(
    "SFT002",
    "safetensors-layout-invalid",
    Severity.MEDIUM,
    "safetensors tensor offsets overlap, leave gaps, run past the data, or disagree with dtype and shape.",
    cwe=131,
)
HEADER_TOO_LARGE = Rule(
    "SFT003",
    "safetensors-header-too-large",
    Severity.HIGH,
    "A safetensors header declares a size beyond the in-memory limit (memory exhaustion on load).",
    cwe=789,
)
DUPLICATE_KEY = Rule(
    "SFT004",
    "safetensors-duplicate-key",
    Severity.HIGH,
    "A safetensors header repeats a JSON key, so different parsers see different tensors.",
    cwe=436,
)

#: The reference implementation refuses headers above 100 MB.
MAX_HEADER = 100_000_000
#: dtype -> bits per element (the safetensors spec's list, including sub-byte float types).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FN": 8, "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
MAX_RANK = 64


class _Duplicates(Exception):
    def __init__(self, keys: list[str]) -> None:
        super().__init__(", ".join(keys))
        self.keys = keys


def _pairs_no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """object_pairs_hook that refuses duplicate keys instead of keeping the last one silently."""
    seen: dict[str, object] = {}
    dups: list[str] = []
    for key, value in pairs:
        if key in seen:
            dups.append(key)
        seen[key] = value
    if dups:
        raise _Duplicates(dups)
    return seen


def _read_header(artifact: Artifact, ctx: Context) -> tuple[bytes | None, Finding | None]:
    """The raw header bytes, or a finding saying why they cannot be read (never allocates blindly)."""
    loc = artifact.location
    with artifact.open() as stream:
        prefix = stream.read(8)
        if len(prefix) < 8:
            return None, HEADER_MALFORMED.at(loc, "file shorter than the 8-byte header length prefix")
        (n,) = struct.unpack("<Q", prefix)
        limit = min(MAX_HEADER, ctx.limits.max_in_memory)
        if n > limit:
            raise LimitExceeded(f"safetensors header declares {n} bytes (limit {limit}); not read", limit="max_in_memory")
        size = artifact.size
        if size is not None and 8 + n > size:
            return None, HEADER_MALFORMED.at(
                loc.at_offset(0),
                f"header length {n} runs past the end of the file ({size} bytes)",
                evidence={"header_length": n, "file_size": size},
            )
        raw = stream.read(n)
    if len(raw) < n:
        return None, HEADER_MALFORMED.at(loc, f"header truncated: {len(raw)} of {n} bytes present")
    return raw, None


def _parse(raw: bytes, loc: Location) -> tuple[dict[str, object] | None, list[Finding]]:
    try:
        text = raw.decode("utf-8")
        header = json.loads(text, object_pairs_hook=_pairs_no_duplicates)
    except _Duplicates as exc:
        first = exc.keys[0]
        return None, [DUPLICATE_KEY.at(loc, f"JSON key {first!r} appears more than once in the header",
                                        evidence={"keys": tuple(exc.keys[:20])})]
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, [HEADER_MALFORMED.at(loc, f"header is not valid UTF-8 JSON: {str(exc)[:120]}")]
    if not isinstance(header, dict):
        return None, [HEADER_MALFORMED.at(loc, f"header is a JSON {type(header).__name__}, not an object")]
    return header, []


def _check_metadata(meta: object, loc: Location) -> list[Finding]:
    if not isinstance(meta, dict):
        return [HEADER_MALFORMED.at(loc, f"__metadata__ is a JSON {type(meta).__name__}, not a str->str object")]
    bad = [k for k, v in meta.items() if not isinstance(v, str)]
    if bad:
        return [HEADER_MALFORMED.at(loc, f"__metadata__ value of {bad[0]!r} is not a string",
                                    evidence={"keys": tuple(bad[:20])})]
    return []


def _entry(name: str, value: object, loc: Location) -> tuple[tuple[int, int, str] | None, list[Finding]]:
    """(begin, end, name) of one tensor entry, plus findings for dtype/shape problems."""
    if not isinstance(value, dict):
        return None, [HEADER_MALFORMED.at(loc, f"tensor {name!r} entry is not an object")]
    dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
    ok_offsets = (isinstance(offsets, list) and len(offsets) == 2
                  and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets))
    if not ok_offsets or not isinstance(offsets, list):
        return None, [LAYOUT_INVALID.at(loc, f"tensor {name!r} has invalid data_offsets {str(offsets)[:80]}")]
    begin, end = int(offsets[0]), int(offsets[1])
    if end < begin:
        return None, [LAYOUT_INVALID.at(loc, f"tensor {name!r} ends before it begins ({begin} > {end})",
                                        evidence={"tensor": name, "begin": begin, "end": end})]
    findings: list[Finding] = []
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        findings.append(LAYOUT_INVALID.at(loc, f"tensor {name!r} has unknown dtype {str(dtype)[:40]!r}",
                                          evidence={"tensor": name, "dtype": str(dtype)[:40]}))
    elif not (isinstance(shape, list) and len(shape) <= MAX_RANK
              and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        findings.append(LAYOUT_INVALID.at(loc, f"tensor {name!r} has an invalid shape {str(shape)[:80]}",
                                          evidence={"tensor": name}))
    else:
        bits = prod(shape) * DTYPE_BITS[dtype]
        expected = (bits + 7) // 8
        if expected != end - begin:
            findings.append(LAYOUT_INVALID.at(
                loc, f"tensor {name!r} ({dtype} {tuple(shape)}) needs {expected} bytes but spans {end - begin}",
                evidence={"tensor": name, "expected": expected, "actual": end - begin}))
    return (begin, end, name), findings


def _check_layout(spans: list[tuple[int, int, str]], data_size: int | None, loc: Location) -> Iterator[Finding]:
    """Offsets must tile the data section exactly: no overlap, no gap, no overrun, no trailing bytes."""
    cursor = 0
    reported = 0
    for begin, end, name in sorted(spans):
        if reported >= 20:
            return
        if begin < cursor:
            reported += 1
            yield LAYOUT_INVALID.at(loc, f"tensor {name!r} at [{begin}, {end}) overlaps the previous tensor",
                                    evidence={"tensor": name, "begin": begin, "end": end})
        elif begin > cursor:
            reported += 1
            yield LAYOUT_INVALID.at(loc, f"{begin - cursor} unreferenced bytes before tensor {name!r}",
                                    evidence={"tensor": name, "gap": begin - cursor})
        cursor = max(cursor, end)
    if data_size is None:
        return
    if cursor > data_size:
        yield LAYOUT_INVALID.at(loc, f"tensors end at {cursor} but the data section has {data_size} bytes",
                                evidence={"end": cursor, "data_size": data_size})
    elif cursor < data_size:
        yield LAYOUT_INVALID.at(loc, f"{data_size - cursor} trailing bytes after the last tensor",
                                evidence={"trailing": data_size - cursor})


class SafetensorsAnalyzer:
    """Validates the header and the tensor layout; never reads tensor bytes."""

    name = "safetensors"
    formats = frozenset({Format.SAFETENSORS})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        yield from scan_safetensors(artifact, ctx)


def scan_safetensors(artifact: Artifact, ctx: Context) -> Iterator[Finding]:
    """Findings for one safetensors artifact (raises LimitExceeded for absurd header sizes)."""
    loc = artifact.location
    try:
        raw, problem = _read_header(artifact, ctx)
    except LimitExceeded as exc:
        yield HEADER_TOO_LARGE.at(loc.at_offset(0), str(exc), evidence={"limit": exc.limit})
        return
    if problem is not None or raw is None:
        if problem is not None:
            yield problem
        return
    header, findings = _parse(raw, loc)
    yield from findings
    if header is None:
        return
    spans: list[tuple[int, int, str]] = []
    for name, value in header.items():
        if name == "__metadata__":
            yield from _check_metadata(value, loc)
            continue
        span, problems = _entry(name, value, loc)
        yield from problems
        if span is not None:
            spans.append(span)
    data_size = None if artifact.size is None else artifact.size - 8 - len(raw)
    yield from _check_layout(spans, data_size, loc)
