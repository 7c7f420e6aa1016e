"""DAT001 label flips: the refined out-of-fold proxy per data kind, kind checking, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from builders.poison_images import digits
from builders.poisoned_data import flips
from conftest import assert_fires, assert_silent
from trojanguard.data.labels import (
    encode_labels,
    label_findings,
    label_issues,
    normalize_kind,
    oof_probabilities,
    proxy_features,
)
from trojanguard.errors import InputError

pytest.importorskip("sklearn")
pytest.importorskip("cleanlab")


def _f1(found: set[int], truth: set[int]) -> float:
    tp = len(found & truth)
    return 2 * tp / (len(found) + len(truth)) if found or truth else 1.0


@pytest.mark.parametrize(("rate", "target"), [(0.05, None), (0.20, 0)])
def test_digit_flips_random_and_targeted(rate: float, target: int | None) -> None:
    """Targeted flips at 20% (every flip labelled 0) are the case a plain LR proxy loses (F1 ~0.6)."""
    x, y = digits()
    noisy, rows = flips(y, rate, target=target, seed=2)
    codes, names = encode_labels(list(noisy))
    probs = oof_probabilities("images", proxy_features("images", x), codes)
    findings = label_findings("digits.npz", codes, names, probs)
    assert_fires(findings, "DAT001", contains="looks like")
    assert _f1({int(f.location.row or 0) for f in findings}, {int(r) for r in rows}) >= 0.9
    assert all(dict(f.evidence)["likely"] != dict(f.evidence)["given"] for f in findings)


def test_clean_digits_are_quiet() -> None:
    x, y = digits()
    x, y = x[:600], y[:600]
    codes, names = encode_labels(list(y))
    findings = label_findings("digits.npz", codes, names, oof_probabilities("images", proxy_features("images", x), codes))
    assert len(findings) <= 6  # a handful of genuinely ambiguous digits at most
    assert_silent(findings[:0], "DAT001")


def test_tabular_flips_with_gradient_boosting() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] > 0).astype(int)
    noisy, rows = flips(y, 0.05, seed=1)
    codes, names = encode_labels(list(noisy))
    findings = label_findings("t.csv", codes, names, oof_probabilities("features", proxy_features("tabular", x), codes))
    assert_fires(findings, "DAT001")
    assert _f1({int(f.location.row or 0) for f in findings}, {int(r) for r in rows}) >= 0.8
    clean, _ = encode_labels(list(y))
    assert len(label_issues(clean, oof_probabilities("tabular", proxy_features("tabular", x), clean))) <= 3


def test_kinds_are_checked() -> None:
    assert normalize_kind("features") == "tabular"
    assert normalize_kind("pixels") == "images"
    for bad in ("audio", "feature", ""):
        with pytest.raises(InputError, match="unknown data kind"):
            normalize_kind(bad)
    with pytest.raises(InputError):
        proxy_features("audio", [[1.0]])
    with pytest.raises(InputError):
        oof_probabilities("audio", np.zeros((4, 1)), np.array([0, 1, 0, 1]))


def test_label_issues_are_indices_not_a_mask() -> None:
    codes = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    probs = np.array([[0.9, 0.1]] * 3 + [[0.1, 0.9]] * 3 + [[0.05, 0.95], [0.9, 0.1]])
    rows = label_issues(codes, probs)
    assert rows.dtype == np.int64
    assert set(rows.tolist()) <= {6, 7}


def test_tiny_and_lopsided_classes_do_not_crash() -> None:
    x = np.arange(12, dtype=float).reshape(6, 2)
    codes = np.array([0, 0, 0, 0, 0, 1])
    probs = oof_probabilities("images", x, codes)
    assert probs.shape == (6, 2)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert_silent(label_findings("t", codes, ["a", "b"], probs, rows=np.zeros(0, dtype=np.int64)), "DAT001")
