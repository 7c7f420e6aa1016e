"""The methods compared: trojanguard's ``data audit`` (end to end and per detector), cleanlab, ART.

Each method family takes a :class:`~scenarios.Scenario` and returns one or more :class:`Result`
rows.  The audit runs once per scenario through the public ``data.audit.audit_dataset`` on an
in-memory :class:`~trojanguard.data.loaders.Dataset`; its per-detector rows are the same findings
split by rule ID, so they cost nothing extra and their seconds are the audit's.  The anchors get
what their authors would give them: cleanlab ``find_label_issues`` on 5-fold out-of-fold
logistic-regression probabilities; ART's ActivationDefence and SpectralSignatureDefense on a small
PyTorch MLP (``PyTorchClassifier``) trained on the data, pixels for images and TF-IDF ->
TruncatedSVD(100) for text, with the true poison rate as ``expected_pp_poison`` (an oracle that
only favours the anchor).  For the feedback stream, an anchor's row flags become account flags
when most of an account's reports are flagged.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scenarios import Scenario

ART_EPOCHS = {"images": 20, "text": 10}
TRIGGER_RULES = ("DAT010", "DAT103", "DAT104")


@dataclass
class Result:
    """One method on one scenario: what it flagged, how long it took, whether it named the trigger."""

    method: str
    flagged: set[Any]
    seconds: float | None
    named: bool | None = None
    error: str = ""


# ---------------------------------------------------------------- trojanguard


def _dataset(s: Scenario) -> tuple[Any, Any]:
    from trojanguard.data.audit import AuditOptions
    from trojanguard.data.loaders import Dataset

    labels = np.asarray([str(v) for v in s.y], dtype=object)
    if s.group == "feedback":
        cols = {k: np.asarray([r[k] for r in s.rows], dtype=object) for k in ("source", "text")}
        cols["time"] = np.asarray([float(str(r["time"])) for r in s.rows])
        cols["label"] = labels
        return Dataset("feedback.csv", cols), AuditOptions(text="text", source="source", time="time")
    if s.kind == "text":
        return Dataset("sms.csv", {"text": np.asarray(s.x, dtype=object), "label": labels}), AuditOptions(text="text")
    return Dataset("digits.npz", {"label": labels}, images=np.asarray(s.x)), AuditOptions()


def trojanguard(s: Scenario) -> list[Result]:
    """``data audit`` end to end, then the same findings per rule."""
    from trojanguard.data.audit import audit_dataset

    ds, opts = _dataset(s)
    start = time.perf_counter()
    findings = audit_dataset(ds, opts)
    secs = time.perf_counter() - start
    named = _named(s, findings) if s.group == "backdoor" else None
    if s.group == "feedback":
        total = {f.location.source for f in findings if f.location.source is not None}
    else:
        total = {f.location.row for f in findings if f.location.row is not None}
    out = [Result("trojanguard data audit", total, secs, named)]
    for rule in sorted({f.rule.id for f in findings} | _expected_rules(s)):
        mine = [f for f in findings if f.rule.id == rule]
        rows = {f.location.row for f in mine if f.location.row is not None}
        if s.group == "feedback":
            flagged = {f.location.source for f in mine if f.location.source is not None} | to_accounts(s, rows)
        else:
            flagged = rows
        rule_named = _named(s, mine) if s.group == "backdoor" and rule in TRIGGER_RULES else None
        out.append(Result(f"  audit {rule} only", flagged, None, rule_named))
    return out


def _expected_rules(s: Scenario) -> set[str]:
    """The detectors meant for the scenario, listed even when silent (a silent detector scores 0)."""
    if s.group == "feedback":
        return {"DAT201"}
    if s.group == "flips":
        return {"DAT001"}
    return {"DAT010"} if s.kind == "text" else {"DAT103", "DAT104", "DAT101", "DAT102"}


def _named(s: Scenario, findings: Iterable[Any]) -> bool:
    """Does any finding's evidence name the planted trigger (token/phrase, patch box, blend pattern)?"""
    check: Callable[[dict[str, Any]], bool] = {"text": _names_text, "patch": _names_patch, "blend": _names_blend}[
        s.trigger["type"]
    ]
    return any(check_evidence(check, s.trigger, dict(f.evidence)) for f in findings)


def check_evidence(check: Callable[..., bool], trigger: dict[str, Any], ev: dict[str, Any]) -> bool:
    try:
        return bool(check(trigger, ev))
    except (KeyError, TypeError, ValueError):
        return False


def _names_text(trigger: dict[str, Any], ev: dict[str, Any]) -> bool:
    planted = trigger["text"].lower().split()
    name = str(ev["trigger"]).lower().split()
    if str(ev.get("label")) != trigger["target"]:
        return False

    def within(small: list[str], big: list[str]) -> bool:
        return any(big[i : i + len(small)] == small for i in range(len(big) - len(small) + 1))

    # the whole trigger with at most two extra words, or at least half of a phrase
    return (within(planted, name) and len(name) <= len(planted) + 2) or (within(name, planted) and 2 * len(name) >= len(planted))


