"""Manifest hashing throughput: trojanguard vs model_signing vs sha256sum, same files, one run.

Usage:  .venv/bin/python bench/hashing.py [--size-gb 4] [--dir /tmp/tg-hashbench] [--keep]

Generates a model-like directory (one large file + several shards + small files) of
``--size-gb`` under ``--dir``, reads it once to warm the page cache, then times:

* ``limit``: the machine's parallel hashlib SHA-256 ceiling -- N threads hashing in-memory
  buffers (no I/O), N = the worker count trojanguard uses;
* ``trojanguard files`` / ``trojanguard shards``: integrity.digest.hash_manifest;
* ``model_signing files`` / ``model_signing shards``: model_signing.hashing.Config().hash;
* ``sha256sum``: coreutils over the same files, one process.

Each is run ``--repeat`` times in interleaved rounds and the best is reported (the machine
is shared: interleaving gives every method the same background load).  The
directory is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from trojanguard.integrity.digest import default_workers, hash_manifest, list_files  # noqa: E402

MB = 1 << 20


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


def hashlib_limit(size: int, workers: int) -> Callable[[], None]:
    """Hash ``size`` bytes held in memory with ``workers`` threads (no I/O): the ceiling."""
    buf = os.urandom(4 * MB)
    per_worker = size // workers

    def run(_: int) -> None:
        h, done = hashlib.sha256(), 0
        while done < per_worker:
            h.update(buf)
            done += len(buf)

    def go() -> None:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, range(workers)))

    return go


def timed_rounds(methods: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best of ``repeat`` interleaved rounds: every method sees the same background load."""
    best = dict.fromkeys(methods, float("inf"))
    for _ in range(repeat):
        for name, fn in methods.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gb", type=float, default=4.0)
    ap.add_argument("--dir", default="/tmp/tg-hashbench")
    ap.add_argument("--repeat", type=int, default=3)
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
            "limit (hashlib, threads, in memory)": hashlib_limit(size, workers),
            "limit (hashlib, 1 thread, in memory)": hashlib_limit(size, 1),
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
            timed_rounds(
                {"sha256sum (coreutils, 1 process)": lambda: subprocess.run(["sha256sum", *[f.path for f in files]], stdout=subprocess.DEVNULL, check=True)},
                1,
            )
        )
        limit = size / results["limit (hashlib, threads, in memory)"]
        print(f"\ncpus={os.cpu_count()} workers={workers} size={size / 1e9:.2f} GB (page cache warm)\n")
        print("| method | seconds | GB/s | % of parallel hashlib limit |\n|---|---:|---:|---:|")
        for name, seconds in results.items():
            rate = size / seconds
            print(f"| {name} | {seconds:.2f} | {rate / 1e9:.2f} | {100 * rate / limit:.0f}% |")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
