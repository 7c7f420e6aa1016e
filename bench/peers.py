"""Peer benchmark: trojanguard vs modelscan, picklescan, fickling and modelaudit on one corpus.

Why: a scanner's worth is its recall on real attack carriers and its silence on real
models, at a cost people accept.  This script runs every tool as a separate process (its
own start-up included) over the corpus from ``bench/corpus.py``, reads each tool's verdict
per file from its *machine* output, and writes

* ``bench/out/peers-<date>.json`` — the per-file table (file, expected, verdict per tool);
* a Markdown summary (stdout, and ``bench/out/peers-<date>.md``) for docs/benchmarks.md.

Verdicts per file: ``detected`` (the tool's equivalent of a finding >= medium), ``clean``,
``error`` (the tool said it could not analyse the file), ``not-scanned`` (the tool skipped
it), ``timeout``.  How each tool's output maps onto them is documented in ``TOOLS`` below
and in bench/README.md.

Peers live in their own venv (``bench/.peers-venv``, created on first use) so their
dependencies never mix with the project's.  Nothing here loads a model file.

Usage::

    .venv/bin/python bench/peers.py [--peers trojanguard,modelscan,...] [--limit N] [--jobs 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PEERS_VENV = BENCH / ".peers-venv"
PEER_BIN = PEERS_VENV / "bin"
OUT = BENCH / "out"
CORPUS = BENCH / ".cache" / "corpus"
#: torch (the one offline-available version) lets modelaudit resolve torch globals from source
PEER_PACKAGES = ("picklescan", "fickling", "modelaudit", "torch==2.13.0", "h5py")
GNU_TIME = "/usr/bin/time"
#: modelscan gets a venv of its own: it calls numpy.lib.format._check_version, which numpy
#: 2.3 removed, while modelaudit pins numpy 2.4 on Python 3.11 (one shared venv broke
#: modelscan's .npy scanning: "module 'numpy.lib.format' has no attribute '_check_version'")
MODELSCAN_BIN = PEERS_VENV / "envs" / "modelscan" / "bin"
MODELSCAN_PACKAGES = ("modelscan[h5py]", "numpy<2.3")
SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")
#: modelaudit never phones home during a benchmark (its telemetry switch, read from its source)
PEER_ENV = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "NO_COLOR": "1", "TERM": "dumb"}


# --------------------------------------------------------------------------- processes
@dataclass
class Proc:
    rc: int
    stdout: str
    stderr: str
    wall_s: float
    maxrss_mb: float
    timed_out: bool = False


def run_cmd(cmd: Sequence[str], timeout: float, cwd: Path | None = None) -> Proc:
    """Run one command; wall time, and peak RSS of it and its waited-for children.

    Peak RSS comes from ``/usr/bin/time -f %M`` where it exists: ``wait4`` on a child forked
    from this (Python, ~18 MB) process reports at least our own RSS, because Linux carries
    the pre-exec high-water mark over.  Output goes to temporary files, not pipes, so a
    chatty tool cannot dead-lock us while we poll ``wait4``.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        argv = list(cmd)
        if os.path.exists(GNU_TIME):
            argv = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd, env=PEER_ENV, start_new_session=True)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        maxrss_kb = float(usage.ru_maxrss)
        text = rss.read().strip().splitlines()
        if text and text[-1].isdigit():
            maxrss_kb = float(text[-1])
        return Proc(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            wall,
            maxrss_kb / 1024,
            timed_out,
        )


# --------------------------------------------------------------------------- results
@dataclass
class ToolRun:
    tool: str
    version: str
    command: str
    verdicts: dict[str, dict[str, str]] = field(default_factory=dict)
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    note: str = ""


def _mark(run: ToolRun, rel: str, verdict: str, detail: str = "") -> None:
    """Record a verdict; 'detected' beats 'error' beats 'clean' when a file is reported twice."""
    rank = {"detected": 4, "timeout": 3, "error": 2, "clean": 1, "not-scanned": 0}
    old = run.verdicts.get(rel)
    if old is None or rank[verdict] > rank[old["verdict"]]:
        run.verdicts[rel] = {"verdict": verdict, "detail": detail[:300]}


