"""Write an image table for ``data audit TABLE --images DIR``: PNG files plus a CSV naming them.

The images are trusted arrays (scikit-learn's digits or synthetic); each row of the CSV gives a
file name relative to DIR, the label and a free-text note (a second text column, so guessing the
image column has something to reject).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Save a grey-level array (any range) as an 8-bit PNG."""
    from PIL import Image

    arr = np.asarray(pixels, dtype=np.float64)
    top = float(arr.max()) or 1.0
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)).save(path)


def image_table(root: Path, images: np.ndarray, labels: Sequence[object], *, names: Sequence[str] | None = None,
                write: bool = True) -> Path:
    """``root/images/<name>`` for every row and ``root/train.csv`` (file, label, note); returns the CSV."""
    folder = root / "images"
    names = list(names) if names is not None else [f"cls{labels[i]}/img{i:05d}.png" for i in range(len(images))]
    if write:
        for name, img in zip(names, images, strict=True):
            write_png(folder / name, img)
    table = root / "train.csv"
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "note"])
        w.writerows([name, label, f"scan {i}"] for i, (name, label) in enumerate(zip(names, labels, strict=True)))
    return table
