"""Safe conversion of scikit-learn pickles and joblib files to skops, without unpickling.

Why: ``joblib.load``/``pickle.load`` execute whatever the file says.  skops' own format
instead names every type and is loaded with an allowlist.  This module bridges the two
without running the pickle: a restricted interpreter (the opcode machinery of
:mod:`trojanguard.convert`) understands only

* classes skops trusts by default (``SKLEARN_ESTIMATOR_TYPE_NAMES`` and
  ``SKLEARN_INTERNAL_TYPE_NAMES``), instantiated with ``NEWOBJ`` and no arguments;
* numpy arrays (``_reconstruct``/``_frombuffer``, joblib's ``NumpyArrayWrapper`` whose bytes
  follow inline in the stream), dtypes, scalars and the dtype *types* as values;
* builtin containers and primitives, ``set``, ``bytes`` spelled the protocol-2 way;
* ``sklearn.tree._tree.Tree``, which skops does *not* trust by default because its node
  array is indexed without bounds checks: it is accepted only after the node array has
  been validated here (children after their parent and inside the array, features below
  ``n_features``, ``values`` shaped by the node count and classes).

Everything else is refused with :class:`ConversionRefused` naming the global.  The safety
argument: objects are built exactly the way skops builds them when it loads its own format
with those trusted types -- ``cls.__new__(cls)`` then ``__setstate__(state)`` (or
``__dict__.update``), and ``Tree(*args)`` + ``__setstate__`` for its reduce node -- so
converting executes nothing that ``skops.io.load(..., trusted=<those types>)`` would not.
Module imports happen only for names already on the allowlist.

The result is written with ``skops.io.dump``, loaded back with ``skops.io.load`` trusting
only the types that were built, and compared attribute by attribute (arrays with
``np.array_equal``) and, for estimators with ``predict``, on a fixed random input.
"""

from __future__ import annotations

import bz2
import gzip
import importlib
import lzma
import os
import re
import struct
import tempfile
from collections.abc import Callable
from typing import Any

from .artifact import Limits
from .convert import _OPS, ConversionRefused, ConversionResult, _Global, _Reader
from .errors import Error, LimitExceeded, MalformedInput

__all__ = ["SkopsVocabulary", "convert_to_skops", "read_sklearn_pickle"]

_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_RECONSTRUCT = {(m, "_reconstruct") for m in _NUMPY_MODULES}
_SCALAR = {(m, "scalar") for m in _NUMPY_MODULES}
_FROMBUFFER = {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}
_DTYPE = ("numpy", "dtype")
_NDARRAY = ("numpy", "ndarray")
_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
_TREE = ("sklearn.tree._tree", "Tree")
_ENCODE = ("_codecs", "encode")
_BUILTIN_CALLS = {("builtins", "bytes"), ("builtins", "bytearray"), ("builtins", "set")}
_CALLS = _RECONSTRUCT | _SCALAR | _FROMBUFFER | _BUILTIN_CALLS | {_DTYPE, _NDARRAY, _WRAPPER, _TREE, _ENCODE}
_DTYPE_CODE = re.compile(r"^(b1|[iu][1248]|f[248]|c(8|16)|O[48]?|[USV]\d{0,9})$")
_PRIMITIVES = (str, int, float, bool, bytes, type(None))
_MAX_DEPTH = 200
_MAX_TREE_OUTPUTS = 1 << 16
#: ensembles that call their trees on the input they checked themselves (widths compared below)
_TREE_OWNERS = frozenset({"sklearn.ensemble._forest", "sklearn.ensemble._weight_boosting"})


def _np() -> Any:
    import numpy as np

    return np


class SkopsVocabulary:
    """The type names skops trusts by default, read from the installed skops (a clear error if absent)."""

    def __init__(self) -> None:
        try:
            tt = importlib.import_module("skops.io._trusted_types")
        except ImportError as exc:
            raise ConversionRefused(
                "converting to .skops needs the skops package (pip install 'trojanguard[convert]')"
            ) from exc
        self.classes = frozenset(tt.SKLEARN_ESTIMATOR_TYPE_NAMES) | frozenset(getattr(tt, "SKLEARN_INTERNAL_TYPE_NAMES", ()))
        self.dtype_types = frozenset(tt.NUMPY_DTYPE_TYPE_NAMES)


