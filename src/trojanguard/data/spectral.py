"""Representation-based backdoor detection: spectral signatures and activation clustering.

A backdoor leaves a trace in what a network learns: the rows that carry the trigger share a
feature the clean rows of the target class lack, so in representation space they form a
sub-population of their (poisoned) class.  Two published detectors look for it:

* **Spectral signatures** (Tran, Li & Madry, NeurIPS 2018): per class, centre the
  representations, take the top right-singular vector of the *centred* matrix and score each
  row by its squared projection onto it.  The paper removes the top ``1.5 * eps`` of each
  class; :func:`spectral_scores` returns that score unchanged.  Reporting every class's top
  ``1.5 * eps`` is wrong on clean classes, so :func:`representation_findings` instead splits
  the projection into two groups (exact 1-D 2-means), sharpens the direction towards the
  difference of their means, and reports a class only when a small group sits far from the
  rest (an adaptive cut that holds at 1% poison rates).
* **Activation clustering** (Chen et al., 2018): per class, reduce the representations to
  10 dimensions (PCA, or ICA as in the paper), run 2-means and flag the smaller cluster when it
  is small and well separated (silhouette).

Representations come from a cheap proxy trained on the data itself (an MLP's hidden layer on
pixels/features, TF-IDF for text) or from the user's own ONNX model run with onnxruntime
(``--model``; an optional dependency imported only when asked for).  Nothing here unpickles or
imports what it inspects: the ONNX file is a protobuf graph executed by onnxruntime's kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LimitExceeded, MalformedInput, UsageError
from ..model import Confidence, Finding, Location, Rule, Severity

__all__ = [
    "RULE_ACTIVATION",
    "RULE_SPECTRAL",
    "SuspectGroup",
    "activation_clusters",
    "activation_group_list",
    "onnx_representations",
    "proxy_representations",
    "representation_findings",
    "spectral_groups",
    "spectral_scores",
]

RULE_SPECTRAL = Rule(
    "DAT101",
    "spectral-signature-outlier",
    Severity.MEDIUM,
    "A row lies in a small group far out along its class's top singular direction of the centred representations (spectral signature of a backdoor).",
    cwe=1039,
    confidence=Confidence.MEDIUM,
)
RULE_ACTIVATION = Rule(
    "DAT102",
    "activation-cluster-outlier",
    Severity.MEDIUM,
    "A row belongs to a small, well-separated cluster of its class's representations (activation clustering).",
    cwe=1039,
    confidence=Confidence.MEDIUM,
)

MAX_ROWS = 2_000_000  # representations are held in memory; refuse absurd inputs up front
MAX_DIMS = 8192
MAX_SHARE = 0.5  # a poisoned group can be half its class (10% poison on 10 classes); the input check picks the side
MIN_DISAGREEMENT = 0.6  # share of a group's input-space neighbours (outside the group) with another label
NEIGHBOURS = 5
MIN_SEPARATION = 6.5  # gap of the two 1-D groups in pooled SDs; a Gaussian split gives ~2.7, clean digits reach 6.3
MIN_SILHOUETTE = 0.45
MIN_GROUP = 3


@dataclass(frozen=True)
class SuspectGroup:
    """A small group of rows in one class that the detector separated from the rest."""

    label: str
    rows: tuple[int, ...]
    class_size: int
    separation: float  # spectral: standardised gap; clustering: silhouette
    disagreement: float  # share of input-space neighbours with another label (1.0: not measured)


def _check(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate representations and labels; hostile shapes become MalformedInput, never a crash."""
    arr = np.asarray(x)
    labels = np.asarray(y)
    if arr.ndim != 2:
        raise MalformedInput(f"representations must be a 2-D matrix, got shape {arr.shape}")
    if arr.shape[0] > MAX_ROWS or arr.shape[1] > MAX_DIMS:
        raise LimitExceeded(f"representation matrix {arr.shape} exceeds {MAX_ROWS}x{MAX_DIMS}", limit="rows")
    if labels.ndim != 1 or labels.shape[0] != arr.shape[0]:
        raise MalformedInput(f"{labels.shape} labels for {arr.shape[0]} rows")
    if not np.issubdtype(arr.dtype, np.number):
        raise MalformedInput(f"representations are not numeric ({arr.dtype})")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise MalformedInput("representations contain NaN or infinite values")
    return arr, labels


