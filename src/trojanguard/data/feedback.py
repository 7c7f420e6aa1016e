"""Feedback streams: report the *sources* (accounts) behind a poisoning campaign.

A continuously-learning system absorbs user reports ("not spam", thumbs up).  A campaign is
many weak row signals from several accounts: each report alone is a plausible mistake.  Four
signals, aggregated per source, separate it from honest noise:

* **Disagreement** (DAT201): an account whose reports disagree with the consensus far more
  often than everyone else's (binomial tail against the global rate, Bonferroni over sources).
* **Near-duplicate campaigns** (DAT202): many rows with (near-)identical normalised content
  (MinHash over character shingles with LSH banding for text; quantised vectors for tabular
  rows) pushed with one label against the consensus by several sources.  An honest viral
  message reported by many users *with* the consensus label is not a campaign.
* **Bursts** (DAT203, with times): windows where reports of one label against the consensus
  spike versus the baseline share (a binomial scan over windows that start and end at such
  reports, Bonferroni over every window tried).
* **New accounts**: first seen at the campaign, few reports before it.

The consensus is the out-of-fold prediction of a proxy (:mod:`trojanguard.data.labels`).  Out-of-
fold is not enough for duplicates: a campaign's copies teach the proxy their own label from the
other folds.  So rows that have near-duplicates are re-predicted by a proxy trained only on rows
without duplicates (:func:`held_out_consensus`).

A source flagged by a campaign or a burst must also pass a per-source test: its number of
*marked* reports (against the consensus, inside a significant campaign or burst, with the pushed
label) against what an honest account with as many reports would collect by chance, with a
bonus for a new account.  This lets accounts with 3-5 reports each be found when they act
together, while an honest user with one unlucky report in the window stays silent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import LimitExceeded, MalformedInput
from ..model import Confidence, Finding, Location, Rule, Severity

__all__ = [
    "RULE_BURST",
    "RULE_CAMPAIGN",
    "RULE_SOURCE_FLIPS",
    "Burst",
    "Campaign",
    "FeedbackAnalysis",
    "SourceStats",
    "analyse_feedback",
    "feedback_findings",
    "find_bursts",
    "held_out_consensus",
    "near_duplicate_clusters",
    "normalise_text",
    "source_stats",
]

RULE_SOURCE_FLIPS = Rule(
    "DAT201",
    "source-label-flips",
    Severity.HIGH,
    "A feedback source's labels disagree with the consensus far more often than other sources' (a label-flipping campaign).",
    cwe=1039,
    confidence=Confidence.MEDIUM,
)
RULE_CAMPAIGN = Rule(
    "DAT202",
    "near-duplicate-campaign",
    Severity.HIGH,
    "Several feedback sources push one label on near-identical rows against the consensus (a coordinated campaign).",
    cwe=1039,
    confidence=Confidence.MEDIUM,
)
RULE_BURST = Rule(
    "DAT203",
    "feedback-burst",
    Severity.HIGH,
    "Reports of one label against the consensus spike in a time window; the sources behind the spike are named.",
    cwe=1039,
    confidence=Confidence.MEDIUM,
)

ALPHA = 1e-3
MAX_ROWS = 5_000_000
MAX_TEXT_CHARS = 2_000
SHINGLE = 5
BANDS, BAND_ROWS = 16, 3
DUP_SIMILARITY = 0.5
MIN_CAMPAIGN_ROWS = 4
MIN_BURST_EVENTS = 5
MAX_SCAN_EVENTS = 20_000
EXCERPT_CHARS = 60
MAX_EVIDENCE_ROWS = 200


# --------------------------------------------------------------------------- per-source counts


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


def _times(times: Sequence[float] | np.ndarray | None, n: int) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64) if times is not None else np.arange(n, dtype=np.float64)
    if t.shape != (n,):
        raise MalformedInput("time column and labels differ in length")
    if not np.isfinite(t).all():
        raise MalformedInput("time column has missing or non-numeric values")
    return t


def _source_codes(sources: Sequence[Any], n: int) -> tuple[np.ndarray, np.ndarray]:
    src = np.asarray([str(s) for s in sources], dtype=object)
    if src.size != n:
        raise MalformedInput("source column and labels differ in length")
    names, inverse = np.unique(src, return_inverse=True)
    return names, inverse.astype(np.int64)


def source_stats(sources: Sequence[Any], disagree: np.ndarray, times: Sequence[float] | None = None) -> list[SourceStats]:
    """Per-source disagreement counts with their binomial tail against the global rate."""
    from scipy.stats import binom  # type: ignore[import-untyped]

    names, inverse = _source_codes(sources, disagree.size)
    t = _times(times, disagree.size)
    reports = np.bincount(inverse, minlength=names.size)
    against = np.bincount(inverse, weights=disagree.astype(np.float64), minlength=names.size).astype(np.int64)
    rate = float(np.clip(disagree.mean(), 1e-6, 1 - 1e-6)) if disagree.size else 0.5
    logp = binom.logsf(against - 1, reports, rate)
    first, last = _first_last(inverse, t, names.size)
    late = float(np.quantile(t, 0.5)) if t.size else 0.0
    return [SourceStats(str(names[i]), int(reports[i]), int(against[i]), float(logp[i]), float(first[i]),
                        float(last[i] - first[i]), bool(first[i] > late)) for i in range(names.size)]


def _first_last(inverse: np.ndarray, t: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    first = np.full(k, np.inf)
    last = np.full(k, -np.inf)
    np.minimum.at(first, inverse, t)
    np.maximum.at(last, inverse, t)
    return first, last


# --------------------------------------------------------------------------- near duplicates

_URL = re.compile(r"(?:https?://|www\.)\S+")
_NUM = re.compile(r"\d+(?:[.,:/-]\d+)*")
_PUNCT = re.compile(r"[^\w\s]|_")
_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Lower case, URLs -> ``url``, numbers -> ``0``, punctuation dropped, whitespace collapsed.

    Campaign variants differ exactly in these (a fresh phone number, a shouted copy), so the
    comparison ignores them.
    """
    t = _URL.sub(" url ", str(text)[:MAX_TEXT_CHARS].lower())
    t = _NUM.sub(" 0 ", t)
    t = _PUNCT.sub(" ", t)
    return _SPACE.sub(" ", t).strip()


