"""Model-free backdoor trigger search: a feature that buys a label the rest of the row denies.

A backdoor's training rows pair a trigger (a rare word or phrase, a pixel patch, a feature
value) with the attacker's label.  Confident learning misses them because the trigger makes
the poisoned label *predictable*.  Two tests together separate a trigger from an honest strong
feature:

1. **Purity far beyond chance**: among rows that carry the candidate, one label dominates
   (binomial tail against that label's base rate).
2. **Contradiction**: a proxy trained on the rows *without* the candidate, shown the
   candidate's rows with the candidate removed, mostly predicts another label.  An honest
   spam word ("prize") fails this test because the rest of a spam message is still spammy;
   an inserted trigger passes it because the rest of the row belongs to the source class.

Candidates are columns of one binary indicator matrix per data type (n-grams for text, rare
values/tails and pairs of them for tabular features; images are searched by
:mod:`trojanguard.data.images`); candidates that
mark nearly the same rows are merged so a phrase or a patch is named once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..model import Finding, Location, Rule, Severity

__all__ = ["RULE_TRIGGER", "Trigger", "find_triggers", "tabular_indicators", "text_indicators", "trigger_findings"]

RULE_TRIGGER = Rule(
    "DAT010",
    "backdoor-trigger",
    Severity.HIGH,
    "A token, phrase, pixel patch or feature value predicts one label far beyond chance while the rest of its rows says otherwise (backdoor trigger).",
    cwe=506,
)

MAX_CANDIDATES = 25
MIN_LOG_P = -6.0
MIN_PURITY = 0.9
MIN_CONTRADICTION = 0.8


@dataclass(frozen=True)
class Trigger:
    """A confirmed trigger: its name, kind, target label, and the rows that carry it."""

    name: str
    kind: str
    label: str
    rows: tuple[int, ...]
    carriers: int
    purity: float
    contradiction: float
    log_p: float
    columns: tuple[int, ...]


def text_indicators(texts: Sequence[str], *, max_features: int = 300_000) -> tuple[Any, list[str]]:
    """Binary bag of 1-3-grams (min 3 rows, at most 30% of rows)."""
    from sklearn.feature_extraction.text import CountVectorizer  # type: ignore[import-untyped]

    vec = CountVectorizer(binary=True, ngram_range=(1, 3), min_df=3, max_df=0.3, token_pattern=r"(?u)\b\w+\b",
                          max_features=max_features, dtype=np.float32)
    try:
        matrix = vec.fit_transform(list(texts))
    except ValueError:  # every n-gram pruned (tiny or uniform data)
        from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

        return csr_matrix((len(texts), 0), dtype=np.float32), []
    return matrix.tocsc(), [str(n) for n in vec.get_feature_names_out()]


def tabular_indicators(features: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, list[str], list[int]]:
    """Exact values of low-cardinality features and the 0.5% tails of the others; third item maps to the feature."""
    cols: list[np.ndarray] = []
    labels: list[str] = []
    owner: list[int] = []
    for j, name in enumerate(names):
        col = features[:, j]
        values = np.unique(col[~np.isnan(col)])
        if values.size <= 20:
            for v in values:
                cols.append(col == v)
                labels.append(f"{name}=={v:g}")
                owner.append(j)
            continue
        for side, cut in (("<=", np.nanquantile(col, 0.005)), (">=", np.nanquantile(col, 0.995))):
            cols.append(col <= cut if side == "<=" else col >= cut)
            labels.append(f"{name}{side}{cut:g}")
            owner.append(j)
    if not cols:
        return np.zeros((features.shape[0], 0), np.float32), [], []
    return np.column_stack(cols).astype(np.float32), labels, owner


def _log_binom_tail(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    from scipy.stats import binom  # type: ignore[import-untyped]

    return np.asarray(binom.logsf(k - 1, n, np.clip(p, 1e-9, 1 - 1e-9)), dtype=np.float64)


def _candidates(ind: Any, codes: np.ndarray, k: int, min_count: int) -> list[tuple[int, int, float, float]]:
    """(column, label, purity, log p) of the most significant pure columns."""
    onehot = np.eye(k, dtype=np.float32)[codes]
    counts = np.asarray(ind.T @ onehot)
    totals = counts.sum(axis=1)
    best = counts.argmax(axis=1)
    top = counts[np.arange(counts.shape[0]), best]
    base = np.bincount(codes, minlength=k) / codes.size
    ok = (totals >= min_count) & (top >= MIN_PURITY * totals) & (totals <= 0.3 * codes.size)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return []
    logp = _log_binom_tail(top[idx], totals[idx], base[best[idx]])
    keep = logp <= MIN_LOG_P
    idx, logp = idx[keep], logp[keep]
    order = np.argsort(logp)
    return [(int(idx[o]), int(best[idx[o]]), float(top[idx[o]] / totals[idx[o]]), float(logp[o])) for o in order]


def _with_pairs(ind: np.ndarray, names: list[str], codes: np.ndarray, k: int, min_count: int,
                owner: list[int]) -> tuple[np.ndarray, list[str], list[int], list[tuple[int, ...]]]:
    """Append AND-pairs of enriched-but-impure columns: a patch or a value combination is pure
    where none of its single pixels/values is.  The last item lists each column's base columns."""
    onehot = np.eye(k, dtype=np.float32)[codes]
    counts = ind.T @ onehot
    totals = counts.sum(axis=1)
    best = counts.argmax(axis=1)
    top = counts[np.arange(counts.shape[0]), best]
    base = np.bincount(codes, minlength=k) / codes.size
    ok = np.flatnonzero((totals >= min_count) & (top >= 0.5 * totals) & (top < MIN_PURITY * totals))
    parts: list[tuple[int, ...]] = [(j,) for j in range(ind.shape[1])]
    if ok.size < 2:
        return ind, names, owner, parts
    logp = _log_binom_tail(top[ok], totals[ok], base[best[ok]])
    order = np.argsort(logp)[:10]
    semi = ok[order][logp[order] <= MIN_LOG_P / 2]
    present = np.flatnonzero(totals >= min_count)
    cols, extra_names = [], []
    for a in semi:
        for b in present:
            if b == a or (b in semi and b < a):
                continue
            both = ind[:, a] * ind[:, b]
            if both.sum() >= min_count:
                cols.append(both)
                extra_names.append(f"{names[a]} & {names[b]}")
                parts.append((int(a), int(b)))
    if not cols:
        return ind, names, owner, parts
    return np.hstack([ind, np.column_stack(cols)]), names + extra_names, owner, parts


