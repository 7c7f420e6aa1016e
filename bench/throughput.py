"""Throughput: does scanning cost follow the metadata or the file size?

Why: DESIGN.md principle 8 — a 2 GB checkpoint's tensor bytes are not its pickle.  This
script generates

* ``big.pt``   — a torch zip checkpoint of ~2 GB (stored tensors) with a small data.pkl;
* ``small.pt`` — the *same* data.pkl with ~20 MB of tensors;
* ``raw.pkl``  — a ~1 GB raw pickle (protocol 4) whose tensors are inline BINBYTES8 blobs,
  so here the pickle *is* the file and every byte must be walked (or seeked over);

and times, in the same run and on the same (page-cache warm) files, ``cat > /dev/null``,
``hashlib.sha256`` (1 MiB reads, a separate process), trojanguard and each peer.  Each
command is a separate process; wall time and peak RSS come from ``wait4`` (see
``peers.run_cmd``).  Nothing is asserted; the numbers go to stdout and bench/out/.

Usage::

    .venv/bin/python bench/throughput.py [--peers trojanguard,picklescan,...] [--repeat 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from builders.pickles import PickleBuilder  # noqa: E402
from corpus import state_dict_pickle  # noqa: E402
from peers import MODELSCAN_BIN, OUT, PEER_BIN, REPO, _trojanguard_cmd, run_cmd  # noqa: E402

DIR = REPO / "bench" / ".cache" / "throughput"
BLOCK = os.urandom(1 << 20)  # incompressible filler, written repeatedly
N_TENSORS = 8


#: data.pkl of both checkpoints: 8 float32 tensors of 8192 x 8192 (256 MiB each), which
#: matches big.pt's storages; small.pt carries the same bytes with truncated storages.
PKL = state_dict_pickle([(f"layers.{i}.weight", (8192, 8192)) for i in range(N_TENSORS)])


def _write_torch_zip(path: Path, total_bytes: int) -> None:
    """A stored torch zip: the fixed data.pkl, then N_TENSORS storages filling total_bytes."""
    per = total_bytes // N_TENSORS
    pkl = PKL
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/byteorder", "little")
        for i in range(N_TENSORS):
            with zf.open(f"archive/data/{i}", "w", force_zip64=True) as member:
                _fill(member, per)
        zf.writestr("archive/version", "3\n")


def _fill(out: object, size: int) -> None:
    written = 0
    while written < size:
        chunk = BLOCK[: min(len(BLOCK), size - written)]
        out.write(chunk)  # type: ignore[attr-defined]
        written += len(chunk)


def _write_raw_pickle(path: Path, total_bytes: int) -> None:
    """Protocol 4: {name: BINBYTES8 blob} with 16 tensor-like blobs, streamed to disk."""
    n = 16
    per = total_bytes // n
    with open(path, "wb") as out:
        head = PickleBuilder(4).proto().empty_dict().mark().bytes()
        out.write(head)
        for i in range(n):
            key = PickleBuilder(4).value(f"layers.{i}.weight").bytes()
            out.write(key + b"\x8e" + per.to_bytes(8, "little"))  # BINBYTES8 header
            _fill(out, per)
        out.write(PickleBuilder(4).setitems().stop().bytes())


def generate(force: bool = False) -> dict[str, Path]:
    DIR.mkdir(parents=True, exist_ok=True)
    files = {"big.pt": DIR / "big.pt", "small.pt": DIR / "small.pt", "raw.pkl": DIR / "raw.pkl"}
    if force or not files["big.pt"].exists():
        _write_torch_zip(files["big.pt"], 2 * 1024**3)
    if force or not files["small.pt"].exists():
        _write_torch_zip(files["small.pt"], 20 * 1024**2)
    if force or not files["raw.pkl"].exists():
        _write_raw_pickle(files["raw.pkl"], 1024**3)
    return files


_SHA = "import hashlib,sys\nh=hashlib.sha256()\nwith open(sys.argv[1],'rb') as f:\n    while b:=f.read(1<<20): h.update(b)\nprint(h.hexdigest())"


def commands(path: Path) -> dict[str, list[str]]:
    tg = _trojanguard_cmd(path, 1)
    return {
        "cat": ["sh", "-c", f"cat '{path}' > /dev/null"],
        "sha256": [sys.executable, "-c", _SHA, str(path)],
        "trojanguard": tg,
        "picklescan": [str(PEER_BIN / "picklescan"), "-p", str(path)],
        "modelscan": [
            str(MODELSCAN_BIN / "modelscan"),
            "scan",
            "-p",
            str(path),
            "-r",
            "json",
            "-o",
            str(DIR / "modelscan.json"),
            "-l",
            "ERROR",
        ],
        "modelaudit": [
            str(PEER_BIN / "modelaudit"),
            "scan",
            "--format",
            "json",
            "--no-cache",
            "-o",
            str(DIR / "modelaudit.json"),
            str(path),
        ],
        "fickling": [
            str(PEER_BIN / "fickling"),
            "--check-safety",
            "--json-output",
            str(DIR / "fickling.json"),
            str(path),
        ],
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", default="cat,sha256,trojanguard,picklescan,modelscan,modelaudit,fickling")
    ap.add_argument("--files", default="small.pt,big.pt,raw.pkl")
    ap.add_argument("--repeat", type=int, default=1, help="runs per (tool, file); the fastest is reported")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--regenerate", action="store_true")
    args = ap.parse_args(argv)
    files = generate(args.regenerate)
    rows = []
    for fname in args.files.split(","):
        path = files[fname]
        size = path.stat().st_size
        run_cmd(["sh", "-c", f"cat '{path}' > /dev/null"], args.timeout)  # warm the page cache first
        for tool, cmd in commands(path).items():
            if tool not in args.peers.split(","):
                continue
            best = None
            for _ in range(args.repeat):
                proc = run_cmd(cmd, args.timeout)
                if best is None or proc.wall_s < best.wall_s:
                    best = proc
            assert best is not None
            row = {
                "file": fname,
                "size_mb": round(size / 1024**2, 1),
                "tool": tool,
                "rc": best.rc,
                "timed_out": best.timed_out,
                "wall_s": round(best.wall_s, 3),
                "mb_per_s": round(size / 1024**2 / best.wall_s, 1) if best.wall_s else None,
                "peak_rss_mb": round(best.maxrss_mb, 1),
                "stderr_tail": best.stderr.strip()[-200:],
            }
            rows.append(row)
            print(
                f"{fname:9} {row['size_mb']:>8} MB  {tool:12} {row['wall_s']:>8.3f} s  "
                f"{row['mb_per_s']!s:>9} MB/s  rss {row['peak_rss_mb']:>7} MB  rc={best.rc}{' TIMEOUT' if best.timed_out else ''}",
                flush=True,
            )
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M")
    out = OUT / f"throughput-{stamp}.json"
    out.write_text(json.dumps({"argv": ["bench/throughput.py", *argv], "cpus": os.cpu_count(), "rows": rows}, indent=1))
    print(f"written {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