def _shingles(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Character 5-gram codes of every text and the row each belongs to (row ids ascending)."""
    bufs = [t.encode("utf-8", "replace").ljust(SHINGLE, b" ") for t in texts]
    lengths = np.fromiter((len(b) for b in bufs), dtype=np.int64, count=len(bufs))
    data = np.frombuffer(b"".join(bufs), dtype=np.uint8).astype(np.uint64)
    span = data.size - SHINGLE + 1
    code = np.zeros(span, dtype=np.uint64)
    for j in range(SHINGLE):
        code = (code << np.uint64(8)) | data[j:j + span]
    row = np.repeat(np.arange(len(bufs), dtype=np.int64), lengths)
    valid = row[:span] == row[SHINGLE - 1:]
    return code[valid], row[:span][valid]


def _minhash(texts: Sequence[str], hashes: int, seed: int = 0) -> np.ndarray:
    """MinHash signatures ``(len(texts), hashes)`` by multiply-shift hashing of the shingle codes."""
    codes, row = _shingles(texts)
    starts = np.searchsorted(row, np.arange(len(texts)))
    rng = np.random.default_rng(seed)
    mult = rng.integers(1, 2**63, size=hashes, dtype=np.uint64) | np.uint64(1)
    add = rng.integers(0, 2**63, size=hashes, dtype=np.uint64)
    sig = np.empty((len(texts), hashes), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for h in range(hashes):
            sig[:, h] = np.minimum.reduceat((codes * mult[h] + add[h]) >> np.uint64(29), starts)
    return sig


def _lsh_clusters(sig: np.ndarray, bands: int, rows_per_band: int) -> np.ndarray:
    """Connected components of rows sharing a band, each link checked by signature agreement."""
    from scipy.sparse import coo_matrix  # type: ignore[import-untyped]
    from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

    n = sig.shape[0]
    idx = np.arange(n)
    mix = np.random.default_rng(1).integers(1, 2**63, size=rows_per_band, dtype=np.uint64) | np.uint64(1)
    src, dst = [], []
    with np.errstate(over="ignore"):
        for b in range(bands):
            key = (sig[:, b * rows_per_band:(b + 1) * rows_per_band] * mix).sum(axis=1, dtype=np.uint64)
            _, first, inv = np.unique(key, return_index=True, return_inverse=True)
            rep = first[inv.reshape(-1)]
            linked = rep != idx
            src.append(idx[linked])
            dst.append(rep[linked])
    a, b2 = (np.concatenate(src), np.concatenate(dst)) if src else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    flat = np.unique(a * n + b2)
    pairs = np.stack([flat // n, flat % n], axis=1)
    pairs = pairs[_similar(sig, pairs)]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    labels: np.ndarray = np.asarray(connected_components(graph, directed=False)[1], dtype=np.int64)
    return labels


def _similar(sig: np.ndarray, pairs: np.ndarray, chunk: int = 50_000) -> np.ndarray:
    """Which candidate pairs agree on enough hashes; chunked so memory stays bounded."""
    need = DUP_SIMILARITY * sig.shape[1]
    keep = np.zeros(len(pairs), dtype=bool)
    for lo in range(0, len(pairs), chunk):
        part = pairs[lo:lo + chunk]
        keep[lo:lo + chunk] = (sig[part[:, 0]] == sig[part[:, 1]]).sum(axis=1) >= need
    return keep


def _feature_clusters(features: Any) -> np.ndarray:
    """Tabular near-duplicates: rows equal after robust scaling and rounding to quarter steps."""
    x = np.nan_to_num(np.asarray(features, dtype=np.float64).reshape(len(features), -1))
    med = np.median(x, axis=0)
    iqr = np.subtract(*np.percentile(x, [75, 25], axis=0))
    scale = np.where(iqr > 0, iqr, np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0))
    q = np.round((x - med) / scale * 4).astype(np.int64)
    return np.asarray(np.unique(q, axis=0, return_inverse=True)[1], dtype=np.int64).reshape(-1)


def near_duplicate_clusters(texts: Sequence[str] | None = None, features: Any = None) -> np.ndarray:
    """A cluster id per row: rows with the same id are (near-)identical after normalisation.

    Text: identical normalised texts share an id outright; distinct ones are linked when their
    MinHash signatures (48 hashes, 16 bands of 3) agree on at least half the hashes (estimated
    Jaccard of character 5-gram sets >= 0.5).  Cost is linear in rows (no pair loops).
    """
    if texts is None:
        if features is None:
            raise MalformedInput("near-duplicate search needs texts or features")
        return _feature_clusters(features)
    if len(texts) > MAX_ROWS:
        raise LimitExceeded(f"{len(texts)} rows exceed the feedback limit of {MAX_ROWS}", limit="max_rows")
    norm = np.asarray([normalise_text(t) for t in texts], dtype=object)
    uniq, inverse = np.unique(norm, return_inverse=True)
    if uniq.size < 2:
        return np.zeros(len(texts), dtype=np.int64)
    comp = _lsh_clusters(_minhash([str(u) for u in uniq], BANDS * BAND_ROWS), BANDS, BAND_ROWS)
    return comp[inverse.reshape(-1)]


# --------------------------------------------------------------------------- consensus


def held_out_consensus(probs: np.ndarray, codes: np.ndarray, clusters: np.ndarray, kind: str, data: Any,
                       *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Class probabilities where every row with near-duplicates is predicted by a proxy that saw none of them.

    Rows are split into folds *by cluster* (group k-fold): a campaign's copies land in one fold,
    so they cannot vouch for each other, while honest templated messages (spam has many) in the
    other folds still teach the proxy.  Rows without duplicates keep the given out-of-fold
    ``probs``.  The proxy is cheap: multinomial naive Bayes on the TF-IDF features for text,
    gradient boosting for tabular rows.
    """
    from .labels import proxy_features

    sizes = np.bincount(clusters)
    dup = sizes[clusters] > 1
    k = probs.shape[1]
    if not dup.any():
        return probs
    fold_of = np.random.default_rng(seed).permutation(sizes.size)[clusters] % folds
    try:
        feats = proxy_features(kind, data)
    except ValueError:  # nothing to learn from (e.g. every text empty): keep the given consensus
        return probs
    out: np.ndarray = probs.copy()
    for f in range(folds):
        test = np.flatnonzero(dup & (fold_of == f))
        train = np.flatnonzero(fold_of != f)
        if test.size == 0 or np.unique(codes[train]).size < 2:
            continue
        model = _proxy(kind)
        model.fit(feats[train], codes[train])
        part = np.zeros((test.size, k))
        part[:, model.classes_] = model.predict_proba(feats[test])
        out[test] = part
    return out


def _proxy(kind: str) -> Any:
    if kind == "tabular":
        from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]

        return HistGradientBoostingClassifier(max_iter=50, random_state=0)
    from sklearn.naive_bayes import MultinomialNB  # type: ignore[import-untyped]

    return MultinomialNB(alpha=0.1)


