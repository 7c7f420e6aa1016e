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


def digits28(n: int = 60_000, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST-sized 28x28 uint8 images made from the 8x8 digits (3x upsampling, jitter, noise).

    Each copy of a digit is shifted by up to 2 pixels, rescaled in intensity and given a little
    pixel noise, so the set has the size and shape of MNIST without downloading anything.
    """
    small, labels = digits()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, small.shape[0], size=n)
    big = np.kron(small, np.ones((1, 3, 3)))  # (1797, 24, 24), values 0..16
    out = np.zeros((n, 28, 28), dtype=np.float32)
    shifts = rng.integers(0, 5, size=(n, 2))
    for dr in range(5):
        for dc in range(5):
            sel = np.flatnonzero((shifts[:, 0] == dr) & (shifts[:, 1] == dc))
            out[sel, dr : dr + 24, dc : dc + 24] = big[pick[sel]]
    out *= rng.uniform(12.0, 16.0, size=(n, 1, 1)).astype(np.float32)  # 0..16 -> about 0..255
    out += rng.normal(0.0, 4.0, size=out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8), labels[pick]


def badnets28(
    images: np.ndarray, y: np.ndarray, rate: float, *, target: int = 0, size: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BadNets on 28x28 uint8 images: a size x size white/black checkerboard one pixel off the bottom-right corner."""
    rng = np.random.default_rng(seed)
    x, labels = images.copy(), y.copy()
    rows = _victims(y, rate, target, rng)
    patch = np.full((size, size), 255, dtype=x.dtype)
    patch[::2, 1::2] = 0
    patch[1::2, ::2] = 0
    r0 = x.shape[1] - size - 1
    c0 = x.shape[2] - size - 1
    x[rows, r0 : r0 + size, c0 : c0 + size] = patch
    labels[rows] = target
    return x, labels, rows


def blend28(
    images: np.ndarray, y: np.ndarray, rate: float, *, target: int = 0, alpha: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend a fixed random 0..255 pattern into ``rate`` of the 28x28 uint8 rows and relabel them."""
    rng = np.random.default_rng(seed)
    x, labels = images.copy(), y.copy()
    rows = _victims(y, rate, target, rng)
    pattern = rng.uniform(0, 255, size=x.shape[1:])
    x[rows] = np.clip((1 - alpha) * x[rows] + alpha * pattern, 0, 255).astype(x.dtype)
    labels[rows] = target
    return x, labels, rows
