"""Feedback streams: report the *sources* (accounts) whose labels fight the consensus.

A continuously-learning system absorbs user reports ("not spam", thumbs up).  A campaign is
many weak row signals from few accounts: each report alone is a plausible mistake, but an
account whose reports disagree with the consensus far more often than everyone else's, that
appeared late and reported in a burst, is an attacker.  The consensus is the out-of-fold
prediction of a proxy trained on all reports (:mod:`trojanguard.data.labels`), so no account
is judged by a model that learnt from it alone; the test is a binomial tail against the
global disagreement rate with a Bonferroni bound over the number of sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MalformedInput
from ..model import Confidence, Finding, Location, Rule, Severity

__all__ = ["RULE_SOURCE_FLIPS", "SourceStats", "feedback_findings", "source_stats"]

RULE_SOURCE_FLIPS = Rule(
    "DAT201",
    "source-label-flips",
    Severity.HIGH,
    "A feedback source's labels disagree with the consensus far more often than other sources' (a label-flipping campaign).",
    cwe=1039,
    confidence=Confidence.MEDIUM,
)

ALPHA = 1e-3


@dataclass(frozen=True)
class SourceStats:
    """One source's reports: how many, how many against the consensus, and when."""

    source: str
    reports: int
    disagreements: int
    log_p: float
    first_seen: float
    span: float
    new: bool


def source_stats(sources: Sequence[Any], disagree: np.ndarray, times: Sequence[float] | None = None) -> list[SourceStats]:
    """Per-source disagreement counts with their binomial tail against the global rate."""
    from scipy.stats import binom  # type: ignore[import-untyped]

    src = np.asarray([str(s) for s in sources], dtype=object)
    if src.size != disagree.size:
        raise MalformedInput("source column and labels differ in length")
    t = np.asarray(times, dtype=np.float64) if times is not None else np.arange(src.size, dtype=np.float64)
    if np.isnan(t).any():
        raise MalformedInput("time column has missing or non-numeric values")
    names, inverse = np.unique(src, return_inverse=True)
    reports = np.bincount(inverse)
    against = np.bincount(inverse, weights=disagree.astype(np.float64)).astype(np.int64)
    rate = float(np.clip(disagree.mean(), 1e-6, 1 - 1e-6))
    logp = binom.logsf(against - 1, reports, rate)
    first = np.full(names.size, np.inf)
    last = np.full(names.size, -np.inf)
    np.minimum.at(first, inverse, t)
    np.maximum.at(last, inverse, t)
    late = float(np.quantile(t, 0.5))
    return [SourceStats(str(names[i]), int(reports[i]), int(against[i]), float(logp[i]), float(first[i]),
                        float(last[i] - first[i]), bool(first[i] > late)) for i in range(names.size)]


def feedback_findings(path: str, sources: Sequence[Any], codes: np.ndarray, probs: np.ndarray, names: Sequence[str],
                      times: Sequence[float] | None = None) -> list[Finding]:
    """DAT201 per source whose disagreement with the consensus is beyond chance (Bonferroni over sources)."""
    consensus = probs.argmax(axis=1)
    disagree = consensus != codes
    stats = source_stats(sources, disagree, times)
    bound = np.log(ALPHA / max(1, len(stats)))
    rate = float(disagree.mean())
    out: list[Finding] = []
    for s in sorted(stats, key=lambda s: s.log_p):
        if s.log_p > bound or s.disagreements < 3 or s.disagreements < 2 * rate * s.reports:
            continue
        rows = np.flatnonzero((np.asarray([str(x) for x in sources], dtype=object) == s.source) & disagree)
        pushed = np.bincount(codes[rows], minlength=len(names)).argmax() if rows.size else 0
        out.append(RULE_SOURCE_FLIPS.at(
            Location(path, source=s.source),
            f"source {s.source!r}: {s.disagreements}/{s.reports} reports against the consensus "
            f"(others {rate:.1%}), mostly labelling {names[int(pushed)]!r}" + (", a new account" if s.new else ""),
            evidence={"reports": s.reports, "disagreements": s.disagreements, "base_rate": round(rate, 4),
                      "log10_p": round(s.log_p / np.log(10), 1), "pushed_label": str(names[int(pushed)]),
                      "first_seen": s.first_seen, "active_span": s.span, "new_account": s.new},
        ))
    return out
