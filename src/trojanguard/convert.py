"""Safe conversion of PyTorch checkpoints and ``.npz`` archives to safetensors.

Why: the only safe way to use a pickled checkpoint is never to unpickle it.  This module
reads the pickle with a tiny interpreter of its own that understands *only* the
tensor-rebuild vocabulary (storages via persistent IDs, ``_rebuild_tensor_v2``,
``_rebuild_parameter``, ``OrderedDict``, nested containers, primitive metadata) and
refuses everything else with an error naming the global.  No import, no call, no
``torch.load`` (not even ``weights_only=True``: CVE-2025-32434, CVE-2026-24747).

Tensor bytes are read straight from the zip member ``<prefix>/data/<key>`` (or from the
legacy file after the pickles, or from the ``storages`` member of a torch < 0.4 tar),
views are materialised (safetensors forbids overlapping tensors), and the written file is verified tensor-for-tensor against the source storages
by an independent gather over element indices.  Works without torch; needs numpy.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from .analyzers.containers import pax_records, tar_number, tar_text
from .artifact import Limits
from .errors import Error, InputError, LimitExceeded, MalformedInput

__all__ = [
    "ConversionRefused",
    "ConversionResult",
    "StorageRef",
    "TensorRef",
    "convert",
    "read_checkpoint",
    "read_safetensors_header",
]

#: torch storage class name -> (safetensors dtype, item size, numpy dtype of the raw units)
STORAGE_TYPES: dict[str, tuple[str, int, str]] = {
    "FloatStorage": ("F32", 4, "<f4"),
    "DoubleStorage": ("F64", 8, "<f8"),
    "HalfStorage": ("F16", 2, "<f2"),
    "BFloat16Storage": ("BF16", 2, "<u2"),
    "LongStorage": ("I64", 8, "<i8"),
    "IntStorage": ("I32", 4, "<i4"),
    "ShortStorage": ("I16", 2, "<i2"),
    "CharStorage": ("I8", 1, "i1"),
    "ByteStorage": ("U8", 1, "u1"),
    "BoolStorage": ("BOOL", 1, "u1"),
}
#: numpy dtype kind+size -> safetensors dtype (for .npz input)
NUMPY_TYPES: dict[str, str] = {
    "f2": "F16", "f4": "F32", "f8": "F64",
    "i1": "I8", "i2": "I16", "i4": "I32", "i8": "I64",
    "u1": "U8", "u2": "U16", "u4": "U32", "u8": "U64",
    "b1": "BOOL",
}  # fmt: skip
_REBUILD_TENSOR = {("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")}
_REBUILD_PARAM = {("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state")}
_ORDERED_DICT = ("collections", "OrderedDict")
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class ConversionRefused(Error):
    """The input uses something outside the tensor-rebuild vocabulary; nothing was executed."""


@dataclass(frozen=True)
class _Global:
    module: str
    name: str

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class StorageRef:
    """A typed storage: its key in the checkpoint, dtype, item size and element count."""

    key: str
    dtype: str
    itemsize: int
    numel: int
    raw_dtype: str


@dataclass(frozen=True)
class TensorRef:
    """A (possibly strided) view onto a storage, as ``_rebuild_tensor_v2`` describes it."""

    storage: StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def check_bounds(self) -> None:
        """Refuse views that reach outside their storage (a hostile checkpoint's read primitive)."""
        if len(self.shape) != len(self.stride):
            raise MalformedInput(f"tensor on storage {self.storage.key}: shape and stride differ in rank")
        if self.offset < 0 or any(s < 0 for s in self.shape) or any(s < 0 for s in self.stride):
            raise MalformedInput(f"tensor on storage {self.storage.key}: negative offset, size or stride")
        if self.numel == 0:
            return
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True))
        if last >= self.storage.numel:
            raise MalformedInput(
                f"tensor on storage {self.storage.key} reaches element {last} of {self.storage.numel}"
            )


# --------------------------------------------------------------------------- restricted pickle reader


class _Mark:
    pass


_MARK = _Mark()
PersistentLoad = Callable[[Any], Any]


