"""ONNX analyzer: external-data paths, custom/code ops in graphs, subgraphs and functions, sizes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builders.onnx_files import (
    clean_model,
    custom_op_model,
    external_data_model,
    function_model,
    huge_dim_model,
    huge_tensor_model,
    if_subgraph_model,
)
from conftest import assert_fires, assert_silent, scan_bytes
from realwheels import wheel_members
from trojanguard.analyzers.base import Context
from trojanguard.analyzers.onnx import iter_graphs, load_model
from trojanguard.artifact import Artifact, Budget, Limits
from trojanguard.model import Location, Severity
from trojanguard.scanner import scan

RULES = ("ONX001", "ONX002", "ONX003", "ONX004", "ONX005")
REAL_WHEELS = ("rapidocr-onnxruntime", "nudenet", "silero-vad")


def test_clean_model_is_silent() -> None:
    result = scan_bytes(clean_model(), "model.onnx")
    for rule in RULES:
        assert_silent(result, rule)
    assert not result[1]
    assert result[2][-1].format == "onnx"


def test_onnx_without_extension_is_identified() -> None:
    assert scan_bytes(clean_model(), "model")[2][-1].format == "onnx"


@pytest.mark.parametrize(("location", "severity"), [
    ("/etc/passwd", Severity.HIGH),
    ("../../../../home/user/.ssh/id_rsa", Severity.HIGH),
    ("sub/../../secret.bin", Severity.HIGH),
    ("C:\\Windows\\win.ini", Severity.HIGH),
    ("https://evil.example/weights.bin", Severity.HIGH),
    ("/proc/self/environ", Severity.CRITICAL),
    ("/dev/zero", Severity.CRITICAL),
])
def test_external_data_escapes(location: str, severity: Severity) -> None:
    result = scan_bytes(external_data_model(location), "model.onnx")
    found = assert_fires(result, "ONX001", min_severity=severity)
    assert dict(found[0].evidence)["location"] == location


def test_external_data_inside_model_dir_is_fine() -> None:
    assert_silent(scan_bytes(external_data_model("weights/model.bin"), "model.onnx"), "ONX001")


def test_external_data_symlink_and_fifo(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(external_data_model("link.bin"))
    os.symlink("/etc/hostname", tmp_path / "link.bin")
    report = scan([str(tmp_path / "model.onnx")])
    assert_fires(report, "ONX001", contains="symbolic link")
    fifo_dir = tmp_path / "f"
    fifo_dir.mkdir()
    (fifo_dir / "model.onnx").write_bytes(external_data_model("pipe.bin"))
    os.mkfifo(fifo_dir / "pipe.bin")
    assert_fires(scan([str(fifo_dir / "model.onnx")]), "ONX001", min_severity=Severity.CRITICAL)
    ok_dir = tmp_path / "ok"
    ok_dir.mkdir()
    (ok_dir / "model.onnx").write_bytes(external_data_model("w.bin"))
    (ok_dir / "w.bin").write_bytes(b"\x00" * 16)
    assert_silent(scan([str(ok_dir / "model.onnx")]), "ONX001")


def test_custom_domain_is_medium_and_microsoft_contrib_is_known() -> None:
    custom = scan_bytes(custom_op_model("com.acme", "FancyNorm"), "m.onnx")
    assert_fires(custom, "ONX002", contains="com.acme::FancyNorm")
    contrib = scan_bytes(custom_op_model("com.microsoft", "FusedConv"), "m.onnx")
    assert_silent(contrib, "ONX002")
    assert_silent(contrib, "ONX003")
    unknown_std = scan_bytes(custom_op_model("", "NotARealOp"), "m.onnx")
    assert_fires(unknown_std, "ONX002", contains="standard domain")


def test_pyop_is_critical() -> None:
    result = scan_bytes(custom_op_model("ai.onnx.contrib", "PyOp"), "m.onnx")
    assert_fires(result, "ONX003", min_severity=Severity.CRITICAL, contains="PyOp")
    result = scan_bytes(custom_op_model("com.acme", "ReadFileOp"), "m.onnx")
    assert_fires(result, "ONX003", min_severity=Severity.HIGH)
    assert_silent(scan_bytes(custom_op_model("com.acme", "FancyNorm"), "m.onnx"), "ONX003")


def test_ops_in_subgraphs_and_functions_are_found() -> None:
    assert_fires(scan_bytes(if_subgraph_model("ai.onnx.contrib", "PyOp"), "m.onnx"), "ONX003", contains="else_branch")
    assert_fires(scan_bytes(function_model("ai.onnx.contrib", "PythonOp"), "m.onnx"), "ONX003", contains="function:")
    # the local function itself is not a custom op
    assert_silent(scan_bytes(function_model("", "Relu"), "m.onnx"), "ONX002")


def test_iter_graphs_covers_subgraphs_and_functions() -> None:
    ctx = Context(Limits(), Budget(Limits()))
    m = load_model(Artifact.from_bytes(if_subgraph_model("", "Relu"), Location("m.onnx"), "m.onnx"), ctx)
    paths = [p for p, _ in iter_graphs(m)]
    assert paths[0] == "graph" and len(paths) == 3
    f = load_model(Artifact.from_bytes(function_model("", "Relu"), Location("m.onnx"), "m.onnx"), ctx)
    assert any(p.startswith("function:local.fns:Wrap") for p, _ in iter_graphs(f))


def test_absurd_sizes() -> None:
    assert_fires(scan_bytes(huge_tensor_model(), "m.onnx"), "ONX004", contains="big")
    assert_fires(scan_bytes(huge_dim_model(), "m.onnx"), "ONX004", contains="dimension")
    assert_silent(scan_bytes(clean_model(), "m.onnx"), "ONX004")


def test_model_larger_than_memory_limit_is_refused() -> None:
    result = scan_bytes(clean_model(), "m.onnx", limits=Limits(max_in_memory=32))
    assert any(f.rule.id == "SCN002" for f in result[0])


def test_dot_onnx_that_is_not_onnx() -> None:
    assert_fires(scan_bytes(b"\x07\xff\xfe garbage \x00\x01" * 10, "model.onnx"), "ONX005")
    assert_silent(scan_bytes(clean_model(), "model.onnx"), "ONX005")


def test_truncated_and_mutated_models_never_crash() -> None:
    base = external_data_model("w.bin") + b""
    for cut in range(0, len(base), 5):
        result = scan_bytes(base[:cut], "m.onnx")
        assert all(e.kind != "internal" for e in result[1]), result[1]
    for i in range(len(base)):
        mutated = bytearray(base)
        mutated[i] ^= 0x5A
        result = scan_bytes(bytes(mutated), "m.onnx")
        assert all(e.kind != "internal" for e in result[1]), (i, result[1])




@pytest.mark.slow
@pytest.mark.parametrize("project", REAL_WHEELS)
def test_real_onnx_models_from_wheels_are_clean(project: str) -> None:
    members = wheel_members(project, (".onnx",))
    assert members
    for name, data in members:
        findings, errors, scanned = scan_bytes(data, Path(name).name)
        assert not findings and not errors, (name, findings, errors)
        assert scanned[-1].format == "onnx"