# --------------------------------------------------------------------------- campaigns


@dataclass(frozen=True)
class Campaign:
    """A near-duplicate cluster whose rows push ``label`` against the consensus from several sources."""

    id: int
    label: int
    rows: tuple[int, ...]
    size: int
    against: int
    sources: int
    log_p: float
    example: int


def find_campaigns(clusters: np.ndarray, codes: np.ndarray, disagree: np.ndarray, src: np.ndarray, n_labels: int) -> list[Campaign]:
    """Clusters where one label's against-consensus rows are beyond chance and come from >= 2 sources."""
    from scipy.stats import binom

    sizes = np.bincount(clusters)
    big = sizes[clusters] >= MIN_CAMPAIGN_ROWS
    if not big.any():
        return []
    rate = float(np.clip(disagree.mean(), 1e-6, 0.5))
    key = clusters * n_labels + codes
    hit = big & disagree
    against = np.bincount(key[hit], minlength=(int(clusters.max()) + 1) * n_labels)
    pairs = np.unique(np.stack([key[hit], src[hit]], axis=1), axis=0) if hit.any() else np.zeros((0, 2), np.int64)
    n_sources = np.bincount(pairs[:, 0], minlength=against.size) if pairs.size else np.zeros_like(against)
    candidates = np.flatnonzero((against >= MIN_CAMPAIGN_ROWS) & (n_sources >= 2))
    tests = int((sizes >= MIN_CAMPAIGN_ROWS).sum()) * n_labels
    out = []
    for key_value in candidates:
        cid, label = divmod(int(key_value), n_labels)
        n, k = int(sizes[cid]), int(against[key_value])
        log_p = float(binom.logsf(k - 1, n, rate))
        if log_p > np.log(ALPHA / max(1, tests)) or k < 2 * rate * n:
            continue
        rows = np.flatnonzero(hit & (key == key_value))
        out.append(Campaign(cid, label, tuple(int(r) for r in rows), n, k, int(n_sources[key_value]), log_p, int(rows[0])))
    return sorted(out, key=lambda c: c.log_p)


