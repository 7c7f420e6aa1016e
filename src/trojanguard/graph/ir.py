"""Format-neutral graph IR, flattened: one list of nodes, constants, inputs and outputs.

Why flatten: a trigger hidden in an ``If`` branch, a ``Loop`` body or a model-local
function is the same logic as one in the main graph, so detectors should see a single
data-flow graph.  ONNX subgraph bodies are inlined with scoped value names: an ``If`` node
becomes a selector whose inputs are its condition plus every branch output, ``Loop``/``Scan``
body inputs alias the node's own inputs, and calls of local functions are replaced by the
function body.  Node names are kept only for display; they are never evidence.
"""

from __future__ import annotations

from collections import ChainMap, deque
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ..errors import LimitExceeded

AttrValue = Union[int, float, str, tuple[int, ...], tuple[float, ...], None]
Array = Any  # numpy.ndarray (numpy's generic alias is too loose for --strict here)

MAX_CONST_ELEMENTS = 1 << 16  # larger initializers keep only their shape (never decoded)
MAX_INLINE_DEPTH = 32
MAX_NODES = 2_000_000
_EXTERNAL = 1


@dataclass(frozen=True)
class Node:
    """One operation; ``scope`` says where it came from (main graph, branch, loop body, function)."""

    index: int
    op: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, AttrValue]
    scope: str
    name: str = ""
    #: for If/Loop/Scan: how many leading inputs are the node's own (the rest are body outputs)
    own_inputs: int = -1

    @property
    def label(self) -> str:
        """How reports refer to a node: operator, scope and position (never the name alone)."""
        return f"{self.op}#{self.index}" + ("" if self.scope == "graph" else f" in {self.scope}")


@dataclass
class Graph:
    """A flattened graph: nodes in topological order and what is known about values."""

    nodes: list[Node] = field(default_factory=list)
    consts: dict[str, Array | None] = field(default_factory=dict)
    const_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    input_shapes: dict[str, tuple[int | None, ...] | None] = field(default_factory=dict)
    input_dtypes: dict[str, int] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    producer: dict[str, int] = field(default_factory=dict)
    consumers: dict[str, list[int]] = field(default_factory=dict)

    def index(self) -> None:
        """(Re)build producer/consumer maps after ``nodes`` changed."""
        self.producer = {}
        self.consumers = {}
        for node in self.nodes:
            for out in node.outputs:
                if out:
                    self.producer[out] = node.index
            for name in node.inputs:
                if name:
                    self.consumers.setdefault(name, []).append(node.index)


def _attr(a: Any) -> AttrValue:
    kind = a.type
    if kind == 1:
        return float(a.f)
    if kind == 2:
        return int(a.i)
    if kind == 3:
        return a.s[:256].decode("utf-8", "replace") if isinstance(a.s, bytes) else str(a.s)[:256]
    if kind == 6:
        return tuple(float(x) for x in a.floats[:4096])
    if kind == 7:
        return tuple(int(x) for x in a.ints[:4096])
    return None


def tensor_array(t: Any) -> Array | None:
    """Decode a small, embedded TensorProto; None when external, large or inconsistent."""
    count = 1
    for d in t.dims:
        count *= max(int(d), 0)
    if t.data_location == _EXTERNAL or t.external_data or count > MAX_CONST_ELEMENTS:
        return None
    from onnx import numpy_helper

    try:
        return np.asarray(numpy_helper.to_array(t))
    except Exception:  # noqa: BLE001 - hostile tensors: a value we cannot decode is just unknown
        return None


def _value_shape(vi: Any) -> tuple[tuple[int | None, ...] | None, int]:
    if not vi.type.HasField("tensor_type"):
        return None, 0
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None, int(tt.elem_type)
    dims = tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim)
    return dims, int(tt.elem_type)


