"""DAT201/DAT202/DAT203: feedback sources flipping labels, near-duplicate campaigns, bursts."""

from __future__ import annotations

import numpy as np
import pytest

from builders.feedback_streams import FeedbackStream, feedback_campaign
from builders.poisoned_data import feedback_stream, synthetic_text
from conftest import assert_fires, assert_silent
from trojanguard.data.feedback import (
    analyse_feedback,
    feedback_findings,
    find_bursts,
    near_duplicate_clusters,
    normalise_text,
)
from trojanguard.data.labels import encode_labels, proxy_features
from trojanguard.errors import MalformedInput

pytest.importorskip("sklearn")


def _audit(rows: list[dict[str, object]]) -> list:  # type: ignore[type-arg]
    texts = [str(r["text"]) for r in rows]
    codes, names = encode_labels([r["label"] for r in rows])
    probs = _nb_consensus(texts, codes)
    return feedback_findings("feedback.jsonl", [r["source"] for r in rows], codes, probs, names,
                             [float(r["time"]) for r in rows])  # type: ignore[arg-type]


def _nb_consensus(texts: list[str], codes: np.ndarray) -> np.ndarray:
    """A fast out-of-fold consensus (naive Bayes) so the stream tests stay quick."""
    from sklearn.model_selection import cross_val_predict
    from sklearn.naive_bayes import MultinomialNB

    return np.asarray(cross_val_predict(MultinomialNB(alpha=0.1), proxy_features("text", texts), codes, cv=5,
                                        method="predict_proba"))


def _stream(variant: str, seed: int, *, accounts: int = 300, n: int = 900):  # type: ignore[no-untyped-def]
    texts, y = synthetic_text(n, seed=seed)
    fs = feedback_campaign(texts, y, variant=variant, accounts=accounts, bad_share=0.03, seed=seed + 1)
    codes, names = encode_labels(list(fs.labels))
    return fs, codes, names, _nb_consensus(fs.texts, codes)


def _analyse(fs: FeedbackStream, codes: np.ndarray, names: list[str], probs: np.ndarray, *, times: bool = True):  # type: ignore[no-untyped-def]
    return analyse_feedback("feedback.jsonl", fs.sources, codes, probs, names, fs.times if times else None, texts=fs.texts)


def _f1(found: set[object], truth: set[object]) -> float:
    tp = len(found & truth)
    return 2 * tp / (len(found) + len(truth)) if found or truth else 1.0


# ---------------------------------------------------------------- DAT201


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


# ---------------------------------------------------------------- DAT202


def test_near_duplicate_campaign_names_every_participating_source() -> None:
    fs, codes, names, probs = _stream("c", 21)
    result = _analyse(fs, codes, names, probs, times=False)
    findings = assert_fires(result.findings, "DAT202", contains="near-duplicates")
    assert {f.location.source for f in findings} == set(fs.attackers)
    ev = dict(findings[0].evidence)
    assert ev["pushed_label"] == "0" and ev["sources"] >= 2 and ev["share_against"] > 0
    assert isinstance(ev["template"], str) and len(ev["template"]) <= 60 and ev["rows"]
    assert all(f.location.row is None for f in findings)
    assert _f1(set(np.flatnonzero(result.flagged_rows)), set(np.flatnonzero(fs.poisoned))) >= 0.9


def test_viral_ham_reported_honestly_is_no_campaign() -> None:
    fs, codes, names, probs = _stream("clean", 23)
    assert max(np.bincount(near_duplicate_clusters(fs.texts))) >= 15  # the viral duplicates are there
    result = _analyse(fs, codes, names, probs)
    assert_silent(result.findings, "DAT202")
    assert not result.findings


def test_tabular_rows_are_clustered_after_quantisation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    x[:20] = x[0] + rng.normal(scale=1e-3, size=(20, 3))
    ids = near_duplicate_clusters(features=x)
    assert len(set(ids[:20])) == 1 and np.bincount(ids).max() == 20


def test_text_variants_cluster_and_strangers_do_not() -> None:
    base = "WINNER!! You have won a 1000 cash prize, call 09061701461 now to claim http://x.co/abc"
    variants = [base.replace("1000", str(n)).replace("now", f"now {w}") for n, w in zip(range(500, 520), "abcdefghijklmnopqrst", strict=True)]
    strangers = [f"see you at lunch tomorrow {w} with the kids" for w in ("mum", "dad", "bob")]
    ids = near_duplicate_clusters(variants + [base.upper()] + strangers + ["", "!"])
    assert len(set(ids[:21])) == 1 and ids[21] != ids[0]
    assert normalise_text(base) == "winner you have won a 0 cash prize call 0 now to claim url"