class _Pending:
    """An object whose state arrives with the next BUILD (array, dtype, tree, joblib wrapper)."""

    def __init__(self, kind: str, args: tuple[Any, ...]) -> None:
        self.kind, self.args = kind, args


class _SklearnReader(_Reader):
    """The torch reader's opcode machinery with the skops-trusted vocabulary instead of tensors."""

    def __init__(self, data: bytes, vocab: SkopsVocabulary, max_ops: int) -> None:
        super().__init__(data, 0, _no_persistent, max_ops)
        self.vocab = vocab
        self.built: set[str] = set()
        self.arrays = 0
        self.array_bytes = 0
        #: objects made by NEWOBJ that still await their one BUILD (kept alive so ids stay unique)
        self.fresh: dict[int, object] = {}

    def run(self) -> Any:
        for _ in range(self.max_ops):
            op = self._take(1)[0]
            handler = _SK_OPS.get(op)
            if handler is None:
                raise ConversionRefused(f"pickle opcode {bytes([op])!r} is outside the scikit-learn vocabulary")
            if handler(self):
                return self._pop()
        raise LimitExceeded("pickle runs more opcodes than allowed", limit="max_pickle_ops")

    # -- globals -------------------------------------------------------------------
    def global_(self, module: str, name: str) -> None:
        module = "builtins" if module == "__builtin__" else module
        dotted = f"{module}.{name}"
        if (module, name) in _CALLS or dotted in self.vocab.classes:
            self.stack.append(_Global(module, name))
        elif dotted in self.vocab.dtype_types and module == "numpy":
            self.stack.append(getattr(_np(), name))  # a numpy scalar *type* as a value (e.g. ``dtype=np.float64``)
        else:
            raise ConversionRefused(
                f"refusing global {dotted}: not a type skops trusts by default "
                "(scikit-learn estimators, numpy arrays/dtypes, builtin containers)"
            )

    def _class(self, g: _Global) -> Any:
        """Import an allowlisted estimator class (the allowlist was checked before any import)."""
        if f"{g.module}.{g.name}" not in self.vocab.classes:
            raise ConversionRefused(f"refusing to instantiate {g}: not a scikit-learn type skops trusts")
        try:
            cls = getattr(importlib.import_module(g.module), g.name)
        except (ImportError, AttributeError) as exc:
            raise ConversionRefused(f"{g} is trusted by skops but cannot be imported here: {exc}") from exc
        if not isinstance(cls, type):
            raise ConversionRefused(f"{g} is not a class")
        self.built.add(str(g))
        return cls

    # -- NEWOBJ / REDUCE / BUILD ---------------------------------------------------------
    def newobj(self) -> None:
        args, cls = self._pop(), self._pop()
        if not isinstance(cls, _Global) or args != ():
            raise ConversionRefused("NEWOBJ of something other than an allowed class without arguments")
        if (cls.module, cls.name) == _WRAPPER:
            self.stack.append(_Pending("wrapper", ()))
            return
        klass = self._class(cls)
        instance = klass.__new__(klass)
        self.fresh[id(instance)] = instance
        self.stack.append(instance)

    def reduce(self) -> None:
        args, func = self._pop(), self._pop()
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            raise ConversionRefused("REDUCE of something that is not an allowed global")
        self.stack.append(_call(self, func, args))

    def build(self) -> None:
        state = self._pop()
        target: Any = self.stack[-1] if self.stack else None
        if isinstance(target, _Pending):
            self._replace(target, _finish(self, target, state))
            return
        if self.fresh.pop(id(target), None) is None or not isinstance(state, dict):
            raise ConversionRefused(f"BUILD on {type(target).__name__} with a {type(state).__name__} state "
                                    "(only a new estimator's state is set, once)")
        _check_inert(state, 0)
        try:
            if hasattr(target, "__setstate__"):
                target.__setstate__(state)
            else:
                target.__dict__.update(state)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MalformedInput(f"{type(target).__name__}: state rejected: {exc}") from exc

    def _replace(self, old: object, new: object) -> None:
        self.stack[-1] = new
        for key, value in self.memo.items():
            if value is old:
                self.memo[key] = new

    def raw(self, n: int) -> bytes:
        """Bytes joblib wrote inline after a NumpyArrayWrapper (outside the pickle opcodes)."""
        return self._take(n)


