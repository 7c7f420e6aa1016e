"""Shadow-logic findings (SHD001-SHD004) for ONNX models during ``trojanguard scan``.

The rules are defined here (so the catalogue sees them without numpy); the ONNX format is owned by :class:`~trojanguard.analyzers.onnx.OnnxAnalyzer`, which parses
the model once (bounded, no external data) and hands the ``ModelProto`` here.  The graph
package imports numpy, so it is imported on first use to keep the scanner core free of ML
libraries.  Any internal failure on hostile graphs becomes ``MalformedInput`` (a ScanError
for this file), never a traceback.
"""

from __future__ import annotations

from typing import Any

from ..errors import LimitExceeded, MalformedInput
from ..model import Confidence, Finding, Location, Rule, Severity

FORCED_OUTPUT = Rule(
    "SHD001", "shadow-gated-output-override", Severity.HIGH,
    "A gate computed from raw model input selects, masks, adds to or replaces values after the last learned layer.",
    cwe=506,
)
BYPASS_PATH = Rule(
    "SHD002", "shadow-raw-bypass-to-output", Severity.HIGH,
    "Raw input values reach a model output through a trigger gate without passing any learned layer.",
    cwe=912,
)
SIDE_BRANCH = Rule(
    "SHD003", "shadow-shallow-side-branch", Severity.MEDIUM,
    "A shallow side branch reading a region of the raw input, or gated by it, merges late into the deep trunk.",
    cwe=912, confidence=Confidence.MEDIUM,
)
LITERAL_TRIGGER = Rule(
    "SHD004", "shadow-literal-trigger", Severity.MEDIUM,
    "A comparator tests raw model input against a literal (token id, pixel value, byte pattern) and drives a "
    "sample-level decision: the probable trigger.",
    cwe=912,
)


def shadow_findings(model: Any, location: Location) -> list[Finding]:
    """Run every shadow-logic detector on a parsed ``onnx.ModelProto``."""
    from ..graph.detectors import analyze_model

    try:
        return analyze_model(model, location)
    except LimitExceeded:
        raise
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, ArithmeticError, RecursionError) as exc:
        raise MalformedInput(f"shadow-logic graph analysis failed: {type(exc).__name__}: {str(exc)[:120]}") from None