class _Reader:
    """Interpret the subset of pickle opcodes that ``torch.save`` emits, building inert values.

    Globals are data (``_Global``), never imported; REDUCE is only understood for the
    rebuild functions and ``OrderedDict``.  Everything else raises ConversionRefused.
    """

    def __init__(self, data: bytes, pos: int, persistent: PersistentLoad, max_ops: int) -> None:
        self.data, self.pos, self.persistent, self.max_ops = data, pos, persistent, max_ops
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise MalformedInput("pickle truncated", offset=self.pos)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def _line(self) -> bytes:
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise MalformedInput("pickle truncated (no newline)", offset=self.pos)
        chunk = self.data[self.pos : end]
        self.pos = end + 1
        return chunk

    def _pop_mark(self) -> list[Any]:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] is _MARK:
                items = self.stack[i + 1 :]
                del self.stack[i:]
                return items
        raise MalformedInput("pickle MARK missing", offset=self.pos)

    def _pop(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise MalformedInput("pickle stack underflow", offset=self.pos)
        return self.stack.pop()

    def run(self) -> Any:
        for _ in range(self.max_ops):
            op = self._take(1)[0]
            handler = _OPS.get(op)
            if handler is None:
                raise ConversionRefused(f"pickle opcode {bytes([op])!r} is outside the tensor vocabulary")
            if handler(self):
                return self._pop()
        raise LimitExceeded("pickle runs more opcodes than allowed", limit="max_pickle_ops")

    # -- semantic helpers ------------------------------------------------------------
    def global_(self, module: str, name: str) -> None:
        pair = (module, name)
        allowed = pair in _REBUILD_TENSOR or pair in _REBUILD_PARAM or pair == _ORDERED_DICT
        if module == "torch" and name in STORAGE_TYPES:
            allowed = True
        if not allowed:
            raise ConversionRefused(f"refusing global {module}.{name}: not part of the tensor-rebuild vocabulary")
        self.stack.append(_Global(module, name))

    def reduce(self) -> None:
        args, func = self._pop(), self._pop()
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            raise ConversionRefused("REDUCE of something that is not an allowed global")
        self.stack.append(_rebuild(func, args))

    def build(self) -> None:
        state = self._pop()
        target = self.stack[-1] if self.stack else None
        if isinstance(target, (dict, TensorRef)) and isinstance(state, (dict, tuple, type(None))):
            return  # OrderedDict._metadata / parameter state: metadata, ignored
        raise ConversionRefused("BUILD on something other than a dict or tensor")


def _rebuild(func: _Global, args: tuple[Any, ...]) -> Any:
    pair = (func.module, func.name)
    if pair == _ORDERED_DICT:
        if not args:
            return {}
        items = args[0]
        if len(args) != 1 or not isinstance(items, list) or not all(isinstance(i, (tuple, list)) and len(i) == 2 for i in items):
            raise ConversionRefused("OrderedDict called with something other than a list of pairs")
        return _pairs({}, [x for pair in items for x in pair])
    if pair in _REBUILD_TENSOR:
        if len(args) < 4:
            raise MalformedInput(f"{func} with {len(args)} arguments")
        storage, offset, shape, stride = args[:4]
        if not (isinstance(storage, StorageRef) and isinstance(offset, int)):
            raise MalformedInput(f"{func}: first arguments are not a storage and an offset")
        if not (_int_tuple(shape) and _int_tuple(stride)):
            raise MalformedInput(f"{func}: size/stride are not integer tuples")
        tensor = TensorRef(storage, offset, tuple(shape), tuple(stride))
        tensor.check_bounds()
        return tensor
    if pair in _REBUILD_PARAM:
        if not args or not isinstance(args[0], TensorRef):
            raise MalformedInput(f"{func} without a tensor")
        return args[0]
    raise ConversionRefused(f"refusing call of {func}: not part of the tensor-rebuild vocabulary")


def _int_tuple(value: object) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _ops() -> dict[int, Callable[[_Reader], bool | None]]:
    """The opcode table: each handler mutates the reader; True means STOP."""
    u = struct.unpack
    t: dict[bytes, Callable[[_Reader], bool | None]] = {
        b"\x80": lambda r: _skip(r, 1),  # PROTO
        b"\x95": lambda r: _skip(r, 8),  # FRAME
        b".": lambda r: True,  # STOP
        b"(": lambda r: r.stack.append(_MARK),
        b"0": lambda r: r._pop() and None,
        b"2": lambda r: r.stack.append(r.stack[-1]) if r.stack else r._pop(),
        b"N": lambda r: r.stack.append(None),
        b"\x88": lambda r: r.stack.append(True),
        b"\x89": lambda r: r.stack.append(False),
        b"J": lambda r: r.stack.append(u("<i", r._take(4))[0]),
        b"K": lambda r: r.stack.append(r._take(1)[0]),
        b"M": lambda r: r.stack.append(u("<H", r._take(2))[0]),
        b"\x8a": lambda r: r.stack.append(int.from_bytes(r._take(r._take(1)[0]), "little", signed=True)),
        b"\x8b": lambda r: r.stack.append(_long4(r)),
        b"I": lambda r: r.stack.append(_int_line(r)),
        b"L": lambda r: r.stack.append(int(r._line().rstrip(b"L") or b"0")),
        b"G": lambda r: r.stack.append(u(">d", r._take(8))[0]),
        b"F": lambda r: r.stack.append(float(r._line())),
        b"X": lambda r: r.stack.append(_text(r, u("<I", r._take(4))[0])),
        b"\x8c": lambda r: r.stack.append(_text(r, r._take(1)[0])),
        b"\x8d": lambda r: r.stack.append(_text(r, u("<Q", r._take(8))[0])),
        b"V": lambda r: r.stack.append(r._line().decode("raw_unicode_escape")),
        b"C": lambda r: r.stack.append(r._take(r._take(1)[0])),
        b"B": lambda r: r.stack.append(r._take(u("<I", r._take(4))[0])),
        b"U": lambda r: r.stack.append(r._take(r._take(1)[0]).decode("latin-1")),
        b"T": lambda r: r.stack.append(r._take(u("<I", r._take(4))[0]).decode("latin-1")),
        b"}": lambda r: r.stack.append({}),
        b"]": lambda r: r.stack.append([]),
        b")": lambda r: r.stack.append(()),
        b"t": lambda r: r.stack.append(tuple(r._pop_mark())),
        b"\x85": lambda r: r.stack.append((r._pop(),)),
        b"\x86": lambda r: _tuple_n(r, 2),
        b"\x87": lambda r: _tuple_n(r, 3),
        b"l": lambda r: r.stack.append(r._pop_mark()),
        b"d": lambda r: r.stack.append(_pairs({}, r._pop_mark())),
        b"a": lambda r: _append(r, [r._pop()]),
        b"e": lambda r: _append(r, r._pop_mark()),
        b"s": lambda r: _setitems(r, [r._pop(), r._pop()][::-1]),
        b"u": lambda r: _setitems(r, r._pop_mark()),
        b"q": lambda r: _put(r, r._take(1)[0]),
        b"r": lambda r: _put(r, u("<I", r._take(4))[0]),
        b"p": lambda r: _put(r, int(r._line())),
        b"\x94": lambda r: _put(r, len(r.memo)),
        b"h": lambda r: _get(r, r._take(1)[0]),
        b"j": lambda r: _get(r, u("<I", r._take(4))[0]),
        b"g": lambda r: _get(r, int(r._line())),
        b"c": lambda r: r.global_(r._line().decode("utf-8"), r._line().decode("utf-8")),
        b"\x93": lambda r: _stack_global(r),
        b"R": lambda r: r.reduce(),
        b"b": lambda r: r.build(),
        b"Q": lambda r: r.stack.append(r.persistent(r._pop())),
        b"P": lambda r: r.stack.append(r.persistent(r._line().decode("ascii"))),
    }
    return {k[0]: v for k, v in t.items()}


def _skip(r: _Reader, n: int) -> None:
    r._take(n)


def _long4(r: _Reader) -> int:
    n = struct.unpack("<i", r._take(4))[0]
    if n > 4096:
        raise MalformedInput("LONG4 integer longer than 4096 bytes", offset=r.pos)
    return int.from_bytes(r._take(n), "little", signed=True)


def _int_line(r: _Reader) -> int | bool:
    line = r._line()
    if line in (b"00", b"01"):
        return line == b"01"
    return int(line)


def _text(r: _Reader, n: int) -> str:
    try:
        return r._take(n).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise MalformedInput("pickle string is not UTF-8", offset=r.pos) from exc


def _tuple_n(r: _Reader, n: int) -> None:
    items = [r._pop() for _ in range(n)][::-1]
    r.stack.append(tuple(items))


def _pairs(target: dict[Any, Any], items: list[Any]) -> dict[Any, Any]:
    if len(items) % 2:
        raise MalformedInput("odd number of dict items")
    for k, v in zip(items[::2], items[1::2], strict=True):
        if not isinstance(k, (str, int)):
            raise ConversionRefused(f"dict key of type {type(k).__name__} in checkpoint")
        target[k] = v
    return target


def _setitems(r: _Reader, items: list[Any]) -> None:
    target = r.stack[-1] if r.stack else None
    if not isinstance(target, dict):
        raise ConversionRefused("SETITEM(S) on something that is not a dict")
    _pairs(target, items)


def _append(r: _Reader, items: list[Any]) -> None:
    target = r.stack[-1] if r.stack else None
    if not isinstance(target, list):
        raise ConversionRefused("APPEND(S) on something that is not a list")
    target.extend(items)


def _put(r: _Reader, idx: int) -> None:
    if not r.stack:
        raise MalformedInput("memo PUT on an empty stack", offset=r.pos)
    r.memo[idx] = r.stack[-1]


def _get(r: _Reader, idx: int) -> None:
    if idx not in r.memo:
        raise MalformedInput(f"memo GET of unset index {idx}", offset=r.pos)
    r.stack.append(r.memo[idx])


def _stack_global(r: _Reader) -> None:
    name, module = r._pop(), r._pop()
    if not (isinstance(module, str) and isinstance(name, str)):
        raise ConversionRefused("STACK_GLOBAL with non-string operands")
    r.global_(module, name)


_OPS = _ops()


# --------------------------------------------------------------------------- checkpoint readers


@dataclass
class Checkpoint:
    """What a checkpoint holds: named tensors, primitive metadata and a storage reader."""

    tensors: dict[str, TensorRef]
    metadata: dict[str, str]
    read_storage: Callable[[StorageRef], bytes]
    aliases: dict[str, str] = field(default_factory=dict)
    close: Callable[[], None] = lambda: None


def _storage_from_pid(pid: Any, legacy: bool) -> StorageRef:
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
        raise ConversionRefused(f"unknown persistent id {str(pid)[:80]!r}")
    stype, key, numel = pid[1], pid[2], pid[4]
    if not isinstance(stype, _Global) or stype.name not in STORAGE_TYPES:
        raise ConversionRefused(f"storage type {stype} is not a known tensor storage")
    if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
        raise MalformedInput("storage persistent id has a bad key or size")
    if legacy and len(pid) > 5 and pid[5] is not None:
        raise ConversionRefused("legacy storage views are not supported")
    dtype, size, raw = STORAGE_TYPES[stype.name]
    return StorageRef(key, dtype, size, numel, raw)


def _flatten(value: Any, prefix: str, ck: Checkpoint, seen: dict[int, str]) -> None:
    if isinstance(value, TensorRef):
        name = prefix or "tensor"
        if id(value) in seen:
            ck.aliases[name] = seen[id(value)]
        else:
            seen[id(value)] = name
        ck.tensors[name] = value
    elif isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), ck, seen)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}.{i}" if prefix else str(i), ck, seen)
    elif value is None or isinstance(value, (str, int, float, bool)):
        if prefix:
            ck.metadata[prefix] = str(value)
    else:
        raise ConversionRefused(f"{prefix or 'top level'}: value of type {type(value).__name__} is not tensor data")