# ---------------------------------------------------------------- DAT203


def test_burst_names_the_new_accounts_behind_it() -> None:
    fs, codes, names, probs = _stream("c", 31)
    findings = assert_fires(_analyse(fs, codes, names, probs).findings, "DAT203", contains="burst")
    assert {f.location.source for f in findings} == set(fs.attackers)
    ev = dict(findings[0].evidence)
    assert ev["new_account"] is True and ev["count"] > ev["expected"]
    assert ev["window_start"] <= ev["window_end"]  # type: ignore[operator]


def test_diluting_attackers_are_found() -> None:
    fs, codes, names, probs = _stream("b", 41)
    result = _analyse(fs, codes, names, probs)
    assert_fires(result.findings, "DAT203")
    assert _f1(set(result.flagged_sources), set(fs.attackers)) >= 0.9
    assert _f1(set(np.flatnonzero(result.flagged_rows)), set(np.flatnonzero(fs.poisoned))) >= 0.9


def test_no_times_no_burst_and_honest_noise_is_no_burst() -> None:
    fs, codes, names, probs = _stream("a", 51)
    assert_silent(_analyse(fs, codes, names, probs, times=False).findings, "DAT203")
    clean, c2, n2, p2 = _stream("clean", 53)
    assert_silent(_analyse(clean, c2, n2, p2).findings, "DAT203")


def test_burst_scan_counts_reports_not_seconds() -> None:
    rng = np.random.default_rng(0)
    t = np.concatenate([rng.uniform(0, 100, 3000), rng.uniform(40, 41, 3000)])  # a busy hour, honest
    codes = rng.integers(0, 2, t.size)
    disagree = rng.random(t.size) < 0.03
    assert find_bursts(t, codes, disagree, 2) == []
    t2 = np.concatenate([t, rng.uniform(70, 70.5, 40)])  # 40 quick reports of 0 against the consensus
    bursts = find_bursts(t2, np.concatenate([codes, np.zeros(40, int)]), np.concatenate([disagree, np.ones(40, bool)]), 2)
    assert len(bursts) == 1 and 69.9 < bursts[0].start < bursts[0].end < 70.6 and bursts[0].label == 0


# ---------------------------------------------------------------- hostile input


def test_bad_time_column() -> None:
    with pytest.raises(MalformedInput):
        feedback_findings("f", ["a", "b"], np.array([0, 1]), np.eye(2), ["0", "1"], [0.0, float("nan")])


@pytest.mark.parametrize("kwargs", [{"texts": ["x"]}, {"times": [1.0]}])
def test_lengths_must_agree(kwargs: dict[str, object]) -> None:
    with pytest.raises(MalformedInput):
        feedback_findings("f", ["a", "b"], np.array([0, 1]), np.eye(2), ["0", "1"], **kwargs)  # type: ignore[arg-type]


def test_degenerate_streams_do_not_crash() -> None:
    codes = np.array([0, 1, 0, 1, 0])
    probs = np.tile([0.5, 0.5], (5, 1))
    for texts in (["", "", "", "", ""], ["\x00" * 3, "é" * 9000, "a", "b", "a"]):
        assert feedback_findings("f", ["s"] * 5, codes, probs, ["0", "1"], [0.0] * 5, texts=texts) == []
    with pytest.raises(MalformedInput):
        feedback_findings("f", ["s"] * 5, codes, np.ones((4, 2)), ["0", "1"])


@pytest.mark.slow
def test_hundred_thousand_rows_take_seconds() -> None:
    import time

    texts, y = synthetic_text(100_000, seed=61)
    fs = feedback_campaign(texts, y, variant="c", accounts=5000, seed=62)
    codes, names = encode_labels(list(fs.labels))
    probs = np.eye(2)[np.where(fs.poisoned, 1, codes)] * 0.9 + 0.05
    t0 = time.perf_counter()
    result = _analyse(fs, codes, names, probs)
    assert time.perf_counter() - t0 < 60
    assert _f1(set(result.flagged_sources), set(fs.attackers)) >= 0.9
