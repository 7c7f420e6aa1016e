"""Model-free image trigger search: BadNets patches and blended patterns.

A BadNets backdoor (Gu et al., 2017) stamps the same small patch on the poisoned images and
gives them the target label, so at the patch's location the exact pixel values predict one label
far beyond chance, while the rest of each poisoned image shows another class.  This module
enumerates every k x k window (k in 2..4 by default, corners included), hashes the quantised
window of every image, and keeps window values that are shared by enough images and almost all
carry one label.  A natural class feature can do that too (the empty centre of a "0"), so a
candidate is kept only when a proxy classifier trained on the *other* images with the window
masked out disagrees with the label on the candidate rows: the rest of the image contradicts it.

Blended triggers (Chen et al., 2017: ``x' = (1-a) x + a p``) have no fixed window; they show up
as a small group of the target class whose pixels share a common residual pattern, found with
the centred spectral split of :mod:`trojanguard.data.spectral` on raw pixels and named by the
estimated pattern (where it is strongest, its correlation with each flagged row).

Cost follows the image count times the number of windows; images are held as one array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LimitExceeded, MalformedInput
from ..model import Confidence, Finding, Location, Rule, Severity
from .spectral import checked_numbers, spectral_groups

__all__ = [
    "RULE_BLEND",
    "RULE_PATCH",
    "BlendTrigger",
    "PatchTrigger",
    "find_blend_triggers",
    "find_patch_triggers",
    "image_trigger_findings",
]

RULE_PATCH = Rule(
    "DAT103",
    "image-patch-trigger",
    Severity.HIGH,
    "A fixed pixel patch at one location predicts one label far beyond chance while the rest of those images shows other classes (BadNets trigger).",
    cwe=1039,
)
RULE_BLEND = Rule(
    "DAT104",
    "image-blend-trigger",
    Severity.MEDIUM,
    "A group of one class shares a blended pixel pattern that sets it apart from the rest of the class (blended backdoor trigger).",
    cwe=1039,
    confidence=Confidence.MEDIUM,
)

MAX_IMAGES = 1_000_000
MAX_PIXELS = 256 * 256 * 4
LEVELS = 8
MIN_PURITY = 0.9
MIN_DISAGREEMENT = 0.7  # triggers measure 0.99+ on digits; natural class-specific windows 0.5-0.6
MAX_CANDIDATES = 10
PROXY_ROWS = 5000  # rows the masked proxy is trained on
CHECK_ROWS = 1000  # candidate rows it is asked about
SEARCH_ROWS = 5000  # images the window search runs on (a 1% trigger keeps ~50 carriers)


@dataclass(frozen=True)
class PatchTrigger:
    """A window (top-left ``row``/``col``, ``height`` x ``width``) whose values mark the rows."""

    label: str
    row: int
    col: int
    height: int
    width: int
    values: tuple[float, ...]  # the window's mean pixel values over the flagged rows, row-major
    rows: tuple[int, ...]
    purity: float
    disagreement: float


@dataclass(frozen=True)
class BlendTrigger:
    """A pattern blended into ``rows`` of class ``label``; ``peak`` pixels are where it is strongest."""

    label: str
    rows: tuple[int, ...]
    peak: tuple[tuple[int, int], ...]
    separation: float
    correlation: float


def _as_images(images: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(images)
    labels = np.asarray(y)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise MalformedInput(f"images must be (n, height, width[, channels]), got shape {arr.shape}")
    if arr.shape[0] > MAX_IMAGES or int(np.prod(arr.shape[1:])) > MAX_PIXELS:
        raise LimitExceeded(f"image array {arr.shape} exceeds {MAX_IMAGES} images of {MAX_PIXELS} values", limit="rows")
    return checked_numbers(arr, labels, "pixels", "images"), labels


def _quantise(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scale = LEVELS / (hi - lo) if hi > lo else 0.0
    return np.clip(((arr - lo) * scale).astype(np.int64), 0, LEVELS - 1).astype(np.uint64)


def _window_hashes(q: np.ndarray, k: int, rng: np.random.Generator) -> dict[tuple[int, int], np.ndarray]:
    """A 64-bit hash of every k x k window of every image (multiply-add with random odd keys)."""
    n, h, w, c = q.shape
    keys = rng.integers(1, 2**62, size=(k, k, c), dtype=np.uint64) | np.uint64(1)
    out = {}
    for r in range(h - k + 1):
        for col in range(w - k + 1):
            window = q[:, r : r + k, col : col + k, :]
            out[(r, col)] = (window * keys).reshape(n, -1).sum(axis=1, dtype=np.uint64)
    return out


def _pure_groups(sig: np.ndarray, codes: np.ndarray, n_labels: int, support: int) -> list[tuple[np.ndarray, int, float]]:
    """Rows sharing one window value that almost all carry one label: (rows, label code, purity)."""
    _, inverse, counts = np.unique(sig, return_inverse=True, return_counts=True)
    frequent = np.flatnonzero(counts >= support)
    if frequent.size == 0:
        return []
    compact = np.full(counts.size, -1)
    compact[frequent] = np.arange(frequent.size)
    member = compact[inverse]
    rows = np.flatnonzero(member >= 0)
    table = np.bincount(member[rows] * n_labels + codes[rows], minlength=frequent.size * n_labels)
    table = table.reshape(frequent.size, n_labels)
    out = []
    for gid in np.flatnonzero(table.max(axis=1) >= MIN_PURITY * table.sum(axis=1)):
        code = int(table[gid].argmax())
        chosen = rows[(member[rows] == gid) & (codes[rows] == code)]
        out.append((chosen, code, float(table[gid, code] / table[gid].sum())))
    return out


def _candidates(q: np.ndarray, codes: np.ndarray, n_labels: int, sizes: Sequence[int], support: int) -> list[Any]:
    rng = np.random.default_rng(0)
    priors = np.bincount(codes, minlength=n_labels) / codes.size
    found: list[Any] = []
    for k in sorted(sizes, reverse=True):
        if k > min(q.shape[1], q.shape[2]):
            continue
        for (r, c), sig in _window_hashes(q, k, rng).items():
            for rows, code, purity in _pure_groups(sig, codes, n_labels, support):
                if priors[code] < 0.5:
                    found.append((rows, code, purity, r, c, k))
    found.sort(key=lambda item: (-item[0].size, -item[5]))  # most rows first, then the larger window
    kept: list[Any] = []
    groups = 0
    for item in found:
        # Windows that mark the same rows stay together here (on a sample a window with a blank
        # margin ties with the trigger's own); the caller ranks them on all rows and keeps one.
        groups += _is_new(kept, item[0])
        if groups > MAX_CANDIDATES or len(kept) == 6 * MAX_CANDIDATES:
            break
        kept.append(item)
    return kept


def _is_new(found: list[Any], rows: np.ndarray) -> bool:
    """Windows inside a trigger mark (a subset of) the same rows; keep the first window only."""
    members = set(rows.tolist())
    for other in found:
        overlap = len(members.intersection(other[0].tolist()))
        if overlap >= 0.8 * min(len(members), other[0].size):
            return False
    return True


def _masked_disagreement(arr: np.ndarray, codes: np.ndarray, rows: np.ndarray, box: tuple[int, int, int]) -> float:
    """Share of ``rows`` a proxy (trained on the other rows, window masked everywhere) labels differently.

    Both sides are samples (``PROXY_ROWS`` others, ``CHECK_ROWS`` candidates), so the cost does
    not grow with the data set.
    """
    from sklearn.linear_model import RidgeClassifier  # type: ignore[import-untyped]

    r, c, k = box
    mask = np.zeros(arr.shape[1:], dtype=bool)
    mask[max(0, r - 1) : r + k + 1, max(0, c - 1) : c + k + 1, :] = True  # one pixel of margin
    cols = np.flatnonzero(~mask.reshape(-1))
    rng = np.random.default_rng(0)
    rest = np.setdiff1d(np.arange(codes.size), rows)
    if rest.size > PROXY_ROWS:
        rest = rng.choice(rest, size=PROXY_ROWS, replace=False)
    if rows.size > CHECK_ROWS:
        rows = rng.choice(rows, size=CHECK_ROWS, replace=False)
    if np.unique(codes[rest]).size < 2:
        return 0.0
    train = arr[rest].reshape(rest.size, -1)[:, cols]
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-9
    proxy = RidgeClassifier(alpha=1.0).fit((train - mean) / std, codes[rest])
    probe = (arr[rows].reshape(rows.size, -1)[:, cols] - mean) / std
    return float(np.mean(proxy.predict(probe) != codes[rows]))


def _carriers(arr: np.ndarray, codes: np.ndarray, seed_row: int, box: tuple[int, int, int], lo: float, hi: float) -> tuple[np.ndarray, int, float]:
    """Every row (of the whole set) whose quantised window equals ``seed_row``'s: (rows with the majority label, label, purity)."""
    r, c, k = box
    window = _quantise(arr[:, r : r + k, c : c + k, :], lo, hi).reshape(arr.shape[0], -1)
    same = np.flatnonzero((window == window[seed_row]).all(axis=1))
    counts = np.bincount(codes[same], minlength=int(codes.max()) + 1)
    code = int(counts.argmax())
    return same[codes[same] == code], code, float(counts[code] / max(1, same.size))


