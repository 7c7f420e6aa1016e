"""Containers: zip (read the way zipfile *and* torch's miniz read it), tar, compressed streams, 7z.

Containers never extract to disk and never interpret member bytes: they yield members back
to the scanner as child :class:`Artifact` values, which the scanner identifies and analyses
at any depth.  Stored members are zero-copy windows onto the parent; compressed members are
lazily decompressing streams wrapped in :class:`BoundedReader`, so every produced byte is
charged to the scan's budget and a bomb stops at a limit.

Zip is parsed at struct level twice -- the central directory (what ``zipfile`` and miniz
trust) and a sequential walk of local headers (what streaming readers see) -- because an
attacker hides payloads in the places where those two views disagree: duplicate names
(torch takes the first ``data.pkl``, name-based scanners the last), local names that differ
from central ones, local entries the directory does not list, data before the first entry,
overlapping entries.  Every view is yielded, so whichever one a loader uses gets analysed.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import BinaryIO, Protocol

from trojanguard.analyzers.base import Context, Result
from trojanguard.artifact import HEAD_SIZE, Artifact, BoundedReader, SliceReader, WrappedReader
from trojanguard.errors import LimitExceeded, MalformedInput
from trojanguard.formats import Format, identify
from trojanguard.model import Finding, Location, Rule, ScanError, Severity

ZIP_DISAGREEMENT = Rule(
    "ARC001",
    "zip-directory-disagreement",
    Severity.HIGH,
    "The zip central directory and its local headers disagree (names, sizes, hidden or corrupted entries).",
    cwe=436,
)
DUPLICATE_MEMBER = Rule(
    "ARC002",
    "duplicate-member-name",
    Severity.MEDIUM,
    "Two archive members share a name, so different readers pick different data.",
    cwe=436,
)
CRC_MISMATCH = Rule(
    "ARC003",
    "zip-crc-mismatch",
    Severity.MEDIUM,
    "A zip member's data does not match its declared CRC-32 or size (torch loads it anyway).",
    cwe=354,
)
DATA_OUTSIDE_ENTRIES = Rule(
    "ARC004",
    "data-outside-entries",
    Severity.MEDIUM,
    "The archive holds bytes that belong to no member (before the first entry, between entries or after the end).",
    cwe=506,
)
SUSPICIOUS_FLAGS = Rule(
    "ARC005",
    "zip-suspicious-flags",
    Severity.MEDIUM,
    "A zip entry's general-purpose flags are contradictory or unusual (fake encryption, data-descriptor tricks).",
    cwe=436,
)
PATH_TRAVERSAL = Rule(
    "ARC006",
    "member-path-traversal",
    Severity.HIGH,
    "An archive member is named with an absolute or parent-directory path, or is a link or device.",
    cwe=22,
)
OVERLAPPING_ENTRIES = Rule(
    "ARC007",
    "zip-overlapping-entries",
    Severity.HIGH,
    "Zip entries share bytes, as in overlapping ('quoted') decompression bombs and parser-confusion files.",
    cwe=409,
)
ENCRYPTED_MEMBER = Rule(
    "ARC008",
    "encrypted-member",
    Severity.MEDIUM,
    "An archive member or header is encrypted, so its content cannot be inspected.",
    cwe=311,
)

_LOCAL_SIG = b"PK\x03\x04"
_CENTRAL_SIG = b"PK\x01\x02"
_EOCD_SIG = b"PK\x05\x06"
_EOCD64_SIG = b"PK\x06\x06"
_EOCD64_LOC_SIG = b"PK\x06\x07"
_DD_SIG = b"PK\x07\x08"
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_EOCD = struct.Struct("<4sHHHHIIH")
_EOCD64 = struct.Struct("<4sQHHIIQQQQ")
_EOCD64_LOC = struct.Struct("<4sIQI")
_MAX_COMMENT = 0xFFFF
_STORED, _DEFLATED, _BZIP2, _LZMA = 0, 8, 12, 14
_ZSTD = 93  # Python 3.14's zipfile reads it (numpy.load of an .npz, for one)
_METHODS = frozenset({_STORED, _DEFLATED, _BZIP2, _LZMA, _ZSTD})
_FLAG_ENCRYPTED = 0x0001
_FLAG_DESCRIPTOR = 0x0008
_FLAG_STRONG = 0x0040
_FLAG_UTF8 = 0x0800
_KNOWN_FLAGS = 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0040 | 0x0800
#: CRCs are verified only for members up to this size: the CRC of a multi-GB tensor member
#: would cost reading it all, and tensor bytes are not where code hides (DESIGN principle 8).
CRC_CHECK_MAX = 16 << 20
#: Bytes one archive may spend on CRC checks in total; beyond it CRCs are no longer checked.
CRC_CHECK_TOTAL = 64 << 20
#: Torch tensor storages (``archive/data/0``): raw numbers, never code, so not CRC-checked.
_TENSOR_STORAGE = re.compile(r"(^|/)data/\d+$")
_SEARCH_CHUNK = 1 << 16
_MAX_OFFSET = 1 << 60
#: Names that loaders look up by name: a duplicate of one of these is a high finding.
_CODE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".py", ".json", ".h5", ".keras", ".pb")


# --------------------------------------------------------------------------- streams


class _Decompressor(Protocol):
    def feed(self, data: bytes, max_length: int) -> bytes: ...

    @property
    def done(self) -> bool: ...

    @property
    def hungry(self) -> bool: ...


class _ZlibDecompressor:
    """Raw deflate (zip method 8), the way zipfile and miniz inflate members."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(-15)
        self._pending = b""

    def feed(self, data: bytes, max_length: int) -> bytes:
        out = self._d.decompress(self._pending + data, max_length)
        self._pending = self._d.unconsumed_tail
        return out

    @property
    def done(self) -> bool:
        return self._d.eof

    @property
    def hungry(self) -> bool:
        return not self._pending