def _no_persistent(pid: Any) -> Any:
    raise ConversionRefused(f"persistent id {str(pid)[:80]!r} in a scikit-learn pickle")


def _check_inert(value: Any, depth: int) -> None:
    """A state may hold only finished values: no bare global, no object still waiting for BUILD."""
    if depth > _MAX_DEPTH:
        raise LimitExceeded("estimator state nested too deeply", limit="max_depth")
    if isinstance(value, (_Global, _Pending)):
        raise ConversionRefused(f"estimator state holds an unfinished or callable value ({value!s:.80})")
    if isinstance(value, dict):
        for v in value.values():
            _check_inert(v, depth + 1)
    elif isinstance(value, (list, tuple, set)):
        for v in value:
            _check_inert(v, depth + 1)


# --------------------------------------------------------------------------- calls


def _call(r: _SklearnReader, func: _Global, args: tuple[Any, ...]) -> Any:
    pair = (func.module, func.name)
    if pair in _RECONSTRUCT:
        if len(args) != 3 or args[0] != _Global(*_NDARRAY):
            raise ConversionRefused(f"{func} of something other than numpy.ndarray")
        return _Pending("array", ())
    if pair == _DTYPE:
        if not args or not isinstance(args[0], str) or not _DTYPE_CODE.match(args[0]):
            raise ConversionRefused(f"numpy.dtype({str(args[:1])[:40]}) is not a plain numeric, string or object dtype")
        return _Pending("dtype", (args[0],))
    if pair in _SCALAR:
        return _scalar(args)
    if pair in _FROMBUFFER:
        return _frombuffer(r, args)
    if pair == _ENCODE:
        if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
            raise ConversionRefused("_codecs.encode used for something other than protocol-2 bytes")
        return args[0].encode("latin-1")
    if pair == ("builtins", "bytes") or pair == ("builtins", "bytearray"):
        if args == ():
            return b""
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
            return bytes(args[0])
        raise ConversionRefused(f"{func} called with {type(args[0]).__name__}")
    if pair == ("builtins", "set"):
        if len(args) == 1 and isinstance(args[0], list) and all(isinstance(v, (str, int, float)) for v in args[0]):
            return set(args[0])
        raise ConversionRefused("builtins.set of something other than a list of primitives")
    if pair == _TREE:
        return _Pending("tree", args)
    raise ConversionRefused(f"refusing call of {func}: not part of the scikit-learn vocabulary")


def _real_dtype(value: Any, what: str) -> Any:
    np = _np()
    if not isinstance(value, np.dtype):
        raise MalformedInput(f"{what}: {type(value).__name__} is not a numpy dtype")
    return value


def _scalar(args: tuple[Any, ...]) -> Any:
    np = _np()
    if len(args) != 2 or not isinstance(args[1], bytes):
        raise ConversionRefused("numpy scalar without raw bytes (object scalars are refused)")
    dt = _real_dtype(args[0], "numpy scalar")
    if dt.hasobject or len(args[1]) != dt.itemsize:
        raise MalformedInput(f"numpy scalar of {dt} has {len(args[1])} bytes")
    return np.frombuffer(args[1], dtype=dt, count=1)[0]


def _frombuffer(r: _SklearnReader, args: tuple[Any, ...]) -> Any:
    if len(args) != 4 or not isinstance(args[0], (bytes, bytearray)) or args[3] not in ("C", "F"):
        raise ConversionRefused("numpy _frombuffer without in-band bytes")
    return _array(r, args[0], _real_dtype(args[1], "_frombuffer"), args[2], args[3] == "F")


