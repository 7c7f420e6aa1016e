"""The JSON report: a stable, versioned document for pipelines.

Determinism is the contract: the same Report renders to byte-identical text (no
timestamps, no absolute paths added, no dict-order accidents), so CI can diff two runs and
caches can key on the output.  Keys appear in a fixed, documented order; lists keep the
order ``Report.build`` gave them (worst finding first, then by place).  The output is pure
ASCII (``ensure_ascii``): a hostile file name cannot smuggle terminal control bytes or
undecodable surrogates into a consumer.  Bump :data:`SCHEMA_VERSION` on any incompatible
change.
"""

from __future__ import annotations

import json

from trojanguard import __version__
from trojanguard.model import Finding, Report, Rule, ScanError, ScannedFile
from trojanguard.render import JsonValue, evidence_dict, summarize

__all__ = ["SCHEMA_VERSION", "finding_dict", "render_json", "render_rules_json", "report_dict"]

SCHEMA_VERSION = "1.0"
TOOL_NAME = "trojanguard"


def _dump(document: JsonValue) -> str:
    return json.dumps(document, indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def finding_dict(finding: Finding) -> dict[str, JsonValue]:
    """One finding with its rule, severity, place and evidence."""
    loc = finding.location
    return {
        "rule_id": finding.rule.id,
        "rule_name": finding.rule.name,
        "severity": finding.severity.label,
        "confidence": finding.confidence.label,
        "cwe": finding.rule.cwe,
        "path": loc.path,
        "member": loc.member,
        "offset": loc.offset,
        "row": loc.row,
        "source": loc.source,
        "message": finding.message,
        "evidence": evidence_dict(finding),
        "help_uri": finding.rule.help_uri,
    }


def _error_dict(error: ScanError) -> dict[str, JsonValue]:
    loc = error.location
    return {"path": loc.path, "member": loc.member, "offset": loc.offset, "kind": error.kind, "message": error.message}


def _scanned_dict(entry: ScannedFile) -> dict[str, JsonValue]:
    return {
        "path": entry.location.path,
        "member": entry.location.member,
        "format": entry.format,
        "size": entry.size,
        "verdict": entry.verdict.value,
        "worst_severity": None if entry.worst is None else entry.worst.label,
    }


def report_dict(report: Report) -> dict[str, JsonValue]:
    """The report as plain JSON values (what :func:`render_json` serialises)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": report.tool_version or __version__},
        "summary": summarize(report),
        "findings": [finding_dict(f) for f in report.findings],
        "errors": [_error_dict(e) for e in report.errors],
        "scanned": [_scanned_dict(s) for s in report.scanned],
        "unrecognised": [
            {"path": s.location.path, "member": s.location.member, "format": s.format, "size": s.size}
            for s in report.unrecognised
        ],
        "extra": {key: value for key, value in sorted(report.extra)},
    }


def render_json(report: Report) -> str:
    """The JSON report, indented, ending with a newline."""
    return _dump(report_dict(report))


def render_rules_json(rules: tuple[Rule, ...]) -> str:
    """The rule catalogue as JSON (``trojanguard rules --format json``)."""
    return _dump(
        {
            "schema_version": SCHEMA_VERSION,
            "rules": [
                {
                    "id": r.id,
                    "name": r.name,
                    "severity": r.severity.label,
                    "confidence": r.confidence.label,
                    "cwe": r.cwe,
                    "summary": r.summary,
                    "help_uri": r.help_uri,
                }
                for r in rules
            ],
        }
    )
