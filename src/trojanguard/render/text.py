"""The human report: worst first, grouped per file, one summary line at the end.

Everything shown comes from untrusted input (file names, pickle global names, template
snippets), so every piece of it goes through :func:`safe` first: control characters,
escape sequences and bidirectional overrides are shown as ``\\xNN`` escapes instead of
being sent to the terminal, where they could rewrite or hide lines of the report.
Colour is a parameter, not a guess: the CLI decides (TTY, ``NO_COLOR``, ``--no-color``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from trojanguard.model import Finding, Report, Rule, ScanError, ScannedFile, Severity
from trojanguard.render import evidence_dict, summarize, top_level_files

__all__ = ["render_rules_text", "render_text", "safe"]

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_COLOURS = {
    Severity.CRITICAL: "\x1b[1;97;41m",
    Severity.HIGH: "\x1b[1;31m",
    Severity.MEDIUM: "\x1b[33m",
    Severity.LOW: "\x1b[36m",
    Severity.INFO: "\x1b[2m",
}
_EVIDENCE_WIDTH = 160
_LIST_LIMIT = 20


def safe(text: str) -> str:
    """``text`` with every non-printable character escaped (never raises).

    Escaped: C0/C1 controls (ESC starts terminal sequences), DEL, format characters such as
    the bidi overrides U+202E/U+2066 (Trojan Source, CVE-2021-42574), lone surrogates
    (undecodable file names) and other unassigned/private code points.
    """
    if text.isprintable() and text.isascii():
        return text
    out: list[str] = []
    for ch in text:
        if ch == " " or (ch.isprintable() and unicodedata.category(ch) not in ("Cf", "Cs", "Co", "Cn")):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


class _Style:
    """ANSI styling that collapses to plain text when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def wrap(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text

    def severity(self, severity: Severity) -> str:
        return self.wrap(_COLOURS[severity], f"{severity.name:<8}")

    def bold(self, text: str) -> str:
        return self.wrap(_BOLD, text)

    def dim(self, text: str) -> str:
        return self.wrap(_DIM, text)


def _place(finding: Finding) -> str:
    loc = finding.location
    parts: list[str] = []
    if loc.members:
        parts.append("in " + "!".join(loc.members))
    if loc.offset is not None:
        parts.append(f"at byte {loc.offset}")
    if loc.row is not None:
        parts.append(f"row {loc.row}")
    if loc.source is not None:
        parts.append(f"source {loc.source}")
    return safe(", ".join(parts))


def _evidence_line(finding: Finding) -> str:
    items = ", ".join(f"{k}={v!r}" for k, v in evidence_dict(finding).items())
    if len(items) > _EVIDENCE_WIDTH:
        items = items[: _EVIDENCE_WIDTH - 3] + "..."
    return safe(items)


def _finding_lines(finding: Finding, style: _Style) -> list[str]:
    rule = finding.rule
    head = f"  {style.severity(finding.severity)} {style.bold(rule.id)} {rule.name}"
    place = _place(finding)
    if place:
        head += style.dim(f"  ({place})")
    lines = [head, f"           {safe(finding.message)}"]
    evidence = _evidence_line(finding)
    if evidence:
        lines.append(style.dim(f"           evidence: {evidence}"))
    cwe = f"CWE-{rule.cwe} · " if rule.cwe else ""
    lines.append(style.dim(f"           {cwe}confidence {finding.confidence.label} · {rule.help_uri}"))
    return lines


def _groups(findings: Iterable[Finding]) -> list[tuple[str, list[Finding]]]:
    """Findings per top-level file, the file with the worst finding first."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.location.path, []).append(finding)
    ordered = sorted(groups.items(), key=lambda kv: (-max(f.severity for f in kv[1]), kv[0]))
    return [(path, sorted(items, key=Finding.sort_key)) for path, items in ordered]


def _file_header(path: str, entry: ScannedFile | None, style: _Style) -> str:
    detail = f" [{entry.verdict.value}, {safe(entry.format)}, {entry.size} bytes]" if entry is not None else ""
    return style.bold(safe(path)) + style.dim(detail)


def _error_line(error: ScanError) -> str:
    return f"  {safe(str(error.location))}: {error.kind}: {safe(error.message)}"


def _unrecognised_line(entry: ScannedFile) -> str:
    return f"  {safe(str(entry.location))} ({safe(entry.format)}, {entry.size} bytes)"


def _limited(lines: list[str], total: int, noun: str) -> list[str]:
    if total > len(lines):
        lines.append(f"  ... and {total - len(lines)} more {noun} (see --format json)")
    return lines


def _summary_line(report: Report) -> str:
    summary = summarize(report)
    counts = summary["by_severity"]
    assert isinstance(counts, dict)
    by_sev = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
    findings = f"{summary['findings']} finding{'s' if summary['findings'] != 1 else ''}"
    if by_sev:
        findings += f" ({by_sev})"
    files = summary["files_scanned"]
    text = f"Scanned {files} file{'s' if files != 1 else ''}: {findings}, {summary['errors']} error{'s' if summary['errors'] != 1 else ''}"
    text += f", {summary['unrecognised']} unrecognised"
    if not report.complete:
        text += " — scan INCOMPLETE"
    return text + "."


def render_text(report: Report, *, color: bool = False) -> str:
    """The human report (ANSI colour only when ``color``), ending with a newline."""
    style = _Style(color)
    entries = {s.location.path: s for s in top_level_files(report)}
    lines: list[str] = []
    for path, findings in _groups(report.findings):
        lines.append(_file_header(path, entries.get(path), style))
        for finding in findings:
            lines.extend(_finding_lines(finding, style))
        lines.append("")
    if report.errors:
        lines.append(style.bold("Errors (these inputs were not fully analysed):"))
        shown = [_error_line(e) for e in report.errors[:_LIST_LIMIT]]
        lines.extend(_limited(shown, len(report.errors), "errors"))
        lines.append("")
    unrecognised = report.unrecognised
    if unrecognised:
        lines.append(style.bold("Unrecognised (no analyzer looked inside these):"))
        shown = [_unrecognised_line(s) for s in unrecognised[:_LIST_LIMIT]]
        lines.extend(_limited(shown, len(unrecognised), "unrecognised files"))
        lines.append("")
    if not report.findings and report.complete:
        lines.append("No findings.")
    lines.append(style.bold(_summary_line(report)))
    return "\n".join(lines) + "\n"


def render_rules_text(rules: tuple[Rule, ...]) -> str:
    """The rule catalogue as an aligned table (``trojanguard rules``)."""
    lines = [f"{'ID':<7} {'SEVERITY':<9} {'CWE':<8} {'NAME':<34} SUMMARY"]
    for rule in rules:
        cwe = f"CWE-{rule.cwe}" if rule.cwe else "-"
        lines.append(f"{rule.id:<7} {rule.severity.label:<9} {cwe:<8} {rule.name:<34} {rule.summary}")
    lines.append(f"{len(rules)} rules; details: docs/rules/<ID>.md")
    return "\n".join(lines) + "\n"
