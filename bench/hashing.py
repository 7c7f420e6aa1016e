"""Manifest hashing throughput: trojanguard vs model_signing vs sha256sum, same files, one run.

Usage:  .venv/bin/python bench/hashing.py [--size-gb 4] [--dir /tmp/tg-hashbench] [--keep]

Generates a model-like directory (one large file + several shards + small files) of
``--size-gb`` under ``--dir``, reads it once to warm the page cache, then times:

* ``limit``: the machine's parallel hashlib SHA-256 ceiling -- N threads hashing 256 MB
  RAM-resident buffers (no I/O), N = the worker count trojanguard uses (a cache-hot 4 MB
  buffer and a single thread are reported too);
* ``trojanguard files`` / ``trojanguard shards``: integrity.digest.hash_manifest;
* ``model_signing files`` / ``model_signing shards``: model_signing.hashing.Config().hash;
* ``sha256sum``: coreutils over the same files, one process.

Each is run ``--repeat`` times in interleaved rounds (the machine is shared: interleaving
gives every method the same background load); reported are the best time and the median
over rounds of (that round's limit time / method time).  The
directory is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from trojanguard.integrity.digest import default_workers, hash_manifest, list_files  # noqa: E402

MB = 1 << 20
LIMIT = "limit (hashlib, threads, RAM buffers)"


def generate(root: Path, total: int) -> None:
    """~50% one big file, ~45% in 256 MB shards, the rest small files (configs, tokenizers)."""
    root.mkdir(parents=True, exist_ok=True)
    block = bytearray(os.urandom(16 * MB))
    plan = [("model.safetensors", total // 2)]
    shard = 256 * MB
    rest = total - total // 2
    i = 0
    while rest > shard + 8 * MB:
        plan.append((f"shards/model-{i:05d}.bin", shard))
        rest -= shard
        i += 1
    plan += [(f"extra/file{j}.json", rest // 16) for j in range(16)]
    for name, size in plan:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            written = 0
            while written < size:
                block[:8] = written.to_bytes(8, "little")  # different content per block
                n = min(len(block), size - written)
                fh.write(block[:n])
                written += n


def hashlib_limit(size: int, workers: int, buffer: int = 256 * MB) -> Callable[[], None]:
    """Hash ``size`` bytes held in memory with ``workers`` threads (no I/O): the ceiling.

    With ``buffer`` = 256 MB the data comes from RAM, as it does for files in the page
    cache; with 4 MB it stays in the CPU cache (an optimistic ceiling, reported too).
    """
    buf = os.urandom(buffer)
    view = memoryview(buf)
    per_worker = size // workers

    def run(_: int) -> None:
        h, done = hashlib.sha256(), 0
        while done < per_worker:
            n = min(len(buf), per_worker - done)
            h.update(view[:n])
            done += n

    def go() -> None:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, range(workers)))

    return go


def timed_rounds(methods: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """``repeat`` interleaved rounds: every method sees the same background load per round."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeat):
        for name, fn in methods.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gb", type=float, default=4.0)
    ap.add_argument("--dir", default="/tmp/tg-hashbench")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = Path(args.dir)
    total = int(args.size_gb * (1 << 30))
    try:
        t = time.perf_counter()
        generate(root, total)
        files = list_files(str(root))
        size = sum(f.size for f in files)
        print(f"generated {len(files)} files, {size / 1e9:.2f} GB in {time.perf_counter() - t:.1f}s", flush=True)
        subprocess.run(["cat", *[f.path for f in files]], stdout=subprocess.DEVNULL, check=True)  # warm cache
        workers = default_workers()
        methods: dict[str, Callable[[], object]] = {
            LIMIT: hashlib_limit(size, workers),
            "hashlib, threads, cache-hot 4 MB buffer": hashlib_limit(size, workers, 4 * MB),
            "hashlib, 1 thread, RAM buffer": hashlib_limit(size, 1),
            "trojanguard files": lambda: hash_manifest(str(root)),
            "trojanguard shards (1 GB)": lambda: hash_manifest(str(root), shard_size=1 << 30),
        }
        try:
            from model_signing import hashing

            methods["model_signing files"] = lambda: hashing.Config().use_file_serialization().hash(root)
            methods["model_signing shards (1 GB)"] = lambda: hashing.Config().use_shard_serialization(shard_size=1 << 30).hash(root)
        except ImportError:
            print("model_signing not installed: skipped", flush=True)
        results = timed_rounds(methods, args.repeat)
        results.update(
            timed_rounds(  # one round only: 10x slower than the rest
                {"sha256sum (coreutils, 1 process)": lambda: subprocess.run(["sha256sum", *[f.path for f in files]], stdout=subprocess.DEVNULL, check=True)},
                1,
            )
        )
        base = results[LIMIT]
        print(f"\ncpus={os.cpu_count()} workers={workers} size={size / 1e9:.2f} GB (page cache warm), rounds={args.repeat}\n")
        print("| method | best s | GB/s (best) | best / best limit | median of per-round ratio to that round's limit |")
        print("|---|---:|---:|---:|---:|")
        for name, times in results.items():
            best = min(times)
            ratios = [b / t for b, t in zip(base, times, strict=True)] if len(times) == len(base) else [min(base) / best]
            print(f"| {name} | {best:.2f} | {size / best / 1e9:.2f} | {100 * min(base) / best:.0f}% | {100 * statistics.median(ratios):.0f}% |")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
