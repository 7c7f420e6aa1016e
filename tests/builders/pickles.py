"""An opcode-level pickle assembler for building hostile (and benign) test payloads.

Why: ``pickle.dumps`` only produces well-formed pickles of objects that exist in the test
process.  Attacks live in the byte stream itself (dotted names, memo desync, frames that lie,
junk after STOP), so regression tests need to write opcodes one by one.  Nothing here ever
*loads* a pickle.

Usage::

    from builders.pickles import PickleBuilder, reduce_call

    P = PickleBuilder(protocol=4)
    P.proto()                       # b"\\x80\\x04" (no-op for protocol < 2)
    P.stack_global("os", "system")  # or P.global_("os", "system")
    P.binunicode("id")              # or P.string("id") / P.short_binunicode / P.unicode
    P.tuple1()
    P.reduce()
    P.stop()
    data = P.bytes()

    data = reduce_call("os", "system", "id", protocol=2)   # the classic one-liner

Every opcode method appends its encoding and returns the builder, so calls chain:
``PickleBuilder(2).proto().global_("os", "system").string("id").tuple1().reduce().stop().bytes()``.

Methods (one per opcode, named after ``pickletools``' names in lower case; a trailing
underscore avoids keywords): ``mark stop pop pop_mark dup`` · ``none true false newtrue newfalse``
· ``int_ binint binint1 binint2 long long1 long4 float_ binfloat`` · ``string binstring
short_binstring unicode binunicode short_binunicode binunicode8 binbytes short_binbytes
binbytes8 bytearray8 next_buffer readonly_buffer`` · ``empty_list empty_tuple empty_dict
empty_set frozenset_ append appends list_ tuple_ tuple1 tuple2 tuple3 dict_ setitem setitems
additems`` · ``global_ stack_global inst obj newobj newobj_ex reduce build ext1 ext2 ext4
persid binpersid`` · memo: ``put binput long_binput memoize get binget long_binget`` ·
framing: ``proto frame`` (``frame(n)`` writes a FRAME header claiming ``n`` bytes; use
``framed(body)`` to wrap correctly) · ``raw(b"...")`` for arbitrary bytes.

Convenience: ``value(x)`` pushes a str/bytes/int/float/bool/None using the protocol's usual
opcode; ``global_ref(module, name)`` pushes a global the protocol's usual way (STACK_GLOBAL
for 4+, GLOBAL before); ``stack_global_op()`` is the bare STACK_GLOBAL opcode (push the
operands yourself, e.g. from memo); ``args(*values)`` pushes an argument tuple;
``call(module, name, *args)`` pushes a global, the args tuple and REDUCE.
``binbytes``/``binbytes8`` accept ``claimed=`` to write a length that lies.
"""

from __future__ import annotations

import struct

__all__ = ["PickleBuilder", "reduce_call"]


