"""GGUF (v1-v3) and legacy GGML files: bounded metadata parsing and chat-template analysis.

GGUF carries no code, but its metadata carries ``tokenizer.chat_template``, a Jinja2
template that inference servers render on every request.  Rendered outside a sandbox, a
hostile template runs Python on the server (GHSA-56xg-wfcc-g829 / CVE-2024-34359 in
llama-cpp-python).  The template is parsed with jinja2's parser — never rendered — and the
AST is walked for the moves SSTI payloads need: dunder attributes, ``attr`` filters,
names assembled at run time, SSTI stepping-stone globals, filters a sandbox does not have.

The header is parsed here rather than with the ``gguf`` package's reader, which
memory-maps the file and trusts the counts: every count and length is checked against
the bytes left in the file before anything is allocated, arrays of numbers are skipped
with a seek, and tensor data is never read (cost follows metadata, not weights).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from trojanguard.analyzers.base import Context, Result
from trojanguard.artifact import Artifact
from trojanguard.errors import LimitExceeded, MalformedInput
from trojanguard.formats import Format
from trojanguard.model import Finding, Location, Rule, Severity
from trojanguard.policy import jinja_policy as policy

TEMPLATE_INJECTION = Rule(
    "GGF001",
    "gguf-template-injection",
    Severity.CRITICAL,
    "A chat template reaches Python internals (dunder attributes, attr() tricks, SSTI globals) to escape the template.",
    cwe=1336,
)
TEMPLATE_SUSPICIOUS = Rule(
    "GGF002",
    "gguf-template-suspicious",
    Severity.MEDIUM,
    "A chat template uses filters, tests, globals or string literals that sandboxed chat renderers do not need.",
    cwe=1336,
)
TEMPLATE_UNPARSABLE = Rule(
    "GGF003",
    "gguf-template-unparsable",
    Severity.LOW,
    "A chat template cannot be parsed by Jinja2, so it could not be checked for template injection.",
    cwe=20,
)
HEADER_MALFORMED = Rule(
    "GGF004",
    "gguf-header-malformed",
    Severity.MEDIUM,
    "A GGUF/GGML header is malformed: unknown version or value type, absurd counts, or truncated metadata.",
    cwe=20,
)
TENSOR_INFO_INVALID = Rule(
    "GGF005",
    "gguf-tensor-info-invalid",
    Severity.MEDIUM,
    "A GGUF tensor's dimensions, type or data offset are invalid or point beyond the end of the file.",
    cwe=125,
)
METADATA_OVERSIZED = Rule(
    "GGF006",
    "gguf-metadata-oversized",
    Severity.MEDIUM,
    "A GGUF metadata string or array is absurdly large (memory exhaustion in loaders that materialise it).",
    cwe=789,
)

MAX_TENSORS = 1 << 20
MAX_KV = 1 << 20
MAX_STRING = 16 << 20
"""A metadata string larger than this is reported and skipped (real templates are < 100 KB)."""
MAX_KEY = 65_535
MAX_DIMS = 8
MAX_ITEMS = 20_000_000
"""Total metadata scalars/strings walked before the scan gives up (bounds CPU on hostile files)."""
MAX_REPORTED = 20

_SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_INT_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 10: "<Q", 11: "<q"}


class _Reader:
    """Forward reader with a position, a known end and bounded reads."""

    def __init__(self, stream: BinaryIO, size: int | None) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0

    def left(self) -> int | None:
        return None if self.size is None else self.size - self.pos

    def need(self, n: int, what: str) -> None:
        left = self.left()
        if n < 0 or (left is not None and n > left):
            raise MalformedInput(f"{what}: {n} bytes declared but only {left} left in the file", offset=self.pos)

    def read(self, n: int, what: str) -> bytes:
        self.need(n, what)
        data = self.stream.read(n)
        if len(data) != n:
            raise MalformedInput(f"{what}: file truncated", offset=self.pos)
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        self.stream.seek(n, 1)
        self.pos += n

    def u32(self, what: str) -> int:
        return int(struct.unpack("<I", self.read(4, what))[0])

    def u64(self, what: str) -> int:
        return int(struct.unpack("<Q", self.read(8, what))[0])


@dataclass
class _Header:
    version: int
    tensor_count: int = 0
    strings: dict[str, str] = field(default_factory=dict)
    alignment: int = 32
    items: int = 0


@dataclass
class _Parser:
    reader: _Reader
    loc: Location
    ctx: Context
    header: _Header
    findings: list[Finding] = field(default_factory=list)

    @property
    def wide(self) -> bool:
        return self.header.version >= 2

    def count(self, what: str) -> int:
        return self.reader.u64(what) if self.wide else self.reader.u32(what)

    def string(self, what: str, keep: int) -> str | None:
        """A length-prefixed string; content is read only up to ``keep`` bytes, else skipped."""
        n = self.count(what)
        if n > MAX_STRING or n > self.ctx.limits.max_in_memory:
            self.reader.need(n, what)
            self.findings.append(METADATA_OVERSIZED.at(
                self.loc.at_offset(self.reader.pos), f"{what} is {n} bytes long; not read",
                evidence={"length": n, "what": what}))
            self.reader.skip(n, what)
            return None
        if n > keep:
            self.reader.skip(n, what)
            return None
        return self.reader.read(n, what).decode("utf-8", errors="replace")

    def tick(self, n: int = 1) -> None:
        self.header.items += n
        if self.header.items > MAX_ITEMS:
            raise LimitExceeded(f"more than {MAX_ITEMS} metadata items", limit="max_items", offset=self.reader.pos)

    def value(self, vtype: int, key: str, depth: int = 0) -> object:
        if vtype in _SCALARS:
            self.tick()
            raw = self.reader.read(_SCALARS[vtype], key)
            fmt = _INT_FORMATS.get(vtype)
            return int(struct.unpack(fmt, raw)[0]) if fmt else None
        if vtype == _STRING:
            self.tick()
            return self.string(f"value of {key!r}", MAX_STRING if depth == 0 else 0)
        if vtype == _ARRAY and depth < 4:
            self.array(key, depth)
            return None
        raise MalformedInput(f"metadata {key!r} has unknown value type {vtype}", offset=self.reader.pos)

    def array(self, key: str, depth: int) -> None:
        etype = self.reader.u32(f"array type of {key!r}")
        n = self.count(f"array length of {key!r}")
        if etype in _SCALARS:
            self.reader.need(n * _SCALARS[etype], f"array {key!r} of {n} items")
            self.tick(n // 1024)
            self.reader.skip(n * _SCALARS[etype], f"array {key!r}")
            return
        self.reader.need(n * (8 if self.wide else 4), f"array {key!r} of {n} items")
        for _ in range(n):
            self.value(etype, key, depth + 1)


def _parse_metadata(parser: _Parser) -> None:
    reader, header = parser.reader, parser.header
    kv_count = parser.count("kv_count")
    if kv_count > MAX_KV:
        raise MalformedInput(f"kv_count {kv_count} is absurd (limit {MAX_KV})", offset=reader.pos)
    header.items = 0
    for _ in range(kv_count):
        key = parser.string("metadata key", MAX_KEY)
        if key is None:
            raise MalformedInput("metadata key too long", offset=reader.pos)
        vtype = reader.u32(f"type of {key!r}")
        value = parser.value(vtype, key)
        if isinstance(value, str):
            header.strings[key] = value
        elif key == "general.alignment" and isinstance(value, int):
            header.alignment = value


def _tensor_infos(parser: _Parser) -> Iterator[Finding]:
    """Check every tensor's dims/type and that its bytes lie inside the file."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    reader, header = parser.reader, parser.header
    spans: list[tuple[int, int, str]] = []
    reported = 0
    for _ in range(header.tensor_count):
        name = parser.string("tensor name", MAX_KEY) or "?"
        n_dims = reader.u32(f"n_dims of {name!r}")
        if n_dims > MAX_DIMS:
            raise MalformedInput(f"tensor {name!r} declares {n_dims} dimensions", offset=reader.pos)
        dims = [parser.count(f"dim of {name!r}") for _ in range(n_dims)]
        ttype = reader.u32(f"type of {name!r}")
        offset = reader.u64(f"offset of {name!r}")
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
        except (ValueError, KeyError):
            reported += 1
            if reported <= MAX_REPORTED:
                yield TENSOR_INFO_INVALID.at(parser.loc, f"tensor {name!r} has unknown ggml type {ttype}",
                                             evidence={"tensor": name, "type": ttype})
            continue
        elements = 1
        for d in dims:
            elements *= d
        nbytes = elements * type_size // block
        spans.append((offset, offset + nbytes, name))
    data_start = -(-reader.pos // max(1, header.alignment)) * max(1, header.alignment)
    size = reader.size
    for begin, end, name in spans:
        if reported >= MAX_REPORTED:
            break
        if header.alignment > 0 and begin % header.alignment:
            reported += 1
            yield TENSOR_INFO_INVALID.at(parser.loc, f"tensor {name!r} offset {begin} is not {header.alignment}-aligned",
                                         evidence={"tensor": name, "offset": begin})
        if size is not None and data_start + end > size:
            reported += 1
            yield TENSOR_INFO_INVALID.at(
                parser.loc, f"tensor {name!r} data [{begin}, {end}) runs past the end of the file",
                evidence={"tensor": name, "end": data_start + end, "file_size": size})


def _parse_gguf(artifact: Artifact, ctx: Context) -> Iterator[Finding]:
    loc = artifact.location
    with artifact.open() as stream:
        reader = _Reader(stream, artifact.size)
        reader.read(4, "magic")
        version = reader.u32("version")
        if version not in (1, 2, 3):
            yield HEADER_MALFORMED.at(loc.at_offset(4), f"unknown GGUF version {version}", evidence={"version": version})
            return
        header = _Header(version)
        parser = _Parser(reader, loc, ctx, header)
        tensor_count = parser.count("tensor_count")
        if tensor_count > MAX_TENSORS:
            yield HEADER_MALFORMED.at(loc.at_offset(8), f"tensor_count {tensor_count} is absurd (limit {MAX_TENSORS})",
                                      evidence={"tensor_count": tensor_count})
            return
        header.tensor_count = tensor_count
        try:
            _parse_metadata(parser)
            tensor_findings = list(_tensor_infos(parser))
        except MalformedInput as exc:
            yield from parser.findings
            yield from _templates(header.strings, loc)
            if isinstance(exc, LimitExceeded):
                raise
            yield HEADER_MALFORMED.at(loc.at_offset(exc.offset), str(exc))
            return
    yield from parser.findings
    yield from _templates(header.strings, loc)
    yield from tensor_findings


def _looks_like_template(text: str) -> bool:
    return any(a in text and b in text for a, b in policy.TEMPLATE_DELIMITERS)


def _templates(strings: dict[str, str], loc: Location) -> Iterator[Finding]:
    for key, text in strings.items():
        if not (policy.TEMPLATE_KEY.match(key) or _looks_like_template(text)):
            continue
        yield from screen_template(text, loc, key)


def screen_template(text: str, loc: Location, key: str) -> list[Finding]:
    """:func:`analyze_template` behind the size policy (GGUF metadata and tokenizer configs).

    Parsing cost follows the Jinja *code* (tags), not plain text or comments, so a template
    padded with megabytes of text around an injection is still parsed; one with more code
    than ``MAX_TEMPLATE_CHARS`` is not, and that is high: it cannot be checked.
    """
    if len(text) > policy.MAX_TEMPLATE_CHARS:
        code = _code_chars(text)
        if code > policy.MAX_TEMPLATE_CHARS:
            return [METADATA_OVERSIZED.at(
                loc, f"template {key!r} holds {code} characters of Jinja code ({len(text)} in all); not parsed",
                evidence={"key": key, "length": len(text), "code": code}, severity=Severity.HIGH)]
    from trojanguard.analyzers._chat_template import analyze_template  # jinja2 only when a template is found

    return analyze_template(text, loc, key)


def _code_chars(text: str) -> int:
    """Characters inside ``{{ }}`` / ``{% %}`` tags, in linear time (an over-estimate)."""
    total = pos = 0
    nxt = {"{{": text.find("{{"), "{%": text.find("{%")}
    while True:
        for opener, at in nxt.items():
            if 0 <= at < pos:
                nxt[opener] = text.find(opener, pos)
        found = [(at, opener) for opener, at in nxt.items() if at >= 0]
        if not found:
            return total
        start, opener = min(found)
        end = text.find("}}" if opener == "{{" else "%}", start + 2)
        if end < 0:
            return total + len(text) - start
        total += end + 2 - start
        pos = end + 2


_LEGACY = {b"lmgg": "ggml", b"fmgg": "ggmf", b"tjgg": "ggjt"}


def _check_legacy(artifact: Artifact) -> Iterator[Finding]:
    """Legacy GGML files hold hyper-parameters and a vocabulary; only the version is checked."""
    head = artifact.head(8)
    kind = _LEGACY.get(head[:4])
    if kind in ("ggmf", "ggjt"):
        version = int.from_bytes(head[4:8], "little") if len(head) >= 8 else -1
        if version not in (1, 2, 3):
            yield HEADER_MALFORMED.at(artifact.location.at_offset(4), f"unknown {kind} version {version}",
                                      evidence={"version": version})


class GgufAnalyzer:
    """Bounded GGUF header/metadata/tensor-info parsing plus chat-template analysis."""

    name = "gguf"
    formats = frozenset({Format.GGUF, Format.GGML})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        if artifact.head(4) == b"GGUF":
            yield from _parse_gguf(artifact, ctx)
        else:
            yield from _check_legacy(artifact)