class _LibDecompressor:
    """bz2 / lzma decompressor objects (same ``decompress(data, max_length)`` protocol)."""

    def __init__(self, d: bz2.BZ2Decompressor | lzma.LZMADecompressor) -> None:
        self._d = d

    def feed(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(data, max_length)

    @property
    def done(self) -> bool:
        return self._d.eof

    @property
    def hungry(self) -> bool:
        return self._d.needs_input


class _ZstdDecompressor:
    """Zip method 93.  zstandard's decompressobj has no output cap, so input is fed in
    1 KiB slices (at most ~32 MiB out each) and output beyond ``max_length`` is kept."""

    _FEED = 1024

    def __init__(self) -> None:
        import zstandard

        self._d = zstandard.ZstdDecompressor().decompressobj()
        self._error: type[Exception] = zstandard.ZstdError
        self._pending = b""
        self._out = b""

    def feed(self, data: bytes, max_length: int) -> bytes:
        self._pending += data
        try:
            while len(self._out) < max_length and self._pending and not self._d.eof:
                piece, self._pending = self._pending[: self._FEED], self._pending[self._FEED :]
                self._out += self._d.decompress(piece)
        except self._error as exc:
            raise ValueError(f"zstd: {exc}") from None
        out, self._out = self._out[:max_length], self._out[max_length:]
        return out

    @property
    def done(self) -> bool:
        return bool(self._d.eof) and not self._out

    @property
    def hungry(self) -> bool:
        return not self._pending and not self._out


class _DecompressStream(WrappedReader):
    """Decompresses a byte range lazily, never producing more than ``limit`` bytes.

    Output is cut at the declared size, as zipfile and miniz do; a stream that ends before
    it is complete, or corrupt data, raises MalformedInput (after the good bytes were read).
    """

    def __init__(self, source: BinaryIO, make: Callable[[], _Decompressor], limit: int, where: Location) -> None:
        super().__init__(source)
        self._d = make()
        self._left = limit
        self._where = where
        self._src_done = False

    def read(self, size: int = -1) -> bytes:
        want = self._left if size is None or size < 0 else min(size, self._left)
        while want > 0 and not self._d.done:
            data = b""
            if self._d.hungry:
                data = self._inner.read(_SEARCH_CHUNK)
                if not data:
                    raise MalformedInput(f"{self._where}: compressed data ends early (truncated member)")
            try:
                out = self._d.feed(data, want)
            except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
                raise MalformedInput(f"{self._where}: corrupt compressed data: {exc}") from None
            if out:
                self._left -= len(out)
                return out
        return b""

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class _GuardedStream(WrappedReader):
    """Turns a library reader's errors on hostile data into MalformedInput.

    The good bytes decoded before the error are served first and the error is raised on
    the next read: ``pickle.load(gzip.open(f))`` runs a payload whose stream is followed by
    junk (or is truncated after its STOP), so the analyzers must see those bytes too.
    Reads go through ``read1`` (one decoder step) so a failing step loses nothing.
    """

    _ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, lzma.LZMAError, ValueError, RuntimeError, zlib.error)

    def __init__(self, inner: BinaryIO, where: Location, extra: tuple[type[BaseException], ...] = ()) -> None:
        super().__init__(inner)
        self._where = where
        self._errors = self._ERRORS + extra
        self._failed: MalformedInput | None = None

    def read(self, size: int = -1) -> bytes:
        if self._failed is not None:
            raise self._failed
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_SEARCH_CHUNK), b""))
        step = getattr(self._inner, "read1", self._inner.read)
        parts: list[bytes] = []
        got = 0
        try:
            while got < size:
                chunk = step(size - got)
                if not chunk:
                    break
                parts.append(chunk)
                got += len(chunk)
        except self._errors as exc:
            self._failed = MalformedInput(f"{self._where}: corrupt or truncated compressed stream: {exc}")
            if not parts:
                raise self._failed from None
        return b"".join(parts)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def _zip_lzma(source: BinaryIO) -> _Decompressor:
    """Zip method 14: a 4-byte version/size prefix, 5 bytes of LZMA1 properties, raw data."""
    head = source.read(4)
    if len(head) < 4:
        raise MalformedInput("zip lzma member too short for its header")
    props = source.read(struct.unpack("<H", head[2:4])[0])
    if len(props) < 5 or props[0] >= 9 * 5 * 5:
        raise MalformedInput("zip lzma member has invalid properties")
    pb, rest = divmod(props[0], 45)
    lp, lc = divmod(rest, 9)
    dict_size = struct.unpack("<I", props[1:5])[0]
    filters = [{"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb, "dict_size": dict_size}]
    try:
        return _LibDecompressor(lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters))
    except lzma.LZMAError as exc:
        raise MalformedInput(f"zip lzma member has invalid properties: {exc}") from None


# --------------------------------------------------------------------------- zip structures


@dataclass
class ZipEntry:
    """One zip member as the directory (or, for hidden entries, a local header) declares it.

    ``name`` is the unique name the member is yielded under (``data.pkl[2]`` for the second
    of two ``data.pkl``; ``name[hidden@OFFSET]`` for a local entry the directory omits;
    ``<prefix>``/``<gap@OFFSET>``/``<suffix>`` for bytes outside every entry).  ``raw_name``
    is the name as stored.  ``duplicate_index`` is 1 for the first member of a name, 2 for
    the second, ...  ``kind`` is ``member``, ``local-name`` (the local header's differing
    name over the same data), ``hidden``, ``prefix``, ``gap`` or ``suffix``.
    """

    name: str
    index: int
    compressed_size: int
    size: int
    method: int
    crc: int
    header_offset: int
    data_offset: int
    flags: int
    duplicate_index: int = 1
    raw_name: str = ""
    kind: str = "member"
    external_attr: int = 0
    _source: Artifact | None = field(default=None, repr=False)
    _ctx: Context | None = field(default=None, repr=False)

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & (_FLAG_ENCRYPTED | _FLAG_STRONG)) or self.method == 99

    def _location(self) -> Location:
        assert self._source is not None
        return self._source.location.child(self.name)

    def _raw(self) -> BinaryIO:
        assert self._source is not None
        return SliceReader(self._source.open(), self.data_offset, self.compressed_size)  # type: ignore[return-value]

    def _decompressing(self) -> BinaryIO:
        """A fresh decompressing stream (not charged to the budget: wrap it)."""
        raw = self._raw()
        make: Callable[[], _Decompressor]
        if self.method == _DEFLATED:
            make = _ZlibDecompressor
        elif self.method == _BZIP2:
            make = lambda: _LibDecompressor(bz2.BZ2Decompressor())  # noqa: E731
        elif self.method == _LZMA:
            decomp = _zip_lzma(raw)
            make = lambda: decomp  # noqa: E731
        elif self.method == _ZSTD:
            make = _ZstdDecompressor
        else:
            raw.close()
            raise MalformedInput(f"{self._location()}: unsupported zip compression method {self.method}")
        return _DecompressStream(raw, make, self.size, self._location())  # type: ignore[return-value]

    def open(self) -> BinaryIO:
        """The member's content: a window when stored, a budget-charged stream otherwise."""
        if self._source is None or self._ctx is None:
            raise MalformedInput(f"zip entry {self.name!r} is not bound to an archive")
        if self.method == _STORED:
            return SliceReader(self._source.open(), self.data_offset, min(self.size, self.compressed_size))  # type: ignore[return-value]
        return BoundedReader(self._decompressing, self._ctx.budget, self._location(), self.compressed_size)  # type: ignore[return-value]

    def artifact(self, parent: Artifact, hint: str | None = None) -> Artifact:
        """The member as a child artifact of ``parent`` (the archive it came from)."""
        if self._source is not None and self._source.location == parent.location:
            parent = self._source  # the (possibly in-memory) copy this entry was read from
        if self.method == _STORED:
            return parent.window(self.name, self.data_offset, min(self.size, self.compressed_size), hint=hint)
        return parent.member(self.name, self.open, self.size, hint=hint)


@dataclass
class _Directory:
    entries: list[ZipEntry]
    cd_offset: int
    eocd_offset: int
    eocd_end: int
    shift: int = 0


