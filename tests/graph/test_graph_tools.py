"""IR, folding, diff, capability report, HTML page, CLI and probe of the shadow-logic package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import helper, numpy_helper

from builders.shadow_models import BENIGN, MALICIOUS, c, inject_shadow, model, n
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.cli import main
from trojanguard.graph.detectors import analyze_graph
from trojanguard.graph.diff import diff_models
from trojanguard.graph.fold import fold
from trojanguard.graph.html import render_html
from trojanguard.graph.ir import from_onnx
from trojanguard.graph.report import capability_report

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


def test_ir_inlines_functions_and_bodies() -> None:
    g = from_onnx(MALICIOUS["function_token_trigger"]())
    scopes = {node.scope for node in g.nodes}
    assert any(s.startswith("function local:Normalize") for s in scopes)
    assert all(node.op != "Normalize" for node in g.nodes)
    g = from_onnx(MALICIOUS["loop_token_trigger"]())
    assert any("Loop.body" in node.scope for node in g.nodes)


def test_fold_resolves_exporter_literals() -> None:
    nodes = [n("Constant", [], ["k"], value=c("kv", [31337], np.int64)), n("Squeeze", ["k", "ax"], ["ks"]),
             n("Cast", ["ks"], ["kf"], to=1), n("Shape", ["x"], ["s"]), n("Gather", ["s", "zero"], ["b"])]
    m = model(nodes, [c("ax", [0], np.int64), c("zero", 0, np.int64)],
              [helper.make_tensor_value_info("x", 1, ["b", 4])], [helper.make_tensor_value_info("kf", 1, None)])
    values = fold(from_onnx(m))
    assert float(values["kf"]) == 31337.0
    assert "b" not in values  # a dynamic shape stays unknown


def test_diff_reports_injected_nodes_only() -> None:
    ref = BENIGN["bert_like_masks"]()
    result = diff_models(inject_shadow(ref, "where"), ref)
    assert sorted(node.op for node in result.added) == ["Cast", "Equal", "Greater", "ReduceMax", "Where"]
    assert not result.removed and result.outputs_changed
    assert result.lines()[0].startswith("suspect")


def test_diff_ignores_weights_and_names() -> None:
    ref = BENIGN["bert_like_masks"]()
    other = BENIGN["bert_like_masks"]()
    for t in other.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.size > 16:
            t.CopyFrom(numpy_helper.from_array(a * 2 + 1, t.name))
    for i, node in enumerate(other.graph.node):
        node.name = f"renamed_{i}"
    assert diff_models(other, ref).identical


def test_diff_trojannet_side_branch() -> None:
    result = diff_models(MALICIOUS["trojannet_detector"](), BENIGN["clean_image_classifier"]())
    assert {"Slice", "Gemm", "Softmax"} <= {node.op for node in result.added}


def test_capability_report_sentences() -> None:
    _, detections = analyze_graph(from_onnx(MALICIOUS["where_token_trigger"]()))
    text = "\n".join(capability_report("m.onnx", detections))
    assert "class 3 can be forced when input_ids equal to 31337" in text
    _, detections = analyze_graph(from_onnx(MALICIOUS["mul_mask_pixel_trigger"]()))
    text = "\n".join(capability_report("m.onnx", detections))
    assert "rows 0-1 of axis 2, columns 0-1 of axis 3 equal to 1.0" in text
    assert "no shadow logic" in capability_report("b.onnx", [])[0]


def test_html_page_is_self_contained_and_escaped() -> None:
    m = MALICIOUS["where_token_trigger"]()
    m.graph.node[0].name = "<script>alert(1)</script>"
    flow, detections = analyze_graph(from_onnx(m))
    page = render_html("<b>m.onnx</b>", flow, detections)
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count('class="node suspicious"') >= 3 and "<svg" in page


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = str(BROWSER)
    flow, detections = analyze_graph(from_onnx(MALICIOUS["if_image_trigger"]()))
    page = tmp_path / "page.html"
    page.write_text(render_html("m.onnx", flow, detections))
    proc = subprocess.run(  # noqa: S603 - trusted local browser, generated page
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    assert "suspicious" in proc.stdout and "<svg" in proc.stdout


def test_cli_inspect_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad, ref = tmp_path / "bad.onnx", tmp_path / "ref.onnx"
    bad.write_bytes(MALICIOUS["where_token_trigger"]().SerializeToString())
    ref.write_bytes(BENIGN["bert_like_masks"]().SerializeToString())
    html = tmp_path / "out.html"
    assert main(["graph", "inspect", str(bad), "--html", str(html)]) == 1
    assert "31337" in capsys.readouterr().out and html.read_text().startswith("<!DOCTYPE html>")
    assert main(["graph", "inspect", str(ref)]) == 0
    assert main(["graph", "diff", str(ref), str(ref)]) == 0
    injected = tmp_path / "inj.onnx"
    injected.write_bytes(inject_shadow(BENIGN["bert_like_masks"](), "if").SerializeToString())
    assert main(["graph", "diff", str(injected), str(ref)]) == 1
    assert "+ If#" in capsys.readouterr().out
    assert main(["graph", "inspect", str(tmp_path / "missing.onnx")]) == 2


def test_probe_confirms_trigger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime", reason="the probe extra (onnxruntime) is not installed")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(MALICIOUS["where_token_trigger"]().SerializeToString())
    assert main(["graph", "probe", str(bad)]) == 1
    assert "CONFIRMED" in capsys.readouterr().out
    samples = tmp_path / "s.npz"
    np.savez(samples, input_ids=np.arange(1, 33, dtype=np.int64).reshape(2, 16))
    assert main(["graph", "probe", str(bad), "--inputs", str(samples)]) == 1
    img = tmp_path / "img.onnx"
    img.write_bytes(MALICIOUS["mul_mask_pixel_trigger"]().SerializeToString())
    assert main(["graph", "probe", str(img)]) == 1


def test_hostile_graphs_end_cleanly() -> None:
    """Cycles, dangling names, deep nesting and garbage end in findings or ScanErrors, never tracebacks."""
    cyc = model([n("Add", ["a", "x"], ["b"]), n("Mul", ["b", "b"], ["a"])], [],
                [helper.make_tensor_value_info("x", 1, ["n", 8])], [helper.make_tensor_value_info("a", 1, None)])
    result = scan_bytes(cyc.SerializeToString(), "cyc.onnx")
    assert all(e.kind != "internal" for e in result[1])
    leaf = helper.make_graph([n("Identity", ["x"], ["y"])], "b", [], [helper.make_tensor_value_info("y", 1, None)])
    body = leaf
    for _ in range(30):  # protobuf itself refuses much deeper nesting
        body = helper.make_graph([n("If", ["cond"], ["y"], then_branch=body, else_branch=leaf)], "b", [],
                                 [helper.make_tensor_value_info("y", 1, None)])
    deep = model([n("If", ["cond"], ["out"], then_branch=body, else_branch=leaf)], [c("cond", True, np.bool_)],
                 [helper.make_tensor_value_info("x", 1, ["n", 8])], [helper.make_tensor_value_info("out", 1, None)])
    findings, errors, _ = scan_bytes(deep.SerializeToString(), "deep.onnx")
    assert all(e.kind != "internal" for e in errors), errors
    weird = model([n("Slice", ["x", "s", "e", "a", "st"], ["y"]), n("Equal", ["y", "k"], ["q"]),
                   n("ReduceMax", ["q"], ["r"]), n("Where", ["r", "k", "x"], ["out"])],
                  [c("s", [1 << 62], np.int64), c("e", [-(1 << 62)], np.int64), c("a", [99], np.int64),
                   c("st", [0], np.int64), c("k", 7.0)],
                  [helper.make_tensor_value_info("x", 1, ["n", 8])], [helper.make_tensor_value_info("out", 1, None)])
    findings, errors, _ = scan_bytes(weird.SerializeToString(), "weird.onnx")
    assert all(e.kind != "internal" for e in errors)
    assert_silent(findings, "SHD003")


@pytest.mark.slow
def test_cli_entry_point_subprocess(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(MALICIOUS["if_image_trigger"]().SerializeToString())
    proc = subprocess.run([sys.executable, "-m", "trojanguard", "graph", "inspect", str(bad)],  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False, env={**os.environ})
    assert proc.returncode == 1 and "class 3 can be forced" in proc.stdout
    assert_fires(scan_bytes(bad.read_bytes(), "bad.onnx"), "SHD001")


def test_many_gates_stay_bounded() -> None:
    """2,000 token comparators merged into one value: gates per value and findings are capped."""
    from builders.shadow_models import IDS, text_trunk

    tn, ti = text_trunk()
    nodes, inits, prev = list(tn), list(ti), "trunk"
    for k in range(2000):
        inits.append(c(f"k{k}", k + 1, np.int64))
        nodes += [n("Equal", ["input_ids", f"k{k}"], [f"e{k}"]), n("Cast", [f"e{k}"], [f"f{k}"], to=1),
                  n("ReduceMax", [f"f{k}"], [f"m{k}"], keepdims=0), n("Add", [prev, f"m{k}"], [f"a{k}"])]
        prev = f"a{k}"
    nodes.append(n("Identity", [prev], ["logits"]))
    m = model(nodes, inits, [IDS], [helper.make_tensor_value_info("logits", 1, None)])
    flow, detections = analyze_graph(from_onnx(m))
    assert max(len(g) for g in flow.gates.values()) <= 16
    assert 0 < len([d for d in detections if d.rule.id == "SHD004"]) <= 20


@pytest.mark.slow
def test_mutated_model_bytes_never_crash() -> None:
    import random

    data = bytearray(MALICIOUS["loop_token_trigger"]().SerializeToString())
    rnd = random.Random(7)
    for i in range(150):
        mutated = bytearray(data)
        for _ in range(4):
            mutated[rnd.randrange(len(mutated))] = rnd.randrange(256)
        findings, errors, _ = scan_bytes(bytes(mutated), "m.onnx")
        assert all(e.kind != "internal" for e in errors), (i, errors)
