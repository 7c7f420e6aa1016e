"""Shadow-logic detectors SHD001-SHD004 over the data-flow facts of :mod:`.dataflow`.

Each detector names the operators involved by type and position (``Equal#12 in
graph/If.then_branch``), the literal a comparator tests against and the input region a
Slice/Gather picks, because that is what a reviewer needs to confirm or dismiss it.  Node
names are never used to decide anything: an attacker chooses them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..analyzers.shadow import BYPASS_PATH, FORCED_OUTPUT, LITERAL_TRIGGER, SIDE_BRANCH
from ..model import Finding, Location, Rule
from .dataflow import COMPARATORS, MERGE_OPS, Flow, analyze
from .ir import Graph, Node, from_onnx

MAX_FINDINGS_PER_RULE = 20
SHALLOW_MAX_DEPTH = 2
DEEP_MIN_MARGIN = 3


@dataclass
class Detection:
    """One suspicious structure, in a form the text report, HTML page and probe can use."""

    rule: Rule
    message: str
    nodes: tuple[int, ...]
    evidence: dict[str, Any] = field(default_factory=dict)
    trigger: dict[str, Any] = field(default_factory=dict)


def _literal(values: Any) -> tuple[float | int, ...] | None:
    if values is None:
        return None
    flat = np.asarray(values).reshape(-1)[:16]
    if flat.dtype.kind in "iub":
        return tuple(int(v) for v in flat)
    return tuple(round(float(v), 6) for v in flat)


def _inputs_of(flow: Flow, value: str) -> tuple[str, ...]:
    mask = flow.raw.get(value, 0)
    return tuple(name for name in flow.data_inputs if flow.raw.get(name, 0) & mask)


def _region(flow: Flow, value: str) -> tuple[dict[str, Any], list[int]]:
    """Walk back along the learned-free raw path to the Slice/Gather that picks the input region."""
    g = flow.graph
    region: dict[str, Any] = {}
    path: list[int] = []
    current = value
    for _ in range(64):
        idx = g.producer.get(current)
        if idx is None:
            break
        node = g.nodes[idx]
        path.append(idx)
        if node.op == "Slice" and len(node.inputs) >= 3:
            for key, pos in (("starts", 1), ("ends", 2), ("axes", 3)):
                lit = _literal(flow.values.get(node.inputs[pos])) if len(node.inputs) > pos and node.inputs[pos] else None
                if lit is not None:
                    region.setdefault(key, tuple(min(int(v), 1 << 31) for v in lit))
        elif node.op == "Gather" and len(node.inputs) > 1:
            lit = _literal(flow.values.get(node.inputs[1]))
            if lit is not None:
                region.setdefault("gather_axis", node.attrs.get("axis", 0))
                region.setdefault("gather_indices", lit)
        raw_ins = [i for i in node.inputs if i and flow.is_raw(i) and i in flow.raw0]
        if not raw_ins:
            break
        current = raw_ins[0]
    return region, path


def _static_operand(flow: Flow, node: Node) -> tuple[float | int, ...] | None:
    for i in node.inputs:
        if i and not flow.is_raw(i):
            return _literal(flow.values.get(i))
    return None


def _reach_output(flow: Flow, value: str) -> tuple[str | None, list[int]]:
    """The first graph output reachable from ``value`` along learned-free edges, with the nodes on the way."""
    g = flow.graph
    outputs = set(g.outputs)
    queue: deque[tuple[str, list[int]]] = deque([(value, [])])
    seen = {value}
    while queue:
        current, path = queue.popleft()
        if current in outputs:
            return current, path
        for idx in g.consumers.get(current, ()):
            if idx in flow.learned or len(path) > 256:
                continue
            for out in g.nodes[idx].outputs:
                if out and out not in seen:
                    seen.add(out)
                    queue.append((out, [*path, idx]))
    return None, []


def _gate_description(flow: Flow, origin: int) -> tuple[str, dict[str, Any]]:
    node = flow.graph.nodes[origin]
    raw_ops = [i for i in node.inputs if i and i in flow.raw0]
    info: dict[str, Any] = {"gate": node.label, "gate_op": node.op}
    text = node.label
    if raw_ops:
        info["inputs"] = _inputs_of(flow, raw_ops[0])
        text += f" on input {'/'.join(info['inputs']) or '?'}"
    if node.op in COMPARATORS:
        lit = _static_operand(flow, node)
        if lit is not None:
            info["literal"] = lit
            text += f" against literal {_short(lit)}"
        if raw_ops:
            region, _ = _region(flow, raw_ops[0])
            info.update(region)
            if region:
                text += f" at {_region_text(region)}"
    return text, info


def _short(lit: tuple[float | int, ...]) -> str:
    return str(lit[0]) if len(lit) == 1 else "[" + ", ".join(str(v) for v in lit[:8]) + (", ...]" if len(lit) > 8 else "]")


def _region_text(region: dict[str, Any]) -> str:
    if "starts" in region:
        axes = region.get("axes", tuple(range(len(region["starts"]))))
        parts = [f"axis {a}: {s}..{e - 1 if e < (1 << 30) else 'end'}" for a, s, e in
                 zip(axes, region["starts"], region.get("ends", ()), strict=False)]
        return "region " + ", ".join(parts)
    return f"index {_short(region['gather_indices'])} of axis {region['gather_axis']}"


def _forced_class(flow: Flow, node: Node) -> int | None:
    """A constant operand with one dominant entry at the integration (one-hot / forced logits) names the class."""
    for i in node.inputs:
        value = flow.values.get(i)
        if value is None or not i or value.size < 2 or value.dtype.kind not in "fiu":
            continue
        flat = np.abs(np.asarray(value, dtype=np.float64).reshape(-1))
        top = int(np.argmax(flat))
        if flat[top] > 0 and np.count_nonzero(flat == flat[top]) == 1:
            return top
    return None


def detect_forced_output(flow: Flow) -> list[Detection]:
    """SHD001: a sample-level raw gate meets learned values at a node with a learned-free path to an output."""
    found: list[Detection] = []
    seen: set[int] = set()
    for integ in flow.integrations:
        node = flow.graph.nodes[integ.node]
        if len(found) >= MAX_FINDINGS_PER_RULE:
            break
        if integ.gate in seen or integ.gate not in flow.sample_level:
            continue
        if not any(o in flow.free_to_output for o in node.outputs if o):
            continue
        seen.add(integ.gate)
        gate_text, info = _gate_description(flow, integ.gate)
        output, path = _reach_output(flow, node.outputs[0])
        forced = _forced_class(flow, node)
        effect = f"; the constant operand favours class {forced}" if forced is not None else ""
        info.update(integration=node.label, integration_op=node.op, output=output or "?")
        if forced is not None:
            info["forced_class"] = forced
        found.append(Detection(
            FORCED_OUTPUT,
            f"gate {gate_text} changes output {output or '?'} at {node.label} after the last learned layer{effect}",
            (integ.gate, integ.node, *path), info, dict(info)))
    return found


def detect_bypass(flow: Flow) -> list[Detection]:
    """SHD002: an output carries raw input values on a learned-free path and is switched by a sample-level gate."""
    found: list[Detection] = []
    for output in flow.graph.outputs:
        gates = [g for g in flow.gates.get(output, {}) if g in flow.sample_level]
        if output not in flow.data0 or not gates or len(found) >= MAX_FINDINGS_PER_RULE:
            continue
        gate_text, info = _gate_description(flow, gates[0])
        info.update(output=output, raw_inputs=_inputs_of(flow, output))
        found.append(Detection(
            BYPASS_PATH,
            f"output {output} carries raw values of {'/'.join(info['raw_inputs'])} past every learned layer, "
            f"switched by gate {gate_text}",
            (gates[0], *_producers(flow, output)), info, dict(info)))
    return found


def _producers(flow: Flow, value: str) -> tuple[int, ...]:
    idx = flow.graph.producer.get(value)
    return () if idx is None else (idx,)


def _shallow_reason(flow: Flow, value: str) -> str | None:
    if flow.depth.get(value, 0) > SHALLOW_MAX_DEPTH:
        return None
    if flow.region.get(value, 0):
        return f"reads only a region of the input (selected by {flow.graph.nodes[flow.region[value] - 1].label})"
    gates = [g for g in flow.gates.get(value, {}) if g in flow.sample_level]
    if gates:
        return f"is gated by {flow.graph.nodes[gates[0]].label}"
    return None


def detect_side_branch(flow: Flow) -> list[Detection]:
    """SHD003: shallow (<= 2 learned layers) region-reading or gated branch merging late into the deep trunk."""
    found: list[Detection] = []
    seen: set[int] = set()
    late = max(DEEP_MIN_MARGIN, flow.max_depth // 2)
    for node in flow.graph.nodes:
        if node.op not in MERGE_OPS or not any(o in flow.free_to_output for o in node.outputs if o):
            continue
        raw_ins = [i for i in node.inputs if i and flow.is_raw(i)]
        if len(raw_ins) < 2:
            continue
        deep = max(raw_ins, key=lambda i: flow.depth.get(i, 0))
        deep_depth = flow.depth.get(deep, 0)
        for shallow in raw_ins:
            reason = _shallow_reason(flow, shallow)
            if reason is None or deep_depth < late or deep_depth < flow.depth.get(shallow, 0) + DEEP_MIN_MARGIN:
                continue
            gates = [g for g in flow.gates.get(shallow, {}) if g in flow.sample_level]
            key = flow.region.get(shallow, 0) or (-gates[0] - 1 if gates else -node.index - 1 - (1 << 40))
            if key in seen:
                continue
            seen.add(key)
            region, path = _region(flow, shallow)
            info: dict[str, Any] = {"merge": node.label, "merge_op": node.op, "shallow_depth": flow.depth.get(shallow, 0),
                                    "trunk_depth": deep_depth, "inputs": _inputs_of(flow, shallow), **region}
            where = f" at {_region_text(region)}" if region else ""
            found.append(Detection(
                SIDE_BRANCH,
                f"side branch with {info['shallow_depth']} learned layer(s) on input {'/'.join(info['inputs'])}{where} "
                f"{reason} and merges into the {deep_depth}-layer trunk at {node.label}",
                (node.index, *path), info, dict(info)))
    return found


def detect_literal_trigger(flow: Flow) -> list[Detection]:
    """SHD004: comparator of a learned-free raw value against a literal that feeds a sample-level gate."""
    found: list[Detection] = []
    effective = {i.gate for i in flow.integrations}
    for output in flow.graph.outputs:
        effective.update(flow.gates.get(output, {}))
    for origin in sorted(flow.sample_level & flow.gate_nodes & effective):
        node = flow.graph.nodes[origin]
        if node.op not in COMPARATORS or len(found) >= MAX_FINDINGS_PER_RULE:
            continue
        gate_text, info = _gate_description(flow, origin)
        if "literal" not in info:
            continue
        _, path = _region(flow, next(i for i in node.inputs if i and i in flow.raw0))
        found.append(Detection(LITERAL_TRIGGER, f"probable trigger: {gate_text}", (origin, *path), info, dict(info)))
    return found


DETECTORS = (detect_forced_output, detect_bypass, detect_side_branch, detect_literal_trigger)


def detect(flow: Flow) -> list[Detection]:
    """Every detection, at most :data:`MAX_FINDINGS_PER_RULE` per rule."""
    result: list[Detection] = []
    for detector in DETECTORS:
        result.extend(detector(flow)[:MAX_FINDINGS_PER_RULE])
    return result


def to_finding(d: Detection, location: Location) -> Finding:
    evidence = {k: v for k, v in d.evidence.items() if isinstance(v, (str, int, float, bool, tuple))}
    return d.rule.at(location, d.message, evidence=evidence)


def analyze_graph(graph: Graph) -> tuple[Flow, list[Detection]]:
    """Data-flow facts and detections of an already built IR (format-neutral entry point)."""
    flow = analyze(graph)
    return flow, detect(flow)


def analyze_model(model: Any, location: Location) -> list[Finding]:
    """SHD findings for an ``onnx.ModelProto`` (subgraphs and local functions included)."""
    if not model.HasField("graph"):
        return []
    _, detections = analyze_graph(from_onnx(model))
    return [to_finding(d, location) for d in detections]
