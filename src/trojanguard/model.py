"""The one vocabulary every part of trojanguard speaks.

Severity, Confidence, Rule, Location, Finding, ScanError, ScannedFile and Report are
immutable values.  A Finding is only ever created from its Rule (``RULE.at(...)``), so
every finding carries a stable rule ID, a default severity and a CWE; analyzers never
invent rule codes from message text.

Rules register themselves in a process-wide catalogue when they are defined; defining
two different rules with the same ID is a programming error and raises at import time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Union

__all__ = [
    "Confidence",
    "Finding",
    "Location",
    "Report",
    "Rule",
    "ScanError",
    "ScannedFile",
    "Severity",
    "Verdict",
    "rule_catalogue",
]

RULE_DOC_BASE = "https://github.com/trojanguard/trojanguard/blob/main/docs/rules/"


class Severity(enum.IntEnum):
    """How bad it is if the finding is true."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; choose from {', '.join(s.name.lower() for s in cls)}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class Confidence(enum.IntEnum):
    """How sure the analyzer is that the finding is true (independent of severity)."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()


EvidenceValue = Union[str, int, float, bool, None, tuple["EvidenceValue", ...]]


def _freeze(value: object) -> EvidenceValue:
    """Turn evidence into hashable, JSON-friendly values (lists become tuples)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, bytes):
        return value[:256].hex()
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return tuple(_freeze(v) for v in items)
    return str(value)


_CATALOGUE: dict[str, Rule] = {}


@dataclass(frozen=True)
class Rule:
    """A check with a stable ID (``PKL001``), a default severity and a CWE.

    ``summary`` is one sentence saying what the rule detects; the long explanation lives
    in ``docs/rules/<id>.md``.
    """

    id: str
    name: str
    severity: Severity
    summary: str
    cwe: int | None = None
    confidence: Confidence = Confidence.HIGH

    def __post_init__(self) -> None:
        existing = _CATALOGUE.get(self.id)
        if existing is not None and existing != self:
            raise ValueError(f"rule ID {self.id} defined twice with different contents")
        _CATALOGUE[self.id] = self

    @property
    def help_uri(self) -> str:
        return f"{RULE_DOC_BASE}{self.id}.md"

    def at(
        self,
        location: Location,
        message: str,
        *,
        evidence: Mapping[str, object] | None = None,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
    ) -> Finding:
        """Create a finding of this rule; severity/confidence may be adjusted per case."""
        frozen = tuple(sorted((str(k), _freeze(v)) for k, v in (evidence or {}).items()))
        return Finding(
            rule=self,
            location=location,
            message=message,
            evidence=frozen,
            severity=self.severity if severity is None else severity,
            confidence=self.confidence if confidence is None else confidence,
        )


def rule_catalogue() -> tuple[Rule, ...]:
    """Every rule defined so far, sorted by ID (import ``trojanguard.analyzers`` first)."""
    return tuple(_CATALOGUE[k] for k in sorted(_CATALOGUE))


@dataclass(frozen=True)
class Location:
    """Where something is: a file path, the member chain inside containers, a byte offset.

    ``members`` is the chain of names from the outermost container inwards, e.g. a pickle
    inside a zip inside a tar: ``("model.zip", "archive/data.pkl")``.  ``row``/``source``
    locate dataset findings (a 0-based row, a feedback source).
    """

    path: str
    members: tuple[str, ...] = ()
    offset: int | None = None
    row: int | None = None
    source: str | None = None

    def sort_key(self) -> tuple[str, tuple[str, ...], int, int, str]:
        """A total order (None sorts first) for deterministic reports."""
        return (
            self.path,
            self.members,
            -1 if self.offset is None else self.offset,
            -1 if self.row is None else self.row,
            self.source or "",
        )

    def child(self, member: str) -> Location:
        return Location(self.path, (*self.members, member))

    def at_offset(self, offset: int | None) -> Location:
        return replace(self, offset=offset)

    @property
    def member(self) -> str | None:
        """The member chain joined with ``!`` (None for a plain file)."""
        return "!".join(self.members) if self.members else None

    def __str__(self) -> str:
        text = self.path
        if self.members:
            text += "!" + "!".join(self.members)
        if self.offset is not None:
            text += f"@{self.offset}"
        if self.row is not None:
            text += f"#row{self.row}"
        if self.source is not None:
            text += f"#source={self.source}"
        return text


@dataclass(frozen=True)
class Finding:
    """One reason to distrust an artifact."""

    rule: Rule
    location: Location
    message: str
    evidence: tuple[tuple[str, EvidenceValue], ...] = ()
    severity: Severity = Severity.MEDIUM
    confidence: Confidence = Confidence.HIGH

    @property
    def rule_id(self) -> str:
        return self.rule.id

    def sort_key(self) -> tuple[object, ...]:
        """Worst first, then by place, then rule and message (total, deterministic order)."""
        return (-self.severity, -self.confidence, self.location.sort_key(), self.rule.id, self.message, repr(self.evidence))


@dataclass(frozen=True)
class ScanError:
    """A file or member that could not be fully analysed (the scan is then incomplete)."""

    location: Location
    message: str
    kind: str = "error"

    def sort_key(self) -> tuple[object, ...]:
        return (self.location.sort_key(), self.kind, self.message)


class Verdict(enum.Enum):
    CLEAN = "clean"
    FLAGGED = "flagged"
    ERROR = "error"
    UNRECOGNISED = "unrecognised"


@dataclass(frozen=True)
class ScannedFile:
    """One top-level input file and what came of it."""

    location: Location
    format: str
    size: int
    verdict: Verdict
    worst: Severity | None = None


@dataclass(frozen=True)
class Report:
    """The result of a scan: findings, errors and what was looked at, in a stable order."""

    findings: tuple[Finding, ...] = ()
    errors: tuple[ScanError, ...] = ()
    scanned: tuple[ScannedFile, ...] = ()
    tool_version: str = ""
    extra: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def build(
        cls,
        findings: Iterable[Finding],
        errors: Iterable[ScanError],
        scanned: Iterable[ScannedFile],
        tool_version: str = "",
    ) -> Report:
        unique_findings = sorted(set(findings), key=Finding.sort_key)
        unique_errors = sorted(set(errors), key=ScanError.sort_key)
        return cls(
            findings=tuple(unique_findings),
            errors=tuple(unique_errors),
            scanned=tuple(sorted(scanned, key=lambda s: s.location.sort_key())),
            tool_version=tool_version,
        )

    @property
    def unrecognised(self) -> tuple[ScannedFile, ...]:
        return tuple(s for s in self.scanned if s.verdict is Verdict.UNRECOGNISED)

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def failed(self, threshold: Severity) -> bool:
        return any(f.severity >= threshold for f in self.findings)

    @property
    def complete(self) -> bool:
        return not self.errors and bool(self.scanned)
