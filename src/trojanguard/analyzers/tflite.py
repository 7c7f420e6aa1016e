"""TFLite flatbuffers: which operators would the interpreter need?

Builtin TFLite operators are pure math.  A model can also name *custom* operators (a
``custom_code`` string that the loading application must register as native code) and
*Flex* (select-TF) operators, which run full TensorFlow kernels — ``FlexPyFunc`` or
``FlexWriteFile`` reach Python and the file system.  The flatbuffer is walked by hand:
only the root table and ``operator_codes`` are read, each read is a bounded seek+read at a
validated offset, so weights (``buffers``) are never touched.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from trojanguard.analyzers.base import Context, Result
from trojanguard.artifact import Artifact
from trojanguard.errors import LimitExceeded, MalformedInput
from trojanguard.formats import Format
from trojanguard.model import Rule, Severity
from trojanguard.policy import tf_ops

FLEX_OP = Rule(
    "TFL001",
    "tflite-flex-op",
    Severity.LOW,
    "A TFLite model uses Flex (select TensorFlow) operators, some of which reach Python, files or the network.",
    cwe=829,
)
CUSTOM_OP = Rule(
    "TFL002",
    "tflite-custom-op",
    Severity.MEDIUM,
    "A TFLite model needs custom operators whose native kernels the loading application must supply.",
    cwe=829,
)

BUILTIN_CUSTOM = 32
MAX_OPERATOR_CODES = 100_000
MAX_STRING = 4096
#: custom ops shipped with the TFLite runtime itself (no third-party kernel needed)
KNOWN_CUSTOM = frozenset({"TFLite_Detection_PostProcess", "Mfcc", "AudioSpectrogram", "MaxPoolingWithArgmax2D",
                          "MaxUnpooling2D", "Convolution2DTransposeBias", "RandomStandardNormal", "RandomUniform",
                          "Multinomial"})


class _Flat:
    """Bounded random access to a flatbuffer in a seekable stream."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise MalformedInput(f"flatbuffer offset {offset}+{n} outside the file ({self.size} bytes)", offset=offset)
        self.stream.seek(offset)
        data = self.stream.read(n)
        if len(data) != n:
            raise MalformedInput("flatbuffer truncated", offset=offset)
        return data

    def u32(self, offset: int) -> int:
        return int(struct.unpack("<I", self.read(offset, 4))[0])

    def i32(self, offset: int) -> int:
        return int(struct.unpack("<i", self.read(offset, 4))[0])

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table`` (None if absent)."""
        vtable = table - self.i32(table)
        vt_size = struct.unpack("<H", self.read(vtable, 2))[0]
        slot = 4 + 2 * index
        if slot + 2 > vt_size:
            return None
        rel = struct.unpack("<H", self.read(vtable + slot, 2))[0]
        return table + rel if rel else None

    def deref(self, pos: int) -> int:
        return pos + self.u32(pos)

    def vector(self, table: int, index: int, limit: int) -> list[int]:
        """Positions of the elements' offsets of a vector-of-tables field."""
        pos = self.field(table, index)
        if pos is None:
            return []
        vec = self.deref(pos)
        n = self.u32(vec)
        if n > limit:
            raise LimitExceeded(f"flatbuffer vector of {n} elements (limit {limit})", limit="max_operator_codes")
        return [vec + 4 + 4 * i for i in range(n)]

    def string(self, table: int, index: int) -> str | None:
        pos = self.field(table, index)
        if pos is None:
            return None
        start = self.deref(pos)
        n = self.u32(start)
        if n > MAX_STRING:
            raise MalformedInput(f"flatbuffer string of {n} bytes", offset=start)
        return self.read(start + 4, n).decode("utf-8", "replace")

    def scalar(self, table: int, index: int, fmt: str, default: int) -> int:
        pos = self.field(table, index)
        if pos is None:
            return default
        return int(struct.unpack(fmt, self.read(pos, struct.calcsize(fmt)))[0])


def operator_codes(stream: BinaryIO, size: int) -> list[tuple[int, str | None]]:
    """``(builtin_code, custom_code)`` of every operator code of a TFLite model."""
    flat = _Flat(stream, size)
    root = flat.deref(0)
    out: list[tuple[int, str | None]] = []
    for element in flat.vector(root, 1, MAX_OPERATOR_CODES):
        table = flat.deref(element)
        deprecated = flat.scalar(table, 0, "<b", 0)
        builtin = flat.scalar(table, 3, "<i", 0)
        out.append((max(deprecated, builtin), flat.string(table, 1)))
    return out


class TfliteAnalyzer:
    name = "tflite"
    formats = frozenset({Format.TFLITE})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        size = artifact.size
        if size is None:
            with artifact.open() as stream:
                size = stream.seek(0, 2)
        with artifact.open() as stream:
            codes = operator_codes(stream, size)
        customs = sorted({c for b, c in codes if b == BUILTIN_CUSTOM and c})
        for name in customs:
            yield from _judge_custom(name, artifact)


def _judge_custom(name: str, artifact: Artifact) -> Iterator[Result]:
    if name.startswith(tf_ops.FLEX_PREFIX):
        op = name[len(tf_ops.FLEX_PREFIX):]
        policy = tf_ops.op_policy(op)
        if policy is not None:
            severity, category, reason = policy
            yield FLEX_OP.at(artifact.location, f"Flex op {name} runs TensorFlow's {op}: {reason}",
                             evidence={"op": name, "category": category}, severity=max(severity, Severity.LOW))
        else:
            yield FLEX_OP.at(artifact.location, f"Flex op {name} needs the select-TF-ops runtime",
                             evidence={"op": name, "category": "flex"})
    elif name not in KNOWN_CUSTOM:
        yield CUSTOM_OP.at(artifact.location, f"custom op {name!r} needs a native kernel supplied by the loader",
                           evidence={"op": name})
