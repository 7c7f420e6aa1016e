"""``trojanguard graph inspect|diff|probe``: shadow-logic analysis from the command line.

``register`` only builds argparse parsers (cheap); the graph package, onnx and numpy are
imported by the handlers.  Exit codes follow the CLI: 0 clean, 1 suspicious, 2 error.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..errors import InputError, UsageError

if TYPE_CHECKING:
    from ..cli import Console, Subparsers


def register(subparsers: Subparsers) -> None:
    """Add ``graph`` with its ``inspect``, ``diff`` and ``probe`` sub-commands."""
    p = subparsers.add_parser("graph", help="shadow logic: inspect, diff or probe an ONNX model graph")
    sub = p.add_subparsers(dest="graph_command", metavar="{inspect,diff,probe}")
    sub.required = True
    inspect = sub.add_parser("inspect", help="find trigger branches; plain capability report")
    inspect.add_argument("model", metavar="MODEL.onnx")
    inspect.add_argument("--html", metavar="OUT.html", help="also write a page drawing the suspicious subgraph")
    inspect.set_defaults(handler=run_inspect)
    diff = sub.add_parser("diff", help="structural diff against a reference model (names and weights ignored)")
    diff.add_argument("suspect", metavar="SUSPECT.onnx")
    diff.add_argument("reference", metavar="REFERENCE.onnx")
    diff.set_defaults(handler=run_diff)
    probe = sub.add_parser("probe", help="run the model with and without the synthesised trigger (needs onnxruntime)")
    probe.add_argument("model", metavar="MODEL.onnx")
    probe.add_argument("--inputs", metavar="SAMPLES.npz", help="user samples (read without pickle)")
    probe.add_argument("--samples", type=int, default=8, help="generated samples when --inputs is absent")
    probe.set_defaults(handler=run_probe)


def load(path: str) -> Any:
    """Bounded ModelProto parse through the ONNX analyzer's loader (never loads external data)."""
    import os

    from ..analyzers.base import Context
    from ..analyzers.onnx import load_model
    from ..artifact import Artifact, Budget, Limits

    if not os.path.isfile(path):
        raise InputError(f"{path}: not a file")
    limits = Limits()
    return load_model(Artifact.from_path(path), Context(limits=limits, budget=Budget(limits)))


def run_inspect(args: argparse.Namespace, console: Console) -> int:
    from ..cli import _write
    from .detectors import analyze_graph
    from .ir import from_onnx
    from .report import capability_report

    graph = from_onnx(load(args.model))
    flow, detections = analyze_graph(graph)
    lines = capability_report(args.model, detections)
    lines += [f"  {d.rule.id} {d.message}" for d in detections]
    _write(console.out, "\n".join(lines) + "\n")
    if args.html:
        from ..cli import write_atomic
        from .html import render_html

        write_atomic(args.html, render_html(args.model, flow, detections))
    return 1 if detections else 0


def run_diff(args: argparse.Namespace, console: Console) -> int:
    from ..cli import _write
    from .diff import diff_models

    result = diff_models(load(args.suspect), load(args.reference))
    _write(console.out, "\n".join(result.lines()) + "\n")
    return 0 if result.identical else 1


def run_probe(args: argparse.Namespace, console: Console) -> int:
    from ..cli import _write
    from .probe import probe_model

    if args.samples < 1:
        raise UsageError("--samples must be at least 1")
    lines, changed = probe_model(args.model, load(args.model), args.inputs, args.samples)
    _write(console.out, "\n".join(lines) + "\n")
    return 1 if changed else 0


register_graph = register  # the name cli.COMMANDS uses (``register_<command>``)