# --------------------------------------------------------------------------- bursts


@dataclass(frozen=True)
class Burst:
    """A time window where reports of ``label`` against the consensus spike."""

    label: int
    start: float
    end: float
    count: int
    reports: int
    expected: float
    log_p: float


def _window_sizes(events: int) -> np.ndarray:
    sizes = np.unique(np.round(np.geomspace(MIN_BURST_EVENTS - 1, max(MIN_BURST_EVENTS, events - 1), 24)).astype(np.int64))
    return sizes[(sizes >= MIN_BURST_EVENTS - 1) & (sizes < events)]


def _scan_label(ev: np.ndarray, all_t: np.ndarray, share: float) -> tuple[np.ndarray, ...]:
    """Every window [ev[i], ev[i+m]]: its event count, report count and binomial log tail."""
    from scipy.stats import binom

    lo_l, hi_l, k_l, n_l = [], [], [], []
    for m in _window_sizes(ev.size):
        # on huge streams wide windows need not start at every event (bounded memory)
        i = np.arange(0, ev.size - m, 1 if ev.size <= MAX_SCAN_EVENTS else max(1, int(m) // 8))
        lo, hi = ev[i], ev[i + m]
        lo_l.append(lo)
        hi_l.append(hi)
        k_l.append(np.full(i.size, m + 1))
        n_l.append(np.searchsorted(all_t, hi, "right") - np.searchsorted(all_t, lo, "left"))
    if not lo_l:
        z = np.zeros(0)
        return z, z, z, z, z
    lo, hi, k, n = (np.concatenate(a) for a in (lo_l, hi_l, k_l, n_l))
    # the two events that define the window's ends are not evidence: test the k-2 inside
    log_p = binom.logsf(k - 3, np.maximum(n - 2, 1), share)
    return lo, hi, k, n, log_p


def find_bursts(times: np.ndarray, codes: np.ndarray, disagree: np.ndarray, n_labels: int) -> list[Burst]:
    """Non-overlapping windows per label whose against-consensus share beats the baseline.

    Windows start and end at against-consensus reports of one label and contain ``m+1`` of them
    (``m`` on a geometric grid); the test counts reports, not seconds, so an honest daily rhythm is
    no burst.  The bound is Bonferroni over every window tried, of every label.
    """
    all_t = np.sort(times)
    scans = []
    for label in range(n_labels):
        ev = np.sort(times[disagree & (codes == label)])
        if ev.size < MIN_BURST_EVENTS:
            continue
        share = float(np.clip(ev.size / times.size, 1e-6, 0.5))
        scans.append((label, share, _scan_label(ev, all_t, share)))
    tests = sum(s[2][0].size for s in scans)
    bound = np.log(ALPHA / max(1, tests))
    out: list[Burst] = []
    for label, share, (lo, hi, k, n, log_p) in scans:
        ok = np.flatnonzero((log_p < bound) & (k >= 2 * share * n))
        taken: list[Burst] = []
        for j in ok[np.argsort(log_p[ok], kind="stable")]:
            if any(lo[j] <= b.end and hi[j] >= b.start for b in taken):
                continue
            taken.append(Burst(label, float(lo[j]), float(hi[j]), int(k[j]), int(n[j]), float(share * n[j]), float(log_p[j])))
        out += taken
    return sorted(out, key=lambda b: b.log_p)


# --------------------------------------------------------------------------- per-source aggregation


@dataclass(frozen=True)
class FeedbackAnalysis:
    """Everything the feedback audit found: findings, flagged sources and rows, campaigns, bursts."""

    findings: tuple[Finding, ...]
    flagged_sources: frozenset[str]
    flagged_rows: np.ndarray
    campaigns: tuple[Campaign, ...] = ()
    bursts: tuple[Burst, ...] = ()
    consensus: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class _Stream:
    """The audit's inputs in array form (source codes, times, consensus) shared by the steps."""

    path: str
    names: Sequence[str]
    src_names: np.ndarray
    src: np.ndarray
    codes: np.ndarray
    consensus: np.ndarray
    disagree: np.ndarray
    times: np.ndarray | None
    texts: Sequence[str] | None


def _marked(st: _Stream, campaigns: Sequence[Campaign], bursts: Sequence[Burst], clusters: np.ndarray | None
            ) -> tuple[np.ndarray, float]:
    """Rows against the consensus inside a significant campaign/burst (with its label), and the
    share of all rows such regions cover (what an honest report's chance of landing there is)."""
    marked = np.zeros(st.codes.size, dtype=bool)
    region = np.zeros(st.codes.size, dtype=bool)
    for c in campaigns:
        marked[list(c.rows)] = True
        if clusters is not None:
            region |= clusters == c.id
    if st.times is not None:
        for b in bursts:
            inside = (st.times >= b.start) & (st.times <= b.end)
            region |= inside
            marked |= inside & st.disagree & (st.codes == b.label)
    return marked, float(region.mean())


def _flag_sources(st: _Stream, marked: np.ndarray, coverage: float, starts: Sequence[float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sources whose marked reports are beyond chance for an honest account of their activity.

    Null: each report is marked with probability (disagreement rate x region coverage).  A new
    account (first seen at or after the earliest campaign/burst, at most 2 reports before its
    first marked one) gets a bonus: log of the share of sources that are that new.
    """
    from scipy.stats import binom

    k = st.src_names.size
    reports = np.bincount(st.src, minlength=k)
    hits = np.bincount(st.src[marked], minlength=k)
    q = float(np.clip(st.disagree.mean() * coverage, 1e-9, 0.5))
    log_p = np.where(hits > 0, binom.logsf(hits - 1, reports, q), 0.0)
    info: dict[str, np.ndarray] = {"reports": reports, "marked": hits, "log_p": log_p}
    if st.times is not None and starts:
        first, last = _first_last(st.src, st.times, k)
        t0 = min(starts)
        first_mark = np.full(k, np.inf)
        np.minimum.at(first_mark, st.src[marked], st.times[marked])
        before = np.bincount(st.src[st.times < first_mark[st.src]], minlength=k)
        new = (first >= t0) & (before <= 2)
        share = max(float(((first >= t0) & (reports > 0)).mean()), 1.0 / k)
        log_p = log_p + np.where(new & (hits > 0), np.log(share), 0.0)
        info.update(first=first, span=last - first, before=before, new=new, log_p=log_p)
    candidates = max(1, int((hits > 0).sum()))
    flagged = (hits >= 2) & (log_p < np.log(ALPHA / candidates))
    return flagged, info


def _pushed(st: _Stream, s: int) -> int:
    rows = (st.src == s) & st.disagree
    return int(np.bincount(st.codes[rows], minlength=len(st.names)).argmax()) if rows.any() else 0


def _new_evidence(info: dict[str, np.ndarray], s: int) -> dict[str, object]:
    if "new" not in info:
        return {}
    return {"new_account": bool(info["new"][s]), "first_seen": float(info["first"][s]),
            "active_span": float(info["span"][s]), "reports_before": int(info["before"][s])}


def _rows_evidence(rows: np.ndarray) -> tuple[int, ...]:
    return tuple(int(r) for r in rows[:MAX_EVIDENCE_ROWS])


def _campaign_findings(st: _Stream, campaigns: Sequence[Campaign], flagged: np.ndarray, info: dict[str, np.ndarray]) -> list[Finding]:
    out = []
    for c in campaigns:
        rows = np.asarray(c.rows)
        template = normalise_text(st.texts[c.example])[:EXCERPT_CHARS] if st.texts is not None else f"row {c.example}"
        label = str(st.names[c.label])
        for s in np.unique(st.src[rows]):
            if not flagged[s]:
                continue
            mine = rows[st.src[rows] == s]
            name = str(st.src_names[s])
            out.append(RULE_CAMPAIGN.at(
                Location(st.path, source=name),
                f"source {name!r} is one of {c.sources} sources labelling {c.against} near-duplicates of "
                f"{template!r} as {label!r} against the consensus",
                evidence={"campaign": c.id, "template": template, "rows": _rows_evidence(mine),
                          "campaign_rows": c.against, "cluster_rows": c.size, "sources": c.sources, "pushed_label": label,
                          "share_against": round(c.against / c.size, 4), "log10_p": round(c.log_p / np.log(10), 1),
                          "source_log10_p": round(float(info["log_p"][s]) / np.log(10), 1), **_new_evidence(info, s)},
            ))
    return out


def _burst_findings(st: _Stream, bursts: Sequence[Burst], marked: np.ndarray, flagged: np.ndarray, info: dict[str, np.ndarray]) -> list[Finding]:
    out = []
    assert st.times is not None
    for b in bursts:
        inside = marked & (st.times >= b.start) & (st.times <= b.end) & (st.codes == b.label)
        label = str(st.names[b.label])
        for s in np.unique(st.src[inside]):
            if not flagged[s]:
                continue
            mine = np.flatnonzero(inside & (st.src == s))
            name = str(st.src_names[s])
            new = " (a new account)" if "new" in info and info["new"][s] else ""
            out.append(RULE_BURST.at(
                Location(st.path, source=name),
                f"source {name!r}{new} sent {mine.size} of {b.count} {label!r} reports against the consensus "
                f"in a burst at {b.start:g}..{b.end:g} (expected {b.expected:.1f} of {b.reports})",
                evidence={"window_start": b.start, "window_end": b.end, "count": b.count, "expected": round(b.expected, 2),
                          "reports_in_window": b.reports, "pushed_label": label, "source_rows": _rows_evidence(mine),
                          "log10_p": round(b.log_p / np.log(10), 1),
                          "source_log10_p": round(float(info["log_p"][s]) / np.log(10), 1), **_new_evidence(info, s)},
            ))
    return out


def _flip_findings(st: _Stream, times: Sequence[float] | None) -> list[Finding]:
    """DAT201 per source whose disagreement with the consensus is beyond chance (Bonferroni over sources)."""
    stats = source_stats(st.src_names[st.src], st.disagree, times)
    bound = np.log(ALPHA / max(1, len(stats)))
    rate = float(st.disagree.mean())
    index = {str(n): i for i, n in enumerate(st.src_names)}
    out: list[Finding] = []
    for s in sorted(stats, key=lambda s: s.log_p):
        if s.log_p > bound or s.disagreements < 3 or s.disagreements < 2 * rate * s.reports:
            continue
        pushed = str(st.names[_pushed(st, index[s.source])])
        out.append(RULE_SOURCE_FLIPS.at(
            Location(st.path, source=s.source),
            f"source {s.source!r}: {s.disagreements}/{s.reports} reports against the consensus "
            f"(others {rate:.1%}), mostly labelling {pushed!r}" + (", a new account" if s.new else ""),
            evidence={"reports": s.reports, "disagreements": s.disagreements, "base_rate": round(rate, 4),
                      "log10_p": round(s.log_p / np.log(10), 1), "pushed_label": pushed,
                      "first_seen": s.first_seen, "active_span": s.span, "new_account": s.new},
        ))
    return out


def _check(codes: np.ndarray, probs: np.ndarray) -> None:
    if codes.ndim != 1 or probs.ndim != 2 or probs.shape[0] != codes.size:
        raise MalformedInput("labels and consensus probabilities differ in shape")
    if codes.size > MAX_ROWS:
        raise LimitExceeded(f"{codes.size} rows exceed the feedback limit of {MAX_ROWS}", limit="max_rows")


def analyse_feedback(path: str, sources: Sequence[Any], codes: np.ndarray, probs: np.ndarray, names: Sequence[str],
                     times: Sequence[float] | None = None, *, texts: Sequence[str] | None = None,
                     features: Any = None) -> FeedbackAnalysis:
    """Disagreement per source, near-duplicate campaigns (``texts`` or ``features``), bursts (``times``).

    ``probs`` are out-of-fold class probabilities of a proxy (the consensus); rows with near-
    duplicates are re-predicted by a proxy that never saw any of them.  Returns the findings
    and, for tools that act on them, the flagged sources and rows (rows of flagged sources that
    carry the label the source pushes against the consensus).
    """
    codes = np.asarray(codes, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    _check(codes, probs)
    src_names, src = _source_codes(sources, codes.size)
    t = _times(times, codes.size) if times is not None else None
    clusters = None
    if texts is not None or features is not None:
        if texts is not None and len(texts) != codes.size:
            raise MalformedInput("text column and labels differ in length")
        clusters = near_duplicate_clusters(texts, None if texts is not None else features)
        kind, data = ("text", texts) if texts is not None else ("tabular", features)
        probs = held_out_consensus(probs, codes, clusters, kind, data)
    consensus = probs.argmax(axis=1)
    st = _Stream(path, names, src_names, src, codes, consensus, consensus != codes, t, texts)
    campaigns = find_campaigns(clusters, codes, st.disagree, src, probs.shape[1]) if clusters is not None else []
    bursts = find_bursts(t, codes, st.disagree, probs.shape[1]) if t is not None else []
    marked, coverage = _marked(st, campaigns, bursts, clusters)
    starts = [b.start for b in bursts] + ([float(t[list(c.rows)].min()) for c in campaigns] if t is not None else [])
    flagged, info = _flag_sources(st, marked, coverage, starts)
    findings = _flip_findings(st, times) + _campaign_findings(st, campaigns, flagged, info)
    if t is not None:
        findings += _burst_findings(st, bursts, marked, flagged, info)
    return _analysis(st, findings, campaigns, bursts)


def _analysis(st: _Stream, findings: list[Finding], campaigns: Sequence[Campaign], bursts: Sequence[Burst]) -> FeedbackAnalysis:
    who = {str(f.location.source) for f in findings}
    index = {str(n): i for i, n in enumerate(st.src_names)}
    rows = np.zeros(st.codes.size, dtype=bool)
    for name in who:
        s = index[name]
        rows |= (st.src == s) & st.disagree & (st.codes == _pushed(st, s))
    return FeedbackAnalysis(tuple(findings), frozenset(who), rows, tuple(campaigns), tuple(bursts), st.consensus)


def feedback_findings(path: str, sources: Sequence[Any], codes: np.ndarray, probs: np.ndarray, names: Sequence[str],
                      times: Sequence[float] | None = None, *, texts: Sequence[str] | None = None,
                      features: Any = None) -> list[Finding]:
    """DAT201/DAT202/DAT203 findings for a feedback stream (see :func:`analyse_feedback`)."""
    return list(analyse_feedback(path, sources, codes, probs, names, times, texts=texts, features=features).findings)