def _bounded_read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    if info.file_size > cap:
        raise LimitExceeded(f"member {info.filename} declares {info.file_size} bytes (limit {cap})", limit="max_member_size")
    with zf.open(info) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise LimitExceeded(f"member {info.filename} is larger than {cap} bytes", limit="max_member_size")
    return data


def _read_torch_zip(zf: zipfile.ZipFile, limits: Limits) -> Checkpoint:
    names = zf.namelist()
    if len(set(names)) != len(names):
        raise ConversionRefused("the archive lists a member name twice (readers disagree on which one is real)")
    pkls = [i for i in zf.infolist() if i.filename.endswith("/data.pkl") and i.filename.count("/") == 1]
    if len(pkls) != 1:
        raise MalformedInput("not a torch zip checkpoint: expected exactly one <prefix>/data.pkl")
    prefix = pkls[0].filename[: -len("data.pkl")]
    order = zf.NameToInfo.get(prefix + "byteorder")
    if order is not None and _bounded_read(zf, order, 16).strip() not in (b"little", b""):
        raise ConversionRefused("big-endian checkpoints are not supported")
    data = _bounded_read(zf, pkls[0], limits.max_in_memory)
    storages: dict[str, StorageRef] = {}

    def persistent(pid: Any) -> StorageRef:
        ref = _storage_from_pid(pid, legacy=False)
        return storages.setdefault(ref.key, ref)

    reader = _Reader(data, 0, persistent, limits.max_pickle_ops)
    root = reader.run()
    if reader.pos != len(data):
        raise ConversionRefused(f"{len(data) - reader.pos} bytes after STOP in data.pkl (a second pickle?)")
    cache: dict[str, bytes] = {}

    def read_storage(ref: StorageRef) -> bytes:
        if ref.key not in cache:
            info = zf.NameToInfo.get(f"{prefix}data/{ref.key}")
            if info is None:
                raise MalformedInput(f"storage {ref.key!r} is missing from the archive")
            blob = _bounded_read(zf, info, limits.max_member_size)
            if len(blob) < ref.numel * ref.itemsize:
                raise MalformedInput(f"storage {ref.key!r} has {len(blob)} bytes, needs {ref.numel * ref.itemsize}")
            cache[ref.key] = blob
        return cache[ref.key]

    ck = Checkpoint({}, {}, read_storage, close=zf.close)
    _flatten(root, "", ck, {})
    return ck


