"""Constant folding of shape plumbing and small literals.

Why: exporters emit ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` chains,
``Equal``/``Where`` on shapes and ``ConstantOfShape`` fills.  Those are not logic on input
*data*; folding them tells the data-flow pass which values are static, and gives detectors
the literal a comparator tests against (a token id, a pixel value) even when the exporter
built it with ``Unsqueeze(Constant)`` or ``Cast``.  Only small tensors are evaluated (bounded
by :data:`MAX_FOLD_ELEMENTS`); anything unknown stays unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .ir import Array, Graph, Node

MAX_FOLD_ELEMENTS = 1 << 16

#: ONNX element type -> numpy dtype for Cast
_DTYPES: dict[int, Any] = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
                           10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64, 4: np.uint16}

_BINARY: dict[str, Callable[[Array, Array], Array]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Equal": np.equal, "Greater": np.greater,
    "Less": np.less, "GreaterOrEqual": np.greater_equal, "LessOrEqual": np.less_equal, "And": np.logical_and,
    "Or": np.logical_or, "Max": np.maximum, "Min": np.minimum,
}


def _ints(node: Node, name: str) -> tuple[int, ...] | None:
    value = node.attrs.get(name)
    return tuple(int(v) for v in value) if isinstance(value, tuple) else None


def _int(node: Node, name: str, default: int) -> int:
    value = node.attrs.get(name)
    return value if isinstance(value, int) else default


def _axes(node: Node, args: Sequence[Array | None], pos: int) -> tuple[int, ...] | None:
    if len(args) > pos and args[pos] is not None:
        return tuple(int(x) for x in np.asarray(args[pos]).reshape(-1))
    return _ints(node, "axes")


def _slice(node: Node, args: Sequence[Any]) -> Array | None:
    data = args[0]
    if len(args) >= 3 and args[1] is not None and args[2] is not None:
        starts, ends = np.asarray(args[1]).reshape(-1), np.asarray(args[2]).reshape(-1)
        axes = np.asarray(args[3]).reshape(-1) if len(args) > 3 and args[3] is not None else np.arange(len(starts))
        steps = np.asarray(args[4]).reshape(-1) if len(args) > 4 and args[4] is not None else np.ones(len(starts), int)
    else:
        s, e = _ints(node, "starts"), _ints(node, "ends")
        if s is None or e is None:
            return None
        starts, ends = np.asarray(s), np.asarray(e)
        axes = np.asarray(_ints(node, "axes") or tuple(range(len(s))))
        steps = np.ones(len(s), int)
    index: list[slice] = [slice(None)] * data.ndim
    for a, s0, e0, st in zip(axes, starts, ends, steps, strict=False):
        index[int(a) % max(data.ndim, 1)] = slice(int(max(min(s0, 1 << 62), -(1 << 62))),
                                                  int(max(min(e0, 1 << 62), -(1 << 62))), int(st) or 1)
    return data[tuple(index)]


def _evaluate(node: Node, args: list[Any]) -> Array | None:  # noqa: PLR0911 - one case per op
    op = node.op
    if any(a is None for a in args[:1]):
        return None
    a = args[0]
    if op == "Identity":
        return a
    if op in _BINARY and len(args) >= 2 and args[1] is not None:
        return _BINARY[op](a, args[1])
    if op == "Div" and len(args) >= 2 and args[1] is not None:
        b = args[1]
        if np.issubdtype(np.asarray(a).dtype, np.integer) and np.issubdtype(np.asarray(b).dtype, np.integer):
            return np.floor_divide(a, np.where(b == 0, 1, b))
        with np.errstate(all="ignore"):
            return np.divide(a, b)
    if op == "Not":
        return np.logical_not(a)
    if op == "Neg":
        return np.negative(a)
    if op == "Cast":
        dtype = _DTYPES.get(_int(node, "to", 1))
        return None if dtype is None else np.asarray(a).astype(dtype)
    if op == "Unsqueeze":
        axes = _axes(node, args, 1)
        return None if axes is None else np.expand_dims(a, tuple(x % (a.ndim + len(axes)) for x in axes))
    if op == "Squeeze":
        axes = _axes(node, args, 1)
        return np.squeeze(a) if axes is None else np.squeeze(a, tuple(x % max(a.ndim, 1) for x in axes))
    if op == "Concat":
        if any(x is None for x in args):
            return None
        return np.concatenate([np.atleast_1d(x) for x in args], axis=_int(node, "axis", 0))
    if op == "Reshape" and len(args) > 1 and args[1] is not None:
        raw = [int(s) for s in np.asarray(args[1]).reshape(-1)]
        return np.reshape(a, [int(a.shape[i]) if s == 0 and i < a.ndim else s for i, s in enumerate(raw)])
    if op == "Gather" and len(args) > 1 and args[1] is not None:
        return np.take(a, np.asarray(args[1]).astype(np.int64), axis=_int(node, "axis", 0))
    if op == "Slice":
        return _slice(node, args)
    if op == "ConstantOfShape":
        shape = tuple(int(s) for s in np.asarray(a).reshape(-1))
        return np.zeros(shape, np.float32) if int(np.prod(shape, dtype=np.int64)) <= MAX_FOLD_ELEMENTS else None
    if op == "Range" and len(args) == 3 and all(x is not None for x in args):
        n = int((float(args[1]) - float(a)) / (float(args[2]) or 1))  # type: ignore[arg-type]
        return np.arange(a, args[1], args[2]) if 0 <= n <= MAX_FOLD_ELEMENTS else None
    return None


def fold(graph: Graph) -> dict[str, Array]:
    """Values of every constant and every small value computable from constants alone."""
    values: dict[str, Array] = {k: v for k, v in graph.consts.items() if v is not None}
    for node in graph.nodes:
        if not node.outputs or not node.outputs[0] or node.outputs[0] in values or node.own_inputs >= 0:
            continue
        args = [values.get(i) if i else None for i in node.inputs]
        if not args or (args[0] is None and node.op != "Constant"):
            continue
        try:
            with np.errstate(all="ignore"):
                out = _evaluate(node, args)
        except (ValueError, IndexError, TypeError, OverflowError, MemoryError):
            out = None
        if out is not None and np.asarray(out).size <= MAX_FOLD_ELEMENTS:
            values[node.outputs[0]] = np.asarray(out)
    return values
