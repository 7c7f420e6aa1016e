"""Renderers: pure functions ``Report -> str`` (text for people, JSON and SARIF for machines).

Renderers never print, read the environment or pick exit codes (that is ``cli.py``'s job),
so the same Report always renders to the same string: reports can be diffed, cached and
checked against golden files.  The helpers here hold what more than one renderer needs
(the summary counts and the severity vocabulary) so that text, JSON and SARIF can never
disagree about how many findings a report has.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Union

from trojanguard.model import EvidenceValue, Finding, Report, ScannedFile, Severity

__all__ = ["FORMATS", "JsonValue", "evidence_dict", "jsonable", "render", "summarize", "top_level_files"]

JsonValue = Union[str, int, float, bool, None, list["JsonValue"], dict[str, "JsonValue"]]

#: Output formats the ``scan`` command offers, in the order ``--help`` lists them.
FORMATS: tuple[str, ...] = ("text", "json", "sarif")


def jsonable(value: EvidenceValue) -> JsonValue:
    """Evidence as JSON values: tuples become lists, non-finite floats become strings.

    ``json.dumps`` would otherwise write ``NaN``/``Infinity``, which are not JSON and make
    strict consumers (GitHub's SARIF upload among them) reject the whole report.
    """
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def evidence_dict(finding: Finding) -> dict[str, JsonValue]:
    """A finding's evidence as a dict, keys in the (sorted) order ``Rule.at`` froze them."""
    return {key: jsonable(value) for key, value in finding.evidence}


def top_level_files(report: Report) -> tuple[ScannedFile, ...]:
    """Scanned entries for files given on disk (members of containers excluded)."""
    return tuple(s for s in report.scanned if not s.location.members)


def summarize(report: Report) -> dict[str, JsonValue]:
    """The counts every renderer shows: files, findings by severity, errors, unrecognised.

    ``by_severity`` lists every severity, worst first, zero counts included, so the
    shape of the summary never depends on the input.
    """
    by_severity: dict[str, JsonValue] = {}
    for severity in sorted(Severity, reverse=True):
        by_severity[severity.label] = sum(1 for f in report.findings if f.severity is severity)
    worst = report.worst
    return {
        "files_scanned": len(top_level_files(report)),
        "findings": len(report.findings),
        "by_severity": by_severity,
        "worst_severity": None if worst is None else worst.label,
        "errors": len(report.errors),
        "unrecognised": len(report.unrecognised),
        "complete": report.complete,
    }


def render(report: Report, fmt: str, *, color: bool = False, base: str | None = None) -> str:
    """Render ``report`` as ``fmt`` (one of :data:`FORMATS`).

    ``color`` only affects text; ``base`` (a directory) only affects SARIF, whose
    artifact URIs are made relative to it.  Raises ``ValueError`` for an unknown format.
    """
    renderers = _renderers(color=color, base=base)
    try:
        return renderers[fmt](report)
    except KeyError:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}") from None


def _renderers(*, color: bool, base: str | None) -> dict[str, Callable[[Report], str]]:
    # imported here: the submodules import the helpers above from this package
    from trojanguard.render import json as json_renderer
    from trojanguard.render import sarif, text

    return {
        "text": lambda r: text.render_text(r, color=color),
        "json": json_renderer.render_json,
        "sarif": lambda r: sarif.render_sarif(r, base=base),
    }
