"""Throughput for the non-pickle formats: does scanning cost follow metadata or weight bytes?

Why: issue 3's target — a 1 GB ``.keras``, ``.h5``, ``.onnx`` with external data, ``.gguf``
or ``.safetensors`` must scan in at most 1.5x the time of a ~10 MB file of the same
structure.  For each format this script writes a small (~10 MB) and a big (~1 GB) file that
differ only in the weight bytes (same config, same tensor names and count; only the sizes
in the shapes and offsets change), then times ``trojanguard scan --format json`` on each,
best of ``--repeat`` runs, small and big interleaved in one run so both see the same machine
load and page-cache state.

Weight bytes are zeros: sparse where the format allows (HDF5 with early allocation and no
fill, GGUF/safetensors/ONNX external data via ``truncate``); the ``.keras`` zip stores its
``model.weights.h5`` uncompressed (as Keras does), so it is written in full.  Everything
lives in ``bench/.cache/throughput-formats`` and is deleted at the end (``--keep`` keeps it).

Usage::

    .venv/bin/python bench/throughput_formats.py [--repeat 3] [--small-mb 10] [--big-mb 1024]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import struct
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from builders import gguf_files as gg  # noqa: E402
from builders import keras_files as kf  # noqa: E402
from builders import onnx_files as ox  # noqa: E402
from peers import OUT, REPO, _tg_version, _trojanguard_cmd, run_cmd  # noqa: E402

DIR = REPO / "bench" / ".cache" / "throughput-formats"
N_TENSORS = 8
MB = 1 << 20
CONFIG = kf.functional([kf.dense(f"dense_{i}") for i in range(N_TENSORS)])


# --------------------------------------------------------------------------- writers
def _h5_weights(path: Path, total: int, legacy: bool) -> None:
    """HDF5 with N_TENSORS float32 datasets filling ``total`` bytes, allocated but never written."""
    import h5py

    per = total // N_TENSORS // 4
    with h5py.File(path, "w") as f:
        if legacy:
            f.attrs["model_config"] = json.dumps(CONFIG)
            f.attrs["keras_version"] = "2.15.0"
        for i in range(N_TENSORS):
            name = f"model_weights/dense_{i}/kernel:0" if legacy else f"layers/dense_{i}/vars/0"
            group = f.require_group(name.rsplit("/", 1)[0])
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
            space = h5py.h5s.create_simple((per,))
            h5py.h5d.create(group.id, name.rsplit("/", 1)[1].encode(), h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)


def write_h5(path: Path, total: int) -> Path:
    _h5_weights(path, total, legacy=True)
    return path


def write_keras(path: Path, total: int) -> Path:
    weights = path.with_suffix(".weights.tmp.h5")
    _h5_weights(weights, total, legacy=False)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.3.3", "date_saved": "2024-01-01"}))
        zf.writestr("config.json", json.dumps(CONFIG))
        zf.write(weights, "model.weights.h5")
    weights.unlink()
    return path


def write_onnx(path: Path, total: int) -> Path:
    """A directory: model.onnx + a sparse weights.bin it references (scanned as a directory)."""
    path.mkdir(parents=True, exist_ok=True)
    ox.big_external_model(str(path), total)
    return path


def write_gguf(path: Path, total: int) -> Path:
    per = total // N_TENSORS // 4 * 4
    kvs = [
        gg.kv_string("general.architecture", "llama"),
        gg.kv_string("general.name", "throughput"),
        gg.kv_string_array("tokenizer.ggml.tokens", ["<s>", "</s>", "hello"]),
        gg.kv_string("tokenizer.chat_template", gg.CHATML),
    ]
    tensors = [gg.tensor_info(f"blk.{i}.weight", [per // 4], 0, i * per) for i in range(N_TENSORS)]
    head = gg.gguf_file(kvs, tensors, b"")
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + per * N_TENSORS)
    return path


def write_safetensors(path: Path, total: int) -> Path:
    per = total // N_TENSORS // 4 * 4
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    for i in range(N_TENSORS):
        header[f"layers.{i}.weight"] = {"dtype": "F32", "shape": [per // 4], "data_offsets": [i * per, (i + 1) * per]}
    text = json.dumps(header).encode()
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        fh.truncate(8 + len(text) + per * N_TENSORS)
    return path


FORMATS: dict[str, tuple[str, Callable[[Path, int], Path]]] = {
    "keras": ("model.keras", write_keras),
    "h5": ("model.h5", write_h5),
    "onnx-external": ("onnx_dir", write_onnx),
    "gguf": ("model.gguf", write_gguf),
    "safetensors": ("model.safetensors", write_safetensors),
}


# --------------------------------------------------------------------------- timing
def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _time(path: Path, timeout: float) -> tuple[float, float, int, str]:
    """(wall s, peak RSS MB, exit code, findings summary) of one trojanguard process."""
    cmd = [*_trojanguard_cmd(path, 1), "--quiet"]
    if "--format" not in cmd:
        cmd.remove("--quiet")
    proc = run_cmd(cmd, timeout)
    summary = ""
    try:
        report = json.loads(proc.stdout)
        rules = sorted({str(f.get("rule_id", f.get("rule", ""))) for f in report.get("findings", [])})
        formats = sorted({str(s.get("format")) for s in report.get("scanned", [])})
        summary = (
            f"{'+'.join(formats)}: {len(report.get('findings', []))} findings {','.join(rules)}; "
            f"{len(report.get('errors', []))} errors"
        )
    except json.JSONDecodeError:
        summary = f"no JSON: {proc.stderr[-200:]}"
    return proc.wall_s, proc.maxrss_mb, proc.rc, summary


def run(small: int, big: int, repeat: int, timeout: float, keep: bool) -> list[dict[str, object]]:
    DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for fmt, (name, write) in FORMATS.items():
            paths = {}
            for label, size in (("small", small), ("big", big)):
                print(f"writing {fmt} {label} ...", file=sys.stderr, flush=True)
                (DIR / label).mkdir(parents=True, exist_ok=True)
                paths[label] = write(DIR / label / name, size)
            times: dict[str, list[float]] = {"small": [], "big": []}
            rss: dict[str, float] = {"small": 0.0, "big": 0.0}
            notes: dict[str, str] = {}
            for _ in range(repeat):
                for label in ("small", "big"):
                    wall, peak, rc, summary = _time(paths[label], timeout)
                    times[label].append(wall)
                    rss[label] = max(rss[label], peak)
                    notes[label] = f"rc={rc} {summary}"
            row: dict[str, object] = {
                "format": fmt,
                "small_bytes": _size(paths["small"]),
                "big_bytes": _size(paths["big"]),
                "small_best_s": round(min(times["small"]), 3),
                "big_best_s": round(min(times["big"]), 3),
                "ratio": round(min(times["big"]) / min(times["small"]), 3),
                "small_all_s": [round(t, 3) for t in times["small"]],
                "big_all_s": [round(t, 3) for t in times["big"]],
                "small_peak_rss_mb": round(rss["small"], 1),
                "big_peak_rss_mb": round(rss["big"], 1),
                "small_result": notes["small"],
                "big_result": notes["big"],
            }
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
            if not keep:
                for p in paths.values():
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
    finally:
        if not keep and DIR.exists():
            shutil.rmtree(DIR)
    return rows


def markdown(rows: list[dict[str, object]], argv: list[str]) -> str:
    head = (
        "| format | small file | big file | small: best (s) | big: best (s) | big / small | "
        "target <= 1.5 | peak RSS small / big | result (both) |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        ratio = float(r["ratio"])  # type: ignore[arg-type]
        lines.append(
            f"| {r['format']} | {int(r['small_bytes']) / MB:.1f} MiB | {int(r['big_bytes']) / MB:.1f} MiB | "  # type: ignore[call-overload]
            f"{r['small_best_s']} | {r['big_best_s']} | {ratio:.2f} | {'met' if ratio <= 1.5 else 'MISSED'} | "
            f"{r['small_peak_rss_mb']} / {r['big_peak_rss_mb']} MB | {r['big_result']} |"
        )
    meta = (
        f"\nCommand: `{' '.join(argv)}`; trojanguard {_tg_version()}; machine: {os.cpu_count()} CPUs, "
        f"{platform.platform()}, Python {platform.python_version()}; date: {dt.date.today().isoformat()}\n"
    )
    return head + "\n".join(lines) + "\n" + meta


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per file; the best is reported (default 3)")
    ap.add_argument("--small-mb", type=int, default=10)
    ap.add_argument("--big-mb", type=int, default=1024)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args(argv)
    rows = run(args.small_mb * MB, args.big_mb * MB, args.repeat, args.timeout, args.keep)
    md = markdown(rows, [".venv/bin/python", "bench/throughput_formats.py", *argv])
    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"throughput-formats-{stamp}.json").write_text(json.dumps({"argv": argv, "rows": rows}, indent=1))
    (OUT / f"throughput-formats-{stamp}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