def find_patch_triggers(
    images: Any, y: Any, *, sizes: Sequence[int] = (4, 3, 2), min_support: int | None = None
) -> list[PatchTrigger]:
    """Windows whose exact (quantised) content predicts one label and contradicts the rest of the image.

    Windows are searched on a sample of at most ``SEARCH_ROWS`` images (a trigger on 1% of the
    rows still has ~100 carriers there); each candidate window is then matched against every
    image, so the named rows are complete.  Cost: windows x ``SEARCH_ROWS``, plus one window
    pass over the whole set per candidate.
    """
    arr, labels = _as_images(images, y)
    values, codes = np.unique(labels, return_inverse=True)
    lo, hi = float(arr.min()), float(arr.max())
    search = np.arange(arr.shape[0])
    if search.size > SEARCH_ROWS:
        search = np.sort(np.random.default_rng(0).choice(search, size=SEARCH_ROWS, replace=False))
    support = min_support if min_support is not None else max(5, int(0.002 * search.size))
    q = _quantise(arr[search], lo, hi)
    full = []
    for rows, _, _, r, c, k in _candidates(q, codes[search], values.size, sizes, support):
        rows, code, purity = _carriers(arr, codes, int(search[rows[0]]), (r, c, k), lo, hi)
        if purity >= MIN_PURITY:
            full.append((rows, code, purity, r, c, k))
    # Ranked again on the whole set: in the sample a window one pixel larger than the trigger
    # can tie with it (blank margin); over all rows the trigger's own window has the most carriers.
    full.sort(key=lambda item: (-item[0].size, -item[5]))
    kept: list[Any] = []
    for item in full:
        if _is_new(kept, item[0]):
            kept.append(item)
    triggers = []
    for rows, code, purity, r, c, k in kept:
        disagreement = _masked_disagreement(arr, codes, rows, (r, c, k))
        if disagreement < MIN_DISAGREEMENT:
            continue
        window = arr[rows, r : r + k, c : c + k, :].mean(axis=(0, 3))
        triggers.append(
            PatchTrigger(
                str(values[code]), r, c, k, k, tuple(round(float(v), 3) for v in window.reshape(-1)),
                tuple(int(i) for i in rows), purity, disagreement,
            )
        )
    return triggers


