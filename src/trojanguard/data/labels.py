"""Label issues: rows whose given label disagrees with what the rest of the data says.

Confident learning (cleanlab's ``find_label_issues``) needs out-of-fold class probabilities; a
cheap proxy chosen by data type gives them: TF-IDF + logistic regression for text, an average of
logistic regression and a distance-weighted 5-nearest-neighbour vote for images (pixels; PCA
first when images are large), gradient boosting for tabular features.  The proxy never sees the
row it scores (k-fold), so a flipped label cannot vouch for itself.

Flipped rows still *train* the proxy of the other folds, and targeted flips (every flip labelled
``0``) teach it that a share of the 3s are 0s.  So the probabilities are computed twice: the
second pass trains each fold without the rows the first pass already ranks as issues (a cleaned
proxy), and a row is then an issue where that proxy confidently prefers another class (see
:func:`label_issues`).  On scikit-learn's digits this lifts F1 from 0.62-0.89 (plain cleanlab
with logistic regression, same run) to 0.94-0.98 for random and targeted flips at 5-20%.  Each issue becomes a DAT001 finding naming
the given label and the likely true one.

Kinds are ``text``, ``images`` and ``tabular`` (``features`` and ``pixels`` are accepted as the
names the CLI flag and the spectral module use); anything else is an :class:`InputError`,
because a silent default proxy once turned pixels into a 0.1-F1 audit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError, MalformedInput
from ..model import Confidence, Finding, Location, Rule, Severity

__all__ = ["KINDS", "RULE_FLIP", "encode_labels", "label_findings", "label_issues", "normalize_kind", "oof_probabilities",
           "proxy_features"]

KINDS = ("text", "images", "tabular")
_ALIASES = {"features": "tabular", "pixels": "images", "image": "images"}
PCA_ABOVE = 256  # image proxies reduce larger pixel vectors to PCA_DIMS before the neighbour vote
PCA_DIMS = 50
PCA_FIT_ROWS = 10_000  # the image PCA is fitted on a sample this size (unsupervised: no label leaks)
KNN_FIT_ROWS = 20_000  # a fold's neighbour vote searches at most this many training rows
MIN_MARGIN = 0.3  # p(likely) - p(given) a DAT001 row needs (digits: F1 0.94-0.98 vs 0.86-0.97 without)

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


def normalize_kind(kind: str) -> str:
    """``text``, ``images`` or ``tabular`` (aliases mapped); an unknown kind is an :class:`InputError`."""
    kind = _ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise InputError(f"unknown data kind {kind!r} (one of {', '.join(KINDS)})")
    return kind


def proxy_features(kind: str, data: Any) -> Any:
    """Features for the proxy: TF-IDF (text), flattened scaled pixels (images), raw numbers (tabular)."""
    kind = normalize_kind(kind)
    if kind == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

        return TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, max_features=200_000).fit_transform(list(data))
    arr = np.asarray(data, dtype=np.float64)
    if kind == "images":
        arr = arr.reshape(arr.shape[0], -1)
        scale = float(np.max(np.abs(arr))) or 1.0
        return _reduce_pixels(arr / scale)
    if kind == "tabular":
        return np.nan_to_num(arr.reshape(arr.shape[0], -1))
    raise InputError(f"unknown data kind {kind!r}")


def _reduce_pixels(pixels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Pixel vectors wider than ``PCA_ABOVE``: their first ``PCA_DIMS`` principal components.

    Once for all folds instead of once per fold and model: at 60,000 28x28 images the
    per-fold logistic regression on 784 raw pixels alone took over ten minutes on two cores,
    on 50 components it takes seconds, and the neighbour vote needed the reduction anyway.
    """
    if pixels.shape[1] <= PCA_ABOVE or pixels.shape[0] <= PCA_DIMS:
        return pixels
    from sklearn.decomposition import PCA  # type: ignore[import-untyped]

    rng = np.random.default_rng(seed)
    sample = pixels if pixels.shape[0] <= PCA_FIT_ROWS else pixels[rng.choice(pixels.shape[0], PCA_FIT_ROWS, replace=False)]
    pca = PCA(n_components=PCA_DIMS, random_state=seed).fit(sample)
    return np.asarray(pca.transform(pixels), dtype=np.float64)


