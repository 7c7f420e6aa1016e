"""Label issues: rows whose given label disagrees with what the rest of the data says.

Confident learning (cleanlab's ``find_label_issues``) needs out-of-fold class probabilities; a
cheap proxy chosen by data type gives them: TF-IDF + logistic regression for text, pixel
features + logistic regression for small images, gradient boosting for tabular features.  The
proxy never sees the row it scores (k-fold), so a flipped label cannot vouch for itself.  Each
issue becomes a DAT001 finding naming the given label and the likely true one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError, MalformedInput
from ..model import Confidence, Finding, Location, Rule, Severity

__all__ = ["RULE_FLIP", "encode_labels", "label_findings", "label_issues", "oof_probabilities", "proxy_features"]

RULE_FLIP = Rule(
    "DAT001",
    "label-flip",
    Severity.MEDIUM,
    "A row's label contradicts out-of-fold predictions of a proxy model trained on the rest of the data (likely flipped label).",
    cwe=1039,
    confidence=Confidence.MEDIUM,
)


def encode_labels(labels: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """Integer codes 0..k-1 and the class names in code order."""
    names, codes = np.unique(np.asarray([str(v) for v in labels], dtype=object), return_inverse=True)
    if len(names) < 2:
        raise MalformedInput(f"only one label ({names[0] if len(names) else 'none'}): nothing to audit")
    return codes.astype(np.int64), [str(n) for n in names]


def proxy_features(kind: str, data: Any) -> Any:
    """Features for the proxy: TF-IDF (text), flattened scaled pixels (images), raw numbers (tabular)."""
    if kind == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

        return TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, max_features=200_000).fit_transform(list(data))
    arr = np.asarray(data, dtype=np.float64)
    if kind == "images":
        arr = arr.reshape(arr.shape[0], -1)
        scale = float(np.max(np.abs(arr))) or 1.0
        return arr / scale
    if kind == "tabular":
        return np.nan_to_num(arr.reshape(arr.shape[0], -1))
    raise InputError(f"unknown data kind {kind!r}")


def _model(kind: str, seed: int) -> Any:
    if kind == "tabular":
        from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]

        return HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    return LogisticRegression(max_iter=300, C=10.0 if kind == "text" else 1.0)


def oof_probabilities(kind: str, features: Any, codes: np.ndarray, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold class probabilities ``(n, k)`` from the proxy for ``kind``."""
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

    k = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=k)
    folds = int(max(2, min(folds, counts.min()))) if counts.min() >= 2 else 2
    probs = np.full((codes.size, k), 1.0 / k)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    stratify = codes if counts.min() >= folds else np.zeros_like(codes)
    for train, test in splitter.split(np.zeros(codes.size), stratify):
        model = _model(kind, seed)
        model.fit(features[train], codes[train])
        part = model.predict_proba(features[test])
        probs[np.ix_(test, model.classes_)] = part
    probs /= probs.sum(axis=1, keepdims=True)
    return probs


def label_issues(codes: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Row indices cleanlab ranks as label issues (self-confidence order)."""
    from cleanlab.filter import find_label_issues  # type: ignore[import-untyped]

    return np.asarray(
        find_label_issues(labels=codes, pred_probs=probs, return_indices_ranked_by="self_confidence"), dtype=np.int64
    )


def label_findings(path: str, codes: np.ndarray, names: Sequence[str], probs: np.ndarray, rows: np.ndarray | None = None) -> list[Finding]:
    """DAT001 per issue row: given label, likely label and the proxy's probabilities for both."""
    issues = label_issues(codes, probs) if rows is None else rows
    out: list[Finding] = []
    for i in issues:
        i = int(i)
        likely = int(np.argmax(probs[i]))
        if likely == codes[i]:
            continue
        out.append(
            RULE_FLIP.at(
                Location(path, row=i),
                f"row {i} is labelled {names[codes[i]]!r} but looks like {names[likely]!r} "
                f"(p={probs[i, likely]:.2f} vs {probs[i, codes[i]]:.2f})",
                evidence={"given": names[codes[i]], "likely": names[likely],
                          "p_likely": round(float(probs[i, likely]), 4), "p_given": round(float(probs[i, codes[i]]), 4)},
            )
        )
    return out
