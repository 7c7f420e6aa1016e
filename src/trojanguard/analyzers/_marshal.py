"""A static reader for CPython's marshal format, enough to summarise code objects.

Keras Lambda layers store ``marshal.dumps(function.__code__)`` in base64.  Unmarshalling
would build a live code object from attacker bytes, so this module walks the byte format
itself and returns plain data: the names, string constants and nested code objects a code
object references.  The code-object layout changed across Python versions; each layout is
tried in turn and the first one that parses consistently wins.  Every read is bounded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from trojanguard.errors import MalformedInput

MAX_OBJECTS = 200_000
MAX_DEPTH = 64
MAX_LEN = 16 << 20

_NULL = object()


@dataclass
class CodeInfo:
    """What one code object references (never the code itself)."""

    name: str = ""
    names: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    nested: list[CodeInfo] = field(default_factory=list)

    def all_names(self) -> set[str]:
        out = set(self.names)
        for child in self.nested:
            out |= child.all_names()
        return out

    def all_strings(self) -> list[str]:
        out = list(self.strings)
        for child in self.nested:
            out.extend(child.all_strings())
        return out


# (ints before the objects, object count before firstlineno, object count after)
_LAYOUTS = (
    ("3.11+", 5, 8, 2),
    ("3.8-3.10", 6, 8, 1),
    ("3.7", 5, 8, 1),
)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.refs: list[object] = []
        self.count = 0

    def take(self, n: int) -> bytes:
        if n < 0 or n > MAX_LEN or self.pos + n > len(self.data):
            raise MalformedInput("marshal data truncated", offset=self.pos)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def i32(self) -> int:
        return int(struct.unpack("<i", self.take(4))[0])

    def obj(self, depth: int = 0) -> object:
        if depth > MAX_DEPTH:
            raise MalformedInput("marshal nesting too deep", offset=self.pos)
        self.count += 1
        if self.count > MAX_OBJECTS:
            raise MalformedInput("too many marshal objects", offset=self.pos)
        code = self.take(1)[0]
        flag = code & 0x80
        kind = chr(code & 0x7F)
        slot = -1
        if flag and kind != "c":
            slot = len(self.refs)
            self.refs.append(None)
        value = self._value(kind, depth, flag)
        if slot >= 0:
            self.refs[slot] = value
        return value

    def _value(self, kind: str, depth: int, flag: int) -> object:
        simple = {"0": _NULL, "N": None, "F": False, "T": True, "S": None, ".": None}
        if kind in simple:
            return simple[kind]
        if kind == "i":
            return self.i32()
        if kind == "I":
            return int.from_bytes(self.take(8), "little", signed=True)
        if kind == "g":
            return struct.unpack("<d", self.take(8))[0]
        if kind == "y":
            self.take(16)
            return 0.0
        if kind in "fx":
            for _ in range(2 if kind == "x" else 1):
                self.take(self.take(1)[0])
            return 0.0
        if kind == "l":
            n = abs(self.i32())
            self.take(2 * n)
            return 0
        if kind == "s":
            return self.take(self.i32())
        if kind in "tua":
            return self.take(self.i32()).decode("utf-8", "replace")
        if kind == "A":
            return self.take(self.i32()).decode("latin-1")
        if kind in "zZ":
            return self.take(self.take(1)[0]).decode("latin-1")
        if kind == "r":
            index = self.i32()
            if not 0 <= index < len(self.refs):
                raise MalformedInput("bad marshal back-reference", offset=self.pos)
            return self.refs[index]
        if kind in "([<>":
            n = self.i32()
            if n < 0 or n > MAX_OBJECTS:
                raise MalformedInput("bad marshal sequence length", offset=self.pos)
            return tuple(self.obj(depth + 1) for _ in range(n))
        if kind == ")":
            return tuple(self.obj(depth + 1) for _ in range(self.take(1)[0]))
        if kind == "{":
            items: list[object] = []
            while True:
                key = self.obj(depth + 1)
                if key is _NULL:
                    return tuple(items)
                items.append(key)
                items.append(self.obj(depth + 1))
        if kind == "c":
            return self._code(depth, flag)
        raise MalformedInput(f"unknown marshal type {kind!r}", offset=self.pos - 1)

    def _code(self, depth: int, flag: int) -> CodeInfo:
        start, refs_len, count = self.pos, len(self.refs), self.count
        last: MalformedInput | None = None
        for _label, ints, before, after in _LAYOUTS:
            self.pos, self.count = start, count
            del self.refs[refs_len:]
            slot = -1
            if flag:
                slot = len(self.refs)
                self.refs.append(None)
            try:
                info = self._code_layout(ints, before, after, depth)
            except MalformedInput as exc:
                last = exc
                continue
            if slot >= 0:
                self.refs[slot] = info
            return info
        raise last or MalformedInput("unparseable code object", offset=start)

    def _code_layout(self, ints: int, before: int, after: int, depth: int) -> CodeInfo:
        for _ in range(ints):
            self.i32()
        objs = [self.obj(depth + 1) for _ in range(before)]
        self.i32()
        for _ in range(after):
            self.obj(depth + 1)
        bytecode, consts, names = objs[0], objs[1], objs[2]
        name = objs[6] if after == 2 else objs[7]
        if not isinstance(bytecode, bytes) or not isinstance(consts, tuple) or not isinstance(names, tuple):
            raise MalformedInput("code object fields have the wrong types", offset=self.pos)
        if not all(isinstance(n, str) for n in names) or not isinstance(name, str):
            raise MalformedInput("code object names are not strings", offset=self.pos)
        info = CodeInfo(name=name, names=[str(n) for n in names])
        for const in _flatten(consts):
            if isinstance(const, str):
                info.strings.append(const)
            elif isinstance(const, bytes):
                info.strings.append(const.decode("latin-1"))
            elif isinstance(const, CodeInfo):
                info.nested.append(const)
        return info


def _flatten(value: object) -> list[object]:
    out: list[object] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(item)
        else:
            out.append(item)
    return out


def summarize_code(data: bytes) -> CodeInfo:
    """Summarise a marshalled code object without creating it (MalformedInput if not one)."""
    reader = _Reader(data)
    value = reader.obj()
    if not isinstance(value, CodeInfo):
        raise MalformedInput("marshal data is not a code object", offset=0)
    return value