def _shape(value: Any) -> tuple[int, ...]:
    if not (isinstance(value, tuple) and len(value) <= 32
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        raise MalformedInput(f"array shape {str(value)[:60]} is not a tuple of sizes")
    return value


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _array(r: _SklearnReader, raw: Any, dt: Any, shape_value: Any, fortran: bool) -> Any:
    np = _np()
    shape = _shape(shape_value)
    n = _count(shape)
    order = "F" if fortran else "C"
    if dt.hasobject:
        if dt.kind != "O" or not isinstance(raw, list) or len(raw) != n or not all(isinstance(v, _PRIMITIVES) for v in raw):
            raise ConversionRefused("object array holding something other than primitives")
        out = np.empty(n, dtype=object)
        out[:] = raw
        arr = out.reshape(shape, order=order)
    else:
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != n * dt.itemsize:
            raise MalformedInput(f"array of {n} x {dt} has {len(raw) if isinstance(raw, (bytes, bytearray)) else '?'} bytes")
        arr = np.frombuffer(bytes(raw), dtype=dt, count=n).reshape(shape, order=order).copy(order=order)
    r.arrays += 1
    r.array_bytes += int(arr.nbytes)
    return arr


# --------------------------------------------------------------------------- BUILD of pending objects


def _finish(r: _SklearnReader, pending: _Pending, state: Any) -> Any:
    if pending.kind == "array":
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1 and isinstance(state[3], bool)):
            raise MalformedInput("ndarray state is not (1, shape, dtype, fortran, data)")
        return _array(r, state[4], _real_dtype(state[2], "ndarray"), state[1], state[3])
    if pending.kind == "dtype":
        return _dtype(pending.args[0], state)
    if pending.kind == "wrapper":
        return _wrapper(r, state)
    return _tree(r, pending.args, state)


def _dtype(code: str, state: Any) -> Any:
    """Build the dtype from its validated description (numpy's own ``__setstate__`` is not called)."""
    np = _np()
    if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4) and state[1] in "<>|="):
        raise MalformedInput(f"numpy dtype state {str(state)[:80]} is not understood")
    _, order, sub, names, fields, elsize = state[:6]
    if sub is not None:
        raise ConversionRefused("sub-array dtypes are not supported")
    order = "" if order in "|=" else order
    if names is None:
        kind = code[0]
        if kind in "USV" and isinstance(elsize, int) and elsize > 0:
            code = f"{kind}{elsize // 4 if kind == 'U' else elsize}"
        return np.dtype(order + code)
    if not (isinstance(names, tuple) and isinstance(fields, dict) and isinstance(elsize, int) and set(names) == set(fields)):
        raise MalformedInput("structured dtype names and fields disagree")
    formats, offsets = [], []
    for name in names:
        entry = fields[name]
        if not (isinstance(name, str) and isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], int)):
            raise MalformedInput(f"structured dtype field {str(name)[:40]} is malformed")
        sub_dt = _real_dtype(entry[0], "structured dtype field")
        if sub_dt.hasobject:
            raise ConversionRefused("structured dtypes with object fields are refused")
        formats.append(sub_dt)
        offsets.append(entry[1])
    return np.dtype({"names": list(names), "formats": formats, "offsets": offsets, "itemsize": elsize})


def _wrapper(r: _SklearnReader, state: Any) -> Any:
    """joblib's NumpyArrayWrapper: the array bytes follow in the stream (optionally aligned)."""
    np = _np()
    if not isinstance(state, dict):
        raise MalformedInput("NumpyArrayWrapper state is not a dict")
    subclass, order = state.get("subclass"), state.get("order", "C")
    if subclass is not np.ndarray and subclass != _Global(*_NDARRAY):
        raise ConversionRefused(f"NumpyArrayWrapper of subclass {str(subclass)[:60]}")
    dt = _real_dtype(state.get("dtype"), "NumpyArrayWrapper")
    if dt.hasobject:
        raise ConversionRefused("joblib object array (a nested pickle) is refused")
    if order not in ("C", "F"):
        raise MalformedInput(f"NumpyArrayWrapper order {str(order)[:10]!r}")
    if state.get("numpy_array_alignment_bytes") is not None:
        pad = r.raw(1)[0]
        r.raw(pad)
    shape = _shape(state.get("shape"))
    raw = r.raw(_count(shape) * dt.itemsize)
    if order == "F":
        arr = _array(r, raw, dt, shape[::-1], False).T
        return arr
    return _array(r, raw, dt, shape, False)