def _classes(labels: np.ndarray) -> list[tuple[Any, np.ndarray]]:
    values, inverse = np.unique(labels, return_inverse=True)
    return [(v, np.flatnonzero(inverse == i)) for i, v in enumerate(values)]


def _top_direction(centred: np.ndarray) -> np.ndarray:
    """Top right-singular vector of an already centred matrix."""
    if centred.shape[0] > 4 * centred.shape[1]:
        # Gram matrix route: d x d eigenproblem instead of an n x d SVD (same vector).
        _, vecs = np.linalg.eigh(centred.T @ centred)
        return np.asarray(vecs[:, -1])
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return np.asarray(vt[0])


def spectral_scores(x: Any, y: Any) -> np.ndarray:
    """Tran et al.'s outlier score per row: squared projection on the class's top centred singular vector."""
    arr, labels = _check(x, y)
    scores = np.zeros(arr.shape[0])
    for _, idx in _classes(labels):
        if idx.size < 2:
            continue
        centred = arr[idx] - arr[idx].mean(axis=0)
        scores[idx] = (centred @ _top_direction(centred)) ** 2
    return scores


def _split_1d(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact 1-D 2-means; returns the mask of the smaller group and the standardised gap."""
    order = np.argsort(values, kind="stable")
    s = values[order]
    n = s.size
    csum, csq = np.cumsum(s), np.cumsum(s * s)
    k = np.arange(1, n)  # left group sizes
    left_mean = csum[:-1] / k
    right_mean = (csum[-1] - csum[:-1]) / (n - k)
    sse = (csq[:-1] - k * left_mean**2) + ((csq[-1] - csq[:-1]) - (n - k) * right_mean**2)
    cut = int(np.argmin(sse)) + 1
    left, right = s[:cut], s[cut:]
    pooled = np.sqrt((left.var() * left.size + right.var() * right.size) / n) + 1e-12
    gap = abs(right.mean() - left.mean()) / pooled
    mask = np.zeros(n, dtype=bool)
    small = order[:cut] if cut <= n - cut else order[cut:]
    mask[small] = True
    return mask, float(gap)


def _class_group(rep: np.ndarray, rounds: int = 3) -> tuple[np.ndarray, float]:
    """Split one class along its top centred direction, then sharpen towards the groups' mean difference."""
    centred = rep - rep.mean(axis=0)
    direction = _top_direction(centred)
    mask, gap = _split_1d(centred @ direction)
    for _ in range(rounds):
        if mask.sum() < MIN_GROUP or mask.all():
            break
        diff = rep[mask].mean(axis=0) - rep[~mask].mean(axis=0)
        norm = float(np.linalg.norm(diff))
        if norm == 0.0:
            break
        new_mask, new_gap = _split_1d(centred @ (diff / norm))
        if new_gap <= gap:
            break
        mask, gap = new_mask, new_gap
    return mask, gap


def _contradiction(inputs: Any, labels: np.ndarray, rows: np.ndarray, label: Any) -> tuple[float, float]:
    """How strongly the rest of the data contradicts ``label`` for a group of rows.

    Returns the share of the rows' nearest input-space neighbours (the group itself set aside)
    whose label differs, and the median distance to those neighbours.  A backdoor's rows are
    other classes' inputs carrying a trigger, so their neighbours are close clean rows of their
    true class; a natural sub-style of the class keeps same-label neighbours, and the clean bulk
    of a class has only distant foreign neighbours.
    """
    from sklearn.neighbors import NearestNeighbors  # type: ignore[import-untyped]

    keep = np.ones(labels.shape[0], dtype=bool)
    keep[rows] = False
    pool = np.flatnonzero(keep)
    k = min(NEIGHBOURS, pool.size)
    if k == 0:
        return 0.0, float("inf")
    metric = "cosine" if hasattr(inputs, "tocsr") else "euclidean"
    nn = NearestNeighbors(n_neighbors=k, metric=metric).fit(inputs[pool])
    dist, hits = nn.kneighbors(inputs[rows])
    return float(np.mean(labels[pool[hits]] != label)), float(np.median(dist))


def _decide(
    value: Any, idx: np.ndarray, mask: np.ndarray, score: float, labels: np.ndarray, inputs: Any
) -> SuspectGroup | None:
    """Pick the poisoned side of a class split and keep it only if the inputs contradict its label.

    The smaller side is the suspect, except when both sides are of similar size (a 10% poison
    rate on ten classes makes half the target class poisoned): then the side whose rows sit
    closer to foreign-label neighbours is the one carrying other classes' inputs.
    """
    chosen = mask if mask.sum() <= (~mask).sum() else ~mask
    agree = 1.0
    if inputs is not None:
        other = ~chosen
        agree, dist = _contradiction(inputs, labels, idx[chosen], value)
        if chosen.sum() >= 0.4 * idx.size and other.sum() >= MIN_GROUP:
            other_agree, other_dist = _contradiction(inputs, labels, idx[other], value)
            if other_dist < dist:
                chosen, agree = other, other_agree
        if agree < MIN_DISAGREEMENT:
            return None
    if chosen.sum() < MIN_GROUP or chosen.sum() / idx.size > MAX_SHARE:
        return None
    return SuspectGroup(str(value), tuple(int(i) for i in idx[chosen]), int(idx.size), score, agree)


def spectral_groups(
    x: Any, y: Any, *, inputs: Any = None, min_separation: float = MIN_SEPARATION
) -> list[SuspectGroup]:
    """Per class, the group the centred spectral direction separates, where one stands out.

    ``inputs`` (the raw rows: pixels, features or a sparse TF-IDF matrix) enables the
    contradiction test that tells a backdoor from a natural sub-style of the class.
    """
    arr, labels = _check(x, y)
    groups = []
    for value, idx in _classes(labels):
        if idx.size < 4 * MIN_GROUP:
            continue
        mask, gap = _class_group(arr[idx])
        group = _decide(value, idx, mask, gap, labels, inputs) if gap >= min_separation else None
        if group is not None:
            groups.append(group)
    return groups


def _reduce(rep: np.ndarray, dims: int, method: str) -> np.ndarray:
    from sklearn.decomposition import PCA, FastICA  # type: ignore[import-untyped]

    dims = max(1, min(dims, rep.shape[1], rep.shape[0] - 1))
    if method == "ica":
        return np.asarray(FastICA(n_components=dims, random_state=0, max_iter=400).fit_transform(rep))
    return np.asarray(PCA(n_components=dims, random_state=0).fit_transform(rep))


def _cluster_class(rep: np.ndarray, dims: int, method: str) -> tuple[np.ndarray, float]:
    from sklearn.cluster import KMeans  # type: ignore[import-untyped]
    from sklearn.metrics import silhouette_score  # type: ignore[import-untyped]

    reduced = _reduce(rep, dims, method)
    assign = KMeans(n_clusters=2, n_init=4, random_state=0).fit_predict(reduced)
    if assign.min() == assign.max():
        return np.zeros(rep.shape[0], dtype=bool), 0.0
    sample = min(rep.shape[0], 2000)
    sil = float(silhouette_score(reduced, assign, sample_size=sample, random_state=0))
    small = int(np.argmin(np.bincount(assign, minlength=2)))
    return assign == small, sil


def activation_group_list(
    x: Any,
    y: Any,
    *,
    inputs: Any = None,
    dims: int = 10,
    method: str = "pca",
    min_silhouette: float = MIN_SILHOUETTE,
) -> list[SuspectGroup]:
    """Chen et al.'s activation clustering, returning the flagged group per class."""
    arr, labels = _check(x, y)
    groups = []
    for value, idx in _classes(labels):
        if idx.size < 4 * MIN_GROUP:
            continue
        mask, sil = _cluster_class(arr[idx], dims, method)
        group = _decide(value, idx, mask, sil, labels, inputs) if sil >= min_silhouette else None
        if group is not None:
            groups.append(group)
    return groups


def activation_clusters(x: Any, y: Any, *, inputs: Any = None, dims: int = 10, method: str = "pca") -> np.ndarray:
    """Boolean mask of rows in a small, well-separated activation cluster of their class."""
    arr, _ = _check(x, y)
    mask = np.zeros(arr.shape[0], dtype=bool)
    for group in activation_group_list(arr, y, inputs=inputs, dims=dims, method=method):
        mask[list(group.rows)] = True
    return mask


def proxy_representations(x: Any, y: Any, *, kind: str = "features", hidden: int = 64, seed: int = 0) -> np.ndarray:
    """Hidden-layer activations of a small MLP trained on the data itself (the proxy network).

    ``kind`` is ``"features"``/``"pixels"`` (numeric rows; images are flattened) or ``"text"``
    (a sequence of strings, vectorised with TF-IDF first).  The backdoor is learned by the proxy
    exactly as by the victim, which is what makes the poisoned rows separable in its hidden layer.
    """
    from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    labels = np.asarray(y)
    if kind == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

        feats = TfidfVectorizer(min_df=2, ngram_range=(1, 2), max_features=20000, sublinear_tf=True).fit_transform(
            [str(t) for t in x]
        )
        mat: Any = feats
    elif kind in ("features", "pixels"):
        arr = np.asarray(x, dtype=np.float64)
        arr = arr.reshape(arr.shape[0], -1)
        mat = StandardScaler().fit_transform(arr)
    else:
        raise UsageError(f"unknown representation kind {kind!r} (features, pixels, text)")
    if mat.shape[0] != labels.shape[0]:
        raise MalformedInput(f"{labels.shape[0]} labels for {mat.shape[0]} rows")
    net = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=150, random_state=seed, alpha=1e-4)
    net.fit(mat, labels)
    return np.asarray(np.maximum(mat @ net.coefs_[0] + net.intercepts_[0], 0.0))


