"""A static pickle machine: opcode decoder plus a symbolic stack/memo interpreter.

Why a machine and not a list of GLOBAL opcodes: attackers hide the callable behind memo
GETs, STACK_GLOBAL operands built at run time, ``getattr``/``__import__`` chains, copyreg
extension codes and frames that lie.  Only by running the stream the way CPython's
unpickler does - but with *symbolic* values instead of objects - can the scanner say what
each REDUCE / BUILD / INST / OBJ / NEWOBJ really calls.  Nothing here imports, loads or
calls anything from the stream.

Security assumptions, written where the code makes them:

* Values are symbolic and shared by reference (DUP/GET never copy), so billion-laughs
  expansion costs one reference per opcode; walkers that look into values are depth
  bounded and cycle safe.
* Large bytes/str arguments are *skipped* with ``seek`` (only a bounded prefix is kept), so
  the cost of a scan follows the number of opcodes, not the number of tensor bytes.
* Every anomaly (truncation, stack underflow, missing memo key, frame divergence) is
  recorded as an :class:`Anomaly` and the run stops cleanly; what was found before it is
  kept.

Symbolic values other modules may walk (``PickleScan.values``):

* ``str``, ``int``, ``float``, ``bool``, ``None``, ``bytes`` (small byte strings), ``tuple``
  and ``list`` are themselves;
* :class:`Blob` - a large bytes/str argument (size, stream offset, bounded prefix);
* :class:`PDict` / :class:`PSet` - dict and set contents as lists (keys may be unhashable);
* :class:`Global` - a resolved global ``module.name`` (also from getattr / __import__ chains);
* :class:`Call` - the result of calling something: ``func``, ``args``, ``kwargs``, ``state``
  (from BUILD), ``items`` / ``appended`` (SETITEM(S)/APPEND(S) applied to the object) and
  ``target`` (the resolved :class:`Global` called, or None);
* :class:`Persistent` - a persistent id (torch: ``('storage', <Global>, key, location, n)``);
* :class:`Unknown` - something the machine cannot know (a missing memo key, a buffer).
"""

from __future__ import annotations

import _compat_pickle
import codecs
import io
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from trojanguard.errors import LimitExceeded, MalformedInput

#: Byte/str arguments up to this size are read and kept; larger ones are skipped (a buffer
#: pointer bump or a seek) keeping only PREFIX bytes, and read back on demand when a loader
#: call makes them a nested payload.  Kept bytes beyond NAME_LIMIT count against
#: RETAIN_BUDGET per stream, so a file of many small tensors does not pile up in memory.
KEEP_LIMIT = 4096
NAME_LIMIT = 256
RETAIN_BUDGET = 64 << 20
PREFIX = 256
#: Longest newline-terminated argument (protocol 0 names, ints, strings).
MAX_LINE = 1 << 16
#: Depth to which resolution and walkers follow nested values.
MAX_WALK = 32
_CHUNK = 1 << 16


# --------------------------------------------------------------------------- values
@dataclass(eq=False)
class Global:
    """A global reference ``module.name``; ``how`` says which opcode or chain produced it."""

    module: str
    name: str
    offset: int
    how: str = "GLOBAL"

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}" if self.name else self.module

    def __repr__(self) -> str:
        return f"<global {self.qualname}>"


@dataclass(eq=False)
class Call:
    """The symbolic result of a call made by REDUCE/INST/OBJ/NEWOBJ/NEWOBJ_EX."""

    func: object
    args: tuple[object, ...]
    kwargs: object
    offset: int
    opcode: str
    target: Global | None
    state: object = None
    items: list[tuple[object, object]] = field(default_factory=list)
    appended: list[object] = field(default_factory=list)
    resolved: Global | None = None
    """Set when the call *returns* a global (getattr, __import__, attrgetter, resolve_name)."""

    def __repr__(self) -> str:
        name = self.target.qualname if self.target else "?"
        return f"<call {name}(...)>"


@dataclass(eq=False)
class Blob:
    """A bytes or str argument too large to keep: ``size`` bytes at stream ``offset``."""

    size: int
    offset: int
    prefix: bytes
    text: bool = False

    def __repr__(self) -> str:
        return f"<{'str' if self.text else 'bytes'} of {self.size} bytes @{self.offset}>"


@dataclass(eq=False)
class PDict:
    items: list[tuple[object, object]] = field(default_factory=list)

    def get(self, key: object, default: object = None) -> object:
        """The last value stored under a plain (str/int) key, as the unpickler would keep."""
        for k, v in reversed(self.items):
            if type(k) is type(key) and k == key:
                return v
        return default


@dataclass(eq=False)
class PSet:
    items: list[object] = field(default_factory=list)
    frozen: bool = False


@dataclass(eq=False)
class Persistent:
    pid: object
    offset: int


@dataclass(eq=False)
class Unknown:
    reason: str

    def __repr__(self) -> str:
        return f"<unknown: {self.reason}>"


# --------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Anomaly:
    """Something a faithful unpickler would trip on or a parser-confusion trick.

    ``kind`` is one of: ``truncated``, ``invalid-opcode``, ``bad-argument``, ``stack``,
    ``limit`` (these stop the run), ``memo-missing``, ``memo-overwrite``, ``memo-key``,
    ``frame-divergence``, ``unknown-extension``, ``dynamic-global``, ``bad-global``,
    ``global-state``, ``setstate-gadget``, ``huge-allocation``.
    """

    kind: str
    offset: int
    message: str
    fatal: bool = False


@dataclass(frozen=True)
class CallEvent:
    """A call the unpickler would make; ``target`` is None when it cannot be resolved."""

    target: Global | None
    offset: int
    opcode: str
    via: str = ""
    """How it is reached when not called directly (``functools.partial``, ``BUILD __setstate__``)."""
    described: str = "?"


@dataclass(frozen=True)
class NestedEvent:
    """A loader of serialized data or code (pickle.loads, marshal.loads, ...) was called."""

    loader: Global
    offset: int
    payload: bytes | None
    blob: Blob | None
    how: str


