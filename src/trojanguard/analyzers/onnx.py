"""ONNX models: external-data paths, custom operators, subgraphs, functions and absurd sizes.

An ONNX file is a protobuf ``ModelProto``.  It runs no Python by itself, but it can name
*external data* files that the loader opens (absolute paths, ``..``, ``/proc`` or device
files, symlinks: CVE-2022-25882, CVE-2024-27318; and ``save_model`` writes them back:
CVE-2025-51480), and it can require custom operators whose kernels come from elsewhere —
onnxruntime-extensions' ``PyOp`` runs a Python function.  The model is parsed from bounded
bytes with ``ModelProto.FromString`` (never ``onnx.load`` on a path, which would follow
external data), and every graph is walked: the main graph, If/Loop/Scan subgraphs and
model-local functions.  ``load_model`` and ``iter_graphs`` are public so graph analyses
(shadow logic) can build on the same bounded loading and the same traversal.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from typing import Any, Union

from trojanguard.analyzers.base import Context, Result
from trojanguard.analyzers.shadow import shadow_findings
from trojanguard.artifact import Artifact
from trojanguard.errors import LimitExceeded, MalformedInput
from trojanguard.formats import Format
from trojanguard.model import Finding, Location, Rule, Severity
from trojanguard.policy import onnx_ops

EXTERNAL_DATA_PATH = Rule(
    "ONX001",
    "onnx-external-data-path",
    Severity.HIGH,
    "An ONNX tensor's external data location escapes the model directory (absolute, '..', URL, device, symlink).",
    cwe=22,
)
CUSTOM_OP = Rule(
    "ONX002",
    "onnx-custom-op",
    Severity.MEDIUM,
    "An ONNX model needs operators outside the standard and onnxruntime domains (custom native kernels).",
    cwe=829,
)
CODE_OP = Rule(
    "ONX003",
    "onnx-code-op",
    Severity.CRITICAL,
    "An ONNX model uses a custom operator that runs Python or reaches files, processes or the network.",
    cwe=94,
)
OVERSIZED = Rule(
    "ONX004",
    "onnx-oversized-declaration",
    Severity.MEDIUM,
    "An ONNX model declares tensors, dimensions or attributes of absurd size (memory exhaustion on load).",
    cwe=789,
)
MALFORMED = Rule(
    "ONX005",
    "onnx-malformed",
    Severity.MEDIUM,
    "A file identified or named as ONNX does not parse as an ONNX ModelProto.",
    cwe=20,
)

MAX_DIM = 1 << 32
MAX_TENSOR_BYTES = 1 << 40
MAX_GRAPH_DEPTH = 64
MAX_NODES = 5_000_000
MAX_REPORTED = 50
_ELEM_SIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
              17: 1, 18: 1, 19: 1, 20: 1, 21: 1, 22: 1, 23: 1}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//|[^\\/])")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")

Graphish = Union[Any, Any]  # onnx.GraphProto | onnx.FunctionProto (onnx ships no type stubs)


def load_model(artifact: Artifact, ctx: Context) -> Any:
    """Parse ``artifact`` as an ``onnx.ModelProto`` from at most ``max_in_memory`` bytes.

    External data is never loaded (the protobuf only *names* it).  Raises LimitExceeded
    for a larger file and MalformedInput when the bytes are not a ModelProto.
    """
    from google.protobuf.message import DecodeError
    from onnx import ModelProto

    data = artifact.read_all(min(ctx.limits.max_in_memory, (2 << 30) - 1))
    try:
        model = ModelProto.FromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise MalformedInput(f"not an ONNX ModelProto: {exc}") from None
    if not model.HasField("graph") and not model.functions:
        raise MalformedInput("protobuf has no ONNX graph")
    return model


def _subgraphs(node: Any) -> Iterator[tuple[str, Any]]:
    for attr in node.attribute:
        if attr.HasField("g"):
            yield attr.name, attr.g
        for i, g in enumerate(attr.graphs):
            yield f"{attr.name}[{i}]", g


def iter_graphs(model: Any) -> Iterator[tuple[str, Graphish]]:
    """Every graph of ``model``: the main graph, nested If/Loop/Scan bodies, and local functions.

    Yields ``(path, graph)`` where ``graph`` is a GraphProto or, for model-local functions,
    a FunctionProto (both have ``.node``).  Depth-first; bounded nesting (LimitExceeded).
    """
    stack: list[tuple[str, Any, int]] = []
    if model.HasField("graph"):
        stack.append(("graph", model.graph, 0))
    for fn in reversed(model.functions):
        stack.append((f"function:{fn.domain}:{fn.name}", fn, 0))
    stack.reverse()
    while stack:
        path, graph, depth = stack.pop()
        if depth > MAX_GRAPH_DEPTH:
            raise LimitExceeded(f"subgraphs nested deeper than {MAX_GRAPH_DEPTH} at {path}", limit="max_depth")
        yield path, graph
        children = []
        for i, node in enumerate(graph.node):
            for attr_name, sub in _subgraphs(node):
                children.append((f"{path}/{node.name or node.op_type}#{i}.{attr_name}", sub, depth + 1))
        stack.extend(reversed(children))


def _text(value: object) -> str:
    """protobuf hands back bytes for string fields holding invalid UTF-8 (hostile input)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def _location_problem(location: str, base_dir: str | None) -> tuple[Severity, str] | None:
    """Why an external-data location is dangerous, or None."""
    norm = location.replace("\\", "/")
    if norm.startswith(("/dev/", "/proc/", "/sys/", "//./", "//?/")):
        return Severity.CRITICAL, "names a device or special file"
    if _URL.match(location) and not _DRIVE.match(location):
        return Severity.HIGH, "is a URL"
    if norm.startswith("/") or _DRIVE.match(location) or norm.startswith("//"):
        return Severity.HIGH, "is an absolute path"
    if ".." in norm.split("/"):
        return Severity.HIGH, "climbs out of the model directory ('..')"
    if "\x00" in location:
        return Severity.HIGH, "contains a NUL byte"
    if base_dir is not None:
        full = os.path.join(base_dir, location)
        try:
            st = os.lstat(full)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return Severity.HIGH, f"is a symbolic link to {os.readlink(full)!r}"
        if not stat.S_ISREG(st.st_mode):
            return Severity.CRITICAL, "is not a regular file (FIFO, device or socket)"
    return None