def _owner(location: str, files: Sequence[str]) -> str | None:
    """The corpus file a tool's location string refers to (tools append ':member' or ' (pos N)')."""
    best = None
    for rel in files:
        matches = location == rel or location.startswith((rel + ":", rel + " ", rel + "!", rel + "/"))
        if matches and (best is None or len(rel) > len(best)):
            best = rel
    return best


def _relative(location: str, root: Path) -> str:
    prefix = str(root) + os.sep
    return location[len(prefix) :] if location.startswith(prefix) else location


# --------------------------------------------------------------------------- trojanguard
def _trojanguard_cmd(root: Path, jobs: int) -> list[str]:
    """The real CLI when it answers ``scan --help`` with a --format option, else the stand-in."""
    cli = REPO / ".venv" / "bin" / "trojanguard"
    if cli.exists():
        # Peers are pip-installed with their bytecode compiled; our editable install is not, and
        # with PYTHONDONTWRITEBYTECODE set every run would recompile ~60 modules (~0.2 s).  Same
        # footing for every tool: compile once (incremental; a no-op when up to date).
        subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "compileall", "-q", str(REPO / "src")], check=False)
        probe = subprocess.run([str(cli), "scan", "--help"], capture_output=True, text=True, env=PEER_ENV)
        if probe.returncode == 0 and "--format" in probe.stdout:
            return [str(cli), "scan", str(root), "--format", "json", "--jobs", str(jobs)]
    return [str(REPO / ".venv" / "bin" / "python"), str(BENCH / "_tgscan.py"), str(root), "--jobs", str(jobs)]


def _path_of(entry: dict[str, object]) -> str:
    loc = entry.get("location")
    if isinstance(loc, dict):
        return str(loc.get("path", ""))
    return str(entry.get("path", loc or ""))


def run_trojanguard(root: Path, files: Sequence[str], jobs: int, timeout: float) -> ToolRun:
    """Detected = any finding with severity >= medium on the file or any member inside it."""
    cmd = _trojanguard_cmd(root, jobs)
    run = ToolRun("trojanguard", _tg_version(), " ".join(cmd))
    proc = run_cmd(cmd, timeout)
    run.wall_s, run.peak_rss_mb = proc.wall_s, proc.maxrss_mb
    if proc.timed_out:
        run.note = "timed out"
        return run
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        run.note = f"no JSON (rc={proc.rc}): {proc.stderr[-300:]}"
        return run
    for entry in report.get("scanned", []):
        rel = _owner(_relative(_path_of(entry), root), files)
        if rel:
            _mark(run, rel, "clean")
    for entry in report.get("errors", []):
        rel = _owner(_relative(_path_of(entry), root), files)
        if rel:
            _mark(run, rel, "error", str(entry.get("message", "")))
    for entry in report.get("findings", []):
        rel = _owner(_relative(_path_of(entry), root), files)
        severity = str(entry.get("severity", "")).lower()
        if rel and severity in SEVERITY_ORDER and SEVERITY_ORDER.index(severity) >= SEVERITY_ORDER.index("medium"):
            _mark(run, rel, "detected", f"{entry.get('rule_id', entry.get('rule', ''))} {entry.get('message', '')}")
    return run


def _tg_version() -> str:
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c", "import trojanguard; print(trojanguard.__version__)"],
        capture_output=True,
        text=True,
    )
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"{proc.stdout.strip()} (git {git.stdout.strip()})"


