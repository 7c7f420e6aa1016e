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

import warnings
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
MAX_SHARE = 0.5  # without inputs the smaller side is the suspect; with inputs any share (see _decide)
MIN_DISAGREEMENT = 0.85  # share of a group's input-space neighbours with another label: triggers 0.91-1.0, natural sub-styles of digits 0.56-0.9
MIN_COHERENCE = 0.42  # shared residual across rows resembling different classes: triggers 0.44-0.65 on digits, sub-styles <0.40, flips <0.2
CHECK_ROWS = 200  # group rows measured in input space
POOL_ROWS = 8000  # rows they are measured against
PROXY_TRAIN_ROWS = 12_000  # rows the proxy MLP is trained on (it then runs on all)
NEIGHBOURS = 5
MIN_SEPARATION = 6.5  # robust gap in SDs of the tighter group: a Gaussian split gives ~2.7, triggers 6.9-42 on digits (clean classes reach 8, so the input tests decide)
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
    coherence: float = 1.0  # share of the residual to other-class neighbours the rows have in common (1.0: not measured)


def _check(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate representations and labels; hostile shapes become MalformedInput, never a crash."""
    arr = np.asarray(x)
    labels = np.asarray(y)
    if arr.ndim != 2:
        raise MalformedInput(f"representations must be a 2-D matrix, got shape {arr.shape}")
    if arr.shape[0] > MAX_ROWS or arr.shape[1] > MAX_DIMS:
        raise LimitExceeded(f"representation matrix {arr.shape} exceeds {MAX_ROWS}x{MAX_DIMS}", limit="rows")
    return checked_numbers(arr, labels, "representations", "rows"), labels


def checked_numbers(arr: np.ndarray, labels: np.ndarray, what: str, unit: str) -> np.ndarray:
    """One label per row, numeric, finite: ``arr`` as float64 (shared with the image detectors)."""
    if labels.ndim != 1 or labels.shape[0] != arr.shape[0]:
        raise MalformedInput(f"{labels.shape} labels for {arr.shape[0]} {unit}")
    if not np.issubdtype(arr.dtype, np.number):
        raise MalformedInput(f"{what} are not numeric ({arr.dtype})")
    out = arr.astype(np.float64, copy=False)
    if not np.isfinite(out).all():
        raise MalformedInput(f"{what} contain NaN or infinite values")
    return out


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


def _robust_sd(values: np.ndarray) -> float:
    """The SD a normal sample with this median absolute deviation would have."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _split_1d(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact 1-D 2-means; returns the mask of the smaller group and the gap in SDs of the tighter group."""
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
    # In units of the tighter group's spread: a trigger makes one side tight (the clean rest of
    # the target class, or the poisoned rows), whatever the share.  A size-weighted pooled SD
    # let the heterogeneous poisoned side (rows of nine true classes) dominate once it was the
    # majority, and the gap shrank below the threshold at 15-20% poison.
    # The floor (a tenth of the size-weighted SD) keeps a few identical rows from an infinite gap.
    # Medians and MAD-based SDs: a few poisoned rows left on the clean side must not widen it.
    pooled = np.sqrt((left.var() * left.size + right.var() * right.size) / n)
    spread = max(min(_robust_sd(left), _robust_sd(right)), 0.1 * pooled)
    gap = abs(float(np.median(right)) - float(np.median(left))) / (spread + 1e-12)
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


def _sq_dist(a: Any, b: Any) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``a`` and ``b`` (dense or sparse), as a dense matrix."""
    cross = a @ b.T
    cross = cross.toarray() if hasattr(cross, "toarray") else np.asarray(cross)
    na = np.asarray(a.multiply(a).sum(axis=1)).ravel() if hasattr(a, "multiply") else np.einsum("ij,ij->i", a, a)
    nb = np.asarray(b.multiply(b).sum(axis=1)).ravel() if hasattr(b, "multiply") else np.einsum("ij,ij->i", b, b)
    return np.asarray(np.maximum(na[:, None] + nb[None, :] - 2.0 * cross, 0.0))


def _sample(rows: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """At most ``size`` of ``rows`` (a fixed seed, so an audit is repeatable)."""
    if rows.size <= size:
        return rows
    return np.asarray(np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False)))


@dataclass(frozen=True)
class _Profile:
    """How a candidate group sits among the rest of the data in input space."""

    disagreement: float  # share of the group's nearest outside neighbours with another label
    likeness: float  # median of (distance to nearest other-class row) / (distance to nearest row of the group)
    coherence: float  # share of the residual to the other-class neighbours that all rows have in common


def _coherence(residual: Any, twin: np.ndarray) -> float:
    """Mean inner product of residuals of rows *whose nearest other-class rows differ in label*, over their mean squared norm.

    A trigger is the same on a stamped "3" and a stamped "7", so residuals of rows that resemble
    different classes still share it.  A natural sub-style ("2"s that look like "1"s) shares a
    residual only with rows that resemble the same class, and flipped rows share nothing.
    Pairs of distinct rows only: no ``1/m`` bias, unrelated rows score ~0.
    """
    gram = residual @ residual.T
    gram = gram.toarray() if hasattr(gram, "toarray") else np.asarray(gram)
    m = gram.shape[0]
    energy = float(np.trace(gram)) / m if m else 0.0
    cross = twin[:, None] != twin[None, :]
    if m < 2 or energy <= 0.0 or not cross.any():
        return 0.0
    return float(gram[cross].mean() / energy)


def _profile(inputs: Any, labels: np.ndarray, rows: np.ndarray, label: Any) -> _Profile:
    """Contradiction and shared-residual evidence for ``rows`` (all labelled ``label``).

    A backdoor's rows are other classes' inputs carrying the same trigger: (1) their nearest
    neighbours outside the group carry other labels, (2) they resemble rows of other classes more
    than each other, and (3) their residuals to those other-class neighbours share one component,
    the trigger.  Rows flipped to ``label`` meet (1) and (2) but not (3); a natural sub-style of
    the class meets neither (1) nor (3).  Costs stay bounded: at most ``CHECK_ROWS`` rows of the
    group are measured against at most ``POOL_ROWS`` rows of the rest.
    """
    keep = np.ones(labels.shape[0], dtype=bool)
    keep[rows] = False
    pool = _sample(np.flatnonzero(keep), POOL_ROWS, seed=1)
    probe = _sample(rows, CHECK_ROWS)
    if pool.size == 0 or probe.size < 2:
        return _Profile(0.0, float("inf"), 0.0)
    k = min(NEIGHBOURS, pool.size)
    dist = _sq_dist(inputs[probe], inputs[pool])
    near = np.argpartition(dist, k - 1, axis=1)[:, :k] if k < pool.size else np.tile(np.arange(pool.size), (probe.size, 1))
    disagreement = float(np.mean(labels[pool[near]] != label))
    foreign = np.flatnonzero(labels[pool] != label)
    if foreign.size == 0:
        return _Profile(disagreement, float("inf"), 0.0)
    kf = min(NEIGHBOURS, foreign.size)
    fdist = dist[:, foreign]
    fnear = np.argpartition(fdist, kf - 1, axis=1)[:, :kf] if kf < foreign.size else np.tile(np.arange(foreign.size), (probe.size, 1))
    nearest_foreign = np.sqrt(np.take_along_axis(fdist, fnear, axis=1).min(axis=1))
    own = _sq_dist(inputs[probe], inputs[probe])
    np.fill_diagonal(own, np.inf)
    nearest_own = np.sqrt(own.min(axis=1))
    likeness = float(np.median(nearest_foreign / np.maximum(nearest_own, 1e-12)))
    residual = _scaled_residual(inputs[probe], _neighbour_mean(inputs, pool[foreign], fnear))
    closest = fnear[np.arange(probe.size), np.take_along_axis(fdist, fnear, axis=1).argmin(axis=1)]
    twin = labels[pool[foreign[closest]]]
    return _Profile(disagreement, likeness, _coherence(residual, twin))


def _rowdot(a: Any, b: Any) -> np.ndarray:
    if hasattr(a, "multiply"):
        return np.asarray(a.multiply(b).sum(axis=1)).ravel()
    return np.asarray(np.einsum("ij,ij->i", a, np.asarray(b)))


def _scaled_residual(rows: Any, twins: Any) -> Any:
    """``rows - s * twins`` with the least-squares scale ``s`` per row.

    A blend ``(1 - a) x + a p`` is a scaled copy of its clean twin plus ``a p``; fitting the scale
    leaves the shared ``a p`` instead of a class-dependent ``-a x`` (a stamped patch fits ~1).
    """
    scale = _rowdot(rows, twins) / np.maximum(_rowdot(twins, twins), 1e-12)
    if hasattr(twins, "multiply"):
        from scipy.sparse import diags  # type: ignore[import-untyped]

        return rows - diags(scale) @ twins
    return rows - scale[:, None] * np.asarray(twins)


def _neighbour_mean(inputs: Any, pool: np.ndarray, hits: np.ndarray) -> Any:
    """Mean of each probe row's neighbours ``pool[hits]`` (sparse-safe: an averaging matrix product)."""
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

    m, k = hits.shape
    avg = csr_matrix((np.full(m * k, 1.0 / k), (np.repeat(np.arange(m), k), hits.reshape(-1))), shape=(m, pool.size))
    out = avg @ inputs[pool]
    return out if hasattr(out, "tocsr") else np.asarray(out)


def _as_inputs(inputs: Any, rows: int) -> Any:
    """Raw inputs as a 2-D row matrix (images are flattened; sparse matrices pass through)."""
    if inputs is None or hasattr(inputs, "tocsr"):
        out = inputs
    else:
        arr = np.asarray(inputs, dtype=np.float64)
        out = arr.reshape(arr.shape[0], -1) if arr.ndim >= 2 else arr.reshape(-1, 1)
    if out is not None and out.shape[0] != rows:
        raise MalformedInput(f"{out.shape[0]} input rows for {rows} representation rows")
    return out


def _passes(p: _Profile) -> bool:
    return p.disagreement >= MIN_DISAGREEMENT and p.coherence >= MIN_COHERENCE


def _decide(
    value: Any, idx: np.ndarray, mask: np.ndarray, score: float, labels: np.ndarray, inputs: Any
) -> SuspectGroup | None:
    """Pick the poisoned side of a class split and keep it only if the inputs say it is a trigger.

    Without inputs the smaller side is the suspect and may be at most ``MAX_SHARE`` of the class.
    With inputs, size decides nothing (at a 10-20% poison rate the poisoned rows are half the
    target class or more): the suspect is the side whose rows resemble *other classes* more than
    each other (lower ``likeness``), and it must pass the contradiction and shared-residual tests.
    """
    if inputs is None:
        chosen = mask if mask.sum() <= (~mask).sum() else ~mask
        if chosen.sum() < MIN_GROUP or chosen.sum() / idx.size > MAX_SHARE:
            return None
        return SuspectGroup(str(value), tuple(int(i) for i in idx[chosen]), int(idx.size), score, 1.0)
    sides = [side for side in (mask, ~mask) if side.sum() >= MIN_GROUP]
    profiles = [(_profile(inputs, labels, idx[side], value), side) for side in sides]
    if not profiles:
        return None
    profile, chosen = min(profiles, key=lambda item: item[0].likeness)
    if not _passes(profile):
        return None
    return SuspectGroup(
        str(value), tuple(int(i) for i in idx[chosen]), int(idx.size), score, profile.disagreement, profile.coherence
    )


def spectral_groups(
    x: Any, y: Any, *, inputs: Any = None, min_separation: float = MIN_SEPARATION
) -> list[SuspectGroup]:
    """Per class, the group the centred spectral direction separates, where one stands out.

    ``inputs`` (the raw rows: pixels, features or a sparse TF-IDF matrix) enables the
    contradiction test that tells a backdoor from a natural sub-style of the class.
    """
    arr, labels = _check(x, y)
    inputs = _as_inputs(inputs, arr.shape[0])
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
    inputs = _as_inputs(inputs, arr.shape[0])
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


def proxy_representations(
    x: Any, y: Any, *, kind: str = "features", hidden: int = 64, seed: int = 0, train_rows: int = PROXY_TRAIN_ROWS
) -> np.ndarray:
    """Hidden-layer activations of a small MLP trained on the data itself (the proxy network).

    ``kind`` is ``"features"``/``"pixels"``/``"images"`` (numeric rows; images are flattened) or
    ``"text"`` (a sequence of strings, vectorised with TF-IDF first).  The backdoor is learned by
    the proxy exactly as by the victim, which is what makes the poisoned rows separable in its
    hidden layer.  The network is trained on at most ``train_rows`` rows (a stratified-by-chance
    sample: a 1% trigger still has ~100 carriers in 10,000 rows) and then run on every row, so
    60,000 images cost one short training run plus one matrix product.
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
    elif kind in ("features", "pixels", "images"):
        arr = np.asarray(x, dtype=np.float32)
        arr = arr.reshape(arr.shape[0], -1)
        mat = StandardScaler().fit_transform(arr).astype(np.float32)
    else:
        raise UsageError(f"unknown representation kind {kind!r} (features, pixels, images, text)")
    if mat.shape[0] != labels.shape[0]:
        raise MalformedInput(f"{labels.shape[0]} labels for {mat.shape[0]} rows")
    train = _sample(np.arange(labels.shape[0]), train_rows, seed=seed)
    net = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=150, random_state=seed, alpha=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a proxy that has not fully converged still separates the trigger
        net.fit(mat[train], labels[train])
    return np.asarray(np.maximum(mat @ net.coefs_[0] + net.intercepts_[0], 0.0), dtype=np.float64)


def onnx_representations(model: str | Path, x: Any, *, output: str | None = None, batch: int = 512) -> np.ndarray:
    """Run the user's ONNX model with onnxruntime and return one output (default: the first) as rows.

    ``output`` may name any intermediate tensor (e.g. the penultimate layer); it is promoted to a
    graph output in memory, the file is not modified.  The model is scanned first (custom-op
    domains that load native code, external data pointing outside its directory, shadow-logic
    branches): a finding at high or above refuses to run it.  onnxruntime is optional (extra
    ``probe``).
    """
    try:
        import onnx
        import onnxruntime  # type: ignore[import-untyped]
        from google.protobuf.message import DecodeError
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise UsageError("--model needs onnxruntime: pip install 'trojanguard[probe]'") from exc
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_state  # type: ignore[import-untyped]

    from ..scanner import scan

    # onnxruntime's own errors (Fail, InvalidArgument, InvalidGraph, ...) derive from Exception only
    ort_errors = tuple(v for v in vars(ort_state).values() if isinstance(v, type) and issubclass(v, Exception))
    report = scan([str(model)])
    worst = [f for f in report.findings if f.severity >= Severity.HIGH]
    if worst or report.errors:
        why = f"{worst[0].rule.id} {worst[0].message}" if worst else report.errors[0].message
        raise UsageError(f"{model}: refusing to run this proxy model: {why}")
    try:
        proto = onnx.load(str(model), load_external_data=False)
        if output is not None and output not in {o.name for o in proto.graph.output}:
            proto.graph.output.append(onnx.ValueInfoProto(name=output))
        session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        arr = np.asarray(x, dtype=np.float32)
        wanted = [output] if output is not None else [session.get_outputs()[0].name]
        parts = [np.asarray(session.run(wanted, {name: arr[i : i + batch]})[0]) for i in range(0, arr.shape[0], batch)]
    except (DecodeError, OSError, ValueError, RuntimeError, TypeError, *ort_errors) as exc:
        raise MalformedInput(f"{model}: cannot run the proxy model on these rows: {str(exc)[:160]}") from None
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