def _tree(r: _SklearnReader, args: tuple[Any, ...], state: Any) -> Any:
    """``Tree(n_features, n_classes, n_outputs)`` + state, after checking the node array is sound."""
    np = _np()
    if len(args) != 3 or not isinstance(state, dict):
        raise MalformedInput("sklearn Tree with unexpected arguments or state")
    n_features, n_classes, n_outputs = args
    if not (isinstance(n_features, int) and 0 < n_features < 1 << 31 and isinstance(n_outputs, int)
            and 0 < n_outputs <= _MAX_TREE_OUTPUTS and isinstance(n_classes, np.ndarray)
            and n_classes.shape == (n_outputs,) and n_classes.dtype.kind == "i" and int(n_classes.min()) >= 1):
        raise MalformedInput("sklearn Tree arguments (n_features, n_classes, n_outputs) are inconsistent")
    _check_nodes(state, n_features, n_outputs, int(n_classes.max()))
    from sklearn.tree._tree import Tree  # type: ignore[import-untyped]

    r.built.add("sklearn.tree._tree.Tree")
    try:
        tree = Tree(n_features, n_classes.astype(np.intp), n_outputs)
        tree.__setstate__(state)
    except (ValueError, TypeError, KeyError, MemoryError) as exc:
        raise MalformedInput(f"sklearn Tree state rejected: {exc}") from exc
    return tree


def _check_nodes(state: dict[str, Any], n_features: int, n_outputs: int, max_classes: int) -> None:
    """What skops cannot check and sklearn does not: every index in the node array is in bounds."""
    np = _np()
    from sklearn.tree._tree import NODE_DTYPE  # type: ignore[import-untyped]

    nodes, values, count = state.get("nodes"), state.get("values"), state.get("node_count")
    depth = state.get("max_depth")
    if not (isinstance(nodes, np.ndarray) and nodes.dtype == NODE_DTYPE and isinstance(count, int)
            and nodes.shape == (count,) and count >= 1 and isinstance(depth, int) and 0 <= depth < count):
        raise MalformedInput("sklearn Tree node array does not match node_count / the node layout")
    if not (isinstance(values, np.ndarray) and values.dtype == np.float64 and values.shape == (count, n_outputs, max_classes)):
        raise MalformedInput("sklearn Tree values are not shaped (node_count, n_outputs, max_n_classes)")
    idx = np.arange(count)
    left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
    leaf = left == -1
    internal = ~leaf
    ok_leaf = (right[leaf] == -1).all()
    ok_internal = ((left[internal] > idx[internal]) & (right[internal] > idx[internal]) & (left[internal] < count)
                   & (right[internal] < count) & (feature[internal] >= 0) & (feature[internal] < n_features)).all()
    if not (ok_leaf and ok_internal):
        raise MalformedInput("sklearn Tree node array has a child or feature index out of bounds (or a cycle)")


# --------------------------------------------------------------------------- opcode table


def _newobj_op(r: _Reader) -> None:
    if not isinstance(r, _SklearnReader):
        raise ConversionRefused("NEWOBJ outside the scikit-learn reader")
    r.newobj()


def _empty_set(r: _Reader) -> None:
    r.stack.append(set())


def _additems(r: _Reader) -> None:
    items = r._pop_mark()
    target = r.stack[-1] if r.stack else None
    if not isinstance(target, set) or not all(isinstance(v, (str, int, float)) for v in items):
        raise ConversionRefused("ADDITEMS of something other than primitives into a set")
    target.update(items)


def _sk_ops() -> dict[int, Callable[[_Reader], bool | None]]:
    table = dict(_OPS)
    table[0x81] = _newobj_op
    table[0x8F] = _empty_set
    table[0x90] = _additems
    table[0x96] = lambda r: r.stack.append(bytearray(r._take(struct.unpack("<Q", r._take(8))[0])))
    table[0x8E] = lambda r: r.stack.append(r._take(struct.unpack("<Q", r._take(8))[0]))
    table.pop(ord("Q"), None)
    table.pop(ord("P"), None)
    return table


_SK_OPS = _sk_ops()


# --------------------------------------------------------------------------- input framing


def _read_bounded(stream: Any, cap: int, what: str) -> bytes:
    data = stream.read(cap + 1)
    if len(data) > cap:
        raise LimitExceeded(f"{what} decompresses to more than {cap} bytes", limit="max_in_memory")
    return bytes(data)