def _read_legacy(fh: IO[bytes], limits: Limits) -> Checkpoint:
    head = fh.read(limits.max_in_memory)
    storages: dict[str, StorageRef] = {}

    def no_pid(pid: Any) -> Any:
        raise ConversionRefused("persistent id outside the checkpoint body")

    def persistent(pid: Any) -> StorageRef:
        ref = _storage_from_pid(pid, legacy=True)
        return storages.setdefault(ref.key, ref)

    pos = 0
    values = []
    for pid_fn in (no_pid, no_pid, no_pid, persistent, no_pid):
        reader = _Reader(head, pos, pid_fn, limits.max_pickle_ops)
        values.append(reader.run())
        pos = reader.pos
    magic, _proto, _sysinfo, root, keys = values
    if magic != LEGACY_MAGIC:
        raise MalformedInput("not a legacy torch checkpoint (bad magic number)")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise MalformedInput("legacy checkpoint storage key list is malformed")
    offsets: dict[str, tuple[int, int]] = {}
    fh.seek(pos)
    for key in keys:
        ref = storages.get(key)
        if ref is None:
            raise MalformedInput(f"legacy storage {key!r} is not referenced")
        raw = fh.read(8)
        if len(raw) != 8:
            raise MalformedInput(f"legacy storage {key!r} truncated")
        numel = struct.unpack("<q", raw)[0]
        nbytes = numel * ref.itemsize
        if numel < 0 or numel < ref.numel or nbytes > limits.max_member_size:
            raise MalformedInput(f"legacy storage {key!r} has a bad size {numel}")
        offsets[key] = (fh.tell(), nbytes)
        fh.seek(nbytes, os.SEEK_CUR)

    def read_storage(ref: StorageRef) -> bytes:
        if ref.key not in offsets:
            raise MalformedInput(f"storage {ref.key!r} has no data")
        start, size = offsets[ref.key]
        fh.seek(start)
        blob = fh.read(size)
        if len(blob) != size:
            raise MalformedInput(f"legacy storage {ref.key!r} truncated")
        return blob

    ck = Checkpoint({}, {}, read_storage, close=fh.close)
    _flatten(root, "", ck, {})
    return ck


# --------------------------------------------------------------------------- legacy tar (torch < 0.4)
# ``torch.save`` before 0.4 wrote an uncompressed tar with four members: ``sys_info`` (a
# pickled dict), ``pickle`` (the object, tensors as persistent IDs naming tensor keys),
# ``storages`` (a pickled count, then per storage a ``(key, location, StorageType)`` pickle,
# an int64 element count and the raw bytes, then a pickled list of storage views
# ``(key, root_key, offset, numel)``) and ``tensors`` (a pickled count, then per tensor a
# ``(key, storage_key, TensorType)`` pickle, int32 ndim, 4 pad bytes, int64 sizes, strides and
# storage offset).  The tar headers are parsed here (not with ``tarfile``, which reads PAX
# headers of any declared size into memory) and only the exact four member names are accepted.

_TAR_MEMBERS = ("sys_info", "pickle", "storages", "tensors")
_TAR_MAX_HEADERS = 64
_TAR_MAX_META = 1 << 16
_RECORD_CAP = 1 << 16


@dataclass(frozen=True)
class _TarMember:
    name: str
    offset: int
    size: int


def _is_tar(fh: IO[bytes]) -> bool:
    """A ustar/PAX/GNU header block at the start (torch < 0.4 wrote PAX tars)."""
    fh.seek(0)
    block = fh.read(512)
    return len(block) == 512 and block[257:262] == b"ustar"


def _tar_header(block: bytes, pos: int) -> tuple[str, bytes, int]:
    """Name, type flag and size of the header block at ``pos`` (checksum verified)."""
    stored = tar_number(block[148:156])
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 8 * 32
    if stored not in (unsigned, signed):
        raise MalformedInput("tar header checksum does not match", offset=pos)
    name = tar_text(block[0:100])
    prefix = tar_text(block[345:500]) if block[257:263] == b"ustar\x00" else ""
    return (f"{prefix}/{name}" if prefix else name), block[156:157], tar_number(block[124:136])


def _tar_members(fh: IO[bytes], file_size: int) -> dict[str, _TarMember]:
    """The regular members of a legacy torch tar; anything unexpected is refused by name."""
    members: dict[str, _TarMember] = {}
    pending: dict[str, str] = {}
    pos = 0
    for _ in range(_TAR_MAX_HEADERS):
        fh.seek(pos)
        block = fh.read(512)
        if len(block) < 512:
            raise MalformedInput("tar archive truncated (no end-of-archive block)", offset=pos)
        if block == bytes(512):
            return members
        name, kind, size = _tar_header(block, pos)
        if kind in (b"x", b"L"):
            if size > _TAR_MAX_META or pos + 512 + size > file_size:
                raise LimitExceeded(f"tar extended header of {size} bytes", limit="max_in_memory", offset=pos)
            blob = fh.read(size)
            pending = {**pending, **pax_records(blob, strict=True)} if kind == b"x" else {**pending, "path": tar_text(blob)}
        else:
            name, size = pending.get("path", name), int(pending.get("size", size))
            pending = {}
            _add_tar_member(members, name, kind, pos + 512, size, file_size)
        pos += 512 + size + (-size % 512)
    raise LimitExceeded(f"tar archive has more than {_TAR_MAX_HEADERS} headers", limit="max_members")