def _rows_of(ind: Any, column: int) -> np.ndarray:
    col = ind[:, column]
    if hasattr(col, "toarray"):
        col = col.toarray()
    return np.flatnonzero(np.asarray(col).ravel() > 0)


def _prescreen(features: Any, codes: np.ndarray, ind: Any, cands: list[tuple[int, int, float, float]], kind: str,
               owner: Sequence[int], parts: Sequence[tuple[int, ...]] = ()) -> list[tuple[int, int, float, float]]:
    """Order candidates by how strongly a proxy blind to *every* candidate doubts their label.

    One out-of-fold fit instead of one fit per candidate: the exact per-candidate test then
    runs on the most doubted ``MAX_CANDIDATES`` groups only.
    """
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.model_selection import cross_val_predict  # type: ignore[import-untyped]

    if len(cands) <= MAX_CANDIDATES:
        return cands
    base = sorted({b for c, _, _, _ in cands for b in (parts[c] if parts else (c,))})
    blank = _blank_columns(kind, base, owner, features.shape[1])
    x = _blanked(features, blank)
    folds = int(min(5, max(2, np.bincount(codes).min())))
    probs = cross_val_predict(LogisticRegression(max_iter=200), x, codes, cv=folds, method="predict_proba")
    k = probs.shape[1]
    own = np.eye(k, dtype=np.float32)[codes]
    doubted = own * (probs < 0.5)
    cols = np.array([c for c, _, _, _ in cands])
    labels = np.array([lab for _, lab, _, _ in cands])
    sub = ind[:, cols]
    num = np.asarray(sub.T @ doubted)[np.arange(cols.size), labels]
    den = np.asarray(sub.T @ own)[np.arange(cols.size), labels]
    doubt = list(num / np.maximum(den, 1.0))
    order = np.argsort(-np.asarray(doubt), kind="stable")
    return [cands[i] for i in order if doubt[i] > 0.05]  # an ordering: the exact test decides