def _pickle_bytes(path: str, limits: Limits) -> bytes:
    """The pickle stream of a plain pickle or a joblib file (zlib, gzip, bz2, xz/lzma), bounded."""
    from .analyzers.joblib import ZlibStream, parse_framing
    from .model import Location

    cap = limits.max_in_memory
    try:
        return _decompress(path, cap, ZlibStream, parse_framing, Location)
    except (EOFError, lzma.LZMAError, gzip.BadGzipFile) as exc:
        raise MalformedInput(f"{path}: compressed stream is corrupt: {exc}") from exc


def _decompress(path: str, cap: int, zlib_stream: Any, parse_framing: Any, location: Any) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(64)
        fh.seek(0)
        if head[:1] == b"\x80":
            return _read_bounded(fh, cap, path)
        if head[:2] == b"\x1f\x8b":
            return _read_bounded(gzip.GzipFile(fileobj=fh), cap, path)
        if head[:3] == b"BZh":
            return _read_bounded(bz2.BZ2File(fh), cap, path)
        if head[:6] == b"\xfd7zXZ\x00" or head[:1] == b"\x5d":
            return _read_bounded(lzma.LZMAFile(fh), cap, path)
        try:
            framing = parse_framing(head)
        except ValueError as exc:
            raise ConversionRefused(f"{path}: not a pickle or joblib file ({exc})") from exc
        stream = zlib_stream(fh, framing.start, location(path))
        return _read_bounded(stream, cap, path)


def read_sklearn_pickle(path: str, limits: Limits | None = None) -> tuple[Any, frozenset[str], int, int]:
    """Rebuild the object of a scikit-learn pickle/joblib file from the trusted vocabulary only.

    Returns ``(object, type names built, array count, array bytes)``.  Raises ConversionRefused
    naming the first global outside the vocabulary; nothing in the file is executed."""
    limits = limits or Limits()
    vocab = SkopsVocabulary()
    data = _pickle_bytes(path, limits)
    reader = _SklearnReader(data, vocab, limits.max_pickle_ops)
    root = reader.run()
    if reader.pos != len(data):
        raise ConversionRefused(f"{len(data) - reader.pos} bytes after the pickle's STOP (a second pickle?)")
    if isinstance(root, (_Pending, _Global)):
        raise ConversionRefused("the pickle's result is not a finished object")
    _check_forests(root, 0)
    return root, frozenset(reader.built), reader.arrays, reader.array_bytes


def _check_forests(obj: Any, depth: int, owner: str = "") -> None:
    """Where a tree may sit: its input must be width-checked before the tree indexes into it.

    A ``DecisionTree*`` checks ``X`` against its ``n_features_in_`` (which must equal its
    tree's width); a random/extra-trees forest checks once and calls its trees unchecked, so
    all its trees must share the forest's width.  Other ensembles (isolation forest, bagging,
    gradient boosting) feed trees column subsets unchecked and are refused when they hold trees."""
    if depth > _MAX_DEPTH:
        raise LimitExceeded("estimator nesting too deep", limit="max_depth")
    children: list[Any] = []
    here = owner
    if isinstance(obj, (list, tuple)):
        children = list(obj)
    elif isinstance(obj, dict):
        children = list(obj.values())
    elif type(obj).__module__.startswith("sklearn.") and hasattr(obj, "__dict__"):
        state, here = obj.__dict__, type(obj).__module__
        width, tree = state.get("n_features_in_"), state.get("tree_")
        if tree is not None:
            if getattr(tree, "n_features", None) != width:
                raise MalformedInput(f"{type(obj).__name__}: tree width {getattr(tree, 'n_features', None)} != n_features_in_ {width}")
            if owner.startswith("sklearn.ensemble.") and owner not in _TREE_OWNERS:
                raise ConversionRefused(f"trees inside {owner} are not supported (their inputs are not width-checked)")
        if here == "sklearn.ensemble._forest":
            for sub in state.get("estimators_", []) if isinstance(state.get("estimators_"), list) else []:
                if getattr(sub, "n_features_in_", None) != width:
                    raise MalformedInput(f"{type(obj).__name__}: a tree's n_features_in_ differs from the forest's {width}")
        children = list(state.values())
    for child in children:
        _check_forests(child, depth + 1, here)


# --------------------------------------------------------------------------- write and verify