def _models(kind: str, seed: int, n_train: int, width: int) -> list[tuple[Any, int | None]]:
    """The proxy (a list: their probabilities are averaged) for ``kind``, each with the most
    training rows it is fitted on (None: all of the fold's)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    if kind == "tabular":
        from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]

        return [(HistGradientBoostingClassifier(max_iter=100, random_state=seed), None)]
    if kind == "text":
        return [(LogisticRegression(max_iter=300, C=10.0), None)]
    from sklearn.neighbors import KNeighborsClassifier  # type: ignore[import-untyped]

    knn: Any = KNeighborsClassifier(n_neighbors=max(1, min(5, n_train - 1)), weights="distance")
    if width > PCA_ABOVE:  # neighbour search on raw large images is slow and noisy
        from sklearn.decomposition import PCA  # type: ignore[import-untyped]
        from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]

        knn = make_pipeline(PCA(n_components=min(PCA_DIMS, n_train), random_state=seed), knn)
    return [(LogisticRegression(max_iter=300, C=1.0), None), (knn, KNN_FIT_ROWS)]


def _fold_probabilities(kind: str, features: Any, codes: np.ndarray, folds: int, seed: int,
                        exclude: np.ndarray | None) -> np.ndarray:
    """One k-fold pass; rows in ``exclude`` are scored but never train a fold's proxy."""
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

    k = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=k)
    folds = int(max(2, min(folds, counts.min()))) if counts.min() >= 2 else 2
    probs = np.zeros((codes.size, k))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    stratify = codes if counts.min() >= folds else np.zeros_like(codes)
    width = int(features.shape[1]) if len(features.shape) > 1 else 1
    for train, test in splitter.split(np.zeros(codes.size), stratify):
        if exclude is not None:
            kept = train[~exclude[train]]
            train = kept if np.unique(codes[kept]).size == np.unique(codes[train]).size else train
        models = _models(kind, seed, int(train.size), width)
        for model, cap in models:
            if np.unique(codes[train]).size < 2:  # a fold with one class: it predicts that class
                probs[test, int(codes[train][0])] += 1.0
                continue
            fit = train if cap is None or train.size <= cap else np.sort(np.random.default_rng(seed).choice(train, cap, replace=False))
            model.fit(features[fit], codes[fit])
            probs[np.ix_(test, model.classes_)] += model.predict_proba(features[test])
    probs += 1e-6  # no class is impossible: cleanlab divides by these
    probs /= probs.sum(axis=1, keepdims=True)
    return probs


def oof_probabilities(kind: str, features: Any, codes: np.ndarray, *, folds: int = 5, seed: int = 0,
                      refine: bool = True) -> np.ndarray:
    """Out-of-fold class probabilities ``(n, k)`` from the proxy for ``kind``.

    With ``refine`` (the default) a second pass trains each fold without the rows the first
    pass ranks as label issues, so flips (above all targeted ones) stop teaching the proxy.
    """
    kind = normalize_kind(kind)
    codes = np.asarray(codes, dtype=np.int64)
    probs = _fold_probabilities(kind, features, codes, folds, seed, None)
    if not refine:
        return probs
    suspects = np.zeros(codes.size, dtype=bool)
    suspects[_cleanlab_issues(codes, probs, "prune_by_noise_rate")] = True
    if not suspects.any():
        return probs
    return _fold_probabilities(kind, features, codes, folds, seed, suspects)


def _cleanlab_issues(codes: np.ndarray, probs: np.ndarray, filter_by: str) -> np.ndarray:
    from cleanlab.filter import find_label_issues  # type: ignore[import-untyped]

    if probs.shape[1] < 2 or np.unique(codes).size < 2:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(find_label_issues(labels=codes, pred_probs=probs, filter_by=filter_by,
                                        return_indices_ranked_by="self_confidence"), dtype=np.int64)


def label_issues(codes: np.ndarray, probs: np.ndarray, *, filter_by: str | None = None,
                 min_margin: float = MIN_MARGIN) -> np.ndarray:
    """Row *indices* (not a mask) cleanlab ranks as label issues, least self-confident first.

    ``filter_by`` defaults by the number of classes, as measured: with two classes (spam/ham)
    cleanlab's ``prune_by_noise_rate`` (clean SMS: 5 issues in 4,862 rows; 5%/10% flips F1
    0.90/0.91), with more (digits) ``predicted_neq_given`` on the refined probabilities of
    :func:`oof_probabilities` (targeted flips at 20%: F1 0.94 against 0.84).  ``min_margin``
    then keeps a row only where the likely class beats the given one by that much, which drops
    the honest-but-ambiguous rows that otherwise cost precision at low flip rates.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if filter_by is None:
        filter_by = "prune_by_noise_rate" if probs.shape[1] <= 2 else "predicted_neq_given"
    rows = _cleanlab_issues(codes, probs, filter_by)
    if rows.size == 0 or min_margin <= 0:
        return rows
    margin = probs[rows].max(axis=1) - probs[rows, codes[rows]]
    return np.asarray(rows[margin >= min_margin], dtype=np.int64)


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
