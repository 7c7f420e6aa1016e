"""NumPy ``.npy`` files: a small text header, then raw array bytes (or a pickle).

``numpy.load`` reads the header (a Python dict literal), and when the dtype holds Python
objects it *unpickles* the rest of the file (with ``allow_pickle=True``).  This module
parses the header without evaluating it (``ast.literal_eval`` on a bounded, expected-shape
literal), hands an object array's pickle to the scanner as a child (``hint="pickle"``), and
otherwise only checks that the data size matches ``shape x itemsize`` - it never reads the
array.  ``.npz`` files are zips of ``.npy`` members, walked by the zip analyzer.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..artifact import Artifact
from ..errors import MalformedInput
from ..formats import Format
from ..model import Location, Rule, Severity
from .base import Context, Result

OBJECT_ARRAY = Rule(
    # low: an object array is only a risk through its pickle, and that pickle is analysed as a
    # child (a payload there is PKL001/PKL002); the finding tells the user allow_pickle is needed.
    "NPY001", "numpy-object-array-pickle", Severity.LOW,
    "The array has an object dtype, so numpy.load unpickles the data (allow_pickle=True); the pickle is analysed "
    "separately.",
    cwe=502,
)
SIZE_MISMATCH = Rule(
    "NPY002", "numpy-data-size-mismatch", Severity.MEDIUM,
    "The data after the header is not shape x itemsize bytes (truncated array or appended content).",
    cwe=130,
)
BAD_HEADER = Rule(
    "NPY003", "numpy-header-malformed", Severity.MEDIUM,
    "The .npy header is not the dict literal numpy writes (bad version, length, keys, dtype or shape).",
    cwe=20,
)

MAGIC = b"\x93NUMPY"
#: numpy itself refuses headers over 10 000 bytes by default (``max_header_size``).
MAX_HEADER = 1 << 16
_KEYS = frozenset({"descr", "fortran_order", "shape"})
_SIMPLE = re.compile(r"^([<>|=]?)([?bBhHiIlLqQpPefdgFDGSaUVOMmuicb])(\d*)(?:\[\w+\])?$")
_FIXED = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8, "p": 8, "P": 8,
          "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32}


#: dtype *names* numpy.dtype() also accepts in a header; an object one makes numpy unpickle.
_NAMED = {"object": "|O", "object_": "|O", "bool": "|b1", "int8": "|i1", "uint8": "|u1", "int16": "<i2",
          "uint16": "<u2", "int32": "<i4", "uint32": "<u4", "int64": "<i8", "uint64": "<u8", "float16": "<f2",
          "float32": "<f4", "float64": "<f8", "float": "<f8", "int": "<i8", "complex64": "<c8", "complex128": "<c16"}


class _Object(Exception):
    """The dtype contains Python objects (its size cannot be computed: it is a pickle)."""


class UnknownDescr(ValueError):
    """The header is well formed but its dtype is one this parser cannot size.

    numpy may still accept it (``numpy.dtype`` takes many spellings), and if it is an
    object dtype numpy unpickles the data: callers treat the data as a possible pickle.
    """

    def __init__(self, message: str, data_offset: int) -> None:
        super().__init__(message)
        self.data_offset = data_offset


@dataclass(frozen=True)
class Header:
    """A parsed ``.npy`` header."""

    version: tuple[int, int]
    descr: object
    fortran_order: bool
    shape: tuple[int, ...]
    data_offset: int
    itemsize: int | None
    """None for object dtypes (the data is a pickle) or dtypes this parser does not know."""
    is_object: bool

    @property
    def nbytes(self) -> int | None:
        return None if self.itemsize is None else math.prod(self.shape) * self.itemsize


def _simple_itemsize(text: str) -> int | None:
    """Bytes per element of a dtype string such as ``'<f4'``, ``'|S10'``, ``'<U3'``."""
    match = _SIMPLE.match(text)
    if match is None:
        return None
    kind, count = match.group(2), match.group(3)
    if kind == "O":
        raise _Object
    if count:
        n = int(count)
        return n * 4 if kind == "U" else n
    if kind in ("S", "a", "U", "V"):
        return 0
    return _FIXED.get(kind)


def itemsize(descr: object, depth: int = 0) -> int | None:
    """Bytes per element of a descr (string or structured list); raises _Object for objects."""
    if depth > 32:
        return None
    if isinstance(descr, str):
        return _simple_itemsize(_NAMED.get(descr, descr))
    if not isinstance(descr, list) or not descr:
        return None
    total = 0
    for field in descr:
        if not isinstance(field, tuple) or len(field) not in (2, 3):
            return None
        size = itemsize(field[1], depth + 1)
        if size is None:
            return None
        if len(field) == 3:
            dims = field[2]
            if isinstance(dims, int):
                dims = (dims,)
            if not isinstance(dims, tuple) or not all(isinstance(d, int) and d >= 0 for d in dims):
                return None
            size *= math.prod(dims)
        total += size
    return total


def _read_header_text(stream: BinaryIO) -> tuple[tuple[int, int], bytes, int]:
    pre = stream.read(8)
    if len(pre) < 8 or not pre.startswith(MAGIC):
        raise MalformedInput("not a .npy file (magic missing or truncated)", offset=0)
    version = (pre[6], pre[7])
    if version[0] == 1:
        raw = stream.read(2)
        width = 2
    elif version[0] in (2, 3):
        raw = stream.read(4)
        width = 4
    else:
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    if len(raw) < width:
        raise ValueError("header length field is truncated")
    length = int.from_bytes(raw, "little")
    if length > MAX_HEADER:
        raise ValueError(f"header length {length} exceeds {MAX_HEADER} bytes")
    text = stream.read(length)
    if len(text) < length:
        raise ValueError(f"header is truncated ({len(text)} of {length} bytes)")
    return version, text, 8 + width + length


def _literal(text: bytes, version: tuple[int, int]) -> dict[str, object]:
    """The header dict, parsed as a literal (never evaluated) and checked for its keys."""
    decoded = text.decode("utf-8" if version[0] == 3 else "latin-1")
    try:
        value = ast.literal_eval(decoded.strip() or "None")
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"header is not a Python literal ({type(exc).__name__})") from None
    if not isinstance(value, dict) or set(value) != _KEYS:
        keys = sorted(map(str, value)) if isinstance(value, dict) else type(value).__name__
        raise ValueError(f"header must be a dict with keys descr, fortran_order, shape; got {keys}")
    return value


def parse_header(stream: BinaryIO) -> Header:
    """Parse a ``.npy`` header at the stream's position.

    Raises MalformedInput when the magic is missing and ValueError (with the reason) for
    a header numpy would refuse or that this parser cannot size.
    """
    version, text, offset = _read_header_text(stream)
    value = _literal(text, version)
    shape = value["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ValueError(f"shape {shape!r} is not a tuple of non-negative integers")
    if not isinstance(value["fortran_order"], bool):
        raise ValueError("fortran_order is not a bool")
    try:
        size = itemsize(value["descr"])
        is_object = False
    except _Object:
        size, is_object = None, True
    if size is None and not is_object:
        raise UnknownDescr(f"unrecognised dtype descr {str(value['descr'])[:80]!r}", offset)
    return Header(version, value["descr"], value["fortran_order"], shape, offset, size, is_object)


def _total_size(artifact: Artifact, stream: BinaryIO) -> int:
    if artifact.size is not None:
        return artifact.size
    return stream.seek(0, 2)  # a decompressing stream: counted by reading, charged to the budget


class NumpyAnalyzer:
    """``.npy`` arrays (also as ``.npz`` members, which the zip analyzer yields)."""

    name = "numpy"
    formats = frozenset({Format.NUMPY})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        with artifact.open() as stream:
            try:
                header = parse_header(stream)
            except ValueError as exc:
                yield BAD_HEADER.at(artifact.location, f".npy header rejected: {exc}", evidence={"problem": str(exc)})
                if isinstance(exc, UnknownDescr):
                    # fail closed: a dtype spelling numpy accepts may be an object dtype
                    data = _total_size(artifact, stream) - exc.data_offset
                    if data > 0:
                        yield artifact.window("<data of unknown dtype>", exc.data_offset, data, hint=Format.PICKLE.value)
                return
            total = _total_size(artifact, stream)
        yield from _judge(artifact, header, total)


def _judge(artifact: Artifact, header: Header, total: int) -> Iterator[Result]:
    data = total - header.data_offset
    where = artifact.location
    if header.is_object:
        yield OBJECT_ARRAY.at(
            where,
            f"object array (descr {str(header.descr)[:60]!r}, shape {header.shape}) is a pickle: numpy.load needs "
            "allow_pickle=True",
            evidence={"descr": str(header.descr)[:120], "shape": header.shape, "pickle_bytes": data},
        )
        if data > 0:
            yield artifact.window("<object-array pickle>", header.data_offset, data, hint=Format.PICKLE.value)
        return
    expected = header.nbytes
    if expected is None or expected == data:
        return
    yield SIZE_MISMATCH.at(
        _at(where, header.data_offset),
        f"array {str(header.descr)[:40]} {header.shape} needs {expected} data bytes but the file holds {data}",
        evidence={"expected": expected, "actual": data, "shape": header.shape, "descr": str(header.descr)[:120]},
    )
    if data > expected:
        start = header.data_offset + expected
        yield artifact.window(f"<trailing@{start}>", start, data - expected)


def _at(where: Location, offset: int) -> Location:
    return where.at_offset(offset)


__all__ = ["BAD_HEADER", "Header", "NumpyAnalyzer", "OBJECT_ARRAY", "SIZE_MISMATCH", "itemsize", "parse_header"]