# --------------------------------------------------------------------------- modelscan
def run_modelscan(root: Path, files: Sequence[str], jobs: int, timeout: float) -> ToolRun:
    """One directory scan, JSON report file.  Detected = an issue of severity >= MEDIUM;
    error = an entry in ``errors``; files absent from ``summary.scanned.scanned_files`` and
    without issues are 'not-scanned' (modelscan skips formats it has no scanner for)."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "modelscan.json"
        cmd = [
            str(MODELSCAN_BIN / "modelscan"),
            "scan",
            "-p",
            str(root),
            "-r",
            "json",
            "-o",
            str(report_path),
            "-l",
            "ERROR",
        ]
        run = ToolRun("modelscan", _peer_version("modelscan"), " ".join(cmd))
        proc = run_cmd(cmd, timeout, cwd=Path(tmp))
        run.wall_s, run.peak_rss_mb = proc.wall_s, proc.maxrss_mb
        if not report_path.exists():
            run.note = f"no JSON report (rc={proc.rc}, timed_out={proc.timed_out}): {proc.stderr[-300:]}"
            return run
        report = json.loads(report_path.read_text())
    for each in files:
        _mark(run, each, "not-scanned")
    for name in report.get("summary", {}).get("scanned", {}).get("scanned_files", []):
        rel = _owner(_relative(str(name), root), files)
        if rel:
            _mark(run, rel, "clean")
    for entry in report.get("errors", []):
        rel = _owner(_relative(str(entry.get("source", "")), root), files)
        if rel:
            _mark(run, rel, "error", str(entry.get("description", "")))
    for issue in report.get("issues", []):
        rel = _owner(_relative(str(issue.get("source", "")), root), files)
        sev = str(issue.get("severity", "")).lower()
        if rel and sev in SEVERITY_ORDER and SEVERITY_ORDER.index(sev) >= SEVERITY_ORDER.index("medium"):
            _mark(run, rel, "detected", str(issue.get("description", "")))
    return run


# --------------------------------------------------------------------------- modelaudit
def run_modelaudit(root: Path, files: Sequence[str], jobs: int, timeout: float) -> ToolRun:
    """``modelaudit scan --format json --no-cache`` over the files, split into ``jobs``
    parallel batches (it takes many paths).  Its severities are debug/info/warning/critical:
    detected = an issue of severity warning or critical located in the file; error = the
    file is listed with an issue whose type says error, or the batch failed; files not in
    ``assets`` are 'not-scanned'."""
    run = ToolRun("modelaudit", _peer_version("modelaudit"), "")
    batches = [list(files[i::jobs]) for i in range(jobs) if files[i::jobs]]

    def one(batch: list[str]) -> tuple[Proc, dict[str, Any] | None]:
        with tempfile.TemporaryDirectory() as tmp:
            report_path = Path(tmp) / "modelaudit.json"
            cmd = [str(PEER_BIN / "modelaudit"), "scan", "--format", "json", "--no-cache", "-o", str(report_path)]
            proc = run_cmd([*cmd, *(str(root / rel) for rel in batch)], timeout, cwd=Path(tmp))
            run.command = " ".join(cmd) + " FILES..."
            if not report_path.exists():
                return proc, None
            data: dict[str, Any] = json.loads(report_path.read_text())
            return proc, data

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, batches))
    run.wall_s = time.perf_counter() - start
    for batch, (proc, report) in zip(batches, results, strict=True):
        run.peak_rss_mb = max(run.peak_rss_mb, proc.maxrss_mb)
        if report is None:
            for rel in batch:
                _mark(run, rel, "timeout" if proc.timed_out else "error", proc.stderr[-200:])
            continue
        _apply_modelaudit(run, root, batch, report)
    return run


def _apply_modelaudit(run: ToolRun, root: Path, batch: list[str], report: dict[str, Any]) -> None:
    for each in batch:
        _mark(run, each, "not-scanned")
    for asset in report.get("assets", []) or []:
        rel = _owner(_relative(str(asset.get("path", "")), root), batch)
        if rel:
            _mark(run, rel, "clean")
    for issue in report.get("issues", []) or []:
        rel = _owner(_relative(str(issue.get("location") or ""), root), batch)
        if rel is None:
            continue
        sev = str(issue.get("severity", "")).lower()
        if sev in ("warning", "critical"):
            _mark(run, rel, "detected", f"{issue.get('rule_code', '')} {issue.get('message', '')}")
        elif "error" in str(issue.get("type", "")).lower():
            _mark(run, rel, "error", str(issue.get("message", "")))


# --------------------------------------------------------------------------- per-file tools
def _per_file(
    tool: str, root: Path, files: Sequence[str], jobs: int, timeout: float, argv: Callable[[Path], list[str]]
) -> ToolRun:
    """Run ``argv(file)`` once per file, ``jobs`` at a time; verdict from the exit code
    (both picklescan and fickling document 0 = clean, 1 = unsafe found, 2 = error)."""
    run = ToolRun(tool, _peer_version(tool), " ".join(argv(Path("FILE"))))
    codes = {0: "clean", 1: "detected", 2: "error"}

    def one(rel: str) -> tuple[str, Proc]:
        return rel, run_cmd(argv(root / rel), timeout, cwd=root)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for rel, proc in pool.map(one, files):
            run.peak_rss_mb = max(run.peak_rss_mb, proc.maxrss_mb)
            if proc.timed_out:
                _mark(run, rel, "timeout")
            elif proc.rc == 1 and "Traceback (most recent call last)" in proc.stderr:
                # an uncaught Python exception also exits 1 (fickling on a directory:
                # IsADirectoryError); that is a crash, not a finding
                _mark(run, rel, "error", proc.stderr.strip()[-200:])
            else:
                _mark(run, rel, codes.get(proc.rc, "error"), (proc.stdout + proc.stderr).strip()[-200:])
    run.wall_s = time.perf_counter() - start
    return run


def run_picklescan(root: Path, files: Sequence[str], jobs: int, timeout: float) -> ToolRun:
    """picklescan has no JSON output; its exit code per file is the machine verdict
    (1 = a dangerous global; 'suspicious' globals alone keep exit 0)."""
    return _per_file("picklescan", root, files, jobs, timeout, lambda p: [str(PEER_BIN / "picklescan"), "-p", str(p)])


def run_fickling(root: Path, files: Sequence[str], jobs: int, timeout: float) -> ToolRun:
    """``fickling --check-safety``: exit 1 when any stacked pickle's severity is above
    LIKELY_SAFE; exit 2 when the file does not parse as pickle (e.g. a zip)."""
    with tempfile.TemporaryDirectory() as tmp:
        return _per_file(
            "fickling",
            root,
            files,
            jobs,
            timeout,
            lambda p: [
                str(PEER_BIN / "fickling"),
                "--check-safety",
                "--json-output",
                os.path.join(tmp, f"{abs(hash(str(p)))}.json"),
                str(p),
            ],
        )


TOOLS: dict[str, Callable[[Path, Sequence[str], int, float], ToolRun]] = {
    "trojanguard": run_trojanguard,
    "modelscan": run_modelscan,
    "picklescan": run_picklescan,
    "fickling": run_fickling,
    "modelaudit": run_modelaudit,
}


# --------------------------------------------------------------------------- peers venv
def ensure_peers() -> None:
    for bindir, packages in ((PEER_BIN, PEER_PACKAGES), (MODELSCAN_BIN, MODELSCAN_PACKAGES)):
        if (bindir / "python").exists():
            continue
        subprocess.run([sys.executable, "-m", "venv", str(bindir.parent)], check=True)
        subprocess.run([str(bindir / "pip"), "install", *packages], check=True)


def _peer_version(dist: str) -> str:
    bindir = MODELSCAN_BIN if dist == "modelscan" else PEER_BIN
    proc = subprocess.run(
        [str(bindir / "python"), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip() or "?"


# --------------------------------------------------------------------------- summary
def _select(rows: list[dict[str, str]], limit: int | None, seed: int) -> list[dict[str, str]]:
    """Up to ``limit`` malicious and ``limit`` benign files, a fixed-seed sample."""
    if not limit:
        return rows
    rng = random.Random(seed)
    out = []
    for label in ("malicious", "benign"):
        group = [r for r in rows if r["expected"] == label]
        out += sorted(rng.sample(group, min(limit, len(group))), key=lambda r: r["file"])
    return out


def summarise(rows: list[dict[str, str]], runs: list[ToolRun]) -> list[dict[str, object]]:
    mal = [r["file"] for r in rows if r["expected"] == "malicious"]
    ben = [r["file"] for r in rows if r["expected"] == "benign"]
    table = []
    for run in runs:
        v = {rel: run.verdicts.get(rel, {"verdict": "not-scanned"})["verdict"] for rel in mal + ben}
        detected = sum(v[f] == "detected" for f in mal)
        table.append(
            {
                "tool": run.tool,
                "version": run.version,
                "malicious": len(mal),
                "detected": detected,
                "recall": round(detected / len(mal), 3) if mal else None,
                "malicious_error_or_skipped": sum(v[f] in ("error", "not-scanned", "timeout") for f in mal),
                "benign": len(ben),
                "false_positives": sum(v[f] == "detected" for f in ben),
                "benign_errors": sum(v[f] in ("error", "timeout") for f in ben),
                "wall_s": round(run.wall_s, 2),
                "peak_rss_mb": round(run.peak_rss_mb, 1),
                "note": run.note,
            }
        )
    return table


def markdown(table: list[dict[str, object]], argv: list[str], jobs: int) -> str:
    head = (
        "| tool | version | recall (detected / malicious) | malicious: error or skipped | "
        "false positives (benign) | benign: error | wall time | peak RSS |\n|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {t['tool']} | {t['version']} | {t['recall']} ({t['detected']}/{t['malicious']}) | "
        f"{t['malicious_error_or_skipped']} | {t['false_positives']}/{t['benign']} | {t['benign_errors']} | "
        f"{t['wall_s']} s | {t['peak_rss_mb']} MB |"
        for t in table
    ]
    meta = (
        f"\nCommand: `{' '.join(argv)}` (jobs={jobs}); machine: {os.cpu_count()} CPUs, "
        f"{platform.platform()}, Python {platform.python_version()}; date: {dt.date.today().isoformat()}\n"
    )
    return head + "\n".join(lines) + "\n" + meta


def by_format_markdown(rows: list[dict[str, str]], runs: list[ToolRun]) -> str:
    """Per-format table (rows carrying a ``format`` key, as corpus_formats.py writes them):
    detected/malicious, benign flagged, and error / not-scanned counts per tool."""
    formats = sorted({r["format"] for r in rows if "format" in r})
    if not formats:
        return ""
    head = "| format | " + " | ".join(run.tool for run in runs) + " |\n|---|" + "---|" * len(runs) + "\n"
    lines = []
    for fmt in formats:
        group = [r for r in rows if r.get("format") == fmt]
        cells = []
        for run in runs:
            v = [(r["expected"], run.verdicts.get(r["file"], {"verdict": "not-scanned"})["verdict"]) for r in group]
            mal = [x for e, x in v if e == "malicious"]
            ben = [x for e, x in v if e == "benign"]
            cells.append(
                f"{mal.count('detected')}/{len(mal)} det, FP {ben.count('detected')}/{len(ben)}, "
                f"err {sum(x in ('error', 'timeout') for _, x in v)}, skip {sum(x == 'not-scanned' for _, x in v)}"
            )
        lines.append(f"| {fmt} | " + " | ".join(cells) + " |")
    return "\nPer format (det = detected malicious, FP = benign flagged, err = error/timeout, skip = not scanned):\n\n" + (
        head + "\n".join(lines) + "\n"
    )


def mistakes(
    rows: list[dict[str, str]], run: ToolRun
) -> tuple[list[tuple[str, dict[str, str]]], list[tuple[str, dict[str, str]]]]:
    """(malicious files not detected, benign files detected), each with the tool's verdict."""
    none = {"verdict": "not-scanned", "detail": ""}
    missed = [(r["file"], run.verdicts.get(r["file"], none)) for r in rows if r["expected"] == "malicious"]
    flagged = [(r["file"], run.verdicts.get(r["file"], none)) for r in rows if r["expected"] == "benign"]
    return [m for m in missed if m[1]["verdict"] != "detected"], [f for f in flagged if f[1]["verdict"] == "detected"]