def _read_at(stream: BinaryIO, offset: int, n: int) -> bytes:
    """``n`` bytes at ``offset``; hostile 64-bit offsets and sizes read nothing instead of overflowing."""
    if offset < 0 or offset > _MAX_OFFSET or n <= 0:
        return b""
    stream.seek(offset)
    return stream.read(min(n, _MAX_OFFSET))


def _stream_size(artifact: Artifact, stream: BinaryIO) -> int:
    if artifact.size is not None:
        return artifact.size
    return stream.seek(0, io.SEEK_END)


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & _FLAG_UTF8:
        return raw.decode("utf-8", "replace")
    return raw.decode("cp437")


def _zip64_extra(extra: bytes, size: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Replace 0xFFFFFFFF fields by the ZIP64 extended-information values, in order."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if tag != 0x0001:
            continue
        values = [struct.unpack_from("<Q", body, i)[0] for i in range(0, len(body) - 7, 8)]
        if size == 0xFFFFFFFF and values:
            size = values.pop(0)
        if csize == 0xFFFFFFFF and values:
            csize = values.pop(0)
        if offset == 0xFFFFFFFF and values:
            offset = values.pop(0)
    return size, csize, offset


def _find_eocd(stream: BinaryIO, total: int) -> tuple[int, bytes] | None:
    tail_start = max(0, total - (_EOCD.size + _MAX_COMMENT))
    tail = _read_at(stream, tail_start, total - tail_start)
    pos = tail.rfind(_EOCD_SIG)
    while pos >= 0 and pos + _EOCD.size > len(tail):
        pos = tail.rfind(_EOCD_SIG, 0, pos)
    if pos < 0:
        return None
    return tail_start + pos, tail[pos : pos + _EOCD.size]


def _eocd_values(stream: BinaryIO, eocd_offset: int, record: bytes) -> tuple[int, int, int, int]:
    """(entry count, directory size, directory offset, where the directory should end), ZIP64 aware.

    Like zipfile, the ZIP64 record is looked for right before its locator (where it
    physically is), so that prepended bytes shift it too; the locator's offset is a fallback.
    """
    _, _, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack(record)
    loc_at = eocd_offset - _EOCD64_LOC.size
    if loc_at >= 0:
        loc = _read_at(stream, loc_at, _EOCD64_LOC.size)
        if loc[:4] == _EOCD64_LOC_SIG:
            for rec_at in (loc_at - _EOCD64.size, _EOCD64_LOC.unpack(loc)[2]):
                rec64 = _read_at(stream, rec_at, _EOCD64.size) if rec_at >= 0 else b""
                if len(rec64) == _EOCD64.size and rec64[:4] == _EOCD64_SIG:
                    values = _EOCD64.unpack(rec64)
                    return values[7], values[8], values[9], rec_at
    return count, cd_size, cd_offset, eocd_offset


def _read_directory(artifact: Artifact, stream: BinaryIO, total: int, ctx: Context) -> _Directory | None:
    found = _find_eocd(stream, total)
    if found is None:
        return None
    eocd_offset, record = found
    comment_len = _EOCD.unpack(record)[7]
    count, cd_size, cd_offset, cd_end = _eocd_values(stream, eocd_offset, record)
    if count > ctx.limits.max_members:
        raise LimitExceeded(
            f"zip declares {count} entries (limit {ctx.limits.max_members})", limit="max_members", offset=eocd_offset
        )
    # zipfile tolerates bytes prepended without fixing offsets (it shifts them); miniz does not
    shift = max(0, cd_end - cd_size - cd_offset) if cd_offset + cd_size <= cd_end else 0
    start = cd_offset + shift
    if start > total:
        raise MalformedInput(f"zip central directory offset {cd_offset} is beyond the end of the file", offset=eocd_offset)
    entries = list(_parse_central(stream, start, eocd_offset, ctx, shift))
    return _Directory(entries, start, eocd_offset, eocd_offset + _EOCD.size + comment_len, shift)


def _parse_central(stream: BinaryIO, start: int, end: int, ctx: Context, shift: int) -> Iterator[ZipEntry]:
    stream.seek(start)
    index = 0
    while True:
        fixed = stream.read(_CENTRAL.size)
        if len(fixed) < _CENTRAL.size or fixed[:4] != _CENTRAL_SIG:
            return
        if index >= ctx.limits.max_members:
            raise LimitExceeded(
                f"zip central directory lists more than {ctx.limits.max_members} entries", limit="max_members"
            )
        f = _CENTRAL.unpack(fixed)
        attr = f[15]
        flags, method, crc, csize, size, nlen, xlen, clen, offset = f[3], f[4], f[7], f[8], f[9], f[10], f[11], f[12], f[16]
        raw_name = stream.read(nlen)
        extra = stream.read(xlen)
        stream.seek(clen, io.SEEK_CUR)
        size, csize, offset = _zip64_extra(extra, size, csize, offset)
        name = _decode_name(raw_name, flags)
        yield ZipEntry(name, index, csize, size, method, crc, offset + shift, -1, flags, raw_name=name, external_attr=attr)
        index += 1


@dataclass
class _Local:
    offset: int
    name: str
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    data_offset: int
    valid: bool


def _parse_local(stream: BinaryIO, offset: int) -> _Local | None:
    fixed = _read_at(stream, offset, _LOCAL.size)
    if len(fixed) < _LOCAL.size:
        return None
    f = _LOCAL.unpack(fixed)
    nlen, xlen = f[9], f[10]
    raw_name = stream.read(nlen)
    extra = stream.read(xlen)
    size, csize, _ = _zip64_extra(extra, f[8], f[7], 0)
    return _Local(
        offset, _decode_name(raw_name, f[2]), f[2], f[3], f[6], csize, size, offset + _LOCAL.size + nlen + xlen, f[0] == _LOCAL_SIG
    )


def _search(stream: BinaryIO, start: int, end: int, needle: bytes) -> int:
    """First offset of ``needle`` in ``[start, end)`` (or -1), read in chunks."""
    pos = start
    while pos < end:
        chunk = _read_at(stream, pos, min(_SEARCH_CHUNK + len(needle) - 1, end - pos))
        hit = chunk.find(needle)
        if hit >= 0:
            return pos + hit
        if len(chunk) < len(needle):
            return -1
        pos += len(chunk) - len(needle) + 1
    return -1


# --------------------------------------------------------------------------- zip checks


class _ZipWalk:
    """One pass over one zip: builds the entries and the findings about them."""

    def __init__(self, artifact: Artifact, ctx: Context, stream: BinaryIO) -> None:
        self.artifact = artifact
        self.ctx = ctx
        self.stream = stream
        self.total = _stream_size(artifact, stream)
        self.loc = artifact.location
        self.crc_spent = 0

    def bind(self, entry: ZipEntry) -> ZipEntry:
        entry._source = self.artifact
        entry._ctx = self.ctx
        return entry

    def entries(self) -> Iterator[Finding | ScanError | ZipEntry]:
        directory = _read_directory(self.artifact, self.stream, self.total, self.ctx)
        if directory is None:
            yield ScanError(self.loc, "zip has no end-of-central-directory record (truncated?); walking local headers", "malformed")
            yield from self._hidden_only()
            return
        if directory.shift:
            yield DATA_OUTSIDE_ENTRIES.at(
                self.loc.at_offset(0),
                f"{directory.shift} bytes prepended without fixing offsets (zipfile reads it, torch's miniz does not)",
                evidence={"shift": directory.shift},
            )
        members = [self.bind(e) for e in directory.entries]
        yield from self._check_locals(members)
        yield from self._name_duplicates(members)
        yield from self._check_overlaps(members)
        self._check_expansion(members)
        yield from self._outside(members, directory)
        for entry in members:
            yield from self._member(entry)

    def _hidden_only(self) -> Iterator[Finding | ScanError | ZipEntry]:
        seen: set[str] = set()
        for local in self._walk_locals(0, self.total, {}):
            if isinstance(local, tuple):
                yield from self._gap(*local)
                continue
            name = local.name if local.name not in seen else f"{local.name}[hidden@{local.offset}]"
            seen.add(local.name)
            yield from self._member(self.bind(self._entry_from_local(local, name, -1, "hidden")))

    def _entry_from_local(self, local: _Local, name: str, index: int, kind: str) -> ZipEntry:
        csize = min(local.compressed_size, max(0, self.total - local.data_offset))
        return ZipEntry(
            name, index, csize, local.size, local.method, local.crc, local.offset,
            local.data_offset, local.flags, raw_name=local.name, kind=kind,
        )

    def _check_locals(self, members: list[ZipEntry]) -> Iterator[Finding | ScanError]:
        for entry in members:
            local = _parse_local(self.stream, entry.header_offset)
            where = self.loc.child(entry.raw_name).at_offset(entry.header_offset)
            if local is None:
                entry.data_offset = min(entry.header_offset + _LOCAL.size, self.total)
                yield ScanError(where, "local header lies beyond the end of the file", "malformed")
                continue
            entry.data_offset = local.data_offset
            if not local.valid:
                yield ZIP_DISAGREEMENT.at(
                    where,
                    f"local header of '{entry.raw_name}' at offset {entry.header_offset} is corrupted (bad signature)",
                    evidence={"member": entry.raw_name, "offset": entry.header_offset},
                )
                continue
            yield from self._compare(entry, local, where)

    def _compare(self, entry: ZipEntry, local: _Local, where: Location) -> Iterator[Finding]:
        if local.name != entry.raw_name:
            yield ZIP_DISAGREEMENT.at(
                where,
                f"local header names '{local.name}' but the central directory names '{entry.raw_name}'",
                evidence={"central_name": entry.raw_name, "local_name": local.name},
            )
        if not entry.flags & _FLAG_DESCRIPTOR and (local.compressed_size, local.size) != (entry.compressed_size, entry.size):
            yield ZIP_DISAGREEMENT.at(
                where,
                f"'{entry.raw_name}' sizes differ: local {local.compressed_size}/{local.size}, central {entry.compressed_size}/{entry.size}",
                evidence={"member": entry.raw_name, "local_size": local.size, "central_size": entry.size},
            )
        if (local.flags ^ entry.flags) & _FLAG_ENCRYPTED:
            yield SUSPICIOUS_FLAGS.at(
                where,
                f"'{entry.raw_name}' is marked encrypted in only one of its local header and central directory entry",
                evidence={"member": entry.raw_name, "local_flags": local.flags, "central_flags": entry.flags},
                severity=Severity.HIGH,
            )
        if (local.flags ^ entry.flags) & _FLAG_DESCRIPTOR:
            yield SUSPICIOUS_FLAGS.at(
                where,
                f"'{entry.raw_name}' uses a data descriptor in only one of its local header and central directory entry",
                evidence={"member": entry.raw_name, "local_flags": local.flags, "central_flags": entry.flags},
            )
        if local.method != entry.method:
            yield ZIP_DISAGREEMENT.at(
                where,
                f"'{entry.raw_name}' compression method differs: local {local.method}, central {entry.method}",
                evidence={"member": entry.raw_name, "local_method": local.method, "central_method": entry.method},
            )

    def _name_duplicates(self, members: list[ZipEntry]) -> Iterator[Finding]:
        counts: dict[str, int] = {}
        for entry in members:
            n = counts.get(entry.raw_name, 0) + 1
            counts[entry.raw_name] = n
            entry.duplicate_index = n
            entry.name = entry.raw_name if n == 1 else f"{entry.raw_name}[{n}]"
        for name, n in counts.items():
            if n < 2:
                continue
            high = name.lower().endswith(_CODE_SUFFIXES)
            yield DUPLICATE_MEMBER.at(
                self.loc.child(name),
                f"'{name}' appears {n} times (torch reads the first, open-by-name readers the last)",
                evidence={"member": name, "count": n},
                severity=Severity.HIGH if high else Severity.MEDIUM,
            )

    def _check_overlaps(self, members: list[ZipEntry]) -> Iterator[Finding]:
        spans = sorted((e.header_offset, e.data_offset + e.compressed_size, e.name) for e in members)
        overlaps = 0
        first: tuple[str, str] | None = None
        reach, reach_name = -1, ""
        for start, end, name in spans:
            if start < reach:
                overlaps += 1
                first = first or (reach_name, name)
            if end > reach:
                reach, reach_name = end, name
        if overlaps and first is not None:
            yield OVERLAPPING_ENTRIES.at(
                self.loc,
                f"{overlaps} zip entries overlap earlier ones (first: '{first[1]}' inside '{first[0]}')",
                evidence={"overlaps": overlaps, "outer": first[0], "inner": first[1]},
            )

    def _check_expansion(self, members: list[ZipEntry]) -> None:
        """Refuse bombs from the headers alone, before anything is decompressed."""
        limits = self.ctx.limits
        declared = 0
        for entry in members:
            if entry.method == _STORED:
                continue
            if entry.size > limits.max_member_size:
                raise LimitExceeded(
                    f"zip member '{entry.name}' declares {entry.size} bytes (limit {limits.max_member_size})",
                    limit="max_member_size",
                )
            declared += entry.size
        if declared > limits.max_total_bytes:
            raise LimitExceeded(
                f"zip members declare {declared} decompressed bytes (limit {limits.max_total_bytes})", limit="max_total_bytes"
            )
        if declared > limits.ratio_floor and declared > limits.max_ratio * max(1, self.total):
            raise LimitExceeded(
                f"zip members declare {declared} bytes from a {self.total}-byte archive (ratio limit {limits.max_ratio:g})",
                limit="max_ratio",
            )

    def _outside(self, members: list[ZipEntry], directory: _Directory) -> Iterator[Finding | ScanError | ZipEntry]:
        """Data before, between and after the entries; local entries the directory omits."""
        known = {e.header_offset: e for e in members}
        first = min((e.header_offset for e in members), default=directory.cd_offset)
        if _read_at(self.stream, 0, 4) == _LOCAL_SIG:
            first = 0  # local entries before the first listed one are hidden members, not a prefix
        if first > 0:
            yield DATA_OUTSIDE_ENTRIES.at(
                self.loc.at_offset(0),
                f"{first} bytes before the first zip entry",
                evidence={"bytes": first, "where": "prefix"},
            )
            yield self.bind(ZipEntry("<prefix>", -1, first, first, _STORED, 0, 0, 0, 0, raw_name="<prefix>", kind="prefix"))
        for item in self._walk_locals(first, directory.cd_offset, known):
            if isinstance(item, _Local):
                if item.offset in known:
                    continue
                name = f"{item.name}[hidden@{item.offset}]"
                yield ZIP_DISAGREEMENT.at(
                    self.loc.child(item.name).at_offset(item.offset),
                    f"local entry '{item.name}' at offset {item.offset} is missing from the central directory (hidden member)",
                    evidence={"member": item.name, "offset": item.offset},
                )
                yield from self._member(self.bind(self._entry_from_local(item, name, -1, "hidden")))
            else:
                yield from self._gap(*item)
        trailing = self.total - directory.eocd_end
        if trailing > 0:
            yield DATA_OUTSIDE_ENTRIES.at(
                self.loc.at_offset(directory.eocd_end),
                f"{trailing} bytes after the end of the zip",
                evidence={"bytes": trailing, "where": "suffix"},
            )
            yield self.bind(ZipEntry("<suffix>", -1, trailing, trailing, _STORED, 0, directory.eocd_end,
                                     directory.eocd_end, 0, raw_name="<suffix>", kind="suffix"))

    def _gap(self, start: int, end: int) -> Iterator[Finding | ScanError | ZipEntry]:
        if _read_at(self.stream, start, 4) == _LOCAL_SIG:
            # a local header cut short: yielding it would make the scanner re-read it as a zip
            yield ScanError(self.loc.at_offset(start), f"truncated zip local header at offset {start}", "malformed")
            return
        yield DATA_OUTSIDE_ENTRIES.at(
            self.loc.at_offset(start),
            f"{end - start} bytes between zip entries belong to no entry",
            evidence={"bytes": end - start, "where": "gap"},
        )
        name = f"<gap@{start}>"
        yield self.bind(ZipEntry(name, -1, end - start, end - start, _STORED, 0, start, start, 0, raw_name=name, kind="gap"))

    def _walk_locals(self, start: int, end: int, known: dict[int, ZipEntry]) -> Iterator[_Local | tuple[int, int]]:
        """Local headers in file order; gaps (bytes that are no entry) as (start, end)."""
        pos, count = start, 0
        while pos + 4 <= end:
            local = _parse_local(self.stream, pos)
            if local is None or not local.valid:
                nxt = _search(self.stream, pos + 1, end, _LOCAL_SIG)
                stop = end if nxt < 0 else nxt
                if pos not in known:
                    yield (pos, stop)
                if nxt < 0:
                    return
                pos = nxt
                continue
            count += 1
            if count > self.ctx.limits.max_members:
                raise LimitExceeded(f"more than {self.ctx.limits.max_members} local zip entries", limit="max_members")
            entry = known.get(pos)
            if entry is None and local.flags & _FLAG_DESCRIPTOR and local.compressed_size == 0:
                nxt = _search(self.stream, local.data_offset, end, _DD_SIG)
                local.compressed_size = (nxt if nxt >= 0 else end) - local.data_offset
            yield local
            csize = entry.compressed_size if entry is not None else local.compressed_size
            pos = self._after_data(local, local.data_offset + csize)

    def _after_data(self, local: _Local, pos: int) -> int:
        if not local.flags & _FLAG_DESCRIPTOR:
            return pos
        sig = _read_at(self.stream, pos, 4)
        if sig in (_LOCAL_SIG, _CENTRAL_SIG, _EOCD_SIG):
            return pos  # the flag promised a descriptor that is not there
        base = pos + 4 if sig == _DD_SIG else pos
        return base + (20 if local.size >= 0xFFFFFFFF or local.compressed_size >= 0xFFFFFFFF else 12)

    def _member(self, entry: ZipEntry) -> Iterator[Finding | ScanError | ZipEntry]:
        where = self.loc.child(entry.name)
        if entry.data_offset > self.total or entry.data_offset < 0:
            yield ScanError(where, f"member data offset {entry.data_offset} lies beyond the end of the file", "malformed")
            return
        if entry.data_offset + entry.compressed_size > self.total:
            yield ScanError(where, f"member data runs past the end of the file ({entry.compressed_size} bytes declared)", "malformed")
            entry.compressed_size = max(0, self.total - entry.data_offset)
        yield from self._flag_checks(entry, where)
        if entry.method not in _METHODS and not entry.encrypted:
            yield ScanError(where, f"unsupported zip compression method {entry.method}; member not analysed", "unsupported")
            return
        if entry.encrypted:
            verdict = self._crc_ok(entry)
            if verdict is not True:
                yield ENCRYPTED_MEMBER.at(
                    where, f"zip member '{entry.name}' is encrypted; its content cannot be inspected",
                    evidence={"member": entry.name, "flags": entry.flags, "method": entry.method},
                )
                return
            yield SUSPICIOUS_FLAGS.at(
                where,
                f"zip member '{entry.name}' is flagged encrypted but its data is plain (hides it from zipfile-based tools)",
                evidence={"member": entry.name, "flags": entry.flags},
                severity=Severity.HIGH,
            )
        elif self._should_check_crc(entry) and self._crc_ok(entry) is False:
            yield CRC_MISMATCH.at(
                where,
                f"CRC-32 of '{entry.name}' does not match its directory entry (0x{entry.crc:08x}); analysed anyway",
                evidence={"member": entry.name, "declared_crc": entry.crc},
            )
        yield entry
        yield from self._local_alias(entry)

    def _local_alias(self, entry: ZipEntry) -> Iterator[ZipEntry]:
        """When the local header names the data differently, analyse it under that name too."""
        local = _parse_local(self.stream, entry.header_offset)
        if local is None or not local.valid or local.name == entry.raw_name:
            return
        yield replace(entry, name=f"{local.name}[local@{entry.header_offset}]", kind="local-name")

    def _flag_checks(self, entry: ZipEntry, where: Location) -> Iterator[Finding]:
        problem = _unsafe_path(entry.raw_name)
        if problem is not None:
            yield PATH_TRAVERSAL.at(
                where, f"zip member '{entry.raw_name}' has {problem} (path traversal on extraction)",
                evidence={"member": entry.raw_name, "problem": problem},
            )
        if (entry.external_attr >> 16) & 0o170000 == 0o120000:
            yield PATH_TRAVERSAL.at(
                where, f"zip member '{entry.raw_name}' is a symbolic link (unix mode); not followed",
                evidence={"member": entry.raw_name, "kind": "symbolic link"}, severity=Severity.MEDIUM,
            )
        unknown = entry.flags & ~_KNOWN_FLAGS & 0xFFFF
        if unknown:
            yield SUSPICIOUS_FLAGS.at(
                where, f"zip member '{entry.name}' sets reserved flag bits 0x{unknown:04x}",
                evidence={"member": entry.name, "flags": entry.flags}, severity=Severity.LOW,
            )
        # A stored member with a data descriptor is what torch.save writes for every member:
        # not reported (this reader uses the central directory sizes, not a streaming scan).

    def _should_check_crc(self, entry: ZipEntry) -> bool:
        """CRC checks cost reading the member, so only small, possibly code-carrying ones."""
        if entry.kind != "member" or entry.size > CRC_CHECK_MAX or _TENSOR_STORAGE.search(entry.raw_name):
            return False
        if self.crc_spent + entry.size > CRC_CHECK_TOTAL:
            return False
        self.crc_spent += entry.size
        return True

    def _crc_ok(self, entry: ZipEntry) -> bool | None:
        """True/False when checked; None when the data cannot be read as declared."""
        if entry.size > CRC_CHECK_MAX or entry.method not in _METHODS:
            return None
        crc, produced = 0, 0
        try:
            with entry.open() as stream:
                while chunk := stream.read(_SEARCH_CHUNK):
                    crc = zlib.crc32(chunk, crc)
                    produced += len(chunk)
        except MalformedInput:
            return None if entry.encrypted else False
        return produced == entry.size and crc == entry.crc


def materialize(artifact: Artifact, ctx: Context) -> Artifact:
    """An in-memory twin of a member that cannot seek cheaply (a decompressing stream).

    Archives are read by seeking; on a decompressing stream every backward seek starts the
    decompression over (and is charged again).  A stream that fits ``max_in_memory`` is
    therefore read once into memory; a larger one is used as is (correct, but slower).
    """
    if artifact.size is not None:
        return artifact
    try:
        data = artifact.read_all(ctx.limits.max_in_memory)
    except LimitExceeded:
        return artifact
    return Artifact(
        location=artifact.location, name=artifact.name, opener=_bytes_opener(data), size=len(data),
        depth=artifact.depth, fs_path=None, hint=artifact.hint,
    )


def iter_zip_entries(artifact: Artifact, ctx: Context) -> Iterator[Finding | ScanError | ZipEntry]:
    """Every view of a zip's members plus the findings about their disagreements.

    Yields findings/errors first for the archive-wide checks, then each entry (with its own
    findings just before it).  Raises MalformedInput when there is no zip at all and
    LimitExceeded when counts or declared sizes exceed ``ctx.limits``.  Used by the zip,
    torch and Keras analyzers, so every zip gets the same hostile checks.
    """
    source = materialize(artifact, ctx)
    try:
        with source.open() as stream:
            yield from _ZipWalk(source, ctx, stream).entries()
    except (struct.error, OverflowError) as exc:
        raise MalformedInput(f"zip structure is inconsistent: {exc}") from None


class ZipAnalyzer:
    """Plain zips (and npz): yields every member view to the scanner."""

    name = "containers"
    formats = frozenset({Format.ZIP, Format.NPZ})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        for item in iter_zip_entries(artifact, ctx):
            if isinstance(item, ZipEntry):
                yield item.artifact(artifact)
            else:
                yield item


# --------------------------------------------------------------------------- tar

_TAR_BLOCK = 512
_TAR_REGULAR = (b"0", b"\x00", b"7")
_TAR_LINKS = {b"1": "hard link", b"2": "symbolic link", b"3": "character device", b"4": "block device", b"6": "FIFO"}
_TAR_SKIP = (b"5", b"g")  # directories; global pax headers (nothing we trust from them)
#: Every type tarfile knows; it extracts members of any *other* type as regular files.
_TAR_KNOWN = frozenset({b"0", b"\x00", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"S", b"L", b"K", b"x", b"g", b"X"})
#: pax / GNU long-name headers are read whole; real ones are a few hundred bytes.
_TAR_META_MAX = 1 << 20
#: The members of PyTorch's legacy tar checkpoints: each starts with a pickle.
_TORCH_TAR_MEMBERS = frozenset({"sys_info", "pickle", "storages", "tensors"})


def _torch_tar_hint(name: str) -> str | None:
    """'sys_info'/'pickle' are plain pickles; 'storages'/'tensors' interleave pickles with raw
    tensor bytes, which the torch analyzer walks record by record (hint torch-legacy)."""
    if name not in _TORCH_TAR_MEMBERS:
        return None
    return Format.TORCH_LEGACY.value if name in ("storages", "tensors") else Format.PICKLE.value


def tar_number(field_: bytes) -> int:
    """Octal (NUL/space padded) or GNU base-256 number field (shared with ``convert``'s tar reader)."""
    if field_[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field_[1:], "big")
        return -value if field_[:1] == b"\xff" else value
    text = field_.replace(b"\x00", b" ").strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise MalformedInput(f"tar number field {field_[:16]!r} is not octal") from None


def tar_text(field_: bytes) -> str:
    return field_.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


def pax_records(data: bytes, *, strict: bool = False) -> dict[str, str]:
    """``"<len> key=value\\n"`` records up to NUL padding.  A malformed record ends the parse
    (the scanner keeps what it has), or with ``strict`` raises (conversion: torch's reader,
    ``tarfile``, would refuse the header, so we must not guess)."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos : pos + 1] != b"\x00":
        space = data.find(b" ", pos)
        digits = data[pos:space] if space > pos else b""
        length = int(digits) if digits.isdigit() else 0
        record = data[space + 1 : pos + length]
        if length <= 0 or pos + length > len(data) or b"=" not in record or not record.endswith(b"\n"):
            if strict:
                raise MalformedInput("tar PAX header is malformed")
            break
        key, _, value = record[:-1].partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


@dataclass
class _TarMember:
    name: str
    typeflag: bytes
    size: int
    data_offset: int
    linkname: str


def _iter_tar(stream: BinaryIO, total: int | None) -> Iterator[_TarMember]:
    """Tar headers in order; data is skipped by seeking, only pax/long-name blocks are read."""
    pos = 0
    pending: dict[str, str] = {}
    while True:
        header = _read_at(stream, pos, _TAR_BLOCK)
        if len(header) < _TAR_BLOCK or header == b"\x00" * _TAR_BLOCK:
            if 0 < len(header) < _TAR_BLOCK:
                raise MalformedInput("tar header truncated", offset=pos)
            return
        _check_tar_checksum(header, pos)
        typeflag = header[156:157]
        size = tar_number(header[124:136])
        if typeflag not in (b"x", b"L", b"K") and "size" in pending:
            size = _pax_size(pending.pop("size"), pos)
        if size < 0:
            raise MalformedInput(f"tar member size {size} is negative", offset=pos)
        data_offset = pos + _TAR_BLOCK
        if total is not None and data_offset + size > total:
            raise MalformedInput(f"tar member data runs past the end ({size} bytes declared)", offset=pos)
        pos = data_offset + -(-size // _TAR_BLOCK) * _TAR_BLOCK
        if typeflag in (b"x", b"L", b"K"):
            pending.update(_tar_meta(stream, typeflag, data_offset, size))
            continue
        name = tar_text(header[0:100])
        if header[257:263] == b"ustar\x00" and header[345:346] != b"\x00":
            name = tar_text(header[345:500]) + "/" + name
        name = pending.pop("path", name)
        linkname = pending.pop("linkpath", tar_text(header[157:257]))
        pending.clear()
        yield _TarMember(name, typeflag, size, data_offset, linkname)


def _pax_size(text: str, pos: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise MalformedInput(f"pax size {text!r} is not a number", offset=pos) from None


def _check_tar_checksum(header: bytes, pos: int) -> None:
    stored = tar_number(header[148:156])
    computed = sum(header[:148]) + 8 * 32 + sum(header[156:])
    if stored != computed:
        raise MalformedInput(f"tar header checksum mismatch at offset {pos}", offset=pos)


def _tar_meta(stream: BinaryIO, typeflag: bytes, offset: int, size: int) -> dict[str, str]:
    if size > _TAR_META_MAX:
        raise LimitExceeded(f"tar extended header of {size} bytes", limit="max_in_memory", offset=offset)
    data = _read_at(stream, offset, size)
    if typeflag == b"x":
        return pax_records(data)
    return {"path" if typeflag == b"L" else "linkpath": tar_text(data)}


def _unsafe_path(name: str) -> str | None:
    """Why extracting ``name`` could write outside the target directory (None if it cannot)."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return "an absolute path"
    if ".." in PurePosixPath(norm).parts:
        return "a parent-directory component"
    return None


class TarAnalyzer:
    """Tar archives (including PyTorch's legacy tar checkpoints): members are windows.

    Headers are parsed here rather than with ``tarfile`` so that nothing but headers and
    bounded pax records is read, and nothing is followed or extracted.  Inside a
    compressed stream a window re-decompresses from the start, so small members of such a
    tar are buffered (within ``max_in_memory`` in total) to keep the cost linear.
    """

    name = "containers"
    formats = frozenset({Format.TAR})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        seen: dict[str, int] = {}
        count = 0
        buffered = 0
        artifact = materialize(artifact, ctx)
        with artifact.open() as stream:
            for member in _iter_tar(stream, artifact.size):
                count += 1
                if count > ctx.limits.max_members:
                    raise LimitExceeded(f"tar holds more than {ctx.limits.max_members} members", limit="max_members")
                yield from self._member_findings(artifact, member)
                if member.typeflag not in _TAR_REGULAR and member.typeflag in _TAR_KNOWN:
                    if member.typeflag not in _TAR_LINKS and member.typeflag not in _TAR_SKIP:
                        yield ScanError(
                            artifact.location.child(member.name),
                            f"tar member type {member.typeflag!r} (e.g. GNU sparse) is not analysed",
                            "unsupported",
                        )
                    continue
                n = seen[member.name] = seen.get(member.name, 0) + 1
                name = member.name if n == 1 else f"{member.name}[{n}]"
                if n == 2:
                    yield DUPLICATE_MEMBER.at(
                        artifact.location.child(member.name),
                        f"tar member '{member.name}' appears more than once (extraction keeps the last)",
                        evidence={"member": member.name},
                        severity=Severity.HIGH if member.name.lower().endswith(_CODE_SUFFIXES) else Severity.MEDIUM,
                    )
                hint = _torch_tar_hint(member.name)
                if artifact.size is None and buffered + member.size <= ctx.limits.max_in_memory:
                    buffered += member.size
                    data = _read_at(stream, member.data_offset, member.size)
                    yield artifact.member(name, _bytes_opener(data), len(data), hint=hint)
                else:
                    yield artifact.window(name, member.data_offset, member.size, hint=hint)

    def _member_findings(self, artifact: Artifact, member: _TarMember) -> Iterator[Finding]:
        where = artifact.location.child(member.name)
        problem = _unsafe_path(member.name)
        if problem is not None:
            yield PATH_TRAVERSAL.at(
                where, f"tar member '{member.name}' has {problem} (path traversal on extraction)",
                evidence={"member": member.name, "problem": problem},
            )
        kind = _TAR_LINKS.get(member.typeflag)
        if kind is not None:
            target = member.linkname
            severity = Severity.HIGH if kind != "hard link" or _unsafe_path(target) else Severity.MEDIUM
            if kind == "symbolic link" and _unsafe_path(target) is None:
                severity = Severity.MEDIUM
            yield PATH_TRAVERSAL.at(
                where, f"tar member '{member.name}' is a {kind}" + (f" to '{target}'" if target else "") + "; not followed",
                evidence={"member": member.name, "kind": kind, "target": target},
                severity=severity,
            )


def _bytes_opener(data: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(data)


# --------------------------------------------------------------------------- compressed streams

_SUFFIXES = {
    ".gz": "", ".z": "", ".tgz": ".tar", ".bz2": "", ".tbz2": ".tar", ".tbz": ".tar", ".xz": "", ".txz": ".tar",
    ".lzma": "", ".zst": "", ".zstd": "", ".lz4": "",
}


def decompressed_name(name: str) -> str:
    """``model.pkl.gz`` -> ``model.pkl``; ``x.tgz`` -> ``x.tar``; other names are kept."""
    path = PurePosixPath(name)
    replacement = _SUFFIXES.get(path.suffix.lower())
    if replacement is None or not path.stem:
        return name
    return path.stem + replacement


class _ZstdStream(WrappedReader):
    """Multi-frame zstd that notices truncation (zstandard's stream_reader silently stops).

    Input is fed in small slices because ``decompressobj`` has no output cap: one 1 KiB
    slice can produce at most ~32 MiB (zstd's worst case ratio), which bounds memory.
    """

    _FEED = 1024

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        super().__init__(raw)
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._error: type[Exception] = zstandard.ZstdError
        self._failed: Exception | None = None
        self._obj = self._new()
        self._pending = b""
        self._buffer = b""
        self._in_frame = False

    def _step(self) -> bool:
        """Decompress one input slice into the buffer; False at the clean end of input."""
        if not self._pending:
            self._pending = self._inner.read(_SEARCH_CHUNK)
            if not self._pending:
                if self._in_frame:
                    raise MalformedInput("zstd stream ends inside a frame (truncated)")
                return False
        piece, self._pending = self._pending[: self._FEED], self._pending[self._FEED :]
        self._in_frame = True
        self._buffer += self._obj.decompress(piece)
        if self._obj.eof:
            self._pending = self._obj.unused_data + self._pending
            self._obj = self._new()
            self._in_frame = False
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_SEARCH_CHUNK), b""))
        want = size
        if self._failed is not None and not self._buffer:
            raise self._failed
        try:
            while self._failed is None and len(self._buffer) < want and self._step():
                pass
        except (self._error, MalformedInput) as exc:
            # serve what decoded before the bad frame first (see _GuardedStream)
            if not self._buffer:
                raise
            self._failed = exc
        out, self._buffer = self._buffer[:want], self._buffer[want:]
        return out

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def _library_reader(fmt: Format, raw: BinaryIO) -> tuple[BinaryIO, tuple[type[BaseException], ...]]:
    """A decompressing reader over ``raw`` for one stream format, plus its error types."""
    if fmt is Format.GZIP:
        return gzip.GzipFile(fileobj=raw, mode="rb"), ()  # type: ignore[return-value]
    if fmt is Format.BZIP2:
        return bz2.BZ2File(raw, "rb"), ()  # type: ignore[return-value]
    if fmt is Format.XZ:
        return lzma.LZMAFile(raw, "rb", format=lzma.FORMAT_XZ), ()  # type: ignore[return-value]
    if fmt is Format.LZMA:
        return lzma.LZMAFile(raw, "rb", format=lzma.FORMAT_ALONE), ()  # type: ignore[return-value]
    if fmt is Format.ZSTD:
        import zstandard

        return _ZstdStream(raw), (zstandard.ZstdError,)  # type: ignore[return-value]
    if fmt is Format.LZ4:
        import lz4.frame

        return lz4.frame.LZ4FrameFile(raw, "rb"), ()
    raise MalformedInput(f"not a compressed stream format: {fmt.value}")


