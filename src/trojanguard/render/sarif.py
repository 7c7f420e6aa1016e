"""SARIF 2.1.0 for GitHub code scanning and other SARIF consumers.

Choices made for GitHub's importer (which is stricter than the schema):

* ``ruleId`` is the rule ID and every referenced rule is described once in
  ``tool.driver.rules`` with ``security-severity`` (GitHub's severity ranking) and a
  ``CWE-nnn`` tag;
* artifact URIs are relative, forward-slashed and percent-escaped, because GitHub maps
  them onto the repository tree; paths outside ``base`` become ``file://`` URIs;
* every result carries ``region.startLine`` (GitHub rejects results without it; model
  files are binary, so it is 1) and ``region.byteOffset`` when the analyzer knows it;
* ``partialFingerprints`` hash the rule, place and message, so an alert keeps its
  identity across runs and does not depend on byte offsets that move when a container is
  re-packed;
* scan errors become ``toolExecutionNotifications`` and ``executionSuccessful`` is false
  for an incomplete scan, so "could not look" never reads as "clean".
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from pathlib import PurePath
from urllib.parse import quote

from trojanguard import __version__
from trojanguard.model import Finding, Location, Report, Rule, ScanError, Severity
from trojanguard.render import JsonValue, evidence_dict

__all__ = ["SARIF_SCHEMA", "SECURITY_SEVERITY", "artifact_uri", "render_sarif", "sarif_level"]

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/trojanguard/trojanguard"
FINGERPRINT_KEY = "trojanguardFinding/v1"

#: GitHub ranks alerts by this CVSS-like score: >=9 critical, 7-8.9 high, 4-6.9 medium, <4 low.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
_LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def sarif_level(severity: Severity) -> str:
    """SARIF ``level`` for a severity: critical/high error, medium warning, else note."""
    return _LEVELS[severity]


def artifact_uri(path: str, base: str | None = None) -> str:
    """``path`` as a SARIF artifact URI: relative to ``base`` when inside it, else ``file://``.

    Backslashes become slashes, ``./`` prefixes go, everything outside RFC 3986's
    unreserved set and ``/`` is percent-escaped (undecodable names byte by byte).
    """
    text = path
    if base is not None and os.path.isabs(text):
        try:
            rel = os.path.relpath(text, base)
        except ValueError:  # another drive on Windows
            rel = text
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
            text = rel
    text = text.replace(os.sep, "/")
    if text.startswith("/") or PurePath(text).is_absolute():
        absolute = text if text.startswith("/") else "/" + text
        return "file://" + quote(absolute, safe="/", errors="surrogateescape")
    return quote(posixpath.normpath(text) if text else ".", safe="/", errors="surrogateescape")


def _rule_descriptor(rule: Rule) -> dict[str, JsonValue]:
    tags: list[JsonValue] = ["security"]
    if rule.cwe:
        tags.append(f"CWE-{rule.cwe}")
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": f"{rule.summary} See {rule.help_uri}"},
        "helpUri": rule.help_uri,
        "help": {"text": f"{rule.id} ({rule.name}): {rule.summary} Details and fixes: {rule.help_uri}"},
        "defaultConfiguration": {"level": sarif_level(rule.severity)},
        "properties": {
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": {3: "high", 2: "medium", 1: "low"}[int(rule.confidence)],
            "tags": tags,
        },
    }


def _physical(location: Location, base: str | None) -> dict[str, JsonValue]:
    region: dict[str, JsonValue] = {"startLine": 1}
    if location.offset is not None and location.offset >= 0:
        region["byteOffset"] = location.offset
    return {"artifactLocation": {"uri": artifact_uri(location.path, base)}, "region": region}


def _location(location: Location, base: str | None) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {"physicalLocation": _physical(location, base)}
    if location.members:
        out["logicalLocations"] = [
            {
                "name": location.members[-1],
                "fullyQualifiedName": "!".join((location.path, *location.members)),
                "kind": "member",
            }
        ]
    return out


def _fingerprint(finding: Finding) -> str:
    loc = finding.location
    parts = (finding.rule.id, loc.path, *loc.members, str(loc.row), loc.source or "", finding.message)
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _result(finding: Finding, index: int, base: str | None) -> dict[str, JsonValue]:
    loc = finding.location
    properties: dict[str, JsonValue] = {
        "severity": finding.severity.label,
        "confidence": finding.confidence.label,
        "evidence": evidence_dict(finding),
    }
    if loc.row is not None:
        properties["row"] = loc.row
    if loc.source is not None:
        properties["source"] = loc.source
    return {
        "ruleId": finding.rule.id,
        "ruleIndex": index,
        "level": sarif_level(finding.severity),
        "message": {"text": f"{finding.message} ({loc})" if loc.members else finding.message},
        "locations": [_location(loc, base)],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(finding)},
        "properties": properties,
    }


def _notification(error: ScanError, base: str | None) -> dict[str, JsonValue]:
    return {
        "level": "error",
        "message": {"text": f"{error.location}: {error.message}"},
        "descriptor": {"id": f"scan-error/{error.kind}"},
        "locations": [_location(error.location, base)],
    }


def sarif_dict(report: Report, *, base: str | None = None) -> dict[str, JsonValue]:
    """The SARIF log as plain JSON values (what :func:`render_sarif` serialises)."""
    rules = sorted({f.rule for f in report.findings}, key=lambda r: r.id)
    index = {rule.id: i for i, rule in enumerate(rules)}
    driver: dict[str, JsonValue] = {
        "name": "trojanguard",
        "version": report.tool_version or __version__,
        "informationUri": INFORMATION_URI,
        "rules": [_rule_descriptor(r) for r in rules],
    }
    invocation: dict[str, JsonValue] = {
        "executionSuccessful": report.complete,
        "toolExecutionNotifications": [_notification(e, base) for e in report.errors],
    }
    run: dict[str, JsonValue] = {
        "tool": {"driver": driver},
        "invocations": [invocation],
        "results": [_result(f, index[f.rule.id], base) for f in report.findings],
        "columnKind": "unicodeCodePoints",
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(report: Report, *, base: str | None = None) -> str:
    """SARIF 2.1.0 JSON text; ``base`` is the directory artifact URIs are relative to."""
    return json.dumps(sarif_dict(report, base=base), indent=2, ensure_ascii=True, allow_nan=False) + "\n"