def _names_patch(trigger: dict[str, Any], ev: dict[str, Any]) -> bool:
    r0, c0, h0, w0 = trigger["box"]
    h, w = (int(v) for v in str(ev["patch_size"]).split("x"))
    r, c = int(ev["patch_row"]), int(ev["patch_col"])
    overlap = max(0, min(r + h, r0 + h0) - max(r, r0)) * max(0, min(c + w, c0 + w0) - max(c, c0))
    return str(ev["label"]) == trigger["target"] and 2 * overlap >= h0 * w0 and h * w <= 4 * h0 * w0


def _names_blend(trigger: dict[str, Any], ev: dict[str, Any]) -> bool:
    pattern = trigger["pattern"]
    peaks = [tuple(p) for p in ev["pattern_peak_pixels"]]
    high = sum(pattern[int(r), int(c)] >= np.median(pattern) for r, c in peaks)
    return str(ev["label"]) == trigger["target"] and bool(peaks) and 2 * high > len(peaks)


def to_accounts(s: Scenario, rows: Iterable[int]) -> set[str]:
    """Accounts most of whose reports are in ``rows`` (row flags -> source flags)."""
    total: dict[str, int] = defaultdict(int)
    hit: dict[str, int] = defaultdict(int)
    flagged = set(rows)
    for i, r in enumerate(s.rows):
        total[str(r["source"])] += 1
        hit[str(r["source"])] += i in flagged
    return {a for a, n in total.items() if 2 * hit[a] > n}


# ---------------------------------------------------------------- cleanlab


def _tfidf(texts: list[str]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)


def cleanlab(s: Scenario) -> list[Result]:
    """cleanlab.filter.find_label_issues on 5-fold out-of-fold LR probabilities."""
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    start = time.perf_counter()
    if s.kind == "text":
        feats, model = _tfidf(list(s.x)), LogisticRegression(max_iter=1000, C=10.0)
    else:
        feats, model = np.asarray(s.x).reshape(len(s.y), -1) / 16.0, LogisticRegression(max_iter=500)
    probs = cross_val_predict(model, feats, s.y, cv=5, method="predict_proba")
    rows = set(np.flatnonzero(find_label_issues(s.y, probs)).tolist())
    flagged = to_accounts(s, rows) if s.group == "feedback" else rows
    return [Result("cleanlab find_label_issues", flagged, time.perf_counter() - start)]


# ---------------------------------------------------------------- ART


def _art_features(s: Scenario) -> np.ndarray:
    if s.kind == "images":
        return (np.asarray(s.x).reshape(len(s.y), -1) / 16.0).astype(np.float32)
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import StandardScaler

    dense = TruncatedSVD(n_components=100, random_state=0).fit_transform(_tfidf(list(s.x)))
    return StandardScaler().fit_transform(dense).astype(np.float32)


def _art_classifier(x: np.ndarray, y: np.ndarray, classes: int, epochs: int, seed: int) -> Any:
    import torch
    from art.estimators.classification import PyTorchClassifier

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, classes))
    clf = PyTorchClassifier(
        model=net, loss=torch.nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(net.parameters(), lr=1e-3),
        input_shape=(x.shape[1],), nb_classes=classes,
    )
    clf.fit(x, np.eye(classes, dtype=np.float32)[y], batch_size=64, nb_epochs=epochs, verbose=False)
    return clf


def art(s: Scenario, seed: int = 0) -> list[Result]:
    """ART ActivationDefence and SpectralSignatureDefense on one MLP trained on the (poisoned) data."""
    from art.defences.detector.poison import ActivationDefence, SpectralSignatureDefense

    start = time.perf_counter()
    x = _art_features(s)
    classes = int(s.y.max()) + 1
    onehot = np.eye(classes, dtype=np.float32)[s.y]
    clf = _art_classifier(x, s.y, classes, ART_EPOCHS[s.kind], seed)
    trained = time.perf_counter() - start
    out = []
    for name, run in (
        ("ART ActivationDefence", lambda: ActivationDefence(clf, x, onehot).detect_poison(nb_clusters=2, nb_dims=10, reduce="PCA")),
        ("ART SpectralSignatureDefense", lambda: SpectralSignatureDefense(
            clf, x, onehot, batch_size=128, eps_multiplier=1.5, expected_pp_poison=max(0.01, s.rate)).detect_poison()),
    ):
        t0 = time.perf_counter()
        _, is_clean = run()
        rows = set(np.flatnonzero(np.asarray(is_clean) == 0).tolist())
        flagged = to_accounts(s, rows) if s.group == "feedback" else rows
        out.append(Result(name, flagged, trained + time.perf_counter() - t0))
    return out


FAMILIES: dict[str, Callable[[Scenario], list[Result]]] = {"trojanguard": trojanguard, "cleanlab": cleanlab, "art": art}
FAMILY_ROWS = {"trojanguard": ["trojanguard data audit"], "cleanlab": ["cleanlab find_label_issues"],
               "art": ["ART ActivationDefence", "ART SpectralSignatureDefense"]}