class PickleBuilder:
    """Append pickle opcodes to a byte buffer; ``bytes()`` returns the stream so far."""

    def __init__(self, protocol: int = 4) -> None:
        self.protocol = protocol
        self._buf = bytearray()

    # -- output ----------------------------------------------------------------------
    def bytes(self) -> bytes:
        return bytes(self._buf)

    def __len__(self) -> int:
        return len(self._buf)

    def raw(self, data: bytes) -> PickleBuilder:
        """Append arbitrary bytes (junk, truncated args, unknown opcodes)."""
        self._buf += data
        return self

    def _op(self, code: bytes, arg: bytes = b"") -> PickleBuilder:
        self._buf += code + arg
        return self

    # -- framing / control -----------------------------------------------------------
    def proto(self, version: int | None = None) -> PickleBuilder:
        """PROTO header; skipped for protocol 0/1 unless ``version`` is given explicitly."""
        v = self.protocol if version is None else version
        if version is None and v < 2:
            return self
        return self._op(b"\x80", bytes([v]))

    def frame(self, length: int) -> PickleBuilder:
        """A FRAME header claiming ``length`` bytes follow (may lie on purpose)."""
        return self._op(b"\x95", struct.pack("<Q", length))

    def framed(self, body: bytes) -> PickleBuilder:
        """A correct FRAME header followed by ``body``."""
        return self.frame(len(body)).raw(body)

    def stop(self) -> PickleBuilder:
        return self._op(b".")

    def mark(self) -> PickleBuilder:
        return self._op(b"(")

    def pop(self) -> PickleBuilder:
        return self._op(b"0")

    def pop_mark(self) -> PickleBuilder:
        return self._op(b"1")

    def dup(self) -> PickleBuilder:
        return self._op(b"2")

    # -- constants -------------------------------------------------------------------
    def none(self) -> PickleBuilder:
        return self._op(b"N")

    def newtrue(self) -> PickleBuilder:
        return self._op(b"\x88")

    def newfalse(self) -> PickleBuilder:
        return self._op(b"\x89")

    def true(self) -> PickleBuilder:
        return self.newtrue() if self.protocol >= 2 else self._op(b"I01\n")

    def false(self) -> PickleBuilder:
        return self.newfalse() if self.protocol >= 2 else self._op(b"I00\n")

    def int_(self, n: int) -> PickleBuilder:
        return self._op(b"I", f"{n}\n".encode())

    def binint(self, n: int) -> PickleBuilder:
        return self._op(b"J", struct.pack("<i", n))

    def binint1(self, n: int) -> PickleBuilder:
        return self._op(b"K", bytes([n]))

    def binint2(self, n: int) -> PickleBuilder:
        return self._op(b"M", struct.pack("<H", n))

    def long(self, n: int) -> PickleBuilder:
        return self._op(b"L", f"{n}L\n".encode())

    def long1(self, n: int) -> PickleBuilder:
        data = _encode_long(n)
        return self._op(b"\x8a", bytes([len(data)]) + data)

    def long4(self, n: int) -> PickleBuilder:
        data = _encode_long(n)
        return self._op(b"\x8b", struct.pack("<i", len(data)) + data)

    def float_(self, x: float) -> PickleBuilder:
        return self._op(b"F", f"{x!r}\n".encode())

    def binfloat(self, x: float) -> PickleBuilder:
        return self._op(b"G", struct.pack(">d", x))

    # -- strings and bytes -----------------------------------------------------------
    def string(self, s: str) -> PickleBuilder:
        """Protocol-0 STRING (a quoted repr)."""
        return self._op(b"S", (repr(s) + "\n").encode("ascii", "backslashreplace"))

    def binstring(self, s: str | bytes) -> PickleBuilder:
        data = s.encode("latin-1") if isinstance(s, str) else s
        return self._op(b"T", struct.pack("<i", len(data)) + data)

    def short_binstring(self, s: str | bytes) -> PickleBuilder:
        data = s.encode("latin-1") if isinstance(s, str) else s
        return self._op(b"U", bytes([len(data)]) + data)

    def unicode(self, s: str) -> PickleBuilder:
        """Protocol-0 UNICODE (raw-unicode-escape, newline-terminated)."""
        return self._op(b"V", s.encode("raw-unicode-escape") + b"\n")

    def binunicode(self, s: str) -> PickleBuilder:
        data = s.encode("utf-8", "surrogatepass")
        return self._op(b"X", struct.pack("<I", len(data)) + data)

    def short_binunicode(self, s: str) -> PickleBuilder:
        data = s.encode("utf-8", "surrogatepass")
        return self._op(b"\x8c", bytes([len(data)]) + data)

    def binunicode8(self, s: str) -> PickleBuilder:
        data = s.encode("utf-8", "surrogatepass")
        return self._op(b"\x8d", struct.pack("<Q", len(data)) + data)

    def binbytes(self, data: bytes, *, claimed: int | None = None) -> PickleBuilder:
        n = len(data) if claimed is None else claimed
        return self._op(b"B", struct.pack("<I", n) + data)

    def short_binbytes(self, data: bytes) -> PickleBuilder:
        return self._op(b"C", bytes([len(data)]) + data)

    def binbytes8(self, data: bytes, *, claimed: int | None = None) -> PickleBuilder:
        n = len(data) if claimed is None else claimed
        return self._op(b"\x8e", struct.pack("<Q", n) + data)

    def bytearray8(self, data: bytes) -> PickleBuilder:
        return self._op(b"\x96", struct.pack("<Q", len(data)) + data)

    def next_buffer(self) -> PickleBuilder:
        return self._op(b"\x97")

    def readonly_buffer(self) -> PickleBuilder:
        return self._op(b"\x98")

    # -- containers ------------------------------------------------------------------
    def empty_list(self) -> PickleBuilder:
        return self._op(b"]")

    def empty_tuple(self) -> PickleBuilder:
        return self._op(b")")

    def empty_dict(self) -> PickleBuilder:
        return self._op(b"}")

    def empty_set(self) -> PickleBuilder:
        return self._op(b"\x8f")

    def frozenset_(self) -> PickleBuilder:
        return self._op(b"\x91")

    def append(self) -> PickleBuilder:
        return self._op(b"a")

    def appends(self) -> PickleBuilder:
        return self._op(b"e")

    def list_(self) -> PickleBuilder:
        return self._op(b"l")

    def tuple_(self) -> PickleBuilder:
        return self._op(b"t")

    def tuple1(self) -> PickleBuilder:
        return self._op(b"\x85")

    def tuple2(self) -> PickleBuilder:
        return self._op(b"\x86")

    def tuple3(self) -> PickleBuilder:
        return self._op(b"\x87")

    def dict_(self) -> PickleBuilder:
        return self._op(b"d")

    def setitem(self) -> PickleBuilder:
        return self._op(b"s")

    def setitems(self) -> PickleBuilder:
        return self._op(b"u")

    def additems(self) -> PickleBuilder:
        return self._op(b"\x90")

    # -- objects and calls -----------------------------------------------------------
    def global_(self, module: str, name: str) -> PickleBuilder:
        """GLOBAL 'module\\nname\\n' (protocol 0-3 style; utf-8 encoded)."""
        return self._op(b"c", f"{module}\n{name}\n".encode())

    def stack_global(self, module: str, name: str) -> PickleBuilder:
        """Push both names (SHORT_BINUNICODE) and STACK_GLOBAL (protocol 4+ style)."""
        self.short_binunicode(module).short_binunicode(name)
        return self._op(b"\x93")

    def stack_global_op(self) -> PickleBuilder:
        """Only the STACK_GLOBAL opcode (operands pushed by the caller)."""
        return self._op(b"\x93")

    def inst(self, module: str, name: str) -> PickleBuilder:
        """INST 'module\\nname\\n' (pops args back to the MARK the caller pushed)."""
        return self._op(b"i", f"{module}\n{name}\n".encode())

    def obj(self) -> PickleBuilder:
        return self._op(b"o")

    def newobj(self) -> PickleBuilder:
        return self._op(b"\x81")

    def newobj_ex(self) -> PickleBuilder:
        return self._op(b"\x92")

    def reduce(self) -> PickleBuilder:
        return self._op(b"R")

    def build(self) -> PickleBuilder:
        return self._op(b"b")

    def ext1(self, code: int) -> PickleBuilder:
        return self._op(b"\x82", bytes([code]))

    def ext2(self, code: int) -> PickleBuilder:
        return self._op(b"\x83", struct.pack("<H", code))

    def ext4(self, code: int) -> PickleBuilder:
        return self._op(b"\x84", struct.pack("<i", code))

    def persid(self, pid: str) -> PickleBuilder:
        return self._op(b"P", pid.encode() + b"\n")

    def binpersid(self) -> PickleBuilder:
        return self._op(b"Q")

    # -- memo ------------------------------------------------------------------------
    def put(self, idx: int) -> PickleBuilder:
        return self._op(b"p", f"{idx}\n".encode())

    def binput(self, idx: int) -> PickleBuilder:
        return self._op(b"q", bytes([idx]))

    def long_binput(self, idx: int) -> PickleBuilder:
        return self._op(b"r", struct.pack("<I", idx))

    def memoize(self) -> PickleBuilder:
        return self._op(b"\x94")

    def get(self, idx: int) -> PickleBuilder:
        return self._op(b"g", f"{idx}\n".encode())

    def binget(self, idx: int) -> PickleBuilder:
        return self._op(b"h", bytes([idx]))

    def long_binget(self, idx: int) -> PickleBuilder:
        return self._op(b"j", struct.pack("<I", idx))

    # -- convenience -----------------------------------------------------------------
    def value(self, x: object) -> PickleBuilder:
        """Push a simple Python value with the opcode the protocol would normally use."""
        if x is None:
            return self.none()
        if x is True:
            return self.true()
        if x is False:
            return self.false()
        if isinstance(x, int):
            if self.protocol == 0 and -(2**31) <= x < 2**31:
                return self.int_(x)
            if self.protocol >= 1 and 0 <= x < 256:
                return self.binint1(x)
            if self.protocol >= 1 and -(2**31) <= x < 2**31:
                return self.binint(x)
            return self.long1(x) if self.protocol >= 2 else self.long(x)
        if isinstance(x, float):
            return self.binfloat(x) if self.protocol >= 1 else self.float_(x)
        if isinstance(x, str):
            if self.protocol >= 4:
                return self.short_binunicode(x) if len(x.encode()) < 256 else self.binunicode(x)
            return self.binunicode(x) if self.protocol >= 1 else self.string(x)
        if isinstance(x, (bytes, bytearray)):
            if self.protocol >= 3:
                return self.short_binbytes(bytes(x)) if len(x) < 256 else self.binbytes(bytes(x))
            return self.binstring(bytes(x)) if self.protocol >= 1 else self.string(bytes(x).decode("latin-1"))
        raise TypeError(f"value() cannot encode {type(x).__name__}")

    def global_ref(self, module: str, name: str) -> PickleBuilder:
        """Push a global with the protocol's usual opcode (STACK_GLOBAL for 4+)."""
        return self.stack_global(module, name) if self.protocol >= 4 else self.global_(module, name)

    def args(self, *values: object) -> PickleBuilder:
        """Push a tuple of simple values (TUPLE1-3 for protocol 2+, MARK..TUPLE otherwise)."""
        if self.protocol >= 2 and len(values) <= 3:
            for v in values:
                self.value(v)
            return [self.empty_tuple, self.tuple1, self.tuple2, self.tuple3][len(values)]()
        self.mark()
        for v in values:
            self.value(v)
        return self.tuple_()

    def call(self, module: str, name: str, *values: object) -> PickleBuilder:
        """Push ``module.name(*values)`` (global, args tuple, REDUCE)."""
        return self.global_ref(module, name).args(*values).reduce()


def _encode_long(n: int) -> bytes:
    if n == 0:
        return b""
    length = (n.bit_length() + 8) // 8
    return n.to_bytes(length, "little", signed=True)


def reduce_call(module: str, name: str, *str_args: object, protocol: int = 4) -> bytes:
    """A complete pickle calling ``module.name(*str_args)`` on load."""
    return PickleBuilder(protocol).proto().call(module, name, *str_args).stop().bytes()