class Broken(Exception):
    """Internal: the stream cannot be decoded further (becomes a fatal Anomaly)."""

    def __init__(self, kind: str, message: str, offset: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.offset = offset


# --------------------------------------------------------------------------- reader
class Reader:
    """Buffered reads over a binary stream that can skip large arguments by seeking.

    ``bytes_read`` counts what was actually read from the underlying stream.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        try:
            self._seekable = bool(stream.seekable())
            self._base = stream.tell() if self._seekable else 0
        except (OSError, AttributeError, ValueError):
            self._seekable = False
            self._base = 0
        self._buf = b""
        self._pos = 0  # position inside _buf
        self.bytes_read = 0
        self.retained = 0
        self.frame_end: int | None = None
        self.on_frame_divergence: Callable[[int, int], None] | None = None

    def tell(self) -> int:
        return self._base + self._pos

    def _fill(self, want: int) -> None:
        """Make at least ``want`` bytes available in the buffer when the stream has them."""
        have = len(self._buf) - self._pos
        if have >= want:
            return
        parts = [self._buf[self._pos:]]
        while have < want:
            chunk = self._stream.read(max(_CHUNK, want - have))
            if not chunk:
                break
            self.bytes_read += len(chunk)
            parts.append(chunk)
            have += len(chunk)
        self._base += self._pos
        self._buf = b"".join(parts)
        self._pos = 0

    def at_eof(self) -> bool:
        self._fill(1)
        return self._pos >= len(self._buf)

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return self._buf[self._pos:self._pos + n]

    def _check_frame(self, start: int, n: int) -> None:
        end = self.frame_end
        if end is not None and start < end < start + n and self.on_frame_divergence is not None:
            self.on_frame_divergence(start, start + n - end)

    def read(self, n: int) -> bytes:
        pos = self._pos
        stop = pos + n
        if stop <= len(self._buf):
            frame_end = self.frame_end
            if frame_end is None or self._base + stop <= frame_end:
                self._pos = stop
                return self._buf[pos:stop]
        start = self.tell()
        self._check_frame(start, n)
        self._fill(n)
        data = self._buf[self._pos:self._pos + n]
        if len(data) < n:
            self._pos += len(data)
            raise Broken("truncated", f"stream ends inside an argument ({len(data)} of {n} bytes)", start)
        self._pos += n
        return data

    def readline(self) -> bytes:
        """A newline-terminated argument without its newline (bounded by MAX_LINE)."""
        line = self.readline_or_blob(False)
        assert isinstance(line, bytes)
        return line

    def readline_or_blob(self, long_ok: bool) -> bytes | Blob:
        """A line argument; with ``long_ok`` a line over MAX_LINE is skipped and returned as a
        :class:`Blob` (CPython reads STRING/UNICODE lines of any length, so a long decoy
        string must not stop the analysis of the opcodes after it)."""
        start = self.tell()
        while True:
            idx = self._buf.find(b"\n", self._pos)
            if idx >= 0:
                line = self._buf[self._pos:idx]
                self._check_frame(start, len(line) + 1)
                self._pos = idx + 1
                return line
            if len(self._buf) - self._pos > MAX_LINE:
                if long_ok:
                    return self._long_line(start)
                raise Broken("bad-argument", f"line argument longer than {MAX_LINE} bytes", start)
            before = len(self._buf) - self._pos
            self._fill(before + _CHUNK)
            if len(self._buf) - self._pos == before:
                raise Broken("truncated", "stream ends inside a line argument", start)

    def _long_line(self, start: int) -> Blob:
        """Skip to the end of an over-long line, keeping only its prefix."""
        prefix = self._buf[self._pos:self._pos + PREFIX]
        while True:
            idx = self._buf.find(b"\n", self._pos)
            if idx >= 0:
                self._pos = idx + 1
                return Blob(self.tell() - 1 - start, start, prefix, text=True)
            self._base += len(self._buf)
            self._buf = b""
            self._pos = 0
            self._fill(_CHUNK)
            if not self._buf:
                raise Broken("truncated", "stream ends inside a line argument", start)

    def skip(self, n: int) -> int:
        """Move forward ``n`` bytes without keeping them; returns how many were skipped."""
        have = len(self._buf) - self._pos
        if n <= have:
            self._pos += n
            return n
        target = self.tell() + n
        self._base += len(self._buf)
        self._buf = b""
        self._pos = 0
        rest = n - have
        if self._seekable:
            # probe the last byte instead of SEEK_END: a decompressing stream would have to
            # inflate everything to learn its end
            self._stream.seek(target - 1)
            last = self._stream.read(1)
            self.bytes_read += len(last)
            if not last:
                end = self._stream.seek(0, io.SEEK_CUR)
                self._base = end
                return max(0, n - (target - end))
            self._base = target
            return n
        while rest > 0:
            chunk = self._stream.read(min(rest, 1 << 20))
            if not chunk:
                break
            self.bytes_read += len(chunk)
            rest -= len(chunk)
            self._base += len(chunk)
        return n - rest

    def blob(self, n: int, text: bool) -> bytes | Blob:
        """A counted argument: the bytes themselves if small, else a :class:`Blob`."""
        if n <= NAME_LIMIT or (n <= KEEP_LIMIT and self.retained + n <= RETAIN_BUDGET):
            self.retained += n if n > NAME_LIMIT else 0
            return self.read(n)
        start = self.tell()
        if n > 1 << 60:
            raise Broken("truncated", f"argument claims {n} bytes", start)
        self._check_frame(start, n)
        prefix = self.peek(PREFIX)
        if self.skip(n) < n:
            raise Broken("truncated", f"stream ends inside a {n}-byte argument", start)
        return Blob(n, start, prefix, text)

    def fetch(self, blob: Blob, cap: int) -> bytes | None:
        """Read a skipped argument back (for nested payloads); None if unseekable or > cap."""
        if not self._seekable or blob.size > cap:
            return None
        saved = self._stream.tell()
        try:
            self._stream.seek(blob.offset)
            data = self._stream.read(blob.size)
        finally:
            self._stream.seek(saved)
        self.bytes_read += len(data)
        return data if len(data) == blob.size else None


# --------------------------------------------------------------------------- tables
_ARG_KIND: dict[int, int | None] = {}
_NAMES: dict[int, str] = {}


def _build_tables() -> None:
    import pickletools  # opcode *tables* only; never genops on untrusted data

    for op in pickletools.opcodes:
        code = ord(op.code)
        _NAMES[code] = op.name
        _ARG_KIND[code] = op.arg.n if op.arg is not None else None


_build_tables()

#: Opcodes a header-less pickle may start with (for the sniffer).  CPython's unpickler
#: needs no PROTO header to run protocol 2-5 opcodes (SHORT_BINUNICODE, STACK_GLOBAL,
#: FRAME...), so a stream of those without ``\x80`` is a pickle too: the pushers of
#: every protocol are accepted here, and the strict run decides.
_PROTO01_FIRST = frozenset(b"(]})NIJKLMFGSTUVXcl" + b"BC\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x95\x96")


# --------------------------------------------------------------------------- helpers
def _unmap(module: str, name: str) -> tuple[str, str]:
    """Python 2 names as CPython's unpickler maps them (``__builtin__`` -> ``builtins``)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def resolve(value: object) -> Global | None:
    """The global a value stands for (directly or as the result of getattr/__import__)."""
    if isinstance(value, Global):
        return value
    if isinstance(value, Call):
        return value.resolved
    if isinstance(value, Persistent):
        # torch's legacy format pickles module classes as persistent ids
        # ('module', cls, source_file, source); torch's persistent_load returns cls itself.
        pid = value.pid
        if isinstance(pid, tuple) and len(pid) >= 2 and pid[0] in ("module", b"module") and isinstance(pid[1], Global):
            return pid[1]
    return None


def as_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return None


def attribute(base: object, attr: object, offset: int) -> Global | None:
    """``getattr(base, attr)`` when both are statically known."""
    ref = resolve(base)
    text = as_text(attr)
    if ref is None or text is None:
        return None
    name = f"{ref.name}.{text}" if ref.name else text
    return Global(ref.module, name, offset, "getattr")


def describe(value: object, depth: int = 0) -> str:
    """A short, bounded description of a symbolic value for messages."""
    if depth > 3:
        return "..."
    if isinstance(value, (str, bytes)):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    if isinstance(value, tuple):
        inner = ", ".join(describe(v, depth + 1) for v in value[:4])
        return f"({inner}{', ...' if len(value) > 4 else ''})"
    if isinstance(value, Call) and value.target is not None:
        inner = ", ".join(describe(v, depth + 1) for v in value.args[:3])
        return f"{value.target.qualname}({inner})"
    return repr(value) if isinstance(value, (int, float, bool, type(None), Global, Blob, Unknown)) else type(value).__name__


# Call-site semantics the machine understands (module, name pairs after _unmap).
GETATTR = frozenset({("builtins", "getattr"), ("inspect", "getattr_static")})
IMPORTERS = frozenset({
    ("builtins", "__import__"), ("importlib", "import_module"), ("importlib", "__import__"),
    ("cloudpickle.cloudpickle", "subimport"), ("cloudpickle.cloudpickle_fast", "subimport"),
    ("cloudpickle", "subimport"), ("dill._dill", "_import_module"),
})
NAME_RESOLVERS = frozenset({("pkgutil", "resolve_name"), ("pydoc", "locate")})
ATTRGETTER = frozenset({("operator", "attrgetter"), ("_operator", "attrgetter")})
METHODCALLER = frozenset({("operator", "methodcaller"), ("_operator", "methodcaller")})
#: Calls that call their first argument (now or later): the real target is that argument.
#: Callables that call one of their arguments: key -> index of the argument they call.
#: An allowlisted wrapper must not launder a call to something that is not.
CALL_THROUGH: dict[tuple[str, str], int] = {
    ("functools", "partial"): 0, ("_functools", "partial"): 0, ("functools", "reduce"): 0,
    ("_functools", "reduce"): 0, ("builtins", "map"): 0, ("builtins", "filter"): 0,
    ("copyreg", "_reconstructor"): 0, ("copyreg", "__newobj__"): 0, ("copyreg", "__newobj_ex__"): 0,
    ("builtins", "apply"): 0, ("functools", "partialmethod"): 0,
    # torch: _rebuild_from_type_v2(func, new_type, args, state) calls func(*args)
    ("torch._tensor", "_rebuild_from_type_v2"): 0, ("torch._tensor", "_rebuild_from_type"): 0,
    # numpy: __randomstate_ctor(name, bit_generator_ctor) calls bit_generator_ctor(name)
    ("numpy.random._pickle", "__randomstate_ctor"): 1, ("numpy.random._pickle", "__generator_ctor"): 1,
    # scikit-learn's Cython trees: newObj(cls) calls cls.__new__(cls)
    ("sklearn.neighbors._kd_tree", "newObj"): 0, ("sklearn.neighbors._ball_tree", "newObj"): 0,
    ("sklearn.neighbors._binary_tree", "newObj"): 0, ("sklearn.metrics._dist_metrics", "newObj"): 0,
}
#: Allowlisted constructors whose first integer argument is an allocation size.
SIZED_ALLOCATORS = frozenset({("builtins", "bytearray"), ("builtins", "bytes")})
#: Above this, an allocation requested by a pickle is a denial-of-service attempt (1 GiB).
MAX_ALLOCATION = 1 << 30
ADD_EXTENSION = frozenset({("copyreg", "add_extension")})
#: Loaders of serialized objects or code: their input is a nested payload.
PICKLE_LOADERS = frozenset({
    ("pickle", "loads"), ("_pickle", "loads"), ("pickle", "load"), ("_pickle", "load"), ("dill", "loads"),
    ("dill", "load"), ("dill._dill", "loads"), ("cloudpickle", "loads"), ("torch", "load"),
    ("torch.serialization", "load"), ("numpy", "load"), ("joblib", "load"), ("joblib.numpy_pickle", "load"),
    ("pandas", "read_pickle"), ("numpy.lib.npyio", "load"), ("pickle", "_loads"), ("pickle", "_load"),
})
CODE_LOADERS = frozenset({
    ("marshal", "loads"), ("marshal", "load"), ("types", "FunctionType"), ("types", "CodeType"),
    ("cloudpickle.cloudpickle", "_make_function"), ("cloudpickle.cloudpickle", "_builtin_type"),
    ("dill._dill", "_create_function"), ("dill._dill", "_create_code"), ("builtins", "compile"),
})
#: Static transforms of bytes we may undo to reach an inner payload.
_TRANSFORMS = frozenset({
    ("io", "BytesIO"), ("_io", "BytesIO"), ("base64", "b64decode"), ("base64", "standard_b64decode"),
    ("base64", "urlsafe_b64decode"), ("base64", "decodebytes"), ("binascii", "a2b_base64"), ("zlib", "decompress"),
    ("gzip", "decompress"), ("bz2", "decompress"), ("lzma", "decompress"), ("builtins", "bytes"),
    ("builtins", "bytearray"), ("codecs", "encode"), ("_codecs", "encode"),
})
JOBLIB_WRAPPERS = frozenset({
    ("joblib.numpy_pickle", "NumpyArrayWrapper"), ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
})
_MAX_INNER = 64 << 20
_MISSING = object()
_CPYTHON_REFUSES = frozenset({"memo-missing", "unknown-extension", "stack", "bad-argument"})


def _key(ref: Global | None) -> tuple[str, str] | None:
    """The (module, name) pair used to look up call-site semantics."""
    return None if ref is None else (ref.module, ref.name)


Fetch = Callable[[Blob], "bytes | None"]


def static_bytes(value: object, fetch: Fetch | None = None, depth: int = 0) -> bytes | Blob | None:
    """The bytes a value evaluates to when that is statically visible (bounded).

    ``fetch`` reads a skipped :class:`Blob` back from the stream; without it (or when it
    declines) a Blob is returned as is so the caller can hand it on as a window.
    """
    if depth > MAX_WALK:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("latin-1", "replace")
    if isinstance(value, Blob):
        data = fetch(value) if fetch is not None else None
        return value if data is None else data
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value[:4096]):
        try:
            return bytes(v for v in value if isinstance(v, int))
        except ValueError:
            return None
    if not isinstance(value, Call) or value.target is None or not value.args:
        return None
    key = _key(value.target)
    if key not in _TRANSFORMS:
        return None
    inner = static_bytes(value.args[0], fetch, depth + 1)
    if not isinstance(inner, bytes):
        return inner if isinstance(inner, Blob) and key[1] in ("BytesIO", "bytes", "bytearray") else None
    return _undo(key, inner)


