"""Poisoning benchmark: trojanguard's data detectors vs cleanlab and ART, side by side, in one run.

Generates the poisoned data sets offline from scikit-learn's bundled digits (BadNets patches and
blended triggers at 1/5/10%, random and targeted label flips at 5/10/20%), runs every method on
every scenario and prints precision / recall / F1 / seconds per method, plus a Markdown table
(``--markdown``) for docs/benchmarks.md.

Run it in the benchmark venv that has cleanlab and adversarial-robustness-toolbox:
    bench/.cache/poison-venv/bin/python bench/poison/run_all.py --markdown
(the venv sees the project venv's packages through a .pth file; ART and cleanlab are installed
there only).  Missing anchors are reported as "n/a", never silently skipped.

NOT covered yet: the SMS spam text-trigger scenarios and the feedback-stream scenario.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from builders.poison_images import badnets, blend, digits  # noqa: E402

Scenario = tuple[str, np.ndarray, np.ndarray, np.ndarray]  # name, images, labels, poisoned rows


def flips(y: np.ndarray, rate: float, *, targeted: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = y.copy()
    pool = np.flatnonzero(y != 0) if targeted else np.arange(y.size)
    rows = np.sort(rng.choice(pool, size=int(round(rate * y.size)), replace=False))
    for r in rows:
        out[r] = 0 if targeted else rng.choice([c for c in range(10) if c != y[r]])
    return out, rows


def scenarios() -> list[Scenario]:
    x, y = digits()
    out: list[Scenario] = []
    for rate in (0.01, 0.05, 0.10):
        out.append((f"digits BadNets {rate:.0%}", *badnets(x, y, rate)))
        out.append((f"digits blend {rate:.0%}", *blend(x, y, rate)))
    for rate in (0.05, 0.10, 0.20):
        for targeted in (False, True):
            labels, rows = flips(y, rate, targeted=targeted)
            out.append((f"digits {'targeted' if targeted else 'random'} flips {rate:.0%}", x, labels, rows))
    return out


def _rows(findings: list) -> set[int]:
    return {f.location.row for f in findings if f.location.row is not None}


def trojanguard_backdoor(x: np.ndarray, y: np.ndarray) -> set[int]:
    from trojanguard.data.images import image_trigger_findings

    return _rows(image_trigger_findings(x, y, "digits"))


def trojanguard_spectral(x: np.ndarray, y: np.ndarray) -> set[int]:
    from trojanguard.data.spectral import proxy_representations, representation_findings

    flat = x.reshape(len(x), -1)
    reps = proxy_representations(flat, y, kind="pixels")
    return _rows(representation_findings(reps, y, "digits", inputs=flat))


def trojanguard_labels(x: np.ndarray, y: np.ndarray) -> set[int]:
    from trojanguard.data.labels import label_issues, oof_probabilities

    probs = oof_probabilities("features", x.reshape(len(x), -1), y)
    return set(np.flatnonzero(label_issues(y, probs)).tolist())


def cleanlab_issues(x: np.ndarray, y: np.ndarray) -> set[int]:
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    flat = x.reshape(len(x), -1) / 16.0
    probs = cross_val_predict(LogisticRegression(max_iter=500), flat, y, cv=5, method="predict_proba")
    return set(np.flatnonzero(find_label_issues(y, probs)).tolist())


def _art_classifier(x: np.ndarray, y: np.ndarray):
    import torch
    from art.estimators.classification import PyTorchClassifier

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    clf = PyTorchClassifier(
        model=net, loss=torch.nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(net.parameters(), lr=1e-3),
        input_shape=(x.shape[1],), nb_classes=10,
    )
    clf.fit(x, np.eye(10)[y], batch_size=64, nb_epochs=30, verbose=False)
    return clf


def art_activation(x: np.ndarray, y: np.ndarray) -> set[int]:
    from art.defences.detector.poison import ActivationDefence

    flat = (x.reshape(len(x), -1) / 16.0).astype(np.float32)
    defence = ActivationDefence(_art_classifier(flat, y), flat, np.eye(10)[y])
    _, is_clean = defence.detect_poison(nb_clusters=2, nb_dims=10, reduce="PCA")
    return set(np.flatnonzero(np.asarray(is_clean) == 0).tolist())


def art_spectral(x: np.ndarray, y: np.ndarray) -> set[int]:
    from art.defences.detector.poison import SpectralSignatureDefense

    flat = (x.reshape(len(x), -1) / 16.0).astype(np.float32)
    defence = SpectralSignatureDefense(
        _art_classifier(flat, y), flat, np.eye(10)[y], batch_size=128, eps_multiplier=1.5, expected_pp_poison=0.1
    )
    _, is_clean = defence.detect_poison()
    return set(np.flatnonzero(np.asarray(is_clean) == 0).tolist())


METHODS: dict[str, Callable[[np.ndarray, np.ndarray], set[int]]] = {
    "trojanguard image triggers (DAT103/104)": trojanguard_backdoor,
    "trojanguard label issues (data.labels)": trojanguard_labels,
    "trojanguard spectral/AC (proxy MLP)": trojanguard_spectral,
    "cleanlab find_label_issues": cleanlab_issues,
    "ART ActivationDefence": art_activation,
    "ART SpectralSignatureDefense": art_spectral,
}


def prf(found: set[int], truth: set[int]) -> tuple[float, float, float]:
    tp = len(found & truth)
    p = tp / len(found) if found else 0.0
    r = tp / len(truth) if truth else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--only", default="", help="substring filter on scenario names")
    args = parser.parse_args()
    rows = []
    for name, x, y, poisoned in scenarios():
        if args.only not in name:
            continue
        truth = set(poisoned.tolist())
        for method, fn in METHODS.items():
            start = time.perf_counter()
            try:
                p, r, f1 = prf(fn(x, y), truth)
                cell = (f"{p:.2f}", f"{r:.2f}", f"{f1:.2f}")
            except Exception as exc:  # an anchor that cannot run is reported, not hidden
                cell = ("n/a", "n/a", f"n/a ({type(exc).__name__})")
            secs = time.perf_counter() - start
            rows.append((name, method, *cell, f"{secs:.1f}"))
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    if args.markdown:
        print("| scenario | method | precision | recall | F1 | seconds |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
