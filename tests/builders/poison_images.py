"""Generate poisoned image datasets from scikit-learn's digits (trusted, bundled, offline).

BadNets (Gu et al. 2017): stamp a small constant patch on a share of rows taken from the other
classes and relabel them to the target.  Blended (Chen et al. 2017): x' = (1-a) x + a p with a
fixed random pattern p.  Each generator returns (images, labels, poisoned row indices).
"""

from __future__ import annotations

from collections.abc import Callable

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


def _poison(images: np.ndarray, y: np.ndarray, rate: float, target: int, seed: int,
            change: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick ``rate`` of the non-target rows, replace them with ``change(rows_images, rng)``, relabel them ``target``."""
    rng = np.random.default_rng(seed)
    x, labels = images.copy(), y.copy()
    rows = _victims(y, rate, target, rng)
    x[rows] = change(x[rows], rng)
    labels[rows] = target
    return x, labels, rows


def _stamp(patch: np.ndarray, r0: int, c0: int) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def change(rows: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        rows[:, r0 : r0 + patch.shape[0], c0 : c0 + patch.shape[1]] = patch
        return rows

    return change


def badnets(
    images: np.ndarray, y: np.ndarray, rate: float, *, target: int = 0, size: int = 2, corner: str = "br", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stamp a size x size patch of maximum intensity in a corner of ``rate`` of the rows."""
    h, w = images.shape[1:3]
    patch = np.full((size, size), 16.0)
    patch[::2, 1::2] = 0.0  # a checkerboard, as in BadNets, so it is not just "ink"
    return _poison(images, y, rate, target, seed,
                   _stamp(patch, h - size if corner[0] == "b" else 0, w - size if corner[1] == "r" else 0))


def blend(
    images: np.ndarray, y: np.ndarray, rate: float, *, target: int = 0, alpha: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend a fixed random pattern into ``rate`` of the rows and relabel them."""
    def change(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return (1 - alpha) * rows + alpha * rng.uniform(0, 16, size=rows.shape[1:])

    return _poison(images, y, rate, target, seed, change)


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
    patch = np.full((size, size), 255, dtype=images.dtype)
    patch[::2, 1::2] = 0
    patch[1::2, ::2] = 0
    return _poison(images, y, rate, target, seed, _stamp(patch, images.shape[1] - size - 1, images.shape[2] - size - 1))


def blend28(
    images: np.ndarray, y: np.ndarray, rate: float, *, target: int = 0, alpha: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend a fixed random 0..255 pattern into ``rate`` of the 28x28 uint8 rows and relabel them."""
    def change(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pattern = rng.uniform(0, 255, size=rows.shape[1:])
        return np.clip((1 - alpha) * rows + alpha * pattern, 0, 255).astype(rows.dtype)

    return _poison(images, y, rate, target, seed, change)
