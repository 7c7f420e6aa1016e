"""Synthetic user-feedback streams with a spam->ham campaign (trusted, offline).

A continuously-learning spam filter absorbs reports ("spam" / "not spam") from accounts.  Honest
accounts report the true label with a little noise, at a rate that varies a lot between accounts
(many report rarely), and some ham messages go viral (reported by many honest users with the
true label: legitimate duplicates).  A share of accounts runs a campaign that reports spam as ham:

* ``"a"``: attackers only report campaign rows (existing spam messages), late, in a burst;
* ``"b"``: the same, but attackers also report honest rows correctly all along (dilution);
* ``"c"``: many new accounts with 3-5 reports each push near-duplicate variants of one spam
  template in a burst;
* ``"clean"``: no campaign (honest accounts only).

The benchmark (bench/poison) and tests/data/test_feedback.py both call :func:`feedback_campaign`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FeedbackStream", "feedback_campaign"]

VARIANTS = ("a", "b", "c", "clean")
_FILLERS = ["now", "today", "txt", "pls", "asap", "mate", "dear", "!", "!!", "ok"]


@dataclass(frozen=True)
class FeedbackStream:
    """One stream: per-row text, reported label (0 ham, 1 spam), source, time; and the truth."""

    texts: list[str]
    labels: np.ndarray
    sources: list[str]
    times: np.ndarray
    attackers: frozenset[str]
    poisoned: np.ndarray  # bool mask: rows an attacker labelled against the truth

    def rows(self) -> list[dict[str, object]]:
        """Records (source, time, text, label) as a JSONL/CSV writer wants them."""
        return [{"source": s, "time": float(t), "text": x, "label": int(y)}
                for s, t, x, y in zip(self.sources, self.times, self.texts, self.labels, strict=True)]


def _variant_of(template: str, rng: np.random.Generator) -> str:
    """A near-duplicate of ``template``: new numbers, changed case, one filler word inserted."""
    words = template.split()
    words = [str(int(rng.integers(10, 99999))) if any(c.isdigit() for c in w) else w for w in words]
    at = int(rng.integers(0, len(words) + 1))
    words.insert(at, str(rng.choice(_FILLERS)))
    text = " ".join(words)
    return text.upper() if rng.random() < 0.2 else text


def _honest(texts: list[str], y: np.ndarray, accounts: int, noise: float, viral: int, rng: np.random.Generator
            ) -> tuple[list[str], list[int], list[str], list[float]]:
    """Every message reported once by an honest account (skewed activity) plus viral ham duplicates."""
    activity = rng.lognormal(0.0, 1.2, size=accounts)
    activity /= activity.sum()
    idx = list(range(len(texts)))
    ham = np.flatnonzero(y == 0)
    for m in rng.choice(ham, size=min(viral, ham.size), replace=False):
        idx += [int(m)] * int(rng.integers(15, 40))
    owners = rng.choice(accounts, size=len(idx), p=activity)
    out_t, out_y, out_s, out_time = [], [], [], []
    for i, owner in zip(idx, owners, strict=True):
        lab = int(y[i]) if rng.random() > noise else 1 - int(y[i])
        out_t.append(texts[i])
        out_y.append(lab)
        out_s.append(f"u{int(owner):05d}")
        out_time.append(float(rng.uniform(0, 1000)))
    return out_t, out_y, out_s, out_time


def _attack(variant: str, texts: list[str], y: np.ndarray, bad: list[str], rng: np.random.Generator
            ) -> tuple[list[str], list[int], list[str], list[float], list[bool]]:
    spam = np.flatnonzero(y == 1)
    out_t: list[str] = []
    out_y: list[int] = []
    out_s: list[str] = []
    out_time: list[float] = []
    out_p: list[bool] = []

    def add(text: str, label: int, src: str, when: float, poisoned: bool) -> None:
        out_t.append(text)
        out_y.append(label)
        out_s.append(src)
        out_time.append(when)
        out_p.append(poisoned)

    start = float(rng.uniform(600, 900))
    templates = [texts[int(i)] for i in rng.choice(spam, size=2, replace=False)]
    for acct in bad:
        if variant == "c":
            for _ in range(int(rng.integers(3, 6))):
                add(_variant_of(templates[int(rng.integers(2))], rng), 0, acct, start + float(rng.uniform(0, 40)), True)
            continue
        begin = start + float(rng.uniform(0, 40))
        for _ in range(int(rng.integers(15, 30))):
            add(texts[int(rng.choice(spam))], 0, acct, begin + float(rng.uniform(0, 20)), True)
        if variant == "b":
            for _ in range(int(rng.integers(15, 30))):
                i = int(rng.integers(len(texts)))
                add(texts[i], int(y[i]), acct, float(rng.uniform(0, 1000)), False)
    return out_t, out_y, out_s, out_time, out_p


def feedback_campaign(
    texts: list[str], y: np.ndarray, *, variant: str = "a", accounts: int = 500, bad_share: float = 0.02,
    noise: float = 0.03, viral: int = 5, seed: int = 0,
) -> FeedbackStream:
    """A shuffled report stream over ``texts`` (true labels ``y``: 1 spam, 0 ham).

    ``bad_share`` of ``accounts`` are attackers (variant ``"c"``: that many *extra*, new accounts);
    ``noise`` is the honest mislabelling rate; ``viral`` ham messages are reported 15-40 times each.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    rng = np.random.default_rng(seed)
    n_bad = 0 if variant == "clean" else max(2, int(round(bad_share * accounts)))
    honest_n = accounts if variant == "c" else accounts - n_bad
    bad = [f"u{honest_n + i:05d}" for i in range(n_bad)]
    t, lab, src, when = _honest(texts, y, honest_n, noise, viral, rng)
    poisoned = [False] * len(t)
    at, ay, asrc, awhen, ap = _attack(variant, texts, y, bad, rng) if bad else ([], [], [], [], [])
    order = rng.permutation(len(t) + len(at))
    all_t, all_y, all_s = t + at, lab + ay, src + asrc
    all_time, all_p = when + awhen, poisoned + ap
    return FeedbackStream(
        texts=[all_t[i] for i in order],
        labels=np.asarray([all_y[i] for i in order], dtype=np.int64),
        sources=[all_s[i] for i in order],
        times=np.asarray([all_time[i] for i in order], dtype=np.float64),
        attackers=frozenset(bad),
        poisoned=np.asarray([all_p[i] for i in order], dtype=bool),
    )
