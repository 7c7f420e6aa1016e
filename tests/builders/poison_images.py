"""Generate poisoned image datasets from scikit-learn's digits (trusted, bundled, offline).

BadNets (Gu et al. 2017): stamp a small constant patch on a share of rows taken from the other
classes and relabel them to the target.  Blended (Chen et al. 2017): x' = (1-a) x + a p with a
fixed random pattern p.  Each generator returns (images, labels, poisoned row indices).
"""

from __future__ import annotations

import numpy as np


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 8x8 digit images (values 0..16) and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images.astype(np.float64), data.target.astype(np.int64)


def _victims(y: np.ndarray, rate: float, target: int, rng: np.random.Generator) -> np.ndarray:
    candidates = np.flatnonzero(y != target)
    count = max(1, int(round(rate * y.size)))
    return np.sort(rng.choice(candidates, size=count, replace=False))


def badnets(
    images: np.ndarray, y: np.ndarray, rate: float, *, target: int = 0, size: int = 2, corner: str = "br", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stamp a size x size patch of maximum intensity in a corner of ``rate`` of the rows."""
    rng = np.random.default_rng(seed)
    x, labels = images.copy(), y.copy()
    rows = _victims(y, rate, target, rng)
    h, w = x.shape[1:3]
    r0 = h - size if corner[0] == "b" else 0
    c0 = w - size if corner[1] == "r" else 0
    patch = np.full((size, size), 16.0)
    patch[::2, 1::2] = 0.0  # a checkerboard, as in BadNets, so it is not just "ink"
    x[rows, r0 : r0 + size, c0 : c0 + size] = patch
    labels[rows] = target
    return x, labels, rows


def blend(
    images: np.ndarray, y: np.ndarray, rate: float, *, target: int = 0, alpha: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend a fixed random pattern into ``rate`` of the rows and relabel them."""
    rng = np.random.default_rng(seed)
    x, labels = images.copy(), y.copy()
    rows = _victims(y, rate, target, rng)
    pattern = rng.uniform(0, 16, size=x.shape[1:])
    x[rows] = (1 - alpha) * x[rows] + alpha * pattern
    labels[rows] = target
    return x, labels, rows
