"""``data diff``: what a new version of a data set added, removed and relabelled, and whether it is poison.

Fine-tuning and re-labelling campaigns poison a model through the *delta* between two
versions of its data: a batch of added rows that carry a trigger, or a mass relabel of one
kind of content toward the attacker's class.  Auditing only the new version hides both in the
old rows' mass; comparing the versions exposes them:

* **Row matching** pairs rows by ``--key`` when the data has an ID column, else by a hash of
  the normalised non-label content (text, feature vector or image pixels), as a multiset so
  duplicated rows are paired one to one.  Rows become *unchanged*, *relabelled* (same
  content, other label), *modified* (same key, other content), *added* or *removed*.
* **DAT301** reports every relabelled row; many rows moving to one label is the campaign
  signal, so severity grows with how concentrated the moves are.
* **DAT302** clusters old and new rows together on the proxy features of
  :func:`trojanguard.data.labels.proxy_features` and tests, per cluster and label, whether the
  new version gives that label to a larger share of the cluster (two-proportion test with a
  Bonferroni bound); the new rows that cause the shift are reported with the cluster's top
  terms.
* **DAT303** runs the model-free trigger searches on the new version and keeps the triggers
  whose rows are mostly new and that were absent, or did not predict their label, in the old.

Cost follows the row count (the proxy features, one clustering, one trigger search).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .. import __version__
from ..errors import MalformedInput, UsageError
from ..model import Confidence, Finding, Location, Report, Rule, ScannedFile, Severity, Verdict
from .loaders import Dataset, load_dataset

__all__ = [
    "RULE_NEW_TRIGGER",
    "RULE_RELABEL",
    "RULE_SHIFT",
    "DiffOptions",
    "RowMatch",
    "diff",
    "diff_datasets",
    "label_shifts",
    "match_rows",
    "new_trigger_findings",
    "new_triggers",
    "relabel_findings",
    "relabel_support",
    "shift_findings",
    "summary_line",
]

RULE_RELABEL = Rule(
    "DAT301",
    "dataset-relabel",
    Severity.MEDIUM,
    "A row kept its content but changed its label between two versions of a data set (many rows moving to one label is a relabel campaign).",
    cwe=1039,
    confidence=Confidence.MEDIUM,
)
RULE_SHIFT = Rule(
    "DAT302",
    "dataset-cluster-label-shift",
    Severity.MEDIUM,
    "In one content cluster the new version of a data set gives a label to a much larger share of rows than the old version did.",
    cwe=1039,
    confidence=Confidence.MEDIUM,
)
RULE_NEW_TRIGGER = Rule(
    "DAT303",
    "dataset-new-trigger",
    Severity.HIGH,
    "A backdoor trigger appears in the new version's added rows that was absent, or did not predict its label, in the old version (fine-tuning data injection).",
    cwe=506,
)

MASS_RELABEL_MIN = 5  # rows moving to one label before it counts as a campaign
MASS_RELABEL_SHARE = 0.8  # of all relabels going to that label
SHIFT_ALPHA = 0.01  # family-wise, Bonferroni over clusters x labels
SHIFT_MIN_DELTA = 0.1  # the label's share among the cluster's fresh rows exceeds the old share by this much
SHIFT_MIN_ROWS = 3  # and by at least this many rows beyond the old share
SHIFT_MIN_OLD = 10  # a cluster needs this many old rows to have a baseline
NEW_SHARE = 0.8  # a new trigger's rows are mostly added/modified/relabelled rows
OLD_PREDICTIVE = 0.8  # purity in OLD above which a candidate already predicted its label there


@dataclass(frozen=True)
class DiffOptions:
    """What the user told us about the columns (names as in the files)."""

    label: str = "label"
    text: str | None = None
    features: Sequence[str] = ()
    key: str | None = None
    images: bool = False  # insist on image folders / image .npz files


@dataclass(frozen=True)
class RowMatch:
    """How the rows of NEW relate to OLD; every index array is sorted.

    ``relabelled`` and ``modified`` pair ``(old_row, new_row)``; ``added`` are NEW rows,
    ``removed`` OLD rows, ``unchanged`` NEW rows.
    """

    unchanged: np.ndarray
    relabelled: tuple[tuple[int, int], ...]
    modified: tuple[tuple[int, int], ...]
    added: np.ndarray
    removed: np.ndarray

    def counts(self) -> dict[str, int]:
        return {"added": int(self.added.size), "removed": int(self.removed.size), "unchanged": int(self.unchanged.size),
                "relabelled": len(self.relabelled), "modified": len(self.modified)}

    def fresh(self, n_new: int) -> np.ndarray:
        """A mask over NEW: rows whose content or label the old version did not have."""
        mask = np.zeros(n_new, dtype=bool)
        mask[self.added] = True
        for _, j in (*self.relabelled, *self.modified):
            mask[j] = True
        return mask


@dataclass
class _Side:
    """One version, loaded and reduced to what the diff needs."""

    ds: Dataset
    labels: np.ndarray  # object strings
    data: Any  # texts, (n, d) features or (n, h, w) images
    digests: list[bytes]


def _kind(old: Dataset, new: Dataset, opts: DiffOptions) -> str:
    if opts.images and (old.images is None or new.images is None):
        missing = old.path if old.images is None else new.path
        raise UsageError(f"--images: {missing} holds no images (an image folder or an .npz with an image array)")
    if opts.text:
        return "text"
    if opts.features:
        return "tabular"
    if old.images is not None and new.images is not None:
        return "images"
    if old.images is not None or new.images is not None:
        raise UsageError("one version holds images and the other does not: compare like with like")
    raise UsageError("say what the rows are: --text COLUMN, --features f1,f2,.. or two image folders/.npz files")


def _digest(parts: bytes) -> bytes:
    return hashlib.blake2b(parts, digest_size=16).digest()


def _side(ds: Dataset, kind: str, opts: DiffOptions, shape: tuple[int, ...] | None) -> _Side:
    labels = ds.labels(opts.label)
    data: Any
    if kind == "text":
        data = ds.text(str(opts.text))
        digests = [_digest(" ".join(t.lower().split()).encode("utf-8", "surrogatepass")) for t in data]
    elif kind == "tabular":
        data = np.column_stack([ds.numeric(f) for f in opts.features])
        rounded = np.nan_to_num(np.round(data, 9), nan=np.inf) + 0.0  # one NaN, no -0.0
        digests = [_digest(row.tobytes()) for row in rounded]
    else:
        data = np.asarray(ds.images, dtype=np.float64)
        if shape is not None and data.shape[1:] != shape:
            raise MalformedInput(f"{ds.path}: images are {data.shape[1:]}, the other version's are {shape}")
        digests = [_digest(img.tobytes()) for img in data]
    return _Side(ds, labels, data, digests)


def _key_values(side: _Side, key: str) -> list[str]:
    values = side.ds.text(key)
    seen: dict[str, int] = {}
    for i, v in enumerate(values):
        if v in seen:
            raise MalformedInput(f"{side.ds.path}: key {key!r} value {v[:40]!r} repeats at rows {seen[v]} and {i}")
        seen[v] = i
    return values


def match_rows(old_keys: Sequence[object], old_labels: Sequence[str], new_keys: Sequence[object], new_labels: Sequence[str],
               old_content: Sequence[bytes] | None = None, new_content: Sequence[bytes] | None = None) -> RowMatch:
    """Pair rows by key (a multiset: duplicates pair one to one, same label first).

    With ``*_content`` the keys are IDs, and a key whose content digest differs is *modified*;
    without, the keys are the content digests themselves.
    """
    buckets: dict[object, dict[str, deque[int]]] = {}  # key -> label -> old rows (O(1) pops on hostile duplicates)
    for i, k in enumerate(old_keys):
        buckets.setdefault(k, {}).setdefault(old_labels[i], deque()).append(i)
    unchanged: list[int] = []
    relabelled: list[tuple[int, int]] = []
    modified: list[tuple[int, int]] = []
    added: list[int] = []
    pending: list[int] = []
    same = old_content is not None and new_content is not None

    def changed(i: int, j: int) -> bool:
        return same and old_content[i] != new_content[j]  # type: ignore[index]

    for j, k in enumerate(new_keys):  # first pass: same key and same label
        rows = buckets.get(k, {}).get(new_labels[j])
        if not rows:
            pending.append(j)
            continue
        i = rows.popleft()
        if changed(i, j):
            modified.append((i, j))
        else:
            unchanged.append(j)
    for j in pending:  # second pass: same key, another label
        by_label = buckets.get(new_keys[j], {})
        rows = next((r for r in by_label.values() if r), None)
        if rows is None:
            added.append(j)
            continue
        i = rows.popleft()
        (modified if changed(i, j) else relabelled).append((i, j))
    removed = sorted(i for by_label in buckets.values() for rows in by_label.values() for i in rows)
    return RowMatch(np.array(sorted(unchanged), dtype=np.int64), tuple(sorted(relabelled, key=lambda p: p[1])),
                    tuple(sorted(modified, key=lambda p: p[1])), np.array(sorted(added), dtype=np.int64),
                    np.array(removed, dtype=np.int64))


# --------------------------------------------------------------------------- DAT301


def relabel_support(kind: str, old: Any, old_labels: np.ndarray, pairs: Sequence[tuple[int, int]],
                    new_labels: np.ndarray) -> dict[int, float]:
    """For each relabelled NEW row, the probability a proxy trained on the *other* OLD rows gives its new label.

    A correction moves a row toward what its content says (high); a poisoning relabel moves it
    away (low).  The relabelled rows' own old copies are left out of training, else the proxy
    would just remember their old label.  Empty when there is too little to train on.
    """
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    from .labels import proxy_features

    moved = np.array(sorted({i for i, _ in pairs}), dtype=np.int64)
    train = np.setdiff1d(np.arange(len(old_labels)), moved)
    if train.size < 10 or np.unique(old_labels[train]).size < 2:
        return {}
    try:
        x = proxy_features(kind, old)
    except ValueError:  # no token at all
        return {}
    model = LogisticRegression(max_iter=300, C=1.0).fit(x[train], old_labels[train].astype(str))
    classes = [str(c) for c in model.classes_]
    probs = model.predict_proba(x[moved])
    at = {int(i): n for n, i in enumerate(moved)}
    return {j: float(probs[at[i], classes.index(str(new_labels[j]))]) if str(new_labels[j]) in classes else 0.0
            for i, j in pairs}


def relabel_findings(path: str, match: RowMatch, old_labels: np.ndarray, new_labels: np.ndarray,
                     support: dict[int, float] | None = None) -> list[Finding]:
    """DAT301 per relabelled row, and one per target label; concentrated moves are HIGH.

    ``support`` (from :func:`relabel_support`) lowers a row the content agrees with to low:
    that looks like a correction, not a campaign.
    """
    support = support or {}
    if not match.relabelled:
        return []
    targets: dict[str, int] = {}
    for _, j in match.relabelled:
        targets[str(new_labels[j])] = targets.get(str(new_labels[j]), 0) + 1
    total = len(match.relabelled)
    out: list[Finding] = []
    for target, count in sorted(targets.items()):
        share = count / total
        severity = _relabel_severity(count, share)
        agreed = [support[j] >= 0.5 for _, j in match.relabelled if str(new_labels[j]) == target and j in support]
        summary_severity = Severity.LOW if agreed and np.mean(agreed) > 0.5 else severity  # mostly corrections
        sources = sorted({str(old_labels[i]) for i, j in match.relabelled if str(new_labels[j]) == target})
        out.append(RULE_RELABEL.at(
            Location(path), f"{count} rows kept their content but were relabelled to {target!r} "
            f"({share:.0%} of {total} relabels; from {', '.join(repr(s) for s in sources)})",
            evidence={"new_label": target, "relabelled_to_label": count, "relabelled_total": total,
                      "share": round(share, 4), "old_labels": tuple(sources),
                      "content_agrees": sum(agreed)}, severity=summary_severity))
        for i, j in match.relabelled:
            if str(new_labels[j]) != target:
                continue
            evidence: dict[str, object] = {"old_label": str(old_labels[i]), "new_label": target, "old_row": i,
                                           "relabelled_to_label": count, "share": round(share, 4)}
            agrees = ""
            if j in support:
                evidence["p_new_label"] = round(support[j], 4)
                agrees = f"; a proxy trained on the old rows gives {target!r} p={support[j]:.2f}"
            out.append(RULE_RELABEL.at(
                Location(path, row=j), f"row {j} (old row {i}) was relabelled {str(old_labels[i])!r} -> {target!r} "
                f"with unchanged content; {count} rows moved to {target!r}{agrees}",
                evidence=evidence, severity=Severity.LOW if support.get(j, 0.0) >= 0.5 else severity))
    return out


def _relabel_severity(count: int, share: float) -> Severity:
    if count >= MASS_RELABEL_MIN and share >= MASS_RELABEL_SHARE:
        return Severity.HIGH
    if count >= 3 and share >= 0.6:
        return Severity.MEDIUM
    return Severity.LOW


# --------------------------------------------------------------------------- DAT302


@dataclass(frozen=True)
class _Shift:
    cluster: int
    label: str
    old_share: float
    new_share: float
    old_rows: int
    new_rows: int
    log10_p: float
    terms: tuple[str, ...]
    rows: tuple[int, ...]  # fresh NEW rows with the label
    fresh_share: float  # the label's share among the cluster's fresh rows


def _embedding(kind: str, data: Any, seed: int = 0) -> tuple[np.ndarray, Any, list[str]] | None:
    """Dense low-rank features for clustering, the proxy matrix, and its column names."""
    from sklearn.decomposition import TruncatedSVD  # type: ignore[import-untyped]
    from sklearn.preprocessing import normalize  # type: ignore[import-untyped]

    from .labels import proxy_features

    names: list[str] = []
    if kind == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

        vec = TfidfVectorizer(min_df=2, max_df=0.5, sublinear_tf=True, max_features=50_000, token_pattern=r"(?u)\b\w+\b")
        try:
            x = vec.fit_transform(list(data))
            names = [str(n) for n in vec.get_feature_names_out()]
        except ValueError:  # every term pruned: fall back on the audit's proxy features
            try:
                x = proxy_features(kind, data)
            except ValueError:  # no token at all (empty texts): nothing to cluster on
                return None
    else:
        x = np.asarray(proxy_features(kind, data), dtype=np.float64)
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
        names = [f"f{j}" for j in range(x.shape[1])] if kind == "tabular" else []
    rank = int(min(50, x.shape[1] - 1, x.shape[0] - 1))
    if rank < 2:
        dense = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)
    else:
        dense = TruncatedSVD(n_components=rank, random_state=seed).fit_transform(x)
    return np.asarray(normalize(dense) if kind == "text" else dense, dtype=np.float64), x, names


def _clusters(dense: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.cluster import MiniBatchKMeans  # type: ignore[import-untyped]

    n = dense.shape[0]
    k = int(np.clip(round(np.sqrt(n / 10)), 2, 40))
    if n <= k:
        return np.zeros(n, dtype=np.int64)
    km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1, batch_size=min(4096, n))
    return np.asarray(km.fit_predict(dense), dtype=np.int64)


def _top_terms(x: Any, members: np.ndarray, names: list[str], top: int = 5) -> tuple[str, ...]:
    if not names or members.size == 0:
        return ()
    sub = x[members]
    mean = np.asarray(sub.mean(axis=0)).ravel() if hasattr(sub, "toarray") else np.abs(np.asarray(sub).mean(axis=0))
    return tuple(names[int(i)] for i in np.argsort(-mean)[:top] if mean[int(i)] > 0)


def _log10_tail(b: int, n: int, p0: float) -> float:
    """log10 P(X >= b) for X ~ Binomial(n, p0): how surprising ``b`` fresh rows with the label are."""
    from scipy.stats import binom  # type: ignore[import-untyped]

    return float(binom.logsf(b - 1, n, min(max(p0, 1e-9), 1 - 1e-9)) / np.log(10))


def label_shifts(kind: str, old: Any, old_labels: np.ndarray, new: Any, new_labels: np.ndarray, fresh: np.ndarray,
                 feature_names: Sequence[str] = ()) -> list[_Shift]:
    """Clusters of OLD+NEW where the fresh NEW rows give a label to a larger share than OLD did.

    Fresh rows (added, relabelled, modified) are compared with the old rows of their cluster:
    unchanged rows sit in both versions and would only dilute the test.  The old share is
    smoothed (+0.5) so a label OLD never gave in the cluster is surprising, not impossible.
    """
    combined = list(old) + list(new) if kind == "text" else np.concatenate([np.asarray(old), np.asarray(new)])
    embedded = _embedding(kind, combined)
    if embedded is None:
        return []
    dense, x, names = embedded
    if kind == "tabular" and len(feature_names) == len(names):
        names = list(feature_names)
    cluster = _clusters(dense)
    n_old = len(old_labels)
    c_old, c_new = cluster[:n_old], cluster[n_old:]
    labels = sorted(set(old_labels.tolist()) | set(new_labels.tolist()))
    bound = np.log10(SHIFT_ALPHA / max(1, int(cluster.max() + 1) * len(labels)))
    out: list[_Shift] = []
    for c in range(int(cluster.max()) + 1):
        in_old, in_new = np.flatnonzero(c_old == c), np.flatnonzero(c_new == c)
        in_fresh = in_new[fresh[in_new]]
        if in_old.size < SHIFT_MIN_OLD or in_fresh.size == 0:
            continue
        for lab in labels:
            a, b = int(np.sum(old_labels[in_old] == lab)), int(np.sum(new_labels[in_fresh] == lab))
            p_old, p0 = a / in_old.size, (a + 0.5) / (in_old.size + 1)
            if b / in_fresh.size - p_old < SHIFT_MIN_DELTA or b - p0 * in_fresh.size < SHIFT_MIN_ROWS:
                continue
            logp = _log10_tail(b, int(in_fresh.size), p0)
            if logp > bound:
                continue
            p_new = float(np.mean(new_labels[in_new] == lab))
            rows = in_fresh[new_labels[in_fresh] == lab]
            out.append(_Shift(c, str(lab), p_old, p_new, int(in_old.size), int(in_new.size), logp,
                              _top_terms(x, in_old, names), tuple(int(r) for r in rows), b / in_fresh.size))
    return out


def shift_findings(path: str, shifts: Sequence[_Shift]) -> list[Finding]:
    """DAT302 for each shifted cluster (the file) and each fresh row behind the shift."""
    out: list[Finding] = []
    for s in shifts:
        evidence = {"cluster": s.cluster, "label": s.label, "old_share": round(s.old_share, 4),
                    "new_share": round(s.new_share, 4), "old_rows": s.old_rows, "new_rows": s.new_rows,
                    "fresh_share": round(s.fresh_share, 4), "log10_p": round(s.log10_p, 1), "top_terms": s.terms,
                    "shift_rows": len(s.rows)}
        severity = Severity.HIGH if s.fresh_share - s.old_share >= 0.3 and len(s.rows) >= MASS_RELABEL_MIN else Severity.MEDIUM
        about = f" ({', '.join(s.terms)})" if s.terms else ""
        out.append(RULE_SHIFT.at(
            Location(path), f"cluster {s.cluster}{about}: label {s.label!r} grew from {s.old_share:.0%} of "
            f"{s.old_rows} old rows to {s.fresh_share:.0%} of the cluster's new rows ({len(s.rows)} rows; "
            f"{s.new_share:.0%} of all {s.new_rows} rows of the new version)",
            evidence=evidence, severity=severity))
        for r in s.rows:
            out.append(RULE_SHIFT.at(
                Location(path, row=r), f"row {r} is a new {s.label!r} row in cluster {s.cluster}{about}, "
                f"where {s.label!r} grew from {s.old_share:.0%} of old rows to {s.fresh_share:.0%} of new rows",
                evidence={"cluster": s.cluster, "label": s.label, "old_share": round(s.old_share, 4),
                          "fresh_share": round(s.fresh_share, 4), "top_terms": s.terms}, severity=severity))
    return out


# --------------------------------------------------------------------------- DAT303


@dataclass(frozen=True)
class _NewTrigger:
    name: str
    kind: str
    label: str
    rows: tuple[int, ...]
    new_share: float
    old_carriers: int
    old_purity: float


_WORD = re.compile(r"(?u)\b\w+\b")


def _text_carriers(texts: Sequence[str], phrase: str) -> np.ndarray:
    """Rows whose tokens contain ``phrase`` (the trigger search's tokenisation)."""
    words = phrase.split()
    pattern = re.compile(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)")
    return np.array([i for i, t in enumerate(texts) if pattern.search(t.lower())], dtype=np.int64)


_COND = re.compile(r"^(?P<name>.+?)(?P<op>==|<=|>=)(?P<value>[-+0-9.eE]+|nan|inf|-inf)$")


def _tabular_carriers(features: np.ndarray, names: Sequence[str], trigger: str) -> np.ndarray:
    """Rows of ``features`` meeting every ``name==v`` / ``<=`` / ``>=`` part of the trigger's name."""
    mask = np.ones(features.shape[0], dtype=bool)
    for part in trigger.split(" & "):
        m = _COND.match(part.strip())
        if m is None or m.group("name") not in names:
            return np.zeros(0, dtype=np.int64)
        col = np.nan_to_num(features[:, list(names).index(m.group("name"))])
        value, op = float(m.group("value")), m.group("op")
        mask &= np.isclose(col, value, rtol=1e-5) if op == "==" else (col <= value + 1e-9 if op == "<=" else col >= value - 1e-9)
    return np.flatnonzero(mask)


def _patch_carriers(images: np.ndarray, trigger: Any) -> np.ndarray:
    """OLD images whose window at the patch's place holds the patch's values (within 1/8 of the pixel range)."""
    arr = images if images.ndim == 4 else images[..., None]
    window = arr[:, trigger.row : trigger.row + trigger.height, trigger.col : trigger.col + trigger.width, :].mean(axis=3)
    values = np.asarray(trigger.values, dtype=np.float64).reshape(trigger.height, trigger.width)
    tolerance = (float(arr.max()) - float(arr.min())) / 8 or 1.0
    return np.flatnonzero(np.abs(window - values).max(axis=(1, 2)) <= tolerance)


def _keep(name: str, kind: str, label: str, rows: Sequence[int], fresh: np.ndarray, old_rows: np.ndarray,
          old_labels: np.ndarray) -> _NewTrigger | None:
    """A NEW trigger is mostly fresh rows and was absent or not label-predictive in OLD."""
    if not rows:
        return None
    share = float(np.mean(fresh[np.asarray(rows)]))
    purity = float(np.mean(old_labels[old_rows] == label)) if old_rows.size else 0.0
    if share < NEW_SHARE or (old_rows.size >= 3 and purity >= OLD_PREDICTIVE):
        return None
    return _NewTrigger(name, kind, label, tuple(int(r) for r in rows), share, int(old_rows.size), purity)


def new_triggers(kind: str, old: _Side, new: _Side, fresh: np.ndarray, feature_names: Sequence[str] = ()) -> list[_NewTrigger]:
    """Triggers of NEW whose rows are mostly fresh and that OLD did not already carry toward their label."""
    from .labels import encode_labels

    codes, names = encode_labels(list(new.labels))
    out: list[_NewTrigger] = []
    if kind == "images":
        from .images import find_blend_triggers, find_patch_triggers

        for p in find_patch_triggers(new.data, new.labels):
            where = f"patch ({p.row},{p.col}) {p.height}x{p.width}"
            kept = _keep(where, kind, p.label, p.rows, fresh, _patch_carriers(np.asarray(old.data), p), old.labels)
            out += [kept] if kept else []
        patched = {t.label for t in out}
        for b in find_blend_triggers(new.data, new.labels):
            if b.label not in patched:  # the old version is not searched for a blend: fresh rows decide
                kept = _keep(f"blend peaking at {list(b.peak[:3])}", kind, b.label, b.rows, fresh, np.zeros(0, np.int64), old.labels)
                out += [kept] if kept else []
        return out
    from .triggers import find_triggers

    for t in find_triggers(kind, new.data, codes, names, feature_names=list(feature_names)):
        carriers = _text_carriers(old.data, t.name) if kind == "text" else _tabular_carriers(old.data, list(feature_names), t.name)
        kept = _keep(t.name, kind, t.label, t.rows, fresh, carriers, old.labels)
        out += [kept] if kept else []
    return out


def new_trigger_findings(path: str, triggers: Sequence[_NewTrigger]) -> list[Finding]:
    """DAT303 per trigger (the file) and per carrying row of NEW."""
    out: list[Finding] = []
    for t in triggers:
        was = "absent" if t.old_carriers == 0 else f"in {t.old_carriers} old rows, {t.old_purity:.0%} {t.label!r}"
        evidence = {"trigger": t.name, "kind": t.kind, "label": t.label, "rows": len(t.rows),
                    "new_row_share": round(t.new_share, 4), "old_carriers": t.old_carriers, "old_purity": round(t.old_purity, 4)}
        out.append(RULE_NEW_TRIGGER.at(Location(path), f"trigger {t.name!r} predicts {t.label!r} in {len(t.rows)} rows, "
                                       f"{t.new_share:.0%} of them new; in the old version it was {was}", evidence=evidence))
        for r in t.rows:
            out.append(RULE_NEW_TRIGGER.at(Location(path, row=r), f"row {r} carries trigger {t.name!r} (new in this version) "
                                           f"and is labelled {t.label!r}", evidence={"trigger": t.name, "kind": t.kind, "label": t.label}))
    return out


# --------------------------------------------------------------------------- entry points


def _check_labels(old: _Side, new: _Side) -> None:
    if not set(old.labels.tolist()) & set(new.labels.tolist()):
        raise MalformedInput(f"{old.ds.path} and {new.ds.path} share no label value (old: {sorted(set(old.labels.tolist()))[:5]}, "
                             f"new: {sorted(set(new.labels.tolist()))[:5]}): not two versions of one data set")


def diff_datasets(old_ds: Dataset, new_ds: Dataset, opts: DiffOptions) -> tuple[list[Finding], RowMatch]:
    """Every diff detector on two loaded versions; the match carries the row counts."""
    kind = _kind(old_ds, new_ds, opts)
    old = _side(old_ds, kind, opts, None)
    new = _side(new_ds, kind, opts, tuple(old.data.shape[1:]) if kind == "images" else None)
    _check_labels(old, new)
    if opts.key:
        match = match_rows(_key_values(old, opts.key), old.labels.tolist(), _key_values(new, opts.key), new.labels.tolist(),
                           old.digests, new.digests)
    else:
        match = match_rows(old.digests, old.labels.tolist(), new.digests, new.labels.tolist())
    fresh = match.fresh(new.labels.size)
    support = relabel_support(kind, old.data, old.labels, match.relabelled, new.labels) if match.relabelled else {}
    findings = relabel_findings(new_ds.path, match, old.labels, new.labels, support)
    if fresh.any():
        findings += shift_findings(new_ds.path, label_shifts(kind, old.data, old.labels, new.data, new.labels, fresh, opts.features))
        if np.unique(new.labels).size >= 2 and int(fresh.sum()) >= 3:  # a trigger needs a few fresh carriers
            findings += new_trigger_findings(new_ds.path, new_triggers(kind, old, new, fresh, opts.features))
    return findings, match


def diff(old_path: str, new_path: str, opts: DiffOptions) -> Report:
    """Load both versions and diff them; the counts land in ``Report.extra`` (``diff_*`` keys)."""
    old_ds, new_ds = load_dataset(old_path), load_dataset(new_path)
    findings, match = diff_datasets(old_ds, new_ds, opts)
    worst = max((f.severity for f in findings), default=None)
    scanned = [ScannedFile(Location(p), "dataset", os.path.getsize(p) if os.path.isfile(p) else 0,
                           verdict, worst if verdict is Verdict.FLAGGED else None)
               for p, verdict in ((old_path, Verdict.CLEAN), (new_path, Verdict.FLAGGED if findings else Verdict.CLEAN))]
    report = Report.build(findings, (), scanned, tool_version=__version__)
    extra = {f"diff_{k}": str(v) for k, v in match.counts().items()}
    extra.update(diff_old_rows=str(old_ds.rows), diff_new_rows=str(new_ds.rows))
    return replace(report, extra=tuple(sorted(extra.items())))


def summary_line(report: Report) -> str:
    """``added 20, removed 0, unchanged 980, relabelled 10, modified 0`` from a diff report."""
    extra = dict(report.extra)
    return ", ".join(f"{k} {extra.get('diff_' + k, '0')}" for k in ("added", "removed", "unchanged", "relabelled", "modified"))