class CompressedAnalyzer:
    """Single compressed streams: one child, decompressed lazily and charged to the budget."""

    name = "containers"
    formats = frozenset({Format.GZIP, Format.BZIP2, Format.XZ, Format.LZMA, Format.ZSTD, Format.LZ4})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        fmt = identify(artifact)
        if fmt not in self.formats:
            fmt = Format.LZMA if artifact.head(3) == b"\x5d\x00\x00" else fmt
        name = decompressed_name(artifact.name)
        where = artifact.location.child(name)

        def inner() -> BinaryIO:
            reader, errors = _library_reader(fmt, artifact.open())
            return _GuardedStream(reader, where, errors)  # type: ignore[return-value]

        def opener() -> BinaryIO:
            return BoundedReader(inner, ctx.budget, where, artifact.size)  # type: ignore[return-value]

        # fail early (MalformedInput) on a stream whose very first block is broken
        with opener() as probe:
            probe.read(1)
            broken = _short_stream_error(probe)
        if broken is not None:
            yield ScanError(where, str(broken), "malformed")
        yield artifact.member(name, opener, None)


def _short_stream_error(probe: BinaryIO) -> MalformedInput | None:
    """The error of a stream that breaks within its first HEAD_SIZE bytes, if any.

    Good bytes before a break are served to the analyzers (a payload runs before the
    loader reaches the junk), so a short member identified as text would otherwise never
    read far enough to surface the break: the scan must still end up incomplete.
    """
    got = 1
    try:
        while got <= HEAD_SIZE:
            chunk = probe.read(HEAD_SIZE + 1 - got)
            if not chunk:
                return None
            got += len(chunk)
    except MalformedInput as exc:
        return exc
    return None