def _undo(key: tuple[str, str] | None, data: bytes) -> bytes | None:
    import base64
    import binascii
    import bz2
    import gzip
    import lzma
    import zlib

    try:
        if key is None:
            return None
        name = key[1]
        if name in ("BytesIO", "bytes", "bytearray", "encode"):
            return data
        if name == "urlsafe_b64decode":
            return base64.urlsafe_b64decode(data)
        if "b64" in name or name in ("decodebytes", "a2b_base64"):
            return binascii.a2b_base64(data)
        if key[0] == "zlib":
            d = zlib.decompressobj()
            return d.decompress(data, _MAX_INNER)
        if key[0] == "gzip":
            d = zlib.decompressobj(zlib.MAX_WBITS | 16)
            return d.decompress(data, _MAX_INNER)
        if key[0] == "bz2":
            return bz2.BZ2Decompressor().decompress(data, _MAX_INNER)
        if key[0] == "lzma":
            return lzma.LZMADecompressor().decompress(data, _MAX_INNER)
    except (ValueError, binascii.Error, zlib.error, OSError, EOFError, lzma.LZMAError):
        return None
    del gzip
    return None


# --------------------------------------------------------------------------- machine
class Machine:
    """Symbolically runs pickles from a :class:`Reader`; collects events, never raises on bad input.

    ``run_one()`` interprets one pickle up to and including STOP and returns its top value;
    decoding errors become a fatal :class:`Anomaly` (``Broken`` is raised to the caller).
    """

    def __init__(self, reader: Reader, max_ops: int, *, strict: bool = False) -> None:
        self.reader = reader
        self.max_ops = max_ops
        self.ops = 0
        self.strict = strict
        self.protocol = 0
        self.imports: list[Global] = []
        self.calls: list[CallEvent] = []
        self.anomalies: list[Anomaly] = []
        self.nested: list[NestedEvent] = []
        self.persistent: list[Persistent] = []
        self.extensions: dict[int, tuple[str, str]] = {}
        self.joblib_arrays = 0
        self._nesting = 0
        reader.on_frame_divergence = self._frame_divergence
        self._reset()
        self._dispatch: dict[int, Callable[[int, object], None]] = {}
        for code, name in _NAMES.items():
            handler = getattr(self, "_op_" + name.lower(), None)
            if handler is not None:
                self._dispatch[code] = handler

    def _reset(self) -> None:
        self.stack: list[object] = []
        self.metastack: list[list[object]] = []
        self.memo: dict[int, object] = {}
        self._stopped = False

    # -- events ------------------------------------------------------------------------
    def anomaly(self, kind: str, offset: int, message: str) -> None:
        # strict (sniffing) mode rejects only what CPython itself would refuse; tricks that
        # CPython runs must not turn a pickle into "text" and so hide it from analysis
        if self.strict and kind in _CPYTHON_REFUSES:
            raise Broken(kind, message, offset)
        self.anomalies.append(Anomaly(kind, offset, message))

    def _frame_divergence(self, offset: int, excess: int) -> None:
        self.anomaly(
            "frame-divergence", offset,
            f"argument at offset {offset} runs {excess} bytes past the end of its FRAME",
        )

    # -- stack primitives ---------------------------------------------------------------
    def pop(self, offset: int) -> object:
        if not self.stack:
            raise Broken("stack", "stack underflow (pop from an empty stack)", offset)
        return self.stack.pop()

    def top(self, offset: int) -> object:
        if not self.stack:
            raise Broken("stack", "stack underflow (empty stack)", offset)
        return self.stack[-1]

    def pop_mark(self, offset: int) -> list[object]:
        if not self.metastack:
            raise Broken("stack", "MARK expected but none is open", offset)
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    # -- main loop -----------------------------------------------------------------------
    def run_one(self) -> object:
        """Interpret one pickle; return its top-level symbolic value."""
        self._reset()
        reader = self.reader
        dispatch = self._dispatch
        arg_kind = _ARG_KIND
        argument = self._arg
        ops = self.ops
        limit = self.max_ops
        try:
            while not self._stopped:
                pos = reader._pos  # the opcode fetch is inlined: this loop is the hot path
                buf = reader._buf
                if pos >= len(buf):
                    reader._fill(1)
                    pos = reader._pos
                    buf = reader._buf
                    if pos >= len(buf):
                        raise Broken("truncated", "stream ends without STOP", reader.tell())
                offset = reader._base + pos
                end = reader.frame_end
                if end is not None and offset >= end:
                    reader.frame_end = None
                code = buf[pos]
                reader._pos = pos + 1
                handler = dispatch.get(code)
                if handler is None:
                    raise Broken("invalid-opcode", f"invalid opcode 0x{code:02x}", offset)
                ops += 1
                if ops > limit:
                    raise LimitExceeded(f"more than {limit} pickle opcodes", limit="max_pickle_ops", offset=offset)
                kind = arg_kind[code]
                handler(offset, None if kind is None else argument(code, kind, offset))
        finally:
            self.ops = ops
        return self.stack[-1] if self.stack else None

    def _arg(self, code: int, kind: int | None, offset: int) -> object:
        r = self.reader
        if kind is None:
            return None
        if kind > 0:
            return r.read(kind)
        if kind == -1:
            if code in (0x63, 0x69):  # GLOBAL, INST: two lines
                return (r.readline(), r.readline())
            return r.readline_or_blob(code in (0x53, 0x56))  # STRING, UNICODE may be long
        if kind == -2:
            n = r.read(1)[0]
        elif kind == -3:
            n = struct.unpack("<i", r.read(4))[0]
        elif kind == -4:
            n = struct.unpack("<I", r.read(4))[0]
        else:
            n = struct.unpack("<Q", r.read(8))[0]
        if n < 0:
            raise Broken("bad-argument", f"negative length {n}", offset)
        return r.blob(n, text=code in (0x8C, 0x58, 0x8D))

    # -- constants -------------------------------------------------------------------
    def _op_proto(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        self.protocol = arg[0]
        if arg[0] > 5:
            self.anomaly("bad-argument", offset, f"unsupported protocol {arg[0]}")

    def _op_frame(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        n = struct.unpack("<Q", arg)[0]
        r = self.reader
        if r.frame_end is not None:
            self.anomaly("frame-divergence", offset, "FRAME opcode inside an unfinished frame")
        r.frame_end = r.tell() + n

    def _op_stop(self, offset: int, arg: object) -> None:
        self._stopped = True
        self.reader.frame_end = None

    def _op_none(self, offset: int, arg: object) -> None:
        self.stack.append(None)

    def _op_newtrue(self, offset: int, arg: object) -> None:
        self.stack.append(True)

    def _op_newfalse(self, offset: int, arg: object) -> None:
        self.stack.append(False)

    def _op_int(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        if arg in (b"00", b"01"):
            self.stack.append(arg == b"01")
            return
        self.stack.append(self._parse_int(arg.rstrip(b"L"), offset))

    _op_long = _op_int

    def _parse_int(self, text: bytes, offset: int) -> int:
        if len(text) > 4300 or not text.strip():
            raise Broken("bad-argument", "bad integer literal", offset)
        try:
            return int(text, 0) if text.strip().lstrip(b"+-").startswith(b"0x") else int(text)
        except ValueError:
            raise Broken("bad-argument", f"bad integer literal {text[:40]!r}", offset) from None

    def _op_binint(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        self.stack.append(struct.unpack("<i", arg)[0])

    def _op_binint1(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        self.stack.append(arg[0])

    def _op_binint2(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        self.stack.append(struct.unpack("<H", arg)[0])

    def _op_long1(self, offset: int, arg: object) -> None:
        self.stack.append(int.from_bytes(arg, "little", signed=True) if isinstance(arg, bytes) else Unknown("long"))

    _op_long4 = _op_long1

    def _op_float(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        try:
            self.stack.append(float(arg))
        except ValueError:
            raise Broken("bad-argument", f"bad float literal {arg[:40]!r}", offset) from None

    def _op_binfloat(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        self.stack.append(struct.unpack(">d", arg)[0])

    # -- strings ---------------------------------------------------------------------
    def _op_string(self, offset: int, arg: object) -> None:
        if isinstance(arg, Blob):
            self.stack.append(arg)
            return
        assert isinstance(arg, bytes)
        if len(arg) >= 2 and arg[0] == arg[-1] and arg[:1] in (b"'", b'"'):
            body = arg[1:-1]
        else:
            raise Broken("bad-argument", "STRING argument is not quoted", offset)
        try:
            self.stack.append(codecs.escape_decode(body)[0].decode("latin-1"))  # type: ignore[attr-defined]
        except ValueError:
            raise Broken("bad-argument", "bad escape in STRING", offset) from None

    def _text(self, arg: object, offset: int, encoding: str) -> None:
        if isinstance(arg, Blob):
            self.stack.append(arg)
            return
        assert isinstance(arg, bytes)
        try:
            self.stack.append(arg.decode(encoding, "surrogatepass") if encoding == "utf-8" else arg.decode(encoding))
        except UnicodeDecodeError:
            raise Broken("bad-argument", "undecodable unicode argument", offset) from None

    def _op_binstring(self, offset: int, arg: object) -> None:
        self._text(arg, offset, "latin-1")

    _op_short_binstring = _op_binstring

    def _op_unicode(self, offset: int, arg: object) -> None:
        self._text(arg, offset, "raw-unicode-escape")

    def _op_binunicode(self, offset: int, arg: object) -> None:
        self._text(arg, offset, "utf-8")

    _op_short_binunicode = _op_binunicode
    _op_binunicode8 = _op_binunicode

    def _op_binbytes(self, offset: int, arg: object) -> None:
        self.stack.append(arg)

    _op_short_binbytes = _op_binbytes
    _op_binbytes8 = _op_binbytes
    _op_bytearray8 = _op_binbytes

    def _op_next_buffer(self, offset: int, arg: object) -> None:
        self.stack.append(Unknown("out-of-band buffer"))

    def _op_readonly_buffer(self, offset: int, arg: object) -> None:
        self.top(offset)

    # -- containers ------------------------------------------------------------------
    def _op_empty_list(self, offset: int, arg: object) -> None:
        self.stack.append([])

    def _op_empty_tuple(self, offset: int, arg: object) -> None:
        self.stack.append(())

    def _op_empty_dict(self, offset: int, arg: object) -> None:
        self.stack.append(PDict())

    def _op_empty_set(self, offset: int, arg: object) -> None:
        self.stack.append(PSet())

    def _op_mark(self, offset: int, arg: object) -> None:
        self.metastack.append(self.stack)
        self.stack = []

    def _op_list(self, offset: int, arg: object) -> None:
        items = self.pop_mark(offset)  # pop_mark rebinds self.stack: evaluate it first
        self.stack.append(items)

    def _op_tuple(self, offset: int, arg: object) -> None:
        items = tuple(self.pop_mark(offset))
        self.stack.append(items)

    def _op_tuple1(self, offset: int, arg: object) -> None:
        self.stack.append((self.pop(offset),))

    def _op_tuple2(self, offset: int, arg: object) -> None:
        b = self.pop(offset)
        self.stack.append((self.pop(offset), b))

    def _op_tuple3(self, offset: int, arg: object) -> None:
        c = self.pop(offset)
        b = self.pop(offset)
        self.stack.append((self.pop(offset), b, c))

    def _op_frozenset(self, offset: int, arg: object) -> None:
        items = self.pop_mark(offset)
        self.stack.append(PSet(items, frozen=True))

    def _op_dict(self, offset: int, arg: object) -> None:
        items = self.pop_mark(offset)
        self.stack.append(PDict(list(zip(items[::2], items[1::2], strict=False))))

    def _op_append(self, offset: int, arg: object) -> None:
        value = self.pop(offset)
        self._extend(self.top(offset), [value], offset)

    def _op_appends(self, offset: int, arg: object) -> None:
        items = self.pop_mark(offset)
        self._extend(self.top(offset), items, offset)

    def _extend(self, target: object, items: list[object], offset: int) -> None:
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, Call):
            target.appended.extend(items)  # list subclass: extend/append is a method call
        elif isinstance(target, PSet):
            target.items.extend(items)
        else:
            self.anomaly("stack", offset, f"APPEND to a non-list {describe(target)}")

    def _op_additems(self, offset: int, arg: object) -> None:
        items = self.pop_mark(offset)
        self._extend(self.top(offset), items, offset)

    def _op_setitem(self, offset: int, arg: object) -> None:
        value = self.pop(offset)
        key = self.pop(offset)
        self._setitems(self.top(offset), [(key, value)], offset)

    def _op_setitems(self, offset: int, arg: object) -> None:
        items = self.pop_mark(offset)
        self._setitems(self.top(offset), list(zip(items[::2], items[1::2], strict=False)), offset)

    def _setitems(self, target: object, pairs: list[tuple[object, object]], offset: int) -> None:
        if isinstance(target, PDict):
            target.items.extend(pairs)
        elif isinstance(target, Call):
            target.items.extend(pairs)  # __setitem__ of the object's class is called
        else:
            self.anomaly("stack", offset, f"SETITEM on a non-dict {describe(target)}")

    # -- stack/memo ------------------------------------------------------------------
    def _op_pop(self, offset: int, arg: object) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark(offset)  # CPython: POP with an empty stack pops a MARK

    def _op_pop_mark(self, offset: int, arg: object) -> None:
        self.pop_mark(offset)

    def _op_dup(self, offset: int, arg: object) -> None:
        self.stack.append(self.top(offset))

    def _op_put(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        self._store(self._parse_int(arg, offset), offset)

    def _op_binput(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        self._store(int.from_bytes(arg, "little"), offset)

    _op_long_binput = _op_binput

    def _op_memoize(self, offset: int, arg: object) -> None:
        self._store(len(self.memo), offset)

    def _store(self, idx: int, offset: int) -> None:
        value = self.top(offset)
        if idx in self.memo:
            if self.memo[idx] is not value:
                self.anomaly("memo-overwrite", offset, f"memo slot {idx} overwritten with a different value")
        elif idx != len(self.memo):
            self.anomaly("memo-key", offset, f"memo key {idx} while the memo holds {len(self.memo)} entries")
        self.memo[idx] = value

    def _op_get(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        self._fetch(self._parse_int(arg, offset), offset)

    def _op_binget(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        value = self.memo.get(arg[0], _MISSING)
        if value is _MISSING:
            self._fetch(arg[0], offset)
        else:
            self.stack.append(value)

    def _op_long_binget(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        self._fetch(int.from_bytes(arg, "little"), offset)

    def _fetch(self, idx: int, offset: int) -> None:
        if idx not in self.memo:
            self.anomaly("memo-missing", offset, f"GET of memo key {idx} that was never stored")
            self.stack.append(Unknown(f"memo {idx}"))
            return
        self.stack.append(self.memo[idx])

    # -- globals -----------------------------------------------------------------------
    def _global(self, module: str, name: str, offset: int, how: str) -> Global:
        module, name = _unmap(module, name)
        ref = Global(module, name, offset, how)
        self.imports.append(ref)
        return ref

    def _names(self, arg: object, offset: int) -> tuple[str, str]:
        assert isinstance(arg, tuple)
        try:
            module, name = (part.decode("utf-8") for part in arg)
        except UnicodeDecodeError:
            raise Broken("bad-argument", "undecodable global name", offset) from None
        if self.strict and not all(p.replace(".", "").replace("_", "").isalnum() for p in (module, name)):
            raise Broken("bad-argument", "not an identifier", offset)
        return module, name

    def _op_global(self, offset: int, arg: object) -> None:
        module, name = self._names(arg, offset)
        self.stack.append(self._global(module, name, offset, "GLOBAL"))

    def _op_stack_global(self, offset: int, arg: object) -> None:
        name = self.pop(offset)
        module = self.pop(offset)
        if isinstance(module, str) and isinstance(name, str):
            self.stack.append(self._global(module, name, offset, "STACK_GLOBAL"))
            return
        if isinstance(module, (int, float, bool, bytes, type(None), tuple, list, PDict, PSet)) or isinstance(
            name, (int, float, bool, bytes, type(None), tuple, list, PDict, PSet)
        ):
            raise Broken("bad-argument", "STACK_GLOBAL operands are not strings", offset)
        self.anomaly(
            "dynamic-global", offset,
            f"STACK_GLOBAL with operands computed at load time ({describe(module)}, {describe(name)})",
        )
        ref = Global(as_text(module) or "?", as_text(name) or "?", offset, "dynamic")
        self.imports.append(ref)
        self.stack.append(ref)

    def _op_ext1(self, offset: int, arg: object) -> None:
        assert isinstance(arg, bytes)
        code = int.from_bytes(arg, "little", signed=len(arg) == 4)
        found = self.extensions.get(code)
        if found is None:
            self.anomaly("unknown-extension", offset, f"EXT code {code} was never registered with copyreg.add_extension")
            ref = Global("?", f"<extension {code}>", offset, "EXT")
            self.imports.append(ref)
            self.stack.append(ref)
            return
        self.stack.append(self._global(found[0], found[1], offset, "EXT"))

    _op_ext2 = _op_ext1
    _op_ext4 = _op_ext1

    def _op_persid(self, offset: int, arg: object) -> None:
        pid: object = arg.decode("latin-1") if isinstance(arg, bytes) else arg
        value = Persistent(pid, offset)
        self.persistent.append(value)
        self.stack.append(value)

    def _op_binpersid(self, offset: int, arg: object) -> None:
        value = Persistent(self.pop(offset), offset)
        self.persistent.append(value)
        self.stack.append(value)

    # -- calls -------------------------------------------------------------------------
    def _op_reduce(self, offset: int, arg: object) -> None:
        args = self.pop(offset)
        func = self.pop(offset)
        self.stack.append(self.call(func, args, None, offset, "REDUCE"))

    def _op_newobj(self, offset: int, arg: object) -> None:
        args = self.pop(offset)
        cls = self.pop(offset)
        self.stack.append(self.call(cls, args, None, offset, "NEWOBJ"))

    def _op_newobj_ex(self, offset: int, arg: object) -> None:
        kwargs = self.pop(offset)
        args = self.pop(offset)
        cls = self.pop(offset)
        self.stack.append(self.call(cls, args, kwargs, offset, "NEWOBJ_EX"))

    def _op_obj(self, offset: int, arg: object) -> None:
        items = self.pop_mark(offset)
        if not items:
            raise Broken("stack", "OBJ without a class", offset)
        self.stack.append(self.call(items[0], tuple(items[1:]), None, offset, "OBJ"))

    def _op_inst(self, offset: int, arg: object) -> None:
        module, name = self._names(arg, offset)
        cls = self._global(module, name, offset, "INST")
        args = tuple(self.pop_mark(offset))
        self.stack.append(self.call(cls, args, None, offset, "INST"))

    def call(self, func: object, args: object, kwargs: object, offset: int, opcode: str) -> Call:
        """Record what calling ``func(*args)`` does and return the symbolic result."""
        argv: tuple[object, ...] = args if isinstance(args, tuple) else ()
        if isinstance(args, list):
            argv = tuple(args)
        target = resolve(func)
        result = Call(func, argv, kwargs, offset, opcode, target)
        if (target is None and isinstance(func, Call) and func.target is not None
                and self._call_object(func, argv, offset, opcode, result)):
            return result
        self.calls.append(CallEvent(target, offset, opcode, "", describe(func)))
        if target is not None:
            self._call_semantics(_key(target), argv, offset, opcode, result)
        return result

    def _call_object(self, func: Call, argv: tuple[object, ...], offset: int, opcode: str, result: Call) -> bool:
        """Calling an object made earlier (attrgetter / methodcaller / partial result)."""
        key = _key(func.target)
        if key in ATTRGETTER and func.args and argv:
            result.resolved = self._resolved(attribute(argv[0], func.args[0], offset))
            return True
        if key in METHODCALLER and func.args and argv:
            method = self._resolved(attribute(argv[0], func.args[0], offset))
            self.calls.append(CallEvent(method, offset, opcode, "operator.methodcaller", describe(func)))
            return True
        index = CALL_THROUGH.get(key) if key is not None else None
        if index is not None and len(func.args) > index:
            inner = resolve(func.args[index])
            self.calls.append(CallEvent(inner, offset, opcode, func.target.qualname if func.target else "", describe(func)))
            if inner is not None:
                self._call_semantics(_key(inner), tuple(func.args[index + 1 :]) + argv, offset, opcode, result)
            return True
        return False

    def _resolved(self, ref: Global | None) -> Global | None:
        if ref is not None:
            self.imports.append(ref)
        return ref

    def _call_semantics(
        self, key: tuple[str, str] | None, argv: tuple[object, ...], offset: int, opcode: str, result: Call
    ) -> None:
        """What well-known callables do with their arguments, statically."""
        if key in GETATTR and len(argv) >= 2:
            result.resolved = self._resolved(attribute(argv[0], argv[1], offset))
        elif key in IMPORTERS and argv and as_text(argv[0]):
            result.resolved = self._resolved(Global(str(as_text(argv[0])), "", offset, "import"))
        elif key in NAME_RESOLVERS and argv and as_text(argv[0]):
            result.resolved = self._resolved(_parse_resolver_name(str(as_text(argv[0])), offset))
        elif key is not None and key in CALL_THROUGH and len(argv) > CALL_THROUGH[key]:
            called = argv[CALL_THROUGH[key]]
            self.calls.append(CallEvent(resolve(called), offset, opcode, ".".join(key or ()), describe(called)))
        elif key in SIZED_ALLOCATORS and argv and isinstance(argv[0], int) and argv[0] > MAX_ALLOCATION:
            self.anomaly("huge-allocation", offset, f"{'.'.join(key or ())}({argv[0]}) allocates {argv[0]} bytes on load")
        elif key in ADD_EXTENSION and len(argv) >= 3:
            mod, name, code = as_text(argv[0]), as_text(argv[1]), argv[2]
            if mod is not None and name is not None and isinstance(code, int):
                self.extensions[code] = (mod, name)
        if key in PICKLE_LOADERS or key in CODE_LOADERS:
            self._nested(key, argv, offset)

    def _nested(self, key: tuple[str, str] | None, argv: tuple[object, ...], offset: int) -> None:
        assert key is not None
        loader = Global(key[0], key[1], offset, "loader")
        data = static_bytes(argv[0], lambda b: self.reader.fetch(b, _MAX_INNER)) if argv else None
        how = "pickle" if key in PICKLE_LOADERS else "code"
        if isinstance(data, Blob):
            self.nested.append(NestedEvent(loader, offset, None, data, how))
        else:
            self.nested.append(NestedEvent(loader, offset, data, None, how))

    # -- BUILD -------------------------------------------------------------------------
    def _op_build(self, offset: int, arg: object) -> None:
        state = self.pop(offset)
        inst = self.top(offset)
        if isinstance(inst, Global):
            self.anomaly("global-state", offset, f"BUILD sets state on the global {inst.qualname} itself")
            return
        if not isinstance(inst, Call):
            return
        swapped = _state_key(state, "__class__")
        if swapped is not None:
            # BUILD's slot state is applied with setattr: the instance becomes another class,
            # whose methods (__del__, __getattr__ ...) run when the victim uses or drops it
            self.anomaly("class-swap", offset, f"BUILD sets __class__ of the object to {describe(swapped)}")
        setstate = _state_setstate(inst.state)
        if setstate is not None:
            target = resolve(setstate)
            self.anomaly("setstate-gadget", offset, f"BUILD calls an injected __setstate__ ({describe(setstate)})")
            self.calls.append(CallEvent(target, offset, "BUILD", "injected __setstate__", describe(setstate)))
        inst.state = state
        if _key(inst.target) in JOBLIB_WRAPPERS:
            self._joblib_array(inst, offset)

    def _joblib_array(self, inst: Call, offset: int) -> None:
        """Skip the array bytes joblib writes inline right after a NumpyArrayWrapper's BUILD."""
        state = inst.state if isinstance(inst.state, PDict) else PDict()
        shape = state.get("shape")
        dtype = state.get("dtype")
        self.joblib_arrays += 1
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise Broken("bad-argument", "joblib NumpyArrayWrapper without a valid shape", offset)
        itemsize = _dtype_itemsize(dtype)
        r = self.reader
        if itemsize is None:  # object dtype: the array is pickled inline (protocol 2)
            self._nesting += 1
            if self._nesting > 8:
                raise Broken("bad-argument", "joblib object arrays nested too deeply", offset)
            saved = (self.stack, self.metastack, self.memo, self._stopped)
            try:
                self.run_one()
            finally:
                self.stack, self.metastack, self.memo, self._stopped = saved
                self._nesting -= 1
            return
        if state.get("numpy_array_alignment_bytes") is not None:
            pad = r.read(1)[0]  # joblib >= 1.2: one length byte, then 0xff padding
            r.read(pad)
        count = 1
        for n in shape:
            count *= n
        size = count * itemsize
        if r.skip(size) < size:
            raise Broken("truncated", f"joblib array data ({size} bytes) is truncated", offset)


def _state_setstate(state: object) -> object | None:
    """The ``__setstate__`` an earlier BUILD put into an instance's __dict__ or slots."""
    return _state_key(state, "__setstate__")


def _state_key(state: object, key: str) -> object | None:
    """``key`` in a BUILD state (a dict, or a ``(dict, slotstate)`` tuple)."""
    for part in (state, *(state if isinstance(state, tuple) else ())):
        if isinstance(part, PDict):
            value = part.get(key)
            if value is not None:
                return value
    return None


def _parse_resolver_name(text: str, offset: int) -> Global:
    if ":" in text:
        module, _, name = text.partition(":")
    else:
        module, _, name = text.rpartition(".")
        if not module:
            module, name = name, ""
    return Global(module, name, offset, "resolve_name")


#: dtype names numpy.dtype() accepts besides type codes (a hostile joblib spells them out).
_DTYPE_NAMES = {"object": "O", "object_": "O", "bool": "?", "int8": "i1", "uint8": "u1", "int16": "i2",
                "uint16": "u2", "int32": "i4", "uint32": "u4", "int64": "i8", "uint64": "u8", "float16": "f2",
                "float32": "f4", "float64": "f8", "float": "f8", "int": "i8", "complex64": "c8", "complex128": "c16"}
_DTYPE_SIZES = {"b": 1, "i": 0, "u": 0, "f": 0, "c": 0, "S": 0, "a": 0, "U": 0, "V": 0, "M": 0, "m": 0, "?": 1}


def _dtype_itemsize(dtype: object) -> int | None:
    """Item size of a pickled ``numpy.dtype(...)``; None for object dtypes (pickled inline)."""
    if not isinstance(dtype, Call) or not dtype.args:
        raise Broken("bad-argument", "joblib NumpyArrayWrapper without a dtype", dtype.offset if isinstance(dtype, Call) else -1)
    spec = as_text(dtype.args[0]) or ""
    state = dtype.state
    if isinstance(state, tuple) and len(state) >= 6 and isinstance(state[5], int) and state[5] > 0:
        if spec.startswith("O"):
            return None
        return state[5]
    spec = _DTYPE_NAMES.get(spec.lstrip("<>|=!"), spec.lstrip("<>|=!"))
    kind = spec[:1]
    digits = spec[1:]
    if kind == "O" or kind not in _DTYPE_SIZES:
        # fail closed: numpy.dtype() takes many spellings ('object', 'object_'); one this
        # table does not know may be an object dtype, whose array joblib unpickles inline
        return None
    if not digits:
        return _DTYPE_SIZES[kind] or 1
    if not digits.isdigit() or len(digits) > 6:
        raise Broken("bad-argument", f"unsupported joblib dtype {spec!r}", dtype.offset)
    n = int(digits)
    return n * 4 if kind == "U" else n


def sniff_protocol01(head: bytes, opener: Callable[[], BinaryIO] | None = None) -> bool:
    """Whether a header-less ``head`` is structurally a protocol 0/1 pickle.

    Runs the machine in strict mode: an invalid opcode, a stack error, a bad argument, a
    missing memo key or a non-identifier global name rejects (CPython refuses those too).  A complete head must reach STOP; a cut head needs several valid opcodes.
    Plain text, JSON, CSV and source code fail within a few bytes.
    """
    if not head or head[0] not in _PROTO01_FIRST:
        return False
    machine = Machine(Reader(io.BytesIO(head)), max_ops=4096, strict=True)
    try:
        machine.run_one()
    except Broken as exc:
        if exc.kind != "truncated" or len(head) < 4096:
            return False
        if machine.ops >= 8:
            return True
        # a long first argument (a decoy string of 100 kB) runs past the head: decide on
        # the stream, which skips big arguments by seeking
        return opener is not None and _sniff_stream(opener)
    except (LimitExceeded, ValueError, struct.error, AssertionError, OverflowError, OSError):
        return False
    return machine.ops >= 2


def _sniff_stream(opener: Callable[[], BinaryIO]) -> bool:
    """The strict sniff over the whole stream, for heads cut inside a long argument."""
    try:
        with opener() as stream:
            machine = Machine(Reader(stream), max_ops=4096, strict=True)
            try:
                machine.run_one()
            except Broken as exc:
                return exc.kind == "truncated" and machine.ops >= 8
            except LimitExceeded:
                return True  # 4096 valid opcodes: structurally a pickle
    except (ValueError, struct.error, AssertionError, OverflowError, OSError, MalformedInput):
        return False
    return machine.ops >= 2
