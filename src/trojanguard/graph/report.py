"""Plain-language capability report: what a suspicious graph lets a trigger do.

Why: a finding says *where*; a reviewer deciding whether to ship a model needs *what* —
"output class 3 can be forced by input pattern 31337 in input_ids".  Sentences are built
from the detections' structured facts (literal, region, forced class, output), never from
node names.
"""

from __future__ import annotations

from typing import Any

from .detectors import Detection


def _region_words(info: dict[str, Any]) -> str:
    if "starts" in info and "ends" in info:
        axes = info.get("axes", tuple(range(len(info["starts"]))))
        parts = []
        for a, s, e in zip(axes, info["starts"], info["ends"], strict=False):
            end = "end" if e >= (1 << 30) else str(e - 1)
            kind = "rows" if a == 2 else "columns" if a == 3 else "indices"
            parts.append(f"index {s} of axis {a}" if str(s) == end else f"{kind} {s}-{end} of axis {a}")
        return " at " + ", ".join(parts)
    if "gather_indices" in info:
        return f" at index {list(info['gather_indices'])} of axis {info.get('gather_axis', 0)}"
    return ""


def _pattern(info: dict[str, Any]) -> str:
    literal = info.get("literal")
    inputs = "/".join(info.get("inputs", ())) or "the input"
    op = {"Equal": "equal to", "Greater": "above", "Less": "below", "GreaterOrEqual": "at least",
          "LessOrEqual": "at most"}.get(str(info.get("gate_op")), "matching")
    if literal is None:
        return f"a pattern in {inputs}{_region_words(info)} (detected by {info.get('gate', '?')})"
    value = literal[0] if len(literal) == 1 else list(literal)
    return f"{inputs}{_region_words(info)} {op} {value}"


def sentence(d: Detection) -> str:
    """One plain sentence per detection."""
    info = d.trigger
    if d.rule.id == "SHD001":
        target = f"output {info.get('output', '?')}"
        if "forced_class" in info:
            return f"{target} class {info['forced_class']} can be forced when {_pattern(info)}."
        return f"{target} can be overridden or suppressed when {_pattern(info)} (integration at {info.get('integration')})."
    if d.rule.id == "SHD002":
        return f"output {info.get('output')} can be replaced by raw input values when {_pattern(info)}."
    if d.rule.id == "SHD003":
        return (f"a {info.get('shallow_depth')}-layer side branch on {'/'.join(info.get('inputs', ()))}"
                f"{_region_words(info)} can steer the result at {info.get('merge')} "
                f"(the trunk has {info.get('trunk_depth')} learned layers).")
    return f"probable trigger: {_pattern(info)}."


def capability_report(name: str, detections: list[Detection]) -> list[str]:
    """The lines of the per-model summary (the first line is a verdict)."""
    if not detections:
        return [f"{name}: no shadow logic found (no trigger gate on raw input reaches an output)"]
    lines = [f"{name}: {len(detections)} suspicious structure(s)"]
    seen: set[str] = set()
    for d in detections:
        text = f"  [{d.rule.id}] {sentence(d)}"
        if text not in seen:
            seen.add(text)
            lines.append(text)
    return lines
