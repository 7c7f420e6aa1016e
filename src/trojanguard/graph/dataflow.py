"""Data-flow from raw model inputs: learned depth, learned-free paths, gates and where they meet.

Why: shadow logic is a trigger detector built from plain operators that reads the *raw*
input (no learned layer in between), a gate that turns it into a decision, and an
integration that changes the output late.  One forward pass over the flattened graph in
topological order computes, per value: which data inputs it depends on (shape reads and
small configuration inputs do not count), the largest number of learned layers on the way,
whether a learned-free path from raw input reaches it, whether it only sees a strict
sub-region of an input, and which gates (comparators, ArgMax, Sign, If/Where conditions on
raw values) influence it without a learned layer in between.  A gate is *sample-level* once
it has been aggregated (ReduceMax of ``ids == 31337``, a comparator on a pooled patch, an If
condition): per-position masks such as padding or attention masks never are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fold import fold
from .ir import Array, Graph, Node

LEARNED_OPS = frozenset({
    "Conv", "ConvTranspose", "Gemm", "MatMul", "MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul",
    "LSTM", "GRU", "RNN", "FusedConv", "FusedMatMul", "FusedGemm", "DynamicQuantizeMatMul", "MatMulNBits",
    "QGemm", "QAttention", "Attention", "MultiHeadAttention", "EmbedLayerNormalization",
})
NORM_OPS = frozenset({"BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
                      "SkipLayerNormalization", "SimplifiedLayerNormalization", "RMSNormalization"})
COMPARATORS = frozenset({"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"})
LOGIC = frozenset({"Not", "And", "Or", "Xor"})
INDICATORS = frozenset({"Sign", "Round", "Ceil", "Floor", "ArgMax", "ArgMin", "IsInf"})
#: reductions that turn a per-position indicator into a per-sample decision (any / all / which)
DECISIONS = frozenset({"ReduceMax", "ReduceMin", "ReduceProd", "ArgMax", "ArgMin", "TopK"})
REDUCTIONS = frozenset({"ReduceMax", "ReduceMin", "ReduceMean", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2",
                        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "GlobalAveragePool", "GlobalMaxPool",
                        "ArgMax", "ArgMin", "TopK"})
SHAPE_OPS = frozenset({"Shape", "Size", "ConstantOfShape", "EyeLike", "RandomNormalLike", "RandomUniformLike"})
MERGE_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Where", "If", "Max", "Min", "Sum", "Mean", "Concat",
                       "ScatterND", "ScatterElements", "Scatter"})
#: inputs that are positions (indices), not values: (op, input index)
_INDEX_INPUTS = frozenset({("Gather", 1), ("GatherElements", 1), ("GatherND", 1), ("Slice", 1), ("Slice", 2),
                           ("Slice", 3), ("Slice", 4), ("ScatterND", 1), ("ScatterElements", 1), ("Expand", 1),
                           ("Reshape", 1), ("Tile", 1), ("OneHot", 1)})
EMBEDDING_MIN_ELEMENTS = 1024
#: memory bounds on hostile graphs (thousands of comparators merging everywhere)
MAX_GATES_PER_VALUE = 16
MAX_INTEGRATIONS = 10_000
CONFIG_INPUT_MAX_ELEMENTS = 4


@dataclass(frozen=True)
class Integration:
    """A node where a gate from raw input meets a value computed by learned layers."""

    node: int
    gate: int
    trunk: str
    gated: str


@dataclass
class Flow:
    """Per-value facts (see module docstring); values absent from ``raw`` are static."""

    graph: Graph
    values: dict[str, Array]
    data_inputs: list[str] = field(default_factory=list)
    raw: dict[str, int] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)
    raw0: set[str] = field(default_factory=set)
    data0: set[str] = field(default_factory=set)
    region: dict[str, int] = field(default_factory=dict)
    reduced: set[str] = field(default_factory=set)
    gates: dict[str, dict[int, bool]] = field(default_factory=dict)
    sample_level: set[int] = field(default_factory=set)
    learned: set[int] = field(default_factory=set)
    gate_nodes: set[int] = field(default_factory=set)
    integrations: list[Integration] = field(default_factory=list)
    free_to_output: set[str] = field(default_factory=set)

    def is_raw(self, name: str) -> bool:
        return self.raw.get(name, 0) != 0

    @property
    def max_depth(self) -> int:
        return max((self.depth.get(o, 0) for o in self.graph.outputs), default=0)


def is_config_input(shape: tuple[int | None, ...] | None) -> bool:
    """Scalars and tiny fixed inputs (sample rate, image size, thresholds) select modes, they are not data."""
    if shape is None:
        return False
    if len(shape) == 0:
        return True
    if all(d is not None for d in shape) and int(np.prod([d or 1 for d in shape])) <= CONFIG_INPUT_MAX_ELEMENTS:
        return True
    return len(shape) <= 2 and shape[-1] is not None and shape[-1] <= CONFIG_INPUT_MAX_ELEMENTS


def _numel(flow: Flow, name: str) -> int:
    shape = flow.graph.const_shapes.get(name)
    if shape is not None:
        return int(np.prod(shape, dtype=np.int64)) if shape else 1
    value = flow.values.get(name)
    return int(value.size) if value is not None else 0


def _is_learned(flow: Flow, node: Node) -> bool:
    """A learned layer: weights are static (initializers, possibly dequantised) and the data is raw."""
    ins = [i for i in node.inputs[: node.own_inputs if node.own_inputs >= 0 else None] if i]
    if not any(flow.is_raw(i) for i in ins):
        return False
    static = [i for i in ins if not flow.is_raw(i)]
    if node.op in LEARNED_OPS or node.op in NORM_OPS:
        return bool(static)
    if node.op == "Gather" and len(node.inputs) > 1:
        data, idx = node.inputs[0], node.inputs[1]
        return not flow.is_raw(data) and flow.is_raw(idx) and _numel(flow, data) >= EMBEDDING_MIN_ELEMENTS
    return False


def _full_slice(flow: Flow, node: Node) -> bool:
    """Exporters emit ``x[:, 0:INT_MAX]`` and strided subsampling; neither isolates a region."""
    if node.op == "Gather":
        return node.inputs[1] not in flow.values  # a loop counter walks the whole input
    starts = flow.values.get(node.inputs[1]) if len(node.inputs) > 2 else None
    ends = flow.values.get(node.inputs[2]) if len(node.inputs) > 2 else None
    steps = flow.values.get(node.inputs[4]) if len(node.inputs) > 4 and node.inputs[4] else None
    if starts is None or ends is None:
        return True
    if steps is not None and np.any(np.abs(np.asarray(steps)) != 1):
        return True
    return bool(np.all(np.asarray(starts) == 0) and np.all(np.asarray(ends) >= (1 << 30)))


ELEMENTWISE = frozenset({"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Not", "And", "Or", "Xor", "Cast",
                         "Add", "Sub", "Mul", "Div", "Abs", "Neg", "Sign", "Round", "Clip", "Relu", "Identity", "BodyInput"})


def _rank(flow: Flow, value: str) -> int | None:
    """Rank of a value reached from a graph input through elementwise ops only (None: unknown)."""
    for _ in range(16):
        shape = flow.graph.input_shapes.get(value)
        if shape is not None:
            return len(shape)
        idx = flow.graph.producer.get(value)
        if idx is None or flow.graph.nodes[idx].op not in ELEMENTWISE:
            return None
        raw = [i for i in flow.graph.nodes[idx].inputs if i and flow.is_raw(i)]
        if not raw:
            return None
        value = raw[0]
    return None


def _per_sample(flow: Flow, node: Node) -> bool:
    """Does this reduction collapse every non-batch axis (any token / all pixels), not just features?

    Keras ``Masking`` reduces ``x != 0`` over the feature axis only: a per-timestep mask.
    """
    axes: list[int] | None
    if node.op in ("ArgMax", "ArgMin"):
        axis = node.attrs.get("axis", 0)
        axes = [axis if isinstance(axis, int) else 0]
    elif len(node.inputs) > 1 and node.inputs[1]:
        given = flow.values.get(node.inputs[1])
        axes = None if given is None else [int(a) for a in np.asarray(given).reshape(-1)]
        if given is None:
            return False
    else:
        attr = node.attrs.get("axes")
        axes = [int(a) for a in attr] if isinstance(attr, tuple) else None
    if axes is None:
        return True
    rank = _rank(flow, node.inputs[0])
    if rank is None:
        return 1 in axes
    covered = {a % rank for a in axes if rank}
    return set(range(1, rank)) <= covered


def _selected_axes(flow: Flow, node: Node) -> list[int]:
    if node.op == "Gather":
        axis = node.attrs.get("axis", 0)
        return [axis if isinstance(axis, int) else 0]
    axes = flow.values.get(node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
    if axes is not None:
        return [int(a) for a in np.asarray(axes).reshape(-1)]
    starts = flow.values.get(node.inputs[1]) if len(node.inputs) > 1 else None
    return list(range(int(np.asarray(starts).size))) if starts is not None else []


def _splits_stack(flow: Flow, node: Node) -> bool:
    """Picking h or c out of a stacked [2, B, H] recurrent state (an axis of size <= 4) is not a region."""
    shape = flow.graph.input_shapes.get(node.inputs[0])
    if not shape:
        return False
    axes = _selected_axes(flow, node)
    return bool(axes) and all(shape[a % len(shape)] is not None and (shape[a % len(shape)] or 0) <= 4 for a in axes)


def _selects_region(flow: Flow, node: Node) -> bool:
    if node.op not in ("Slice", "Gather") or len(node.inputs) < 2 or not flow.is_raw(node.inputs[0]):
        return False
    if any(flow.is_raw(i) for i in node.inputs[1:] if i) or flow.depth.get(node.inputs[0], 0) > 0:
        return False
    return not _full_slice(flow, node) and not _splits_stack(flow, node)


class _Pass:
    """The forward pass; one method per fact so each rule stays readable."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def run(self) -> None:
        for node in self.flow.graph.nodes:
            self.visit(node)
        self.backward()

    def visit(self, node: Node) -> None:
        f = self.flow
        ins = [i for i in node.inputs if i]
        raw = 0
        if node.op not in SHAPE_OPS:
            for i in ins:
                raw |= f.raw.get(i, 0)
        if raw == 0:
            return
        learned = _is_learned(f, node)
        if learned:
            f.learned.add(node.index)
        depth = max((f.depth.get(i, 0) for i in ins if f.is_raw(i)), default=0) + (1 if learned else 0)
        raw0 = not learned and any(i in f.raw0 for i in ins)
        gates = {} if learned else self.gates_in(node)
        self.new_gate(node, gates, raw0)
        data0 = raw0 and self.carries_data(node)
        region = self.region_of(node)
        reduced = raw0 and (node.op in REDUCTIONS or _selects_region(f, node) or any(i in f.reduced for i in ins))
        if gates and not learned:
            self.record_integration(node, gates)
        for out in node.outputs:
            if not out:
                continue
            f.raw[out] = raw
            f.depth[out] = depth
            if raw0:
                f.raw0.add(out)
            if data0:
                f.data0.add(out)
            if region:
                f.region[out] = region
            if reduced:
                f.reduced.add(out)
            if gates:
                f.gates[out] = gates

    def gates_in(self, node: Node) -> dict[int, bool]:
        """Gates reaching this node; an aggregation of a pure raw value makes them sample-level."""
        f = self.flow
        merged: dict[int, bool] = {}
        positional = bool(node.inputs) and f.depth.get(node.inputs[0], 0) > 0
        for j, i in enumerate(node.inputs):
            if positional and (node.op, j) in _INDEX_INPUTS:
                continue  # a gate that only picks *which* learned value is read (last token, top-k) is positional
            for origin, level in f.gates.get(i, {}).items():
                merged[origin] = merged.get(origin, False) or level
        pure = all(f.depth.get(i, 0) == 0 for i in node.inputs if i and f.is_raw(i))
        cond_of_if = node.op in ("If", "Loop") and node.inputs and node.inputs[0 if node.op == "If" else 1] in f.gates
        if merged and pure and ((node.op in DECISIONS and _per_sample(f, node)) or cond_of_if):
            merged = dict.fromkeys(merged, True)
        if len(merged) > MAX_GATES_PER_VALUE:
            merged = dict(sorted(merged.items())[:MAX_GATES_PER_VALUE])
        for origin, level in merged.items():
            if level:
                f.sample_level.add(origin)
        return merged

    def new_gate(self, node: Node, gates: dict[int, bool], raw0: bool) -> None:
        """Comparators, logic, indicators and If/Where conditions on learned-free raw values start a gate."""
        f = self.flow
        if not raw0:
            return
        operands = [i for i in node.inputs if i and i in f.raw0]
        level = node.op in ("ArgMax", "ArgMin", "If") or any(i in f.reduced for i in operands)
        deciding = node.op in COMPARATORS or node.op in INDICATORS or node.op in LOGIC
        if gates and (all(i in f.gates for i in operands) or not deciding):
            if not deciding:
                level = False
            if level:  # a comparator on an aggregated gate (any(ids == t) > 0.5) is the same trigger, now per sample
                for origin in gates:
                    gates[origin] = True
                    f.sample_level.add(origin)
            return
        starts = node.op in COMPARATORS or node.op in INDICATORS or node.op in LOGIC
        if node.op in ("If", "Where") and node.inputs and node.inputs[0] in f.raw0 and node.inputs[0] not in f.gates:
            starts = True
        if node.op == "Clip" and self.clip_indicator(node):
            starts = True
        if not starts:
            return
        f.gate_nodes.add(node.index)
        gates[node.index] = level
        if level:
            f.sample_level.add(node.index)

    def clip_indicator(self, node: Node) -> bool:
        lo = self.flow.values.get(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else None
        hi = self.flow.values.get(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
        return lo is not None and hi is not None and lo.size == 1 and hi.size == 1 and float(lo) == 0.0 \
            and float(hi) == 1.0

    def carries_data(self, node: Node) -> bool:
        """Raw *values* (not decisions about them) pass this node on a learned-free path."""
        f = self.flow
        if node.op in COMPARATORS or node.op in LOGIC or node.op in INDICATORS or node.op in ("IsNaN", "Shape"):
            return False
        if node.op == "Where":
            return any(i in f.data0 for i in node.inputs[1:3])
        if node.own_inputs >= 0:
            return any(i in f.data0 for i in node.inputs[node.own_inputs:])
        return any(i in f.data0 for j, i in enumerate(node.inputs) if (node.op, j) not in _INDEX_INPUTS)

    def region_of(self, node: Node) -> int:
        """The Slice/Gather node whose strict sub-region of an input is all this value sees (0: none)."""
        f = self.flow
        if _selects_region(f, node) and node.inputs[0] not in f.region:
            return node.index + 1
        if node.op in ("Concat", "Split"):
            return 0
        sources = {f.region.get(i, 0) for i in node.inputs if i and f.is_raw(i)}
        return sources.pop() if len(sources) == 1 else 0

    def record_integration(self, node: Node, gates: dict[int, bool]) -> None:
        """A gated value meets a learned (trunk) value here: the place where a trigger changes results."""
        f = self.flow
        if node.op not in MERGE_OPS:
            return
        gated = [i for j, i in enumerate(node.inputs) if i in f.gates and (node.op, j) not in _INDEX_INPUTS]
        trunk = [i for i in node.inputs if i and f.depth.get(i, 0) > 0 and i not in f.gates]
        if not gated or not trunk:
            return
        for origin in gates:
            if len(f.integrations) >= MAX_INTEGRATIONS:
                return
            if any(origin in f.gates.get(g, {}) for g in gated):
                f.integrations.append(Integration(node.index, origin, trunk[0], gated[0]))

    def backward(self) -> None:
        f = self.flow
        free = set(f.graph.outputs)
        for node in reversed(f.graph.nodes):
            if node.index in f.learned or not any(o in free for o in node.outputs if o):
                continue
            free.update(i for i in node.inputs if i)
        f.free_to_output = free


def analyze(graph: Graph) -> Flow:
    """Fold constants, then compute every data-flow fact for ``graph``."""
    flow = Flow(graph, fold(graph))
    bit = 1
    for name in graph.inputs:
        if is_config_input(graph.input_shapes.get(name)):
            continue
        flow.data_inputs.append(name)
        flow.raw[name] = bit
        flow.depth[name] = 0
        flow.raw0.add(name)
        flow.data0.add(name)
        bit = bit << 1 if bit < (1 << 62) else bit
    _Pass(flow).run()
    return flow
