"""Shared test helpers.

Convention (checked by tests/test_catalogue.py): every rule ID appears literally in at
least one ``assert_fires(..., "ID")`` call (a positive case) and one
``assert_silent(..., "ID")`` call (a negative case) somewhere under tests/.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # make tests/builders importable as `builders`

from trojanguard.analyzers import BUILTIN  # noqa: E402
from trojanguard.artifact import Artifact, Limits  # noqa: E402
from trojanguard.model import Finding, Location, Report, ScanError, ScannedFile  # noqa: E402
from trojanguard.scanner import scan_artifact  # noqa: E402


def _findings(result: Report | Iterable[Finding] | tuple[list[Finding], list[ScanError], list[ScannedFile]]) -> list[Finding]:
    if isinstance(result, Report):
        return list(result.findings)
    if isinstance(result, tuple) and len(result) == 3 and isinstance(result[0], list):
        return list(result[0])
    return list(result)  # type: ignore[arg-type]


def assert_fires(result: object, rule_id: str, *, min_severity: object = None, contains: str | None = None) -> list[Finding]:
    """Assert that ``rule_id`` fired at least once; return the matching findings."""
    found = [f for f in _findings(result) if f.rule.id == rule_id]  # type: ignore[arg-type]
    assert found, f"expected {rule_id}; got {[(f.rule.id, f.message) for f in _findings(result)]}"  # type: ignore[arg-type]
    if min_severity is not None:
        assert any(f.severity >= min_severity for f in found), [(f.severity, f.message) for f in found]
    if contains is not None:
        assert any(contains in f.message or contains in repr(f.evidence) for f in found), [f.message for f in found]
    return found


def assert_silent(result: object, rule_id: str) -> None:
    """Assert that ``rule_id`` did not fire."""
    found = [f for f in _findings(result) if f.rule.id == rule_id]  # type: ignore[arg-type]
    assert not found, f"{rule_id} fired unexpectedly: {[f.message for f in found]}"


def scan_bytes(
    data: bytes, name: str = "sample.bin", limits: Limits | None = None
) -> tuple[list[Finding], list[ScanError], list[ScannedFile]]:
    """Scan an in-memory file through the full scanner (identification, containers, analyzers)."""
    artifact = Artifact.from_bytes(data, Location(name), name)
    return scan_artifact(artifact, BUILTIN, limits)


@pytest.fixture
def scan_data():  # type: ignore[no-untyped-def]
    return scan_bytes