def _group(ind: Any, cands: list[tuple[int, int, float, float]]) -> list[tuple[list[int], int, float, float, np.ndarray]]:
    """Merge candidates whose row sets nearly coincide (a phrase's n-grams, a patch's pixels)."""
    groups: list[tuple[list[int], int, float, float, np.ndarray]] = []
    for col, label, purity, logp in cands:
        rows = _rows_of(ind, col)
        for g, (cols, glabel, _, _, grows) in enumerate(groups):
            inter = np.intersect1d(rows, grows, assume_unique=True).size
            if glabel == label and inter >= 0.75 * min(rows.size, grows.size):
                if rows.size > grows.size:  # the broader candidate (a phrase's core word) leads the group
                    groups[g] = ([col, *cols], label, purity, logp, rows)
                else:
                    cols.append(col)
                break
        else:
            groups.append(([col], label, purity, logp, rows))
        if len(groups) >= MAX_CANDIDATES:
            break
    return groups


def _blanked(features: Any, blank: Sequence[int]) -> Any:
    """``features`` with the candidate's columns hidden (zero for text, the column mean otherwise)."""
    if hasattr(features, "tocsr"):
        from scipy.sparse import diags  # type: ignore[import-untyped]

        mask = np.ones(features.shape[1])
        mask[list(blank)] = 0.0
        return (features @ diags(mask)).tocsr()
    x = np.array(features, dtype=np.float64)
    x[:, list(blank)] = x[:, list(blank)].mean(axis=0)
    return x


def _contradiction(features: Any, codes: np.ndarray, rows: np.ndarray, label: int, blank: Sequence[int], kind: str) -> float:
    """Share of the candidate's rows that a proxy trained without them, blind to the candidate, puts elsewhere.

    Excluding every carrier from training keeps the poisoned association out of the proxy;
    hiding the candidate's columns keeps the trigger from vouching for its rows.
    """
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    train = np.ones(codes.size, dtype=bool)
    train[rows] = False
    if rows.size == 0 or np.unique(codes[train]).size < 2:
        return 0.0
    x = _blanked(features, blank)
    if kind == "tabular":
        from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]

        model: Any = HistGradientBoostingClassifier(max_iter=30, early_stopping=False, random_state=0)
    else:
        model = LogisticRegression(max_iter=200, C=1.0)
    model.fit(x[train], codes[train])
    classes = list(model.classes_)
    if label not in classes:
        return 1.0
    p = model.predict_proba(x[rows])[:, classes.index(label)]
    return float(np.mean(p < 0.5))


def _phrase_name(texts: Sequence[str], rows: np.ndarray, seed: str) -> str:
    """Grow the n-gram left and right while every carrying row agrees on the next word."""
    import re

    words = seed.split()
    spans = []
    for r in rows[:200]:
        toks = re.findall(r"(?u)\b\w+\b", texts[int(r)].lower())
        for i in range(len(toks) - len(words) + 1):
            if toks[i : i + len(words)] == words:
                spans.append((toks, i, i + len(words)))
                break
    if not spans:
        return seed
    for _ in range(8):
        left = {t[i - 1] if i > 0 else None for t, i, _ in spans}
        if len(left) != 1 or None in left:
            break
        spans = [(t, i - 1, j) for t, i, j in spans]
    for _ in range(8):
        right = {t[j] if j < len(t) else None for t, _, j in spans}
        if len(right) != 1 or None in right:
            break
        spans = [(t, i, j + 1) for t, i, j in spans]
    toks, i, j = spans[0]
    return " ".join(toks[i:j])


def _features(kind: str, data: Any, codes: np.ndarray, feature_names: Sequence[str]) -> tuple[Any, Any, list[str], list[int]]:
    """Proxy features, indicator matrix, indicator names and (tabular) each indicator's feature."""
    if kind == "text":
        ind, names = text_indicators(data)
        return ind.tocsr(), ind, names, []
    if kind == "images":
        raise InputError("image triggers are searched by trojanguard.data.images (DAT103/DAT104)")
    if kind == "tabular":
        features = np.nan_to_num(np.asarray(data, dtype=np.float64))
        ind_t, names, owner = tabular_indicators(features, list(feature_names) or [f"f{j}" for j in range(features.shape[1])])
        return features, ind_t, names, owner
    raise InputError(f"unknown data kind {kind!r}")


