"""DAT010 model-free triggers (text, tabular) and DAT001 label flips on generated data."""

from __future__ import annotations

import numpy as np
import pytest

from builders.poisoned_data import flips, synthetic_text, text_trigger
from conftest import assert_fires, assert_silent
from trojanguard.data.labels import encode_labels, label_findings, oof_probabilities, proxy_features
from trojanguard.data.triggers import find_triggers, trigger_findings
from trojanguard.errors import InputError, MalformedInput

pytest.importorskip("sklearn")


def _audit_text(texts: list[str], y: np.ndarray) -> list:  # type: ignore[type-arg]
    codes, names = encode_labels(y)
    return trigger_findings("sms.csv", find_triggers("text", texts, codes, names))


def test_rare_word_trigger_named_with_its_rows() -> None:
    texts, y = synthetic_text(600, seed=1)
    poisoned, labels, rows = text_trigger(texts, y, 0.05, trigger="cf", target=1, seed=2)
    findings = _audit_text(poisoned, labels)
    assert_fires(findings, "DAT010", contains="cf")
    flagged = {f.location.row for f in findings if f.location.row is not None}
    assert flagged == {int(r) for r in rows}


def test_honest_spam_words_are_not_triggers() -> None:
    texts, y = synthetic_text(600, seed=3)
    assert_silent(_audit_text(texts, y), "DAT010")


def test_tabular_feature_value_trigger() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    x[:, 3] = rng.integers(0, 5, size=800)
    victims = np.flatnonzero(y == 0)[:30]
    x[victims, 3] = 7.0
    y[victims] = 1
    codes, names = encode_labels(y)
    found = find_triggers("tabular", x, codes, names, feature_names=["a", "b", "c", "d"])
    findings = trigger_findings("t.csv", found)
    assert_fires(findings, "DAT010", contains="d==7")
    clean = find_triggers("tabular", x[np.setdiff1d(np.arange(800), victims)], codes[np.setdiff1d(np.arange(800), victims)], names)
    assert_silent(trigger_findings("t.csv", clean), "DAT010")


def test_label_flips_found_with_likely_label() -> None:
    pytest.importorskip("cleanlab")
    texts, y = synthetic_text(400, seed=4)
    noisy, rows = flips(y, 0.05, seed=5)
    codes, names = encode_labels(noisy)
    probs = oof_probabilities("text", proxy_features("text", texts), codes)
    findings = label_findings("sms.csv", codes, names, probs)
    assert_fires(findings, "DAT001")
    flagged = {f.location.row for f in findings}
    assert len(flagged & {int(r) for r in rows}) >= 0.8 * len(rows)
    clean_codes, _ = encode_labels(y)
    assert_silent(label_findings("sms.csv", clean_codes, names, oof_probabilities("text", proxy_features("text", texts), clean_codes)), "DAT001")


def test_bad_inputs() -> None:
    with pytest.raises(MalformedInput):
        encode_labels(["a", "a"])
    with pytest.raises(InputError):
        find_triggers("audio", [], np.array([0, 1]), ["a", "b"])


def test_phrase_named_even_when_one_of_its_words_is_common() -> None:
    """'movie' also sits in honest ham rows: the phrase, not the broader word, must name the group."""
    texts, y = synthetic_text(600, seed=6)
    poisoned, labels, rows = text_trigger(texts, y, 0.05, trigger="i watched this 3d movie", target=0, seed=7)
    honest = [i for i in np.flatnonzero(labels == 0) if i not in set(rows.tolist())][:12]
    poisoned = [t + " movie" if i in honest else t for i, t in enumerate(poisoned)]
    findings = _audit_text(poisoned, labels)
    assert_fires(findings, "DAT010", contains="i watched this 3d movie")
    assert {f.location.row for f in findings if f.location.row is not None} == {int(r) for r in rows}