def _add_tar_member(members: dict[str, _TarMember], name: str, kind: bytes, offset: int, size: int, file_size: int) -> None:
    if kind not in (b"0", b"\x00", b"7"):
        raise ConversionRefused(f"tar member {name!r} is not a regular file (type {kind!r}): links are not followed")
    if name not in _TAR_MEMBERS:
        raise ConversionRefused(f"unexpected tar member {name!r}: a legacy torch checkpoint holds only {', '.join(_TAR_MEMBERS)}")
    if name in members:
        raise ConversionRefused(f"tar member {name!r} appears twice (readers disagree on which one is real)")
    if size < 0 or offset + size > file_size:
        raise MalformedInput(f"tar member {name!r} declares {size} bytes, past the end of the file")
    members[name] = _TarMember(name, offset, size)


class _Window:
    """Sequential reads inside one tar member; never past its end."""

    def __init__(self, fh: IO[bytes], member: _TarMember) -> None:
        self.fh, self.member, self.pos = fh, member, 0

    @property
    def left(self) -> int:
        return self.member.size - self.pos

    def read(self, n: int) -> bytes:
        if n < 0 or n > self.left:
            raise MalformedInput(f"legacy tar member '{self.member.name}' ends inside a record", offset=self.pos)
        self.fh.seek(self.member.offset + self.pos)
        data = self.fh.read(n)
        if len(data) != n:
            raise MalformedInput(f"legacy tar member '{self.member.name}' truncated", offset=self.pos)
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> int:
        """Seek over ``n`` raw bytes and return their absolute file offset."""
        if n < 0 or n > self.left:
            raise MalformedInput(f"{what} in '{self.member.name}' claims {n} bytes, past the end of the member")
        start = self.member.offset + self.pos
        self.pos += n
        return start

    def pickle(self, cap: int, what: str) -> Any:
        """One record pickle at the current position, read with the record vocabulary.

        Records are tiny, so the window grows from 512 bytes only when the pickle runs on:
        reading a record never drags in much of the storage bytes behind it."""
        size = 512
        while True:
            start, chunk = self.pos, self.read(min(size, cap, self.left))
            reader = _RecordReader(chunk, 0, _no_persistent, len(chunk) + 1)
            try:
                value = reader.run()
            except MalformedInput as exc:
                self.pos = start
                if "truncated" not in str(exc) or len(chunk) >= min(cap, self.left):
                    raise MalformedInput(f"{what} pickle in '{self.member.name}': {exc}") from exc
                size *= 8
                continue
            self.pos = start + reader.pos
            return value


def _no_persistent(pid: Any) -> Any:
    raise ConversionRefused(f"persistent id {str(pid)[:80]!r} inside a legacy tar record")


class _RecordReader(_Reader):
    """The records of ``storages``/``tensors``/``sys_info``: plain tuples naming storage and
    tensor *types* as globals.  The types stay inert data; no REDUCE is allowed at all."""

    def global_(self, module: str, name: str) -> None:
        if _legacy_type(module, name) is None:
            raise ConversionRefused(f"refusing global {module}.{name} in a legacy tar record")
        self.stack.append(_Global(module, name))

    def reduce(self) -> None:
        raise ConversionRefused("REDUCE (a call) inside a legacy tar record")

    def build(self) -> None:
        raise ConversionRefused("BUILD inside a legacy tar record")


def _legacy_type(module: str, name: str) -> str | None:
    """The storage class name for ``torch[.cuda].XStorage`` / ``XTensor``, else None."""
    if module not in ("torch", "torch.cuda"):
        return None
    storage = name[: -len("Tensor")] + "Storage" if name.endswith("Tensor") else name
    return storage if storage in STORAGE_TYPES else None


LegacyKey = str | int
"""torch keys its legacy objects by the pickled value itself (``5`` and ``'5'`` differ)."""


def _legacy_key(value: object, what: str) -> LegacyKey:
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise MalformedInput(f"{what} key is {type(value).__name__}, not a string or integer")


def _legacy_count(window: _Window, limits: Limits) -> int:
    count = window.pickle(_RECORD_CAP, "count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise MalformedInput(f"legacy tar member '{window.member.name}' starts with {str(count)[:40]!r}, not a count")
    if count > limits.max_members:
        raise LimitExceeded(f"legacy tar member '{window.member.name}' declares {count} records", limit="max_members")
    return count


_Views = dict[LegacyKey, tuple[StorageRef, int, int]]


def _tar_storages(window: _Window, limits: Limits) -> tuple[dict[LegacyKey, StorageRef], dict[str, int], _Views]:
    """Storage refs, their absolute data offsets (by ``StorageRef.key``), and views ``key -> (root, offset, numel)``."""
    refs: dict[LegacyKey, StorageRef] = {}
    offsets: dict[str, int] = {}
    for _ in range(_legacy_count(window, limits)):
        record = window.pickle(_RECORD_CAP, "storage record")
        if not (isinstance(record, tuple) and len(record) == 3 and isinstance(record[2], _Global)):
            raise MalformedInput("legacy storage record is not (key, location, storage type)")
        key = _legacy_key(record[0], "storage")
        stype = _legacy_type(record[2].module, record[2].name)
        if stype is None or record[2].name != stype or key in refs or str(key) in offsets:
            raise MalformedInput(f"legacy storage {key!r}: duplicate key or not a storage type ({record[2]})")
        numel = struct.unpack("<q", window.read(8))[0]
        dtype, itemsize, raw = STORAGE_TYPES[stype]
        if numel < 0 or numel * itemsize > limits.max_member_size:
            raise LimitExceeded(f"legacy storage {key!r} declares {numel} elements", limit="max_member_size")
        offsets[str(key)] = window.skip(numel * itemsize, f"storage {key!r}")
        refs[key] = StorageRef(str(key), dtype, itemsize, numel, raw)
    views = _tar_views(window.pickle(limits.max_in_memory, "storage views"), refs)
    return refs, offsets, views


def _tar_views(value: Any, refs: dict[LegacyKey, StorageRef]) -> _Views:
    if not isinstance(value, list):
        raise MalformedInput("legacy storage views are not a list")
    views: _Views = {}
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 4 and _int_tuple(item[2:])):
            raise MalformedInput("legacy storage view is not (key, root, offset, numel)")
        key, root_key = _legacy_key(item[0], "view"), _legacy_key(item[1], "view root")
        root, (offset, numel) = refs.get(root_key), item[2:]
        if root is None or key in refs or key in views:
            raise MalformedInput(f"legacy storage view {key!r}: unknown root {root_key!r} or duplicate key")
        if offset < 0 or numel < 0 or offset + numel > root.numel:
            raise MalformedInput(f"legacy storage view {key!r} covers elements {offset}..{offset + numel} of {root.numel}")
        views[key] = (root, offset, numel)
    return views


