"""Any Report renders: text never leaks control characters, JSON and SARIF stay strict and valid.

Findings carry attacker-chosen strings (file and member names, pickle global names,
template snippets) and arbitrary evidence; no renderer may crash on them, and none may pass
terminal control bytes through.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trojanguard.model import Confidence, Finding, Location, Report, ScanError, ScannedFile, Severity, Verdict
from trojanguard.render import render
from trojanguard.scanner import EXTENSION_MISMATCH, LIMIT_EXCEEDED, NESTING_TOO_DEEP, SYMLINK_OUTSIDE

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "data" / "sarif-schema-2.1.0.json").read_text())
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
RULES = (EXTENSION_MISMATCH, LIMIT_EXCEEDED, NESTING_TOO_DEEP, SYMLINK_OUTSIDE)

names = st.text(min_size=1, max_size=20)  # includes controls, bidi marks and lone surrogates
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30))
evidence = st.dictionaries(st.text(max_size=8), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=3)
locations = st.builds(
    Location,
    path=names,
    members=st.lists(names, max_size=3).map(tuple),
    offset=st.none() | st.integers(min_value=0, max_value=2**40),
    row=st.none() | st.integers(min_value=0, max_value=10**6),
    source=st.none() | names,
)


@st.composite
def findings(draw: st.DrawFn) -> Finding:
    rule = draw(st.sampled_from(RULES))
    return rule.at(
        draw(locations),
        draw(st.text(max_size=60)),
        evidence=draw(evidence),
        severity=draw(st.sampled_from(Severity)),
        confidence=draw(st.sampled_from(Confidence)),
    )


reports = st.builds(
    Report.build,
    st.lists(findings(), max_size=5),
    st.lists(st.builds(ScanError, locations, st.text(max_size=40), st.sampled_from(["input", "limit"])), max_size=3),
    st.lists(
        st.builds(ScannedFile, locations, names, st.integers(0, 2**40), st.sampled_from(Verdict), st.none()), max_size=3
    ),
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(reports)
def test_text_has_no_control_characters(report: Report) -> None:
    text = render(report, "text")
    assert all(ch == "\n" or (ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF) for ch in text), repr(text)


@FAST
@given(reports)
def test_json_is_strict_ascii_json(report: Report) -> None:
    text = render(report, "json")
    assert text.isascii()
    doc = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(AssertionError(c)))
    assert len(doc["findings"]) == len(report.findings)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports)
def test_sarif_always_valid(report: Report) -> None:
    log = json.loads(render(report, "sarif"))
    errors = [e.message for e in VALIDATOR.iter_errors(log)]
    assert not errors, errors[:3]