def onnx_representations(model: str | Path, x: Any, *, output: str | None = None, batch: int = 512) -> np.ndarray:
    """Run the user's ONNX model with onnxruntime and return one output (default: the first) as rows.

    ``output`` may name any intermediate tensor (e.g. the penultimate layer); it is promoted to a
    graph output in memory, the file is not modified.  onnxruntime is optional (extra ``data``).
    """
    try:
        import onnx
        import onnxruntime  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise UsageError("--model needs onnxruntime: pip install 'trojanguard[data]'") from exc
    proto = onnx.load(str(model), load_external_data=False)
    if output is not None and output not in {o.name for o in proto.graph.output}:
        proto.graph.output.append(onnx.ValueInfoProto(name=output))
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    arr = np.asarray(x, dtype=np.float32)
    wanted = [output] if output is not None else [session.get_outputs()[0].name]
    parts = [np.asarray(session.run(wanted, {name: arr[i : i + batch]})[0]) for i in range(0, arr.shape[0], batch)]
    out = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    return out.reshape(out.shape[0], -1)


def _group_findings(rule: Rule, groups: Sequence[SuspectGroup], path: str, method: str) -> list[Finding]:
    findings = []
    for group in groups:
        for row in group.rows:
            findings.append(
                rule.at(
                    Location(path, row=row),
                    f"row {row} is in a group of {len(group.rows)}/{group.class_size} rows of class "
                    f"{group.label!r} that {method} separates from the rest of the class",
                    evidence={
                        "label": group.label,
                        "group_size": len(group.rows),
                        "class_size": group.class_size,
                        "separation": round(group.separation, 3),
                        "disagreement": round(group.disagreement, 3),
                        "method": method,
                    },
                )
            )
    return findings


def representation_findings(
    reps: Any, y: Any, path: str, *, inputs: Any = None, clustering: bool = True, method: str = "pca"
) -> list[Finding]:
    """Row findings (DAT101 spectral, DAT102 activation clustering) for given representations."""
    groups = spectral_groups(reps, y, inputs=inputs)
    findings = _group_findings(RULE_SPECTRAL, groups, path, "the spectral signature")
    if clustering:
        groups = activation_group_list(reps, y, inputs=inputs, method=method)
        findings += _group_findings(RULE_ACTIVATION, groups, path, f"activation clustering ({method})")
    return findings