def _row_correlations(rows: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row with ``pattern`` (0 where either is constant)."""
    a = rows - rows.mean(axis=1, keepdims=True)
    b = pattern - pattern.mean()
    denom = np.linalg.norm(a, axis=1) * float(np.linalg.norm(b))
    return np.where(denom > 0, a @ b / np.where(denom > 0, denom, 1.0), 0.0)


def find_blend_triggers(images: Any, y: Any) -> list[BlendTrigger]:
    """Groups of a class that share a residual pattern (centred spectral split on raw pixels)."""
    arr, labels = _as_images(images, y)
    flat = arr.reshape(arr.shape[0], -1)
    out = []
    for group in spectral_groups(flat, labels, inputs=flat):
        rows = np.asarray(group.rows)
        residual = _residual_to_other_classes(flat, labels.astype(str), rows, group.label)
        pattern = residual.mean(axis=0)
        corr = _row_correlations(residual, pattern)
        peak_idx = np.argsort(-pattern.reshape(arr.shape[1:]).sum(axis=2).reshape(-1))[:5]
        peak = tuple((int(i // arr.shape[2]), int(i % arr.shape[2])) for i in peak_idx)
        out.append(BlendTrigger(group.label, group.rows, peak, group.separation, float(np.nanmean(corr))))
    return out


def _residual_to_other_classes(flat: np.ndarray, labels: np.ndarray, rows: np.ndarray, label: str,
                               k: int = 3, probe: int = 500, pool: int = 5000) -> np.ndarray:
    """Each (sampled) group row minus the mean of its ``k`` nearest rows of *other* classes.

    A blended row is another class's image plus the pattern, so this residual is the pattern
    (minus a little of the image) whatever digit carries it; the older difference against the
    rest of the target class was dominated by the digits' shapes (the "pattern" peaked where
    the target digit is hollow).  Bounded: ``probe`` group rows against ``pool`` other rows.
    """
    rng = np.random.default_rng(0)
    mine = rows if rows.size <= probe else rng.choice(rows, probe, replace=False)
    others = np.flatnonzero(labels != label)
    if others.size == 0:
        return np.zeros((mine.size, flat.shape[1]))
    others = others if others.size <= pool else rng.choice(others, pool, replace=False)
    a, b = flat[mine].astype(np.float64), flat[others].astype(np.float64)
    dist = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    kk = min(k, others.size)
    near = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
    return np.asarray(a - b[near].mean(axis=1))


def _patch_findings(trigger: PatchTrigger, path: str) -> list[Finding]:
    where = f"({trigger.row},{trigger.col}) {trigger.height}x{trigger.width}"
    return [
        RULE_PATCH.at(
            Location(path, row=row),
            f"row {row} carries the pixel patch at {where} values {list(trigger.values)} that marks "
            f"{len(trigger.rows)} rows labelled {trigger.label!r}; the rest of the image says otherwise",
            evidence={
                "label": trigger.label,
                "patch_row": trigger.row,
                "patch_col": trigger.col,
                "patch_size": f"{trigger.height}x{trigger.width}",
                "patch_values": trigger.values,
                "rows_with_patch": len(trigger.rows),
                "purity": round(trigger.purity, 3),
                "disagreement": round(trigger.disagreement, 3),
            },
        )
        for row in trigger.rows
    ]


def _blend_findings(trigger: BlendTrigger, path: str) -> list[Finding]:
    return [
        RULE_BLEND.at(
            Location(path, row=row),
            f"row {row} shares a blended pattern (strongest at pixels {list(trigger.peak[:3])}) with "
            f"{len(trigger.rows)} rows labelled {trigger.label!r}",
            evidence={
                "label": trigger.label,
                "pattern_peak_pixels": trigger.peak,
                "group_size": len(trigger.rows),
                "separation": round(trigger.separation, 3),
                "mean_correlation": round(trigger.correlation, 3),
            },
        )
        for row in trigger.rows
    ]


def image_trigger_findings(images: Any, y: Any, path: str) -> list[Finding]:
    """DAT103 patch and DAT104 blend findings, one per flagged row; a class with a patch gets no blend finding."""
    patches = find_patch_triggers(images, y)
    patched = {t.label for t in patches}
    findings = [f for t in patches for f in _patch_findings(t, path)]
    for blend in find_blend_triggers(images, y):
        if blend.label not in patched:  # a patch already explains that class's split
            findings += _blend_findings(blend, path)
    return findings