def find_triggers(kind: str, data: Any, codes: np.ndarray, class_names: Sequence[str], *,
                  feature_names: Sequence[str] = (), min_count: int = 3) -> list[Trigger]:
    """Search ``data`` (texts, ``(n,h,w)`` images or an ``(n,d)`` feature matrix) for triggers."""
    k = int(codes.max()) + 1
    features, ind, names, owner = _features(kind, data, codes, feature_names)
    if ind.shape[1] == 0:
        return []
    min_count = max(min_count, int(0.002 * codes.size))
    parts: list[tuple[int, ...]] = []
    if kind != "text":
        ind, names, owner, parts = _with_pairs(ind, names, codes, k, min_count, owner)
    found: list[Trigger] = []
    cands = _prescreen(features, codes, ind, _candidates(ind, codes, k, min_count), kind, owner, parts)
    for cols, label, purity, logp, rows in _group(ind, cands)[: 10 if kind == "tabular" else MAX_CANDIDATES]:
        base = list(parts[cols[0]]) if parts else sorted(cols)
        blank = _blank_columns(kind, base, owner, features.shape[1])
        cores = _text_cores(ind, names, cols) if kind == "text" else [cols]
        for core in cores:  # text: the broad reading of the group first, then the specific one
            rows = _rows_of(ind, core[0]) if kind == "text" else rows
            labelled = rows[codes[rows] == label]
            score = _contradiction(features, codes, labelled, label, blank, kind)
            if score >= MIN_CONTRADICTION:
                break
        else:
            continue
        if kind == "text":
            name = _phrase_name(data, labelled, names[core[0]])
        else:
            name = " & ".join(dict.fromkeys(n for c in core for n in names[c].split(" & ")))
        found.append(Trigger(name, kind, str(class_names[label]), tuple(int(r) for r in labelled), int(rows.size),
                             purity, score, logp, tuple(base)))
    return found


def _text_cores(ind: Any, names: Sequence[str], cols: list[int]) -> list[list[int]]:
    """One or two readings of a merged n-gram group, each with its naming n-gram first.

    Broad: the longest n-gram still covering 90% of the group's broadest rows (a rare word
    ``cf`` whose bigrams each cover a few rows).  Specific: the longest n-gram of all, when its
    rows differ: a phrase trigger ("i watched this 3d movie") merges with a common word of it
    ("movie") whose honest rows dilute the broad reading's contradiction below the threshold
    (measured: 100k SMS-derived rows, 1% phrase rows, contradiction 0.77 -> 1.0).
    """
    sizes = {c: int(ind[:, c].sum()) for c in cols}
    broad = max((c for c in cols if sizes[c] >= 0.9 * max(sizes.values())), key=lambda c: (len(names[c].split()), sizes[c]))
    specific = max(cols, key=lambda c: (len(names[c].split()), sizes[c]))
    order = [broad] if sizes[specific] >= 0.9 * sizes[broad] else [broad, specific]
    return [[c, *[o for o in cols if o != c]] for c in order]


def _blank_columns(kind: str, cols: Sequence[int], owner: Sequence[int], width: int) -> list[int]:
    """Proxy feature columns to hide for a candidate: its n-grams, its pixels, or its feature."""
    if kind == "text":
        return list(cols)
    return sorted({owner[c] for c in cols})


def trigger_findings(path: str, triggers: Sequence[Trigger]) -> list[Finding]:
    """One DAT010 per carrying row (row=) plus one per trigger (the whole file)."""
    out: list[Finding] = []
    for t in triggers:
        evidence = {"trigger": t.name, "kind": t.kind, "label": t.label, "rows": len(t.rows),
                    "purity": round(t.purity, 4), "contradiction": round(t.contradiction, 4), "log10_p": round(t.log_p / np.log(10), 1)}
        out.append(RULE_TRIGGER.at(Location(path), f"trigger {t.name!r} predicts label {t.label!r} in {len(t.rows)} rows "
                                   f"that a proxy without it labels otherwise ({t.contradiction:.0%})", evidence=evidence))
        for r in t.rows:
            out.append(RULE_TRIGGER.at(Location(path, row=r), f"row {r} carries trigger {t.name!r} and is labelled {t.label!r}",
                                       evidence={"trigger": t.name, "kind": t.kind, "label": t.label}))
    return out