# --------------------------------------------------------------------------- 7z


class SevenZipAnalyzer:
    """7z archives through py7zr.

    py7zr cannot stream a member, so members are decompressed into memory -- but only after
    the header's member count and declared sizes passed the limits, and only up to
    ``max_in_memory`` bytes in total.
    """

    name = "containers"
    formats = frozenset({Format.SEVENZIP})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        import py7zr
        import py7zr.io

        limits = ctx.limits
        with artifact.open() as stream:
            try:
                archive = py7zr.SevenZipFile(stream, mode="r")  # type: ignore[arg-type]
            except py7zr.PasswordRequired:
                yield ENCRYPTED_MEMBER.at(
                    artifact.location, "7z archive has encrypted headers; its members cannot be listed",
                    evidence={"archive": artifact.name},
                )
                return
            except Exception as exc:  # noqa: BLE001 - py7zr raises many types on hostile headers
                raise MalformedInput(f"unreadable 7z headers: {type(exc).__name__}: {exc}") from None
            with archive:
                infos = self._listing(archive, artifact, ctx)
                yield from self._findings(archive, infos, artifact)
                if archive.needs_password():
                    return
                files = [i for i in infos if not getattr(i, "is_directory", False)]
                total = sum(int(getattr(i, "uncompressed", 0) or 0) for i in files)
                if total > limits.max_in_memory:
                    raise LimitExceeded(
                        f"7z members declare {total} bytes; py7zr must decompress in memory (limit {limits.max_in_memory})",
                        limit="max_in_memory",
                    )
                factory = py7zr.io.BytesIOFactory(limits.max_in_memory)
                try:
                    archive.extractall(factory=factory)
                except Exception as exc:  # noqa: BLE001 - py7zr raises many types on corrupt data
                    raise MalformedInput(f"corrupt 7z data: {type(exc).__name__}: {exc}") from None
                yield from self._members(artifact, ctx, files, factory)

    def _listing(self, archive: object, artifact: Artifact, ctx: Context) -> list[object]:
        try:
            infos: list[object] = list(archive.list())  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - hostile headers
            raise MalformedInput(f"unreadable 7z listing: {type(exc).__name__}: {exc}") from None
        if len(infos) > ctx.limits.max_members:
            raise LimitExceeded(f"7z lists {len(infos)} members (limit {ctx.limits.max_members})", limit="max_members")
        for info in infos:
            size = int(getattr(info, "uncompressed", 0) or 0)
            if size > ctx.limits.max_member_size:
                raise LimitExceeded(f"7z member declares {size} bytes", limit="max_member_size")
        return infos

    def _findings(self, archive: object, infos: list[object], artifact: Artifact) -> Iterator[Finding]:
        if archive.needs_password():  # type: ignore[attr-defined]
            yield ENCRYPTED_MEMBER.at(
                artifact.location, "7z archive members are encrypted; their content cannot be inspected",
                evidence={"members": len(infos)},
            )
        for info in infos:
            name = str(getattr(info, "filename", ""))
            problem = _unsafe_path(name)
            if problem is not None:
                yield PATH_TRAVERSAL.at(
                    artifact.location.child(name), f"7z member '{name}' has {problem} (path traversal on extraction)",
                    evidence={"member": name, "problem": problem},
                )

    def _members(self, artifact: Artifact, ctx: Context, files: list[object], factory: object) -> Iterator[Artifact]:
        products: dict[str, object] = getattr(factory, "products", {})
        for info in files:
            name = str(getattr(info, "filename", ""))
            product = products.get(name)
            if product is None:
                continue
            product.seek(0)  # type: ignore[attr-defined]
            data: bytes = product.read()  # type: ignore[attr-defined]
            ctx.budget.charge(len(data), artifact.location.child(name))
            yield artifact.member(name, _bytes_opener(data), len(data))


__all__ = [
    "CompressedAnalyzer",
    "SevenZipAnalyzer",
    "TarAnalyzer",
    "ZipAnalyzer",
    "ZipEntry",
    "decompressed_name",
    "iter_zip_entries",
]