class _Checker:
    """Accumulates findings across every graph of one model."""

    def __init__(self, artifact: Artifact) -> None:
        self.loc = artifact.location
        self.base_dir = os.path.dirname(os.path.abspath(artifact.fs_path)) if artifact.fs_path else None
        self.findings: list[Finding] = []
        self.seen: set[tuple[str, str]] = set()
        self.nodes = 0
        self.local: frozenset[tuple[str, str]] = frozenset()

    def add(self, key: tuple[str, str], finding: Finding) -> None:
        if key not in self.seen and len(self.findings) < MAX_REPORTED:
            self.seen.add(key)
            self.findings.append(finding)

    def tensor(self, t: Any, where: str) -> None:
        if t.data_location == 1 or t.external_data:
            self.external(t, where)
        elem = _ELEM_SIZE.get(t.data_type, 1)
        count = 1
        for d in t.dims:
            if d < 0 or d > MAX_DIM:
                self.add(("dim", where), OVERSIZED.at(self.loc, f"tensor {t.name!r} in {where} has dimension {d}",
                                                      evidence={"tensor": t.name, "dim": d}))
                return
            count *= d
        if count * elem > MAX_TENSOR_BYTES:
            self.add(("tensor", t.name), OVERSIZED.at(
                self.loc, f"tensor {t.name!r} in {where} declares {count * elem} bytes",
                evidence={"tensor": t.name, "bytes": count * elem}))

    def external(self, t: Any, where: str) -> None:
        info = {_text(e.key): _text(e.value) for e in t.external_data}
        location = info.get("location", "")
        problem = _location_problem(location, self.base_dir)
        if problem is not None:
            severity, why = problem
            self.add(("ext", location), EXTERNAL_DATA_PATH.at(
                self.loc, f"tensor {t.name!r} in {where}: external data location {location[:200]!r} {why}",
                evidence={"tensor": t.name, "location": location[:200]}, severity=severity))
        for key in ("offset", "length"):
            value = info.get(key, "0")
            if not value.isdigit() or int(value) > MAX_TENSOR_BYTES:
                self.add(("extlen", t.name), OVERSIZED.at(
                    self.loc, f"tensor {t.name!r} external data {key} {value[:40]!r} is invalid or absurd",
                    evidence={"tensor": t.name, key: value[:40]}))

    def node(self, node: Any, where: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise LimitExceeded(f"more than {MAX_NODES} nodes", limit="max_nodes")
        self.op(node.domain, node.op_type, where)
        for attr in node.attribute:
            if attr.HasField("t"):
                self.tensor(attr.t, f"{where}/{node.name or node.op_type}.{attr.name}")
            for t in attr.tensors:
                self.tensor(t, f"{where}/{node.name or node.op_type}.{attr.name}")
            if len(attr.ints) > 1 << 24 or len(attr.floats) > 1 << 24 or len(attr.s) > 1 << 28:
                self.add(("attr", attr.name), OVERSIZED.at(
                    self.loc, f"attribute {attr.name!r} of {node.op_type} in {where} is absurdly large",
                    evidence={"attribute": attr.name}))

    def op(self, domain: str, op_type: str, where: str) -> None:
        if onnx_ops.is_standard(domain, op_type) or (domain, op_type) in self.local:
            return
        code = onnx_ops.CODE_OPS.get(op_type)
        label = f"{domain or 'ai.onnx'}::{op_type}"
        if code is not None or (domain in onnx_ops.PYTHON_DOMAINS and onnx_ops.CODE_HINTS.search(op_type)):
            severity, why = code or (Severity.HIGH, "custom op whose name suggests Python/file/process access")
            self.add(("code", label), CODE_OP.at(self.loc, f"operator {label} in {where}: {why}",
                                                 evidence={"domain": domain, "op_type": op_type}, severity=severity))
        elif onnx_ops.CODE_HINTS.search(op_type) and domain not in onnx_ops.STANDARD_DOMAINS | {""}:
            self.add(("code", label), CODE_OP.at(
                self.loc, f"custom operator {label} in {where}: name suggests Python/file/process access",
                evidence={"domain": domain, "op_type": op_type}, severity=Severity.HIGH))
        else:
            why = "unknown op in a standard domain" if (domain or "ai.onnx") in onnx_ops.STANDARD_DOMAINS \
                else "custom domain"
            self.add(("custom", label), CUSTOM_OP.at(
                self.loc, f"operator {label} in {where} ({why}) needs a kernel outside onnxruntime",
                evidence={"domain": domain, "op_type": op_type}))

    def value_info(self, vi: Any, where: str) -> None:
        shape = vi.type.tensor_type.shape if vi.type.HasField("tensor_type") else None
        if shape is None:
            return
        for d in shape.dim:
            if d.HasField("dim_value") and (d.dim_value < -1 or d.dim_value > MAX_DIM):  # -1: "dynamic" in some exporters
                self.add(("vi", vi.name), OVERSIZED.at(
                    self.loc, f"value {vi.name!r} in {where} declares dimension {d.dim_value}",
                    evidence={"value": vi.name, "dim": d.dim_value}))


def check_model(model: Any, artifact: Artifact) -> list[Finding]:
    """All findings for a parsed ModelProto (reusable without the scanner)."""
    checker = _Checker(artifact)
    checker.local = frozenset((f.domain, f.name) for f in model.functions)
    for path, graph in iter_graphs(model):
        for node in graph.node:
            checker.node(node, path)
        for t in getattr(graph, "initializer", ()):
            checker.tensor(t, path)
        for st in getattr(graph, "sparse_initializer", ()):
            checker.tensor(st.values, path)
        for vi in (*getattr(graph, "input", ()), *getattr(graph, "output", ()), *getattr(graph, "value_info", ())):
            if hasattr(vi, "type"):
                checker.value_info(vi, path)
    return checker.findings


class OnnxAnalyzer:
    """Bounded ModelProto parsing, then per-graph checks (no external data, no onnxruntime)."""

    name = "onnx"
    formats = frozenset({Format.ONNX})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        try:
            model = load_model(artifact, ctx)
        except LimitExceeded:
            raise
        except MalformedInput as exc:
            yield _malformed(artifact.location, artifact.name, str(exc))
            return
        yield from check_model(model, artifact)
        yield from shadow_findings(model, artifact.location)  # SHD rules (trojanguard.graph)


def _malformed(loc: Location, name: str, why: str) -> Finding:
    return MALFORMED.at(loc, f"{name} does not parse as ONNX: {why[:160]}", evidence={"name": name})