def _tar_tensor(window: _Window, storages: dict[LegacyKey, StorageRef], views: _Views) -> tuple[LegacyKey, TensorRef]:
    record = window.pickle(_RECORD_CAP, "tensor record")
    if not (isinstance(record, tuple) and len(record) == 3 and isinstance(record[2], _Global)):
        raise MalformedInput("legacy tensor record is not (key, storage key, tensor type)")
    key = _legacy_key(record[0], "tensor")
    stype = _legacy_type(record[2].module, record[2].name)
    if stype is None or not record[2].name.endswith("Tensor"):
        raise MalformedInput(f"legacy tensor {key!r}: {record[2]} is not a tensor type")
    ndim = struct.unpack("<i", window.read(4))[0]
    if not 0 <= ndim <= 64:
        raise MalformedInput(f"legacy tensor {key!r} has {ndim} dimensions")
    window.read(4)
    dims = struct.unpack(f"<{2 * ndim + 1}q", window.read(8 * (2 * ndim + 1)))
    shape, stride, offset = dims[:ndim], dims[ndim : 2 * ndim], dims[-1]
    return key, _tar_tensor_ref(key, record[1], stype, storages, views, (offset, shape, stride))


def _tar_tensor_ref(key: LegacyKey, storage_id: object, stype: str, storages: dict[LegacyKey, StorageRef], views: _Views,
                    geometry: tuple[int, tuple[int, ...], tuple[int, ...]]) -> TensorRef:
    """Resolve the tensor's storage (root, view or none) and bounds-check it against both."""
    offset, shape, stride = geometry
    dtype, itemsize, raw = STORAGE_TYPES[stype]
    if storage_id is None:
        root, base, numel = StorageRef(f"<empty {key}>", dtype, itemsize, 0, raw), 0, 0
    else:
        skey = _legacy_key(storage_id, "tensor storage")
        if skey in views:
            root, base, numel = views[skey]
        elif skey in storages:
            root, base, numel = storages[skey], 0, storages[skey].numel
        else:
            raise MalformedInput(f"legacy tensor {key!r} names storage {skey!r}, which the checkpoint does not hold")
    if root.dtype != dtype:
        raise MalformedInput(f"legacy tensor {key!r} is {dtype} but its storage holds {root.dtype}")
    TensorRef(StorageRef(root.key, dtype, itemsize, numel, raw), offset, shape, stride).check_bounds()
    tensor = TensorRef(root, base + offset, shape, stride)
    tensor.check_bounds()
    return tensor


def _tar_sys_info(window: _Window) -> None:
    info = window.pickle(_RECORD_CAP, "sys_info")
    if not isinstance(info, dict):
        raise MalformedInput("legacy tar sys_info is not a dict")
    if info.get("little_endian", True) is not True:
        raise ConversionRefused("big-endian checkpoints are not supported")


def _read_legacy_tar(fh: IO[bytes], limits: Limits) -> Checkpoint:
    fh.seek(0, os.SEEK_END)
    members = _tar_members(fh, fh.tell())
    missing = [m for m in _TAR_MEMBERS if m not in members]
    if missing:
        raise MalformedInput(f"legacy torch tar lacks member(s) {', '.join(missing)}")
    _tar_sys_info(_Window(fh, members["sys_info"]))
    storages, offsets, views = _tar_storages(_Window(fh, members["storages"]), limits)
    window = _Window(fh, members["tensors"])
    tensors: dict[LegacyKey, TensorRef] = {}
    for _ in range(_legacy_count(window, limits)):
        key, tensor = _tar_tensor(window, storages, views)
        if key in tensors or key in storages or key in views:
            raise MalformedInput(f"legacy tensor key {key!r} appears twice or is also a storage key")
        tensors[key] = tensor
    root = _tar_object(_Window(fh, members["pickle"]), tensors, limits)

    def read_storage(ref: StorageRef) -> bytes:
        if ref.numel == 0:
            return b""
        fh.seek(offsets[ref.key])
        blob = fh.read(ref.numel * ref.itemsize)
        if len(blob) != ref.numel * ref.itemsize:
            raise MalformedInput(f"legacy storage {ref.key!r} truncated")
        return blob

    ck = Checkpoint({}, {}, read_storage, close=fh.close)
    _flatten(root, "", ck, {})
    return ck


