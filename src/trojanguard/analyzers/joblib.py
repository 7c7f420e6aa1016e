"""joblib files: pickles (with inline numpy array bytes), possibly zlib-compressed.

``joblib.load`` unpickles, so a joblib file is a pickle.  Uncompressed files are plain
pickles (the pickle analyzer skips the raw array bytes joblib writes after each
``NumpyArrayWrapper``); gzip/bz2/xz/lzma/lz4-compressed ones are handled by the
compression containers.  This module handles the two framings only joblib uses, both
identified as ``Format.JOBLIB``:

* ``compress=N`` (the default codec): a bare zlib stream (``78 01/5e/9c/da``); joblib
  decompresses concatenated streams one after the other;
* joblib < 0.10: ``'ZF'`` + the decompressed length in hex, space-padded to 19 characters
  (sometimes one more space), then a zlib stream.

It validates the framing and yields the decompressed content as a child with
``hint="pickle"``.  Decompression is lazy and charged to the scan's budget
(:class:`BoundedReader`), so a zlib bomb stops at a limit instead of filling memory.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..artifact import Artifact, BoundedReader, WrappedReader
from ..errors import MalformedInput
from ..formats import Format
from ..model import Location, Rule, Severity
from .base import Context, Result

MALFORMED_FRAMING = Rule(
    "JBL001", "joblib-framing-malformed", Severity.MEDIUM,
    "The joblib compression framing is invalid (bad 'ZF' length header, corrupt or truncated zlib stream).",
    cwe=20,
)

ZF_PREFIX = b"ZF"
#: ``len(hex(2 ** 64))``: the width joblib pads the hex length to.
ZF_LENGTH_WIDTH = 19
_HEX = re.compile(rb"^0x[0-9a-fA-F]{1,17}$")
_ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
_IN_CHUNK = 1 << 16
_PROBE = 4096


class ZlibStream(WrappedReader):
    """Decompresses the zlib stream(s) starting at ``start`` of ``source``, like joblib.

    After one stream ends, the next bytes start a new stream (joblib's BinaryZlibFile
    does the same).  Corrupt or truncated data raises MalformedInput.  Output per read is
    bounded by the requested size (``max_length``), never by the compressed input.
    """

    def __init__(self, source: BinaryIO, start: int, where: Location) -> None:
        super().__init__(source)
        source.seek(start)
        self._where = where
        self._d = zlib.decompressobj()
        self._done = False

    def _input(self) -> bytes | None:
        """The next compressed bytes to feed, or None at the clean end of the last stream."""
        if self._d.eof:
            # the end of one stream: what follows starts the next one (unconsumed_tail may
            # still repeat unused_data here, so it must not be fed again)
            rest = self._d.unused_data or self._inner.read(_IN_CHUNK)
            if not rest:
                return None
            self._d = zlib.decompressobj()
            return rest
        if self._d.unconsumed_tail:
            return self._d.unconsumed_tail
        chunk = self._inner.read(_IN_CHUNK)
        if not chunk:
            raise MalformedInput(f"{self._where}: zlib stream is truncated")
        return chunk

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts: list[bytes] = []
            while part := self.read(_IN_CHUNK * 16):
                parts.append(part)
            return b"".join(parts)
        want = size
        out = bytearray()
        while len(out) < want and not self._done:
            chunk = self._input()
            if chunk is None:
                self._done = True
                break
            try:
                out += self._d.decompress(chunk, want - len(out))
            except zlib.error as exc:
                raise MalformedInput(f"{self._where}: corrupt zlib stream: {exc}") from None
        return bytes(out)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


@dataclass(frozen=True)
class Framing:
    """Where the zlib data starts and, for 'ZF' files, the length the header declares."""

    start: int
    declared: int | None


def parse_framing(head: bytes) -> Framing:
    """Parse the start of a joblib-compressed file; ValueError says what is wrong."""
    if not head.startswith(ZF_PREFIX):
        if head[:2] not in _ZLIB_HEADERS:
            raise ValueError(f"not a zlib stream (starts with {head[:2].hex()})")
        return Framing(0, None)
    field = head[len(ZF_PREFIX): len(ZF_PREFIX) + ZF_LENGTH_WIDTH]
    if len(field) < ZF_LENGTH_WIDTH:
        raise ValueError("'ZF' length header is truncated")
    text = field.rstrip(b" ")
    if not _HEX.match(text):
        raise ValueError(f"'ZF' length field {field[:24]!r} is not a space-padded hex number")
    start = len(ZF_PREFIX) + ZF_LENGTH_WIDTH
    if head[start: start + 1] == b" ":  # joblib <= 0.8.4 wrote one more space
        start += 1
    if head[start: start + 2] not in _ZLIB_HEADERS:
        raise ValueError(f"no zlib stream after the 'ZF' header (found {head[start:start + 2].hex()})")
    return Framing(start, int(text, 16))


class JoblibAnalyzer:
    """joblib's zlib framings; the decompressed pickle goes back to the scanner."""

    name = "joblib"
    formats = frozenset({Format.JOBLIB})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        where = artifact.location
        try:
            framing = parse_framing(artifact.head(64))
        except ValueError as exc:
            yield MALFORMED_FRAMING.at(where, f"joblib framing rejected: {exc}", evidence={"problem": str(exc)})
            return
        opener = self._opener(artifact, framing.start)
        try:
            with opener() as probe:
                first = probe.read(_PROBE)
        except MalformedInput as exc:
            yield MALFORMED_FRAMING.at(where, f"joblib data does not decompress: {exc}", evidence={"problem": str(exc)})
            return
        if framing.declared is not None and len(first) < _PROBE and len(first) != framing.declared:
            yield MALFORMED_FRAMING.at(
                where, f"'ZF' header declares {framing.declared} bytes but the stream holds {len(first)}",
                evidence={"declared": framing.declared, "actual": len(first)},
            )
        compressed = None if artifact.size is None else artifact.size - framing.start
        child_where = where.child("<joblib zlib>")
        yield artifact.member(
            "<joblib zlib>",
            lambda: BoundedReader(opener, ctx.budget, child_where, compressed),  # type: ignore[arg-type,return-value]
            None,
            hint=Format.PICKLE.value,
        )

    @staticmethod
    def _opener(artifact: Artifact, start: int) -> Callable[[], BinaryIO]:
        def open_stream() -> BinaryIO:
            return ZlibStream(artifact.open(), start, artifact.location)  # type: ignore[return-value]

        return open_stream


__all__ = ["Framing", "JoblibAnalyzer", "MALFORMED_FRAMING", "ZlibStream", "parse_framing"]
