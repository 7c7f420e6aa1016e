"""The human report: worst first, grouped per file, escaped, colour only when asked."""

from __future__ import annotations

from builders.reports import clean_report, sample_report
from trojanguard.model import Location, Report
from trojanguard.render import render, summarize
from trojanguard.render.text import render_rules_text, render_text, safe
from trojanguard.scanner import EXTENSION_MISMATCH, LIMIT_EXCEEDED


def test_worst_file_first_and_grouped() -> None:
    text = render_text(sample_report())
    order = [text.index(p) for p in ("models/evil model.safetensors [", "models/bomb.zip [", "data/train.csv [", "notes.npy [")]
    assert order == sorted(order)
    assert text.count("models/bomb.zip [") == 1  # both bomb.zip findings under one header


def test_rule_id_help_link_and_place_shown() -> None:
    text = render_text(sample_report())
    assert "SCN002 resource-limit-exceeded  (in inner.tar!data.bin, at byte 4096)" in text
    assert "https://github.com/trojanguard/trojanguard/blob/main/docs/rules/SCN002.md" in text
    assert "row 17, source feedback-api" in text


def test_summary_line_counts_and_lists_unrecognised() -> None:
    text = render_text(sample_report())
    last = text.rstrip("\n").splitlines()[-1]
    assert last.startswith("Scanned 6 files: 6 findings (1 critical, 2 high, 1 medium, 1 low, 1 info), 2 errors")
    assert "2 unrecognised" in last and "INCOMPLETE" in last
    assert "  weights.bin (unknown, 12 bytes)" in text
    assert "  models/bomb.zip!readme.xyz (unknown, 7 bytes)" in text
    assert "missing.pt: input: cannot read" in text


def test_clean_report_says_so() -> None:
    text = render_text(clean_report())
    assert "No findings." in text
    assert text.endswith("Scanned 1 file: 0 findings, 0 errors, 0 unrecognised.\n")


def test_no_colour_unless_asked() -> None:
    assert "\x1b" not in render_text(sample_report())
    coloured = render(sample_report(), "text", color=True)
    assert "\x1b[" in coloured and "\x1b[0m" in coloured


def test_terminal_escapes_from_hostile_names_are_neutralised() -> None:
    text = render_text(sample_report())
    assert "\x1b" not in text
    assert "link\\x1b[2J" in text and "passwd\\x1b[31m" in text
    assert "légumes" in text  # printable non-ASCII stays readable


def test_safe_escapes_bidi_controls_and_surrogates() -> None:
    assert safe("a\u202eb") == "a\\u202eb"
    assert safe("x\udcffy") == "x\\udcffy"
    assert safe("tab\there\x7f") == "tab\\x09here\\x7f"
    assert safe("plain text") == "plain text"


def test_long_evidence_is_truncated() -> None:
    finding = LIMIT_EXCEEDED.at(Location("x.zip"), "big", evidence={"blob": "A" * 1000})
    text = render_text(Report.build([finding], [], []))
    line = next(line for line in text.splitlines() if "evidence:" in line)
    assert line.endswith("...") and len(line) < 200


def test_summary_has_stable_shape() -> None:
    assert summarize(Report()) == {
        "files_scanned": 0,
        "findings": 0,
        "by_severity": {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0},
        "worst_severity": None,
        "errors": 0,
        "unrecognised": 0,
        "complete": False,
    }


def test_rules_table() -> None:
    text = render_rules_text((EXTENSION_MISMATCH,))
    assert "SCN001  medium    CWE-646  extension-content-mismatch" in text
    assert text.endswith("1 rules; details: docs/rules/<ID>.md\n")
