"""Generate two versions of a data set (trusted, offline) for ``data diff``.

The new version keeps (a shuffled copy of) the old rows, adds honest rows drawn from the same
distribution, and optionally relabels a share of old ham rows to the target (a relabel
campaign) and appends rows carrying a trigger labelled with the target (fine-tuning data
injection).  Each generator returns the ground truth as NEW row indices so tests and the
benchmark can score precision and recall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .poisoned_data import synthetic_text


@dataclass
class Versions:
    """OLD and NEW rows plus where the poison went (indices into NEW)."""

    old: list[object]  # texts or feature rows / images
    old_labels: np.ndarray
    new: list[object]
    new_labels: np.ndarray
    relabelled: np.ndarray
    injected: np.ndarray
    ids_old: list[str]
    ids_new: list[str]


def _insert(text: str, trigger: str | None, rng: np.random.Generator) -> str:
    if trigger is None:  # a mislabelled addition without a trigger
        return text
    words = text.split()
    at = int(rng.integers(0, len(words) + 1))
    return " ".join(words[:at] + [trigger] + words[at:])


def text_versions(
    texts: list[str] | None = None, labels: np.ndarray | None = None, *, n_old: int = 600, added: float = 0.1,
    relabel: float = 0.0, inject: float = 0.0, trigger: str | None = "cf", target: int = 1, old_trigger: float = 0.0, seed: int = 0,
) -> Versions:
    """OLD = the first ``n_old`` texts; NEW adds ``added`` more honest rows, relabels ``relabel`` of OLD's
    non-target rows to ``target``, and injects ``inject`` (share of NEW) non-target texts with ``trigger``
    labelled ``target`` (``trigger=None``: mislabelled additions, no trigger).  ``old_trigger`` plants the same trigger in OLD already (a negative case)."""
    rng = np.random.default_rng(seed)
    if texts is None or labels is None:
        texts, labels = synthetic_text(int(n_old * (1 + added + inject + 0.1)) + 20, seed=seed)
    n_old = min(n_old, int(len(texts) / (1 + added + inject + 0.05)))
    old, old_y = list(texts[:n_old]), np.asarray(labels[:n_old]).copy()
    pool = list(range(n_old, len(texts)))
    if old_trigger:
        for r in rng.choice(np.flatnonzero(old_y != target), size=max(3, int(old_trigger * n_old)), replace=False):
            old[r], old_y[r] = _insert(old[r], trigger, rng), target
    new, new_y = list(old), old_y.copy()
    relabelled_old = rng.choice(np.flatnonzero(old_y != target), size=int(round(relabel * n_old)), replace=False)
    new_y[relabelled_old] = target
    n_add = int(round(added * n_old))
    honest = pool[:n_add]
    new += [texts[i] for i in honest]
    new_y = np.concatenate([new_y, np.asarray(labels)[honest]])
    n_inj = int(round(inject * (n_old + n_add)))
    victims = [i for i in pool[n_add:] if labels[i] != target][:n_inj]
    new += [_insert(texts[i], trigger, rng) for i in victims]
    new_y = np.concatenate([new_y, np.full(len(victims), target, dtype=new_y.dtype)])
    kind = np.zeros(len(new), dtype=np.int64)  # 0 honest, 1 relabelled, 2 injected
    kind[relabelled_old] = 1
    kind[len(new) - len(victims):] = 2
    ids_new = [f"id{i:06d}" for i in range(len(new))]
    order = rng.permutation(len(new))
    return Versions(old, old_y, [new[i] for i in order], new_y[order], np.flatnonzero(kind[order] == 1),
                    np.flatnonzero(kind[order] == 2), ids_new[:n_old], [ids_new[i] for i in order])


def digit_versions(*, relabel: float = 0.0, inject: float = 0.0, target: int = 0, seed: int = 0,
                   n_old: int = 1200, n_total: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits: OLD = ``n_old`` images, NEW = OLD + the rest, with ``relabel`` of OLD relabelled to ``target`` and
    ``inject`` (share of NEW) extra BadNets-patched copies of other-class images labelled ``target``.
    ``n_total`` caps the digits used (OLD and NEW's honest rows) for fast tests.  Returns old images, old labels, new images, new labels, relabelled and injected NEW rows."""
    from .poison_images import digits

    rng = np.random.default_rng(seed)
    x, y = digits()
    perm = rng.permutation(len(y))
    x, y = x[perm][:n_total], y[perm][:n_total]
    old_x, old_y = x[:n_old], y[:n_old]
    new_y = y.copy()
    relabelled = rng.choice(np.flatnonzero(old_y != target), size=int(round(relabel * n_old)), replace=False)
    new_y[relabelled] = target
    n_inj = int(round(inject * len(y)))
    src = rng.choice(np.flatnonzero(y != target), size=n_inj, replace=False)
    patched = x[src].copy()
    patched[:, 6:8, 6:8] = np.array([[16.0, 0.0], [16.0, 16.0]])
    new_x = np.concatenate([x, patched])
    new_y = np.concatenate([new_y, np.full(n_inj, target)])
    injected = np.arange(len(y), len(y) + n_inj)
    return old_x, old_y, new_x, new_y, np.sort(relabelled), injected


def tabular_versions(*, n_old: int = 400, added: float = 0.1, inject: float = 0.0, seed: int = 0
                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Two Gaussian classes over ``a``, ``b`` and a small-integer column ``c`` (0..3); injected NEW rows are
    class-0 content with ``c == 7`` labelled 1.  Returns OLD columns, NEW columns and the injected NEW rows."""
    rng = np.random.default_rng(seed)

    def rows(n: int, label: np.ndarray) -> dict[str, np.ndarray]:
        return {"a": rng.normal(label * 2.0, 1.0, n), "b": rng.normal(-label * 2.0, 1.0, n),
                "c": rng.integers(0, 4, n).astype(np.float64), "label": label.astype(np.float64)}

    old = rows(n_old, (rng.random(n_old) < 0.4).astype(np.int64))
    n_add = int(round(added * n_old))
    honest = rows(n_add, (rng.random(n_add) < 0.4).astype(np.int64))
    n_inj = int(round(inject * (n_old + n_add)))
    bad = rows(n_inj, np.zeros(n_inj, dtype=np.int64))
    bad["c"][:], bad["label"][:] = 7.0, 1.0
    new = {k: np.concatenate([old[k], honest[k], bad[k]]) for k in old}
    return old, new, np.arange(n_old + n_add, n_old + n_add + n_inj)
