"""Every catalogue payload through the full scanner: MALICIOUS ones flagged >= high, BENIGN
ones without any finding >= medium.

Why both directions: the analyzer treats every non-allowlisted call as high, so a scanner
that flags everything would pass the malicious half; the benign half (real checkpoint
shapes) keeps the allowlist honest.
"""

from __future__ import annotations

import pytest

from builders.payloads import BENIGN, KNOWN_MISSES, MALICIOUS
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.model import Severity

#: Rules that prove the scanner saw the payload itself, not only a side effect.
PAYLOAD_RULES = ("PKL001", "PKL002", "PKL004", "PKL007", "PKL008", "PKL009")


def _case(name: str) -> object:
    if name in KNOWN_MISSES:
        return pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_MISSES[name], strict=True))
    return name


@pytest.mark.parametrize("name", [_case(n) for n in sorted(MALICIOUS)])
def test_malicious_payload_is_flagged_high(name: str) -> None:
    findings, _errors, scanned = scan_bytes(MALICIOUS[name], "model.pt")
    assert scanned, name
    worst = max((f.severity for f in findings), default=None)
    assert worst is not None and worst >= Severity.HIGH, (name, [(f.rule.id, f.message) for f in findings])
    assert any(f.rule.id in PAYLOAD_RULES and f.severity >= Severity.HIGH for f in findings), name


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_stream_has_no_finding_at_or_above_medium(name: str) -> None:
    findings, errors, scanned = scan_bytes(BENIGN[name], "model.pt")
    assert scanned and scanned[0].format == "pickle", name
    assert not errors, [e.message for e in errors]
    assert [(f.rule.id, f.message) for f in findings if f.severity >= Severity.MEDIUM] == []
    for rule in ("PKL001", "PKL002", "PKL003", "PKL004", "PKL005"):
        assert_silent(findings, rule)


def test_catalogue_is_big_enough_and_named() -> None:
    assert len(MALICIOUS) >= 80 and len(BENIGN) >= 20
    for name in MALICIOUS:
        assert name.startswith(("ghsa-", "cve-", "technique-", "modelscan-")), name
    assert not set(MALICIOUS) & set(BENIGN)


def test_every_denylisted_gadget_names_its_callable() -> None:
    """A sample across categories: the finding names the callable, not just "bad pickle"."""
    for name, callable_ in [("technique-os-system", "os.system"), ("ghsa-vvpj-8cmc-gx39-pkgutil-resolve-name",
                                                                   "os.system"),
                            ("technique-dotted-name-pathlib-os-system", "os.system"),
                            ("technique-io-fileio-c-module", "io.FileIO"), ("technique-py2-builtin-eval", "builtins.eval")]:
        findings, _, _ = scan_bytes(MALICIOUS[name], "model.pt")
        assert_fires(findings, "PKL001", contains=callable_)
