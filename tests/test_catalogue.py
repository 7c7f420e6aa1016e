"""The rule catalogue: IDs unique and well-formed, one doc page each, tested both ways."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import trojanguard.analyzers  # noqa: F401 - defines every analyzer rule
import trojanguard.data.diff  # noqa: F401 - the data-diff rules (DAT30x)
import trojanguard.data.feedback  # noqa: F401 - the data-audit rules (DAT...)
import trojanguard.data.images  # noqa: F401
import trojanguard.data.labels  # noqa: F401
import trojanguard.data.spectral  # noqa: F401
import trojanguard.data.triggers  # noqa: F401
import trojanguard.integrity.environment  # noqa: F401 - defines the ENV rules
import trojanguard.scanner  # noqa: F401 - defines the scanner's own rules
from trojanguard.model import Rule, Severity, rule_catalogue

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "rules"
TESTS = ROOT / "tests"
HEADINGS = ("## What it does", "## Why is this bad?", "## Example", "## How to fix")

RULES = rule_catalogue()


def _test_sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(TESTS.rglob("*.py")))


SOURCES = _test_sources()


def _calls(name: str) -> str:
    """The text of every ``name(...)`` call under tests/, with balanced parentheses."""
    parts = []
    for match in re.finditer(re.escape(name) + r"\(", SOURCES):
        depth, i = 1, match.end()
        while depth and i < len(SOURCES):
            depth += {"(": 1, ")": -1}.get(SOURCES[i], 0)
            i += 1
        parts.append(SOURCES[match.start() : i])
    return "\n".join(parts)


FIRES = _calls("assert_fires")
SILENT = _calls("assert_silent")


def test_catalogue_is_not_empty() -> None:
    assert len(RULES) >= 4


def test_duplicate_rule_id_is_refused() -> None:
    first = RULES[0]
    with pytest.raises(ValueError, match="defined twice"):
        Rule(first.id, first.name + "-other", first.severity, "another rule with a taken ID")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_is_well_formed(rule: Rule) -> None:
    assert re.fullmatch(r"[A-Z]{3}\d{3}", rule.id), rule.id
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name), rule.name
    assert isinstance(rule.severity, Severity)
    assert rule.summary.strip().endswith("."), "summary is one sentence ending with a period"
    assert rule.cwe is None or rule.cwe > 0


def test_rule_names_are_unique() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_has_doc_page(rule: Rule) -> None:
    page = DOCS / f"{rule.id}.md"
    assert page.is_file(), f"missing {page.relative_to(ROOT)}"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {rule.id}"), "page starts with '# <ID>'"
    for heading in HEADINGS:
        assert heading in text, f"{page.name} lacks '{heading}'"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_has_positive_and_negative_test(rule: Rule) -> None:
    lit = re.compile(r"[\"']" + re.escape(rule.id) + r"[\"']")
    positive = lit.search(FIRES)
    negative = lit.search(SILENT)
    assert positive, f"no assert_fires(..., '{rule.id}') under tests/"
    assert negative, f"no assert_silent(..., '{rule.id}') under tests/"


def test_no_orphan_doc_pages() -> None:
    ids = {r.id for r in RULES}
    orphans = [p.name for p in DOCS.glob("[A-Z][A-Z][A-Z][0-9][0-9][0-9].md") if p.stem not in ids]
    assert not orphans, f"doc pages without a rule: {orphans}"