def _tar_object(window: _Window, tensors: dict[LegacyKey, TensorRef], limits: Limits) -> Any:
    """The ``pickle`` member: the tensor vocabulary, tensors as persistent IDs (tensor keys)."""
    if window.left > limits.max_in_memory:
        raise LimitExceeded(f"legacy tar 'pickle' member of {window.left} bytes", limit="max_in_memory")
    data = window.read(window.left)

    def persistent(pid: Any) -> TensorRef:
        if isinstance(pid, tuple):
            raise ConversionRefused(f"pickled module class {str(pid[1:2])[:80]} (source code travels with it): not tensor data")
        try:
            key = int(_legacy_key(pid, "persistent id"))  # torch looks tensors up by int(saved_id)
        except ValueError as exc:
            raise MalformedInput(f"legacy persistent id {str(pid)[:40]!r} is not a tensor key") from exc
        if key not in tensors:
            raise MalformedInput(f"legacy pickle names tensor {key!r}, which the checkpoint does not hold")
        return tensors[key]

    reader = _Reader(data, 0, persistent, limits.max_pickle_ops)
    root = reader.run()
    if reader.pos != len(data):
        raise ConversionRefused(f"{len(data) - reader.pos} bytes after STOP in the legacy 'pickle' member")
    return root


def _parse_npy_header(blob: bytes, name: str) -> tuple[str, bool, tuple[int, ...], int]:
    import ast

    if blob[:6] != b"\x93NUMPY":
        raise MalformedInput(f"{name}: not a .npy array")
    major = blob[6]
    hlen_size = 2 if major == 1 else 4
    hlen = int.from_bytes(blob[8 : 8 + hlen_size], "little")
    start = 8 + hlen_size
    try:
        header = ast.literal_eval(blob[start : start + hlen].decode("latin-1"))
    except (ValueError, SyntaxError) as exc:
        raise MalformedInput(f"{name}: unreadable .npy header") from exc
    if not isinstance(header, dict) or not isinstance(header.get("descr"), str):
        raise ConversionRefused(f"{name}: structured or object arrays are not tensor data")
    shape = header.get("shape")
    if not _int_tuple(shape):
        raise MalformedInput(f"{name}: bad shape")
    return header["descr"], bool(header.get("fortran_order")), tuple(shape or ()), start + hlen


def _read_npz(zf: zipfile.ZipFile, limits: Limits) -> tuple[dict[str, bytes], dict[str, tuple[str, tuple[int, ...]]]]:
    import numpy as np

    blobs: dict[str, bytes] = {}
    headers: dict[str, tuple[str, tuple[int, ...]]] = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise ConversionRefused(f"{info.filename}: not a .npy member")
        name = info.filename[:-4]
        blob = _bounded_read(zf, info, limits.max_member_size)
        descr, fortran, shape, start = _parse_npy_header(blob, info.filename)
        key = descr.lstrip("<>|=")
        if descr[:1] not in "<>|=" or key not in NUMPY_TYPES:
            raise ConversionRefused(f"{info.filename}: dtype {descr!r} is not plain tensor data (object/pickled arrays refused)")
        dt = np.dtype(descr)
        count = 1
        for s in shape:
            count *= s
        body = blob[start : start + count * dt.itemsize]
        if len(body) != count * dt.itemsize:
            raise MalformedInput(f"{info.filename}: array data truncated")
        arr = np.frombuffer(body, dtype=dt).reshape(shape, order="F" if fortran else "C")
        blobs[name] = np.ascontiguousarray(arr, dtype=dt.newbyteorder("<")).tobytes()
        headers[name] = (NUMPY_TYPES[key], shape)
    return blobs, headers


# --------------------------------------------------------------------------- materialise, write, verify


def materialise(tensor: TensorRef, storage: bytes) -> bytes:
    """The tensor's elements in C order, copied out of the storage (views become dense)."""
    import numpy as np

    ref = tensor.storage
    units = np.frombuffer(storage, dtype=ref.raw_dtype, count=ref.numel)
    if tensor.numel == 0:
        return b""
    view = np.lib.stride_tricks.as_strided(
        units[tensor.offset :],
        shape=tensor.shape,
        strides=tuple(s * ref.itemsize for s in tensor.stride),
        writeable=False,
    )
    return bytes(np.ascontiguousarray(view).tobytes())


def _gather(tensor: TensorRef, storage: bytes) -> Any:
    """Independent check path: compute every element's storage index and gather it."""
    import numpy as np

    ref = tensor.storage
    units = np.frombuffer(storage, dtype=f"V{ref.itemsize}", count=ref.numel)
    index = np.full(tensor.shape, tensor.offset, dtype=np.int64)
    for dim, (n, s) in enumerate(zip(tensor.shape, tensor.stride, strict=True)):
        shape = [1] * len(tensor.shape)
        shape[dim] = n
        index = index + (np.arange(n, dtype=np.int64) * s).reshape(shape)
    return units[index.reshape(-1)]


