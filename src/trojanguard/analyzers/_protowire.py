"""A bounded, streaming protobuf wire-format walker (no generated classes needed).

TensorFlow graphs are protobuf; tensor contents sit inside ``NodeDef.attr`` values and can
be gigabytes.  This walker reads field keys and lengths from a seekable stream and only
descends into the fields named by a *schema*; everything else (weights included) is
skipped with a seek, so the cost follows the graph structure, not the tensor bytes.

A schema maps field numbers to either a nested schema (descend) or ``STRING`` (read a
short UTF-8 string).  The walk returns ``(field_number, value)`` pairs in file order.
"""

from __future__ import annotations

from typing import BinaryIO, Union

from trojanguard.errors import LimitExceeded, MalformedInput

STRING = "string"
MAX_STRING = 4096
MAX_FIELDS = 20_000_000
IN_MEMORY = 1 << 20
"""Messages up to this size are read whole and walked in memory (much faster than per-byte reads)."""


def _varint(data: bytes, pos: int, end: int, base: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= end:
            raise MalformedInput("protobuf varint truncated", offset=base + pos)
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise MalformedInput("protobuf varint too long", offset=base + pos)

Schema = dict[int, Union["Schema", str]]
Value = Union[str, list[tuple[int, "Value"]]]


class WireWalker:
    """Walk one protobuf message stored in ``stream[start:end]``."""

    def __init__(self, stream: BinaryIO, size: int, max_string: int = MAX_STRING) -> None:
        self.stream = stream
        self.size = size
        self.max_string = max_string
        self.fields = 0

    def _byte(self) -> int:
        b = self.stream.read(1)
        if not b:
            raise MalformedInput("protobuf truncated", offset=self.stream.tell())
        return b[0]

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self._byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise MalformedInput("protobuf varint too long", offset=self.stream.tell())

    def walk(self, schema: Schema, end: int) -> list[tuple[int, Value]]:
        start = self.stream.tell()
        if end - start <= IN_MEMORY:
            data = self.stream.read(end - start)
            if len(data) != end - start:
                raise MalformedInput("protobuf truncated", offset=start + len(data))
            return self._walk_mem(data, 0, len(data), schema, start)
        out: list[tuple[int, Value]] = []
        while self.stream.tell() < end:
            self.fields += 1
            if self.fields > MAX_FIELDS:
                raise LimitExceeded(f"more than {MAX_FIELDS} protobuf fields", limit="max_fields")
            key = self.varint()
            field, wire = key >> 3, key & 7
            if field == 0:
                raise MalformedInput("protobuf field number 0", offset=self.stream.tell())
            if wire == 0:
                self.varint()
            elif wire == 1:
                self._skip(8, end)
            elif wire == 5:
                self._skip(4, end)
            elif wire == 2:
                length = self.varint()
                start = self.stream.tell()
                if start + length > end:
                    raise MalformedInput("protobuf length runs past its message", offset=start)
                sub = schema.get(field)
                if isinstance(sub, dict):
                    out.append((field, self.walk(sub, start + length)))
                elif sub == STRING and length <= self.max_string:
                    out.append((field, self.stream.read(length).decode("utf-8", "replace")))
                self.stream.seek(start + length)
            else:
                raise MalformedInput(f"unsupported protobuf wire type {wire}", offset=self.stream.tell())
        if self.stream.tell() != end:
            raise MalformedInput("protobuf message overruns its length", offset=self.stream.tell())
        return out

    def _walk_mem(self, data: bytes, pos: int, end: int, schema: Schema, base: int) -> list[tuple[int, Value]]:
        """The same walk over bytes already in memory (small messages: nodes, functions)."""
        out: list[tuple[int, Value]] = []
        while pos < end:
            self.fields += 1
            if self.fields > MAX_FIELDS:
                raise LimitExceeded(f"more than {MAX_FIELDS} protobuf fields", limit="max_fields")
            key, pos = _varint(data, pos, end, base)
            field, wire = key >> 3, key & 7
            if field == 0:
                raise MalformedInput("protobuf field number 0", offset=base + pos)
            if wire == 0:
                _, pos = _varint(data, pos, end, base)
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            elif wire == 2:
                length, pos = _varint(data, pos, end, base)
                if pos + length > end:
                    raise MalformedInput("protobuf length runs past its message", offset=base + pos)
                sub = schema.get(field)
                if isinstance(sub, dict):
                    out.append((field, self._walk_mem(data, pos, pos + length, sub, base)))
                elif sub == STRING and length <= self.max_string:
                    out.append((field, data[pos : pos + length].decode("utf-8", "replace")))
                pos += length
            else:
                raise MalformedInput(f"unsupported protobuf wire type {wire}", offset=base + pos)
        if pos != end:
            raise MalformedInput("protobuf message overruns its length", offset=base + pos)
        return out

    def _skip(self, n: int, end: int) -> None:
        pos = self.stream.tell() + n
        if pos > end:
            raise MalformedInput("protobuf fixed field runs past its message", offset=pos)
        self.stream.seek(pos)


def walk(stream: BinaryIO, size: int, schema: Schema, max_string: int = MAX_STRING) -> list[tuple[int, Value]]:
    """Walk the whole stream as one message of ``schema`` (longer strings are skipped)."""
    return WireWalker(stream, size, max_string).walk(schema, size)


def strings(fields: list[tuple[int, Value]], number: int) -> list[str]:
    return [v for f, v in fields if f == number and isinstance(v, str)]


def messages(fields: list[tuple[int, Value]], number: int) -> list[list[tuple[int, Value]]]:
    return [v for f, v in fields if f == number and isinstance(v, list)]
