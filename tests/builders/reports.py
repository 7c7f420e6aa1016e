"""Fixed Reports for renderer tests, built from the scanner's real rules (SCN001-SCN004).

Renderer tests must not depend on analyzers that are still changing, and must not define
rules of their own (a Rule registers itself in the global catalogue, which requires a doc
page for it).  The sample covers what renderers must get right: every severity, members,
offsets, rows and sources, tuple and non-finite evidence, a file name with a space and
non-ASCII letters, a message carrying terminal escape codes, scan errors, and an
unrecognised member.
"""

from __future__ import annotations

from trojanguard.model import Confidence, Finding, Location, Report, ScanError, ScannedFile, Severity, Verdict
from trojanguard.scanner import EXTENSION_MISMATCH, LIMIT_EXCEEDED, NESTING_TOO_DEEP, SYMLINK_OUTSIDE

VERSION = "9.9.9-test"


def sample_findings() -> list[Finding]:
    return [
        EXTENSION_MISMATCH.at(
            Location("models/evil model.safetensors"),
            "named 'evil model.safetensors' (.safetensors) but the content is pickle",
            evidence={"extension": ".safetensors", "content_format": "pickle"},
            severity=Severity.CRITICAL,
        ),
        LIMIT_EXCEEDED.at(
            Location("models/bomb.zip", ("inner.tar", "data.bin"), offset=4096),
            "decompressed data exceeds 1024 bytes in total",
            evidence={"limit": "max_total_bytes", "ratio": float("inf"), "sizes": (1, 2, 3)},
        ),
        NESTING_TOO_DEEP.at(
            Location("models/bomb.zip", ("inner.tar",)),
            "nested 11 containers deep (limit 10); not analysed",
            evidence={"depth": 11, "limit": 10},
            confidence=Confidence.MEDIUM,
        ),
        SYMLINK_OUTSIDE.at(
            Location("data/légumes/link\x1b[2J"),
            "symbolic link to '/etc/passwd\x1b[31m' leaves the scanned tree or dangles; not followed",
            evidence={"target": "/etc/passwd\x1b[31m"},
        ),
        EXTENSION_MISMATCH.at(
            Location("data/train.csv", row=17, source="feedback-api"),
            "named 'train.csv' (.csv) but the content is json",
            evidence={},
            severity=Severity.LOW,
        ),
        EXTENSION_MISMATCH.at(
            Location("notes.npy"),
            "named 'notes.npy' (.npy) but the content is text",
            severity=Severity.INFO,
            confidence=Confidence.LOW,
        ),
    ]


def sample_errors() -> list[ScanError]:
    return [
        ScanError(Location("models/broken.onnx", offset=12), "malformed onnx: truncated varint", "malformed"),
        ScanError(Location("missing.pt"), "cannot read: No such file or directory", "input"),
    ]


def sample_scanned() -> list[ScannedFile]:
    return [
        ScannedFile(Location("models/evil model.safetensors"), "pickle", 40, Verdict.FLAGGED, Severity.CRITICAL),
        ScannedFile(Location("models/bomb.zip"), "zip", 2048, Verdict.ERROR, Severity.HIGH),
        ScannedFile(Location("models/bomb.zip", ("readme.xyz",)), "unknown", 7, Verdict.UNRECOGNISED),
        ScannedFile(Location("models/broken.onnx"), "onnx", 100, Verdict.ERROR),
        ScannedFile(Location("weights.bin"), "unknown", 12, Verdict.UNRECOGNISED),
        ScannedFile(Location("notes.npy"), "text", 5, Verdict.CLEAN, Severity.INFO),
        ScannedFile(Location("data/train.csv"), "json", 9, Verdict.FLAGGED, Severity.LOW),
    ]


def sample_report() -> Report:
    """A report with findings of every severity, errors and unrecognised entries."""
    return Report.build(sample_findings(), sample_errors(), sample_scanned(), tool_version=VERSION)


def clean_report() -> Report:
    """A complete scan with no findings."""
    scanned = [ScannedFile(Location("model.safetensors"), "safetensors", 1024, Verdict.CLEAN)]
    return Report.build([], [], scanned, tool_version=VERSION)
