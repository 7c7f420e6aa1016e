"""TensorFlow SavedModel / frozen GraphDef: which ops would run when the graph executes.

The protobuf is walked with a bounded wire-format reader (``_protowire``) that descends
only into ``GraphDef.node`` / ``GraphDef.library.function[].node_def`` and reads ``op`` and
``name`` strings, seeking over tensor contents; no TensorFlow and no generated classes are
needed, so the check cannot be skipped for a missing dependency.  Every op in the graph
and in every library function is judged by ``policy.tf_ops``.  Checkpoint ops
(``SaveV2``/``RestoreV2``/``MergeV2Checkpoints``) inside the standard saver functions or the
``save/`` scope are normal and not reported.  ``keras_metadata.pb`` is also read: its
per-layer JSON goes through the Keras config checks (Lambda layers and foreign callables).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from trojanguard.analyzers import _protowire as pw
from trojanguard.analyzers.base import Context, Result
from trojanguard.analyzers.keras import check_config
from trojanguard.artifact import Artifact
from trojanguard.formats import Format
from trojanguard.model import Confidence, Location, Rule, ScanError, Severity
from trojanguard.policy import tf_ops

DANGEROUS_OP = Rule(
    "TFS001",
    "tf-dangerous-op",
    Severity.HIGH,
    "A TensorFlow graph or library function uses an op that runs Python, loads native code, touches files or the network.",
    cwe=829,
)
UNKNOWN_OP = Rule(
    "TFS002",
    "tf-custom-op",
    Severity.MEDIUM,
    "A TensorFlow graph uses custom or unrecognised ops that need kernels supplied by the loader.",
    cwe=829,
    confidence=Confidence.LOW,
)

_NODE: pw.Schema = {1: pw.STRING, 2: pw.STRING}
_FUNCTION: pw.Schema = {1: {1: pw.STRING}, 3: _NODE}
_GRAPH: pw.Schema = {1: _NODE, 2: {1: _FUNCTION}}
_SAVED_MODEL: pw.Schema = {2: {2: _GRAPH}}
_KERAS_METADATA: pw.Schema = {1: {3: pw.STRING, 4: pw.STRING, 5: pw.STRING}}
# keras metadata strings may be long JSON: read them with a larger cap
_MAX_METADATA = 16 << 20


@dataclass(frozen=True)
class OpUse:
    op: str
    node: str
    function: str  # "" for the top-level graph


class TensorflowAnalyzer:
    name = "tensorflow"
    formats = frozenset({Format.SAVEDMODEL, Format.TF_GRAPHDEF, Format.PROTOBUF})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        name = artifact.name.lower()
        if name == "keras_metadata.pb":
            yield from _keras_metadata(artifact, ctx)
            return
        if name == "fingerprint.pb" or artifact.size is None:
            return
        if artifact.extension not in (".pb", ".graphdef") and name != "saved_model.pb":
            return  # an unrelated protobuf: nothing TensorFlow would execute
        with artifact.open() as stream:
            if name == "saved_model.pb" or artifact.head(1) != b"\x0a":
                uses = saved_model_ops(stream, artifact.size)
            else:
                uses = graphdef_ops(stream, artifact.size)
        yield from judge_ops(uses, artifact.location)


def _graph_ops(graph: list[tuple[int, pw.Value]]) -> Iterator[OpUse]:
    for node in pw.messages(graph, 1):
        for op in pw.strings(node, 2):
            yield OpUse(op, next(iter(pw.strings(node, 1)), ""), "")
    for library in pw.messages(graph, 2):
        for function in pw.messages(library, 1):
            fname = next((s for sig in pw.messages(function, 1) for s in pw.strings(sig, 1)), "")
            for node in pw.messages(function, 3):
                for op in pw.strings(node, 2):
                    yield OpUse(op, next(iter(pw.strings(node, 1)), ""), fname or "?")


def graphdef_ops(stream: object, size: int) -> list[OpUse]:
    """Every op of a serialized GraphDef (graph nodes and library functions)."""
    return list(_graph_ops(pw.walk(stream, size, _GRAPH)))  # type: ignore[arg-type]


def saved_model_ops(stream: object, size: int) -> list[OpUse]:
    """Every op of every MetaGraph of a serialized SavedModel."""
    fields = pw.walk(stream, size, _SAVED_MODEL)  # type: ignore[arg-type]
    out: list[OpUse] = []
    for meta in pw.messages(fields, 2):
        for graph in pw.messages(meta, 2):
            out.extend(_graph_ops(graph))
    return out


def _is_saver_use(use: OpUse) -> bool:
    if use.op not in tf_ops.SAVER_OPS:
        return False
    if use.function:
        return tf_ops.is_saver_function(use.function)
    scope = use.node.split("/", 1)[0].lower()
    return scope.startswith("save")


def _looks_custom(op: str) -> bool:
    return ">" in op or "." in op or not op[:1].isupper()


def judge_ops(uses: list[OpUse], where: Location) -> Iterator[Result]:
    """Findings for dangerous ops (one per op and place) and one for custom ops."""
    seen: set[tuple[str, str]] = set()
    unknown: dict[str, int] = {}
    for use in uses:
        policy = tf_ops.op_policy(use.op)
        if policy is not None:
            if _is_saver_use(use) or (use.op, use.function) in seen:
                continue
            seen.add((use.op, use.function))
            severity, category, reason = policy
            place = f"library function {use.function!r}" if use.function else "the graph"
            yield DANGEROUS_OP.at(
                where,
                f"op {use.op} (node {use.node!r}) in {place}: {reason}",
                evidence={"op": use.op, "node": use.node, "function": use.function, "category": category},
                severity=severity,
            )
        elif use.op not in tf_ops.KNOWN_OPS and not use.op.startswith("_"):
            unknown[use.op] = unknown.get(use.op, 0) + 1
    custom = sorted(op for op in unknown if _looks_custom(op))
    if custom:
        yield UNKNOWN_OP.at(
            where,
            f"custom ops that need loader-supplied kernels: {', '.join(custom[:20])}",
            evidence={"ops": tuple(custom[:100])},
        )
    rest = sorted(op for op in unknown if op not in custom)
    if rest:
        yield UNKNOWN_OP.at(
            where,
            f"ops outside trojanguard's known-op list (review): {', '.join(rest[:20])}",
            evidence={"ops": tuple(rest[:100])},
            severity=Severity.INFO,
        )


def _keras_metadata(artifact: Artifact, ctx: Context) -> Iterator[Result]:
    if artifact.size is None:
        return
    with artifact.open() as stream:
        fields = pw.walk(stream, artifact.size, _KERAS_METADATA, min(_MAX_METADATA, ctx.limits.max_in_memory))
    for node in pw.messages(fields, 1):
        path = next(iter(pw.strings(node, 3)), "?")
        for text in pw.strings(node, 5):
            try:
                config = json.loads(text)
            except ValueError as exc:
                yield ScanError(artifact.location, f"keras metadata of {path} is not JSON: {exc}", "malformed")
                continue
            yield from check_config(config, artifact.location.child(path))


__all__ = ["OpUse", "TensorflowAnalyzer", "graphdef_ops", "judge_ops", "saved_model_ops"]