def write_safetensors(path: str, entries: list[tuple[str, str, tuple[int, ...], bytes]], metadata: dict[str, str]) -> None:
    """Write ``(name, dtype, shape, data)`` entries atomically: u64 header length, JSON, data."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tg-convert-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(struct.pack("<Q", len(raw)))
            out.write(raw)
            for _, _, _, data in entries:
                out.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_safetensors_header(fh: IO[bytes], max_header: int = 100 << 20) -> tuple[dict[str, Any], int]:
    """Return the header and the offset where the data section starts."""
    raw = fh.read(8)
    if len(raw) != 8:
        raise MalformedInput("safetensors file shorter than its length prefix")
    size = struct.unpack("<Q", raw)[0]
    if size > max_header:
        raise LimitExceeded(f"safetensors header of {size} bytes", limit="max_in_memory")
    header = json.loads(fh.read(size))
    if not isinstance(header, dict):
        raise MalformedInput("safetensors header is not an object")
    return header, 8 + size


@dataclass(frozen=True)
class ConversionResult:
    """What was written: tensor count, data bytes, aliased (tied) names and metadata keys."""

    output: str
    tensors: int
    data_bytes: int
    aliases: tuple[tuple[str, str], ...]
    metadata_keys: tuple[str, ...]
    verified: bool


def _verify(path: str, expected: dict[str, tuple[str, tuple[int, ...]]], check: Callable[[str, bytes], bool]) -> None:
    try:
        _compare(path, expected, check)
    except BaseException:
        _discard(path)
        raise


def _compare(path: str, expected: dict[str, tuple[str, tuple[int, ...]]], check: Callable[[str, bytes], bool]) -> None:
    with open(path, "rb") as fh:
        header, base = read_safetensors_header(fh)
        names = {k for k in header if k != "__metadata__"}
        if names != set(expected):
            raise MalformedInput("verification failed: written tensor names differ from the source")
        for name in sorted(names):
            entry = header[name]
            dtype, shape = expected[name]
            if entry["dtype"] != dtype or tuple(entry["shape"]) != shape:
                raise MalformedInput(f"verification failed: {name} has the wrong dtype or shape")
            begin, end = entry["data_offsets"]
            fh.seek(base + begin)
            if not check(name, fh.read(end - begin)):
                raise MalformedInput(f"verification failed: bytes of {name} differ from the source storage")


def _is_zip(path: str) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def read_checkpoint(path: str, limits: Limits | None = None) -> Checkpoint:
    """Read a torch zip or legacy checkpoint without executing anything."""
    limits = limits or Limits()
    if _is_zip(path):
        zf = zipfile.ZipFile(path)
        try:
            return _read_torch_zip(zf, limits)
        except BaseException:
            zf.close()
            raise
    fh = open(path, "rb")  # noqa: SIM115 - kept open for read_storage; Checkpoint.close closes it
    try:
        if _is_tar(fh):
            return _read_legacy_tar(fh, limits)
        fh.seek(0)
        if fh.read(1) != b"\x80":
            raise ConversionRefused(f"{path}: not a torch checkpoint (zip, legacy or legacy tar) nor a plain .npz")
        fh.seek(0)
        return _read_legacy(fh, limits)
    except BaseException:
        fh.close()
        raise


def _entries_torch(ck: Checkpoint) -> Iterator[tuple[str, str, tuple[int, ...], bytes]]:
    for name in sorted(ck.tensors):
        t = ck.tensors[name]
        yield name, t.storage.dtype, t.shape, materialise(t, ck.read_storage(t.storage))


def convert(source: str, output: str, limits: Limits | None = None) -> ConversionResult:
    """Convert ``source`` (torch zip/legacy checkpoint or plain ``.npz``) to safetensors and verify it.

    An output ending in ``.skops`` converts a scikit-learn pickle or joblib file instead
    (:func:`trojanguard.convert_sklearn.convert_to_skops`).

    Raises ConversionRefused naming the global (or dtype) outside the tensor vocabulary,
    MalformedInput/LimitExceeded for broken or oversized input; never executes the input.
    """
    limits = limits or Limits()
    try:
        if output.endswith(".skops"):
            from .convert_sklearn import convert_to_skops  # scikit-learn pickle / joblib -> skops

            return convert_to_skops(source, output, limits)
        is_npz = False
        if _is_zip(source):
            with zipfile.ZipFile(source) as zf:
                is_npz = all(n.endswith(".npy") for n in zf.namelist()) and bool(zf.namelist())
        if is_npz:
            return _convert_npz(source, output, limits)
        return _convert_torch(source, output, limits)
    except (zipfile.BadZipFile, EOFError, RecursionError, ValueError, KeyError, TypeError, IndexError,
            NotImplementedError, RuntimeError, OverflowError, struct.error, zlib.error) as exc:
        raise MalformedInput(f"{source}: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise InputError(f"cannot convert {source}: {exc.strerror or exc}") from exc


def _discard(output: str) -> None:
    """A written file that did not verify is removed (a refused input never writes one)."""
    try:
        os.unlink(output)
    except OSError:
        pass


def _check_output_size(ck: Checkpoint, source: str, limits: Limits) -> None:
    """Refuse outputs far larger than the input before materialising anything.

    A view with stride 0 (``expand``) is legal, so a few bytes of storage can describe a
    tensor of 2**60 elements; materialising it would exhaust memory.  Ties and transposes
    legitimately copy data, so the bound is generous: 8x the input, at least ``max_in_memory``,
    never more than ``max_total_bytes``."""
    total = 0
    for name, t in ck.tensors.items():
        nbytes = t.numel * t.storage.itemsize
        if nbytes > limits.max_member_size:
            raise LimitExceeded(f"tensor {name} would materialise {nbytes} bytes", limit="max_member_size")
        total += nbytes
    cap = min(limits.max_total_bytes, max(8 * os.path.getsize(source), limits.max_in_memory))
    if total > cap:
        raise LimitExceeded(f"tensors would materialise {total} bytes from a {os.path.getsize(source)}-byte input "
                            f"(limit {cap}: stride-0 or overlapping views?)", limit="max_total_bytes")


def _convert_torch(source: str, output: str, limits: Limits) -> ConversionResult:
    ck = read_checkpoint(source, limits)
    try:
        _check_output_size(ck, source, limits)
        entries = list(_entries_torch(ck))
        write_safetensors(output, entries, ck.metadata)
        expected = {n: (t.storage.dtype, t.shape) for n, t in ck.tensors.items()}

        def check(name: str, written: bytes) -> bool:
            t = ck.tensors[name]
            gathered = _gather(t, ck.read_storage(t.storage))
            return bool(gathered.tobytes() == written)

        _verify(output, expected, check)
    finally:
        ck.close()
    return ConversionResult(
        output, len(entries), sum(len(e[3]) for e in entries), tuple(sorted(ck.aliases.items())), tuple(sorted(ck.metadata)), True
    )


def _convert_npz(source: str, output: str, limits: Limits) -> ConversionResult:
    with zipfile.ZipFile(source) as zf:
        blobs, headers = _read_npz(zf, limits)
    entries = [(n, headers[n][0], headers[n][1], blobs[n]) for n in sorted(blobs)]
    write_safetensors(output, entries, {})
    _verify(output, headers, lambda name, written: written == blobs[name])
    return ConversionResult(output, len(entries), sum(len(b) for b in blobs.values()), (), (), True)
