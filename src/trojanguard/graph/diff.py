"""Structural diff of a suspect model against a reference: added, removed and rewired nodes.

Why: the strongest evidence of shadow logic is the reference model the publisher released.
Both graphs are normalised the same way (local functions inlined, subgraphs flattened,
constants folded, Identity nodes collapsed) and matched bottom-up by *structure* — operator,
attributes, and which already-matched values feed each input — never by names (an attacker
renames freely, exporters rename between versions).  Initializers match by shape and dtype,
so retrained or fine-tuned weights alone produce no difference.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .fold import fold
from .ir import Graph, Node, from_onnx

_SKIP_ATTR_TYPES = (str,)  # string attributes are mostly names/paths and do not change computation here


@dataclass
class GraphDiff:
    """What changed; node labels are ``Op#index`` in the suspect (added, rewired) or reference (removed)."""

    added: list[Node] = field(default_factory=list)
    removed: list[Node] = field(default_factory=list)
    rewired: list[tuple[Node, Node, tuple[int, ...]]] = field(default_factory=list)
    outputs_changed: list[tuple[str, str, str]] = field(default_factory=list)
    suspect_nodes: int = 0
    reference_nodes: int = 0

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.rewired or self.outputs_changed)

    def lines(self) -> list[str]:
        """A plain-text report, one change per line."""
        if self.identical:
            return [f"graphs match structurally ({self.suspect_nodes} nodes; weights are not compared)"]
        out = [f"suspect {self.suspect_nodes} nodes, reference {self.reference_nodes} nodes: "
               f"{len(self.added)} added, {len(self.removed)} removed, {len(self.rewired)} rewired"]
        out += [f"+ {n.label}" for n in self.added]
        out += [f"- {n.label}" for n in self.removed]
        out += [f"~ {s.label} (reference {r.label}): input(s) {', '.join(map(str, pos))} now come from elsewhere"
                for s, r, pos in self.rewired]
        out += [f"! output {name}: now produced by {now}, reference by {was}" for name, now, was in self.outputs_changed]
        return out


def _attrs_key(node: Node) -> tuple[Any, ...]:
    return tuple(sorted((k, v) for k, v in node.attrs.items() if not isinstance(v, _SKIP_ATTR_TYPES)))


def _const_key(graph: Graph, name: str) -> str:
    shape = graph.const_shapes.get(name)
    if shape is not None:
        value = graph.consts.get(name)
        return f"const{shape}:{value.dtype if value is not None else '?'}"
    return "const?"


class _Normalised:
    """A graph with Identity collapsed and values named canonically where possible."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.folded = fold(graph)
        self.alias: dict[str, str] = {}
        self.nodes: list[Node] = []
        for node in graph.nodes:
            if node.op in ("Identity", "BodyInput") and len(node.inputs) == 1 and node.outputs:
                self.alias[node.outputs[0]] = self.resolve(node.inputs[0])
            elif node.outputs and all(o in self.folded for o in node.outputs if o) and node.own_inputs < 0:
                continue  # folded constant plumbing
            else:
                self.nodes.append(node)

    def resolve(self, name: str) -> str:
        for _ in range(64):
            if name not in self.alias:
                break
            name = self.alias[name]
        return name

    def leaf_key(self, name: str) -> str | None:
        """Canonical identity for values not produced by a kept node: inputs by position, constants by shape."""
        name = self.resolve(name)
        if not name:
            return "none"
        if name in self.graph.inputs:
            return f"input{self.graph.inputs.index(name)}"
        if name in self.graph.consts or name in self.folded:
            if name in self.graph.consts:
                return _const_key(self.graph, name)
            value = self.folded[name]
            return f"folded{tuple(value.shape)}:{value.dtype}:{value.reshape(-1)[:8].tolist()}"
        return None


def diff_graphs(suspect: Graph, reference: Graph) -> GraphDiff:
    """Match ``suspect`` against ``reference`` bottom-up; what does not match is reported."""
    s, r = _Normalised(suspect), _Normalised(reference)
    r_ids: dict[str, str] = {}
    index: dict[tuple[Any, ...], list[Node]] = defaultdict(list)
    loose: dict[tuple[Any, ...], list[Node]] = defaultdict(list)
    for node in r.nodes:
        ins = tuple(r.leaf_key(i) or f"ref{r.resolve(i)}" for i in node.inputs)
        index[(node.op, node.domain, _attrs_key(node), ins)].append(node)
        loose[(node.op, node.domain, _attrs_key(node), len(node.inputs))].append(node)
        for k, o in enumerate(node.outputs):
            r_ids[o] = f"ref{o}" if k == 0 else f"ref{o}"
    used: set[int] = set()
    mapped: dict[str, str] = {}
    result = GraphDiff(suspect_nodes=len(s.nodes), reference_nodes=len(r.nodes))

    def key_of(name: str) -> str:
        leaf = s.leaf_key(name)
        return leaf if leaf is not None else mapped.get(s.resolve(name), f"new:{s.resolve(name)}")

    for node in s.nodes:
        ins = tuple(key_of(i) for i in node.inputs)
        match = next((c for c in index.get((node.op, node.domain, _attrs_key(node), ins), ()) if c.index not in used), None)
        if match is None:
            match = _rewired(node, ins, loose, used, r)
            if match is not None:
                ref_ins = tuple(r.leaf_key(i) or f"ref{r.resolve(i)}" for i in match.inputs)
                result.rewired.append((node, match, tuple(j for j, (a, b) in enumerate(zip(ins, ref_ins, strict=False))
                                                          if a != b)))
        if match is None:
            result.added.append(node)
            continue
        used.add(match.index)
        for so, ro in zip(node.outputs, match.outputs, strict=False):
            mapped[so] = f"ref{ro}"
    result.removed = [n for n in r.nodes if n.index not in used]
    _compare_outputs(s, r, key_of, result)
    return result


def _rewired(node: Node, ins: tuple[str, ...], loose: dict[tuple[Any, ...], list[Node]], used: set[int],
             r: _Normalised) -> Node | None:
    """Same operator and attributes, at least one input still the same: an existing node fed differently."""
    for cand in loose.get((node.op, node.domain, _attrs_key(node), len(node.inputs)), ()):
        if cand.index in used:
            continue
        ref_ins = tuple(r.leaf_key(i) or f"ref{r.resolve(i)}" for i in cand.inputs)
        if any(a == b and not a.startswith(("const", "none")) for a, b in zip(ins, ref_ins, strict=False)):
            return cand
    return None


def _compare_outputs(s: _Normalised, r: _Normalised, key_of: Any, result: GraphDiff) -> None:
    for j, name in enumerate(s.graph.outputs):
        if j >= len(r.graph.outputs):
            result.outputs_changed.append((name, "an extra output", "nothing"))
            continue
        ref_name = r.resolve(r.graph.outputs[j])
        now = key_of(name)
        if now != f"ref{ref_name}" and now != (r.leaf_key(ref_name) or ""):
            producer = s.graph.producer.get(s.resolve(name))
            ref_producer = r.graph.producer.get(ref_name)
            result.outputs_changed.append((
                name, s.graph.nodes[producer].label if producer is not None else now,
                r.graph.nodes[ref_producer].label if ref_producer is not None else ref_name))


def diff_models(suspect: Any, reference: Any) -> GraphDiff:
    """Diff two ``onnx.ModelProto`` values."""
    return diff_graphs(from_onnx(suspect), from_onnx(reference))