class _Builder:
    """Flattens one ModelProto into a :class:`Graph`."""

    def __init__(self, model: Any) -> None:
        self.graph = Graph()
        self.functions = {(f.domain, f.name): f for f in model.functions}
        self.counter = 0
        self.pending: list[Node] = []

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}~{self.counter}"

    def add(self, op: str, domain: str, inputs: Iterable[str], outputs: Iterable[str], attrs: Mapping[str, AttrValue],
            scope: str, name: str = "", own: int = -1) -> None:
        if len(self.pending) >= MAX_NODES:
            raise LimitExceeded(f"more than {MAX_NODES} graph nodes after inlining", limit="max_nodes")
        self.pending.append(Node(len(self.pending), op, domain, tuple(inputs), tuple(outputs), dict(attrs), scope, name,
                                 own))

    def const(self, name: str, t: Any) -> None:
        self.graph.consts[name] = tensor_array(t)
        self.graph.const_shapes[name] = tuple(int(d) for d in t.dims)

    def body(self, g: Any, scope: str, names: MutableMapping[str, str], depth: int) -> None:
        """Add a GraphProto (or FunctionProto) body; ``names`` maps body names to flat names."""
        if depth > MAX_INLINE_DEPTH:
            raise LimitExceeded(f"subgraphs/functions nested deeper than {MAX_INLINE_DEPTH}", limit="max_depth")
        prefix = "" if scope == "graph" else self.fresh(scope) + "/"
        for t in getattr(g, "initializer", ()):
            names[t.name] = prefix + t.name
            self.const(prefix + t.name, t)
        for node in g.node:
            self.node(node, scope, names, prefix, depth)

    def node(self, node: Any, scope: str, names: MutableMapping[str, str], prefix: str, depth: int) -> None:
        ins = [names.get(n, n) if n else "" for n in node.input]
        outs = []
        for n in node.output:
            if n:
                names[n] = prefix + n
            outs.append(prefix + n if n else "")
        attrs = {a.name: _attr(a) for a in node.attribute}
        where = f"{scope}/{node.op_type}"
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            self.constant_node(node, outs)
        key = (node.domain, node.op_type)
        if key in self.functions and depth < MAX_INLINE_DEPTH:
            self.inline(self.functions[key], ins, outs, f"function {node.domain}:{node.op_type}", names, depth)
            return
        extra: list[str] = []
        for a in node.attribute:
            bodies = [a.g] if a.HasField("g") else list(a.graphs)
            for i, sub in enumerate(bodies):
                child: ChainMap[str, str] = ChainMap({}, names)  # type: ignore[arg-type]
                self.alias_body_inputs(node.op_type, sub, ins, child)
                self.body(sub, f"{where}.{a.name}" + (f"[{i}]" if len(bodies) > 1 else ""), child, depth + 1)
                extra.extend(child.get(o.name, o.name) for o in sub.output)
        self.add(node.op_type, node.domain, [*ins, *extra], outs, attrs, scope, node.name, len(ins) if extra else -1)

    def alias_body_inputs(self, op: str, sub: Any, ins: list[str], names: MutableMapping[str, str]) -> None:
        """Loop bodies take (iteration, condition, carried...); Scan bodies take (state..., scan slices...)."""
        formal = [i.name for i in sub.input]
        actual = ins if op == "Scan" else ins[: len(formal)]
        for j, name in enumerate(formal):
            names[name] = self.fresh(name)
            if j < len(actual) and actual[j] and not (op == "Loop" and j == 0):
                # a per-iteration value: data flows from the node's input, but it is never a folded constant
                self.add("BodyInput", "trojanguard", [actual[j]], [names[name]], {}, "body-input")

    def inline(self, fn: Any, ins: list[str], outs: list[str], scope: str, names: MutableMapping[str, str],
               depth: int) -> None:
        local: dict[str, str] = {}
        for j, formal in enumerate(fn.input):
            local[formal] = ins[j] if j < len(ins) and ins[j] else self.fresh(formal)
        self.body(fn, scope, local, depth + 1)
        for j, formal in enumerate(fn.output):
            if j < len(outs) and outs[j]:
                self.add("Identity", "", [local.get(formal, formal)], [outs[j]], {}, scope)

    def constant_node(self, node: Any, outs: list[str]) -> None:
        if not outs or not outs[0]:
            return
        for a in node.attribute:
            if a.name == "value" and a.HasField("t"):
                self.const(outs[0], a.t)
            elif a.name in ("value_float", "value_int"):
                self.graph.consts[outs[0]] = np.asarray(a.f if a.name == "value_float" else a.i)
                self.graph.const_shapes[outs[0]] = ()
            elif a.name in ("value_floats", "value_ints"):
                vals = a.floats if a.name == "value_floats" else a.ints
                self.graph.consts[outs[0]] = np.asarray(list(vals[:MAX_CONST_ELEMENTS]))
                self.graph.const_shapes[outs[0]] = (len(vals),)

    def finish(self, g: Any) -> Graph:
        graph = self.graph
        graph.nodes = topo_sort(self.pending)
        for vi in getattr(g, "input", ()):
            if vi.name in graph.consts:
                continue  # old exporters list initializers as inputs too
            graph.inputs.append(vi.name)
            graph.input_shapes[vi.name], graph.input_dtypes[vi.name] = _value_shape(vi)
        graph.outputs = [vi.name for vi in getattr(g, "output", ())]
        graph.index()
        return graph


def topo_sort(nodes: list[Node]) -> list[Node]:
    """Kahn's algorithm; nodes left in a cycle (hostile input) keep their order at the end."""
    producer: dict[str, int] = {}
    for n in nodes:
        for o in n.outputs:
            if o:
                producer[o] = n.index
    indeg = [0] * len(nodes)
    users: dict[int, list[int]] = {}
    for n in nodes:
        deps = {producer[i] for i in n.inputs if i in producer and producer[i] != n.index}
        indeg[n.index] = len(deps)
        for d in deps:
            users.setdefault(d, []).append(n.index)
    queue = deque(i for i, d in enumerate(indeg) if d == 0)
    order: list[int] = []
    while queue:
        i = queue.popleft()
        order.append(i)
        for u in users.get(i, ()):
            indeg[u] -= 1
            if indeg[u] == 0:
                queue.append(u)
    seen = set(order)
    order.extend(i for i in range(len(nodes)) if i not in seen)
    return [Node(k, nodes[i].op, nodes[i].domain, nodes[i].inputs, nodes[i].outputs, nodes[i].attrs, nodes[i].scope,
                 nodes[i].name, nodes[i].own_inputs) for k, i in enumerate(order)]


def from_onnx(model: Any) -> Graph:
    """Build the flattened IR of an ``onnx.ModelProto`` (never loads external data)."""
    builder = _Builder(model)
    names: dict[str, str] = {}
    builder.body(model.graph, "graph", names, 0)
    return builder.finish(model.graph)
