"""The JSON report: documented shape, deterministic, strict JSON, ASCII only."""

from __future__ import annotations

import json

import pytest

from builders.reports import clean_report, sample_report
from trojanguard.model import Location, Report
from trojanguard.render import render
from trojanguard.render.json import SCHEMA_VERSION, render_json, render_rules_json
from trojanguard.scanner import EXTENSION_MISMATCH, LIMIT_EXCEEDED

FINDING_KEYS = [
    "rule_id", "rule_name", "severity", "confidence", "cwe", "path", "member", "offset", "row", "source",
    "message", "evidence", "help_uri",
]  # fmt: skip


def test_top_level_shape() -> None:
    doc = json.loads(render_json(sample_report()))
    assert list(doc) == ["schema_version", "tool", "summary", "findings", "errors", "scanned", "unrecognised", "extra"]
    assert doc["schema_version"] == SCHEMA_VERSION == "1.0"
    assert doc["tool"] == {"name": "trojanguard", "version": "9.9.9-test"}
    assert doc["summary"]["by_severity"] == {"critical": 1, "high": 2, "medium": 1, "low": 1, "info": 1}


def test_finding_fields() -> None:
    doc = json.loads(render_json(sample_report()))
    assert all(list(f) == FINDING_KEYS for f in doc["findings"])
    bomb = doc["findings"][1]
    assert (bomb["rule_id"], bomb["member"], bomb["offset"], bomb["cwe"]) == ("SCN002", "inner.tar!data.bin", 4096, 409)
    assert bomb["evidence"] == {"limit": "max_total_bytes", "ratio": "inf", "sizes": [1, 2, 3]}
    csv = next(f for f in doc["findings"] if f["path"] == "data/train.csv")
    assert (csv["row"], csv["source"], csv["severity"]) == (17, "feedback-api", "low")


def test_errors_scanned_unrecognised() -> None:
    doc = json.loads(render_json(sample_report()))
    assert doc["errors"][1] == {
        "path": "models/broken.onnx", "member": None, "offset": 12, "kind": "malformed",
        "message": "malformed onnx: truncated varint",
    }  # fmt: skip
    zip_entry = next(s for s in doc["scanned"] if s["path"] == "models/bomb.zip" and s["member"] is None)
    assert zip_entry == {
        "path": "models/bomb.zip", "member": None, "format": "zip", "size": 2048, "verdict": "error",
        "worst_severity": "high",
    }  # fmt: skip
    assert doc["unrecognised"] == [
        {"path": "models/bomb.zip", "member": "readme.xyz", "format": "unknown", "size": 7},
        {"path": "weights.bin", "member": None, "format": "unknown", "size": 12},
    ]


def test_findings_keep_report_order() -> None:
    report = sample_report()
    doc = json.loads(render_json(report))
    assert [f["message"] for f in doc["findings"]] == [f.message for f in report.findings]


def test_deterministic_whatever_the_input_order() -> None:
    a = EXTENSION_MISMATCH.at(Location("a"), "one", evidence={"z": 1, "a": 2})
    b = LIMIT_EXCEEDED.at(Location("b"), "two")
    assert render_json(Report.build([a, b], [], [])) == render_json(Report.build([b, a], [], []))


def test_ascii_and_strict_json() -> None:
    finding = LIMIT_EXCEEDED.at(Location("é\udcff\x1b"), "m", evidence={"n": float("nan")})
    text = render(Report.build([finding], [], []), "json")
    assert text.isascii() and "\x1b" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_clean_report() -> None:
    doc = json.loads(render_json(clean_report()))
    assert doc["findings"] == [] and doc["errors"] == [] and doc["summary"]["complete"] is True


def test_unknown_format_is_value_error() -> None:
    with pytest.raises(ValueError, match="unknown output format"):
        render(clean_report(), "html")


def test_rules_json() -> None:
    doc = json.loads(render_rules_json((EXTENSION_MISMATCH,)))
    assert doc["rules"] == [
        {
            "id": "SCN001", "name": "extension-content-mismatch", "severity": "medium", "confidence": "high",
            "cwe": 646, "summary": EXTENSION_MISMATCH.summary, "help_uri": EXTENSION_MISMATCH.help_uri,
        }
    ]  # fmt: skip