def convert_to_skops(source: str, output: str, limits: Limits | None = None) -> ConversionResult:
    """Convert a scikit-learn pickle/joblib file to skops and verify it; executes nothing from ``source``.

    The result's ``tensors``/``data_bytes`` count numpy arrays and their bytes; ``metadata_keys``
    lists the type names that were instantiated (and trusted when loading the output back)."""
    obj, built, arrays, nbytes = read_sklearn_pickle(source, limits)
    import skops.io as sio  # type: ignore[import-untyped]

    directory = os.path.dirname(os.path.abspath(output))
    fd, tmp = tempfile.mkstemp(prefix=".tg-convert-", suffix=".skops", dir=directory)
    os.close(fd)
    try:
        try:
            sio.dump(obj, tmp)
        except Exception as exc:  # noqa: BLE001 - skops raises many types for objects it cannot express
            raise ConversionRefused(f"skops cannot express this object: {type(exc).__name__}: {exc}") from exc
        try:
            _verify(sio, tmp, obj, built)
        except Error:
            raise
        except Exception as exc:  # noqa: BLE001 - skops/sklearn failures while checking are a failed verification
            raise MalformedInput(f"verification failed: {type(exc).__name__}: {exc}") from exc
        os.replace(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return ConversionResult(output, arrays, nbytes, (), tuple(sorted(built)), True)


def _verify(sio: Any, path: str, obj: Any, built: frozenset[str]) -> None:
    untrusted = set(sio.get_untrusted_types(file=path))
    extra = untrusted - built
    if extra:
        raise ConversionRefused(f"the written file needs types that were not built from the vocabulary: {sorted(extra)}")
    loaded = sio.load(path, trusted=sorted(untrusted))
    _same(obj, loaded, "root", 0)
    _same_predictions(obj, loaded)


def _fail(where: str, what: str) -> MalformedInput:
    return MalformedInput(f"verification failed at {where}: {what}")


def _same(a: Any, b: Any, where: str, depth: int) -> None:
    """Attribute-by-attribute equality of the built object and the one skops loaded back."""
    np = _np()
    if depth > _MAX_DEPTH:
        raise LimitExceeded("object nested too deeply to verify", limit="max_depth")
    if type(a) is not type(b):
        raise _fail(where, f"{type(a).__name__} became {type(b).__name__}")
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            raise _fail(where, "array dtype or shape differs")
        nan = a.dtype.kind in "fc"
        if not np.array_equal(a, b, equal_nan=nan):
            raise _fail(where, "array values differ")
    elif isinstance(a, dict):
        if set(a) != set(b):
            raise _fail(where, "keys differ")
        for k in a:
            _same(a[k], b[k], f"{where}.{k}", depth + 1)
    elif isinstance(a, (list, tuple)):
        if len(a) != len(b):
            raise _fail(where, "length differs")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]", depth + 1)
    elif type(a).__name__ == "Tree" and hasattr(a, "__getstate__"):
        _same(a.__getstate__(), b.__getstate__(), where, depth + 1)
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        _same(vars(a), vars(b), where, depth + 1)
    elif not (a == b or (a != a and b != b)):
        raise _fail(where, f"{str(a)[:40]} became {str(b)[:40]}")


def _probe_input(obj: Any) -> Any:
    """A fixed random input the estimator accepts, or None (numbers by width, text by vocabulary)."""
    np = _np()
    rng = np.random.default_rng(20261127)
    width = getattr(obj, "n_features_in_", None)
    if isinstance(width, int) and 0 < width < 1 << 20:
        return rng.normal(size=(16, width))
    first = obj.steps[0][1] if hasattr(obj, "steps") and obj.steps else obj
    vocab = getattr(first, "vocabulary_", None)
    if isinstance(vocab, dict) and vocab:
        words = sorted(str(w) for w in vocab)
        return [" ".join(rng.choice(words, size=5)) for _ in range(16)]
    return None


def _same_predictions(obj: Any, loaded: Any) -> None:
    np = _np()
    if not hasattr(obj, "predict"):
        return
    probe = _probe_input(obj)
    if probe is None:
        return
    try:
        expected = obj.predict(probe)
    except Exception:  # noqa: BLE001 - a model that rejects random input is compared by attributes only
        return
    got = loaded.predict(probe)
    if not np.array_equal(np.asarray(expected), np.asarray(got)):
        raise _fail("predict", "predictions of the written model differ from the rebuilt one")