def errors_markdown(rows: list[dict[str, str]], run: ToolRun) -> str:
    missed, flagged = mistakes(rows, run)
    text = f"{run.tool} missed {len(missed)} malicious file(s):\n\n"
    text += "".join(f"- `{f}` — {v['verdict']} {v.get('detail', '')[:160]}\n" for f, v in missed) or "- none\n"
    text += f"\n{run.tool} flagged {len(flagged)} benign file(s):\n\n"
    text += "".join(f"- `{f}` — {v.get('detail', '')[:160]}\n" for f, v in flagged) or "- none\n"
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    ap.add_argument("--limit", type=int, default=None, help="sample at most N malicious and N benign files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="parallel processes per tool (default 2)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per tool invocation")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--rebuild", action="store_true", help="regenerate the corpus first")
    args = ap.parse_args(argv)

    if args.rebuild or not args.corpus.exists():
        sys.path.insert(0, str(BENCH))
        if args.corpus.name.startswith("corpus-formats"):  # bench/corpus_formats.py's corpus
            import corpus_formats

            corpus_formats.build(args.corpus)
        else:
            import corpus as corpus_mod

            corpus_mod.build(args.corpus)
    ensure_peers()
    manifest = json.loads(args.corpus.with_name(args.corpus.name + ".manifest.json").read_text())
    rows = _select(manifest["files"], args.limit, args.seed)
    files = [r["file"] for r in rows]
    root = args.corpus.resolve()
    if args.limit:  # scan a directory that holds exactly the sample (directory-mode tools)
        root = _sample_dir(root, files)

    runs = []
    for name in [p.strip() for p in args.peers.split(",") if p.strip()]:
        print(f"running {name} on {len(files)} files ...", file=sys.stderr, flush=True)
        run = TOOLS[name](root, files, args.jobs, args.timeout)
        print(f"  {name}: {run.wall_s:.1f} s {run.note}", file=sys.stderr, flush=True)
        runs.append(run)

    table = summarise(rows, runs)
    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M")
    OUT.mkdir(parents=True, exist_ok=True)
    per_file = [
        {**r, **{run.tool: run.verdicts.get(r["file"], {"verdict": "not-scanned"}) for run in runs}} for r in rows
    ]
    payload = {
        "date": stamp,
        "argv": ["bench/peers.py", *argv],
        "cpus": os.cpu_count(),
        "payload_source": manifest.get("payload_source"),
        "commands": {run.tool: run.command for run in runs},
        "summary": table,
        "mistakes": {
            run.tool: dict(
                zip(
                    ("missed", "false_positives"), [[f for f, _ in group] for group in mistakes(rows, run)], strict=True
                )
            )
            for run in runs
        },
        "files": per_file,
    }
    (OUT / f"peers-{stamp}.json").write_text(json.dumps(payload, indent=1))
    md = markdown(table, [".venv/bin/python", "bench/peers.py", *argv], args.jobs)
    md += by_format_markdown(rows, runs)
    for run in runs:
        if run.tool == "trojanguard":
            md += "\n" + errors_markdown(rows, run)
    (OUT / f"peers-{stamp}.md").write_text(md)
    print(md)
    print(f"per-file table: {OUT / f'peers-{stamp}.json'}", file=sys.stderr)
    return 0


def _sample_dir(root: Path, files: list[str]) -> Path:
    """Hard-link the sampled files into bench/.cache/sample/ (same relative paths)."""
    sample = root.parent / "sample"
    if sample.exists():
        import shutil

        shutil.rmtree(sample)
    for rel in files:
        dest = sample / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if (root / rel).is_dir():  # a SavedModel or model repository row (corpus_formats.py)
            import shutil

            shutil.copytree(root / rel, dest, symlinks=True)
            continue
        try:
            os.link(root / rel, dest)
        except OSError:
            import shutil

            shutil.copyfile(root / rel, dest)
    return sample


if __name__ == "__main__":
    raise SystemExit(main())
