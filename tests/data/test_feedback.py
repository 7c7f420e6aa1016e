"""DAT201: feedback sources flipping labels against the consensus."""

from __future__ import annotations

import numpy as np
import pytest

from builders.poisoned_data import feedback_stream, synthetic_text
from conftest import assert_fires, assert_silent
from trojanguard.data.feedback import feedback_findings
from trojanguard.data.labels import encode_labels, oof_probabilities, proxy_features
from trojanguard.errors import MalformedInput

pytest.importorskip("sklearn")


def _audit(rows: list[dict[str, object]]) -> list:  # type: ignore[type-arg]
    texts = [str(r["text"]) for r in rows]
    codes, names = encode_labels([r["label"] for r in rows])
    probs = oof_probabilities("text", proxy_features("text", texts), codes)
    return feedback_findings("feedback.jsonl", [r["source"] for r in rows], codes, probs, names,
                             [float(r["time"]) for r in rows])  # type: ignore[arg-type]


def test_campaign_accounts_are_reported_as_sources() -> None:
    texts, y = synthetic_text(1500, seed=7)
    rows, bad = feedback_stream(texts, y, accounts=100, bad_share=0.03, seed=8)
    findings = assert_fires(_audit(rows), "DAT201")
    assert {f.location.source for f in findings} == bad
    assert all(f.location.row is None for f in findings)


def test_honest_stream_is_silent() -> None:
    texts, y = synthetic_text(1500, seed=9)
    rows, bad = feedback_stream(texts, y, accounts=100, bad_share=0.03, seed=10)
    honest = [r for r in rows if r["source"] not in bad]
    assert_silent(_audit(honest), "DAT201")


def test_bad_time_column() -> None:
    with pytest.raises(MalformedInput):
        feedback_findings("f", ["a", "b"], np.array([0, 1]), np.eye(2), ["0", "1"], [0.0, float("nan")])
