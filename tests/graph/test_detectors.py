"""Shadow-logic detectors on generated backdoored graphs and their benign look-alikes."""

from __future__ import annotations

import pytest
from onnx import helper

from builders.shadow_models import BENIGN, IDS, INJECTIONS, LOGITS, MALICIOUS, inject_shadow, model, n, text_trunk
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.graph.detectors import analyze_model
from trojanguard.model import Location

RULES = ("SHD001", "SHD002", "SHD003", "SHD004")
EXPECTED = {
    "if_image_trigger": {"SHD001", "SHD003", "SHD004"},
    "where_token_trigger": {"SHD001", "SHD003", "SHD004"},
    "mul_mask_pixel_trigger": {"SHD001", "SHD003", "SHD004"},
    "statistic_where_trigger": {"SHD001", "SHD003", "SHD004"},
    "suppression_token_trigger": {"SHD001", "SHD003", "SHD004"},
    "function_token_trigger": {"SHD001", "SHD003", "SHD004"},
    "loop_token_trigger": {"SHD001", "SHD003", "SHD004"},
    "trojannet_detector": {"SHD003"},
    "bypass_input_passthrough": {"SHD001", "SHD002", "SHD003", "SHD004"},
}


def _findings(m):  # type: ignore[no-untyped-def]
    return analyze_model(m, Location("m.onnx"))


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_malicious_variants_fire_expected_rules(name: str) -> None:
    found = {f.rule.id for f in _findings(MALICIOUS[name]())}
    assert found == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_lookalikes_stay_clean(name: str) -> None:
    findings = _findings(BENIGN[name]())
    for rule in RULES:
        assert_silent(findings, rule)
    assert_silent(findings, "SHD001")
    assert_silent(findings, "SHD002")
    assert_silent(findings, "SHD003")
    assert_silent(findings, "SHD004")


def test_forced_output_names_gate_integration_and_class() -> None:
    found = assert_fires(_findings(MALICIOUS["where_token_trigger"]()), "SHD001", contains="Where#")
    assert any("class 3" in f.message for f in found)
    assert all(f.message.count("\n") == 0 for f in found)


def test_literal_trigger_reports_token_and_region() -> None:
    assert_fires(_findings(MALICIOUS["where_token_trigger"]()), "SHD004", contains="31337")
    found = assert_fires(_findings(MALICIOUS["mul_mask_pixel_trigger"]()), "SHD004", contains="1.0")
    evidence = dict(found[0].evidence)
    assert evidence["starts"] == (0, 0, 0) and evidence["ends"] == (1, 2, 2) and evidence["axes"] == (1, 2, 3)


def test_trigger_in_function_and_loop_body_is_found() -> None:
    assert_fires(_findings(MALICIOUS["function_token_trigger"]()), "SHD004", contains="9999")
    assert_fires(_findings(MALICIOUS["loop_token_trigger"]()), "SHD004", contains="1234")
    assert_fires(_findings(MALICIOUS["if_image_trigger"]()), "SHD001", contains="class 3")


def test_raw_bypass_path() -> None:
    assert_fires(_findings(MALICIOUS["bypass_input_passthrough"]()), "SHD002", contains="logits")
    assert_silent(_findings(MALICIOUS["where_token_trigger"]()), "SHD002")


def test_trojannet_side_branch() -> None:
    findings = _findings(MALICIOUS["trojannet_detector"]())
    assert_fires(findings, "SHD003", contains="2 learned layer")
    assert_silent(findings, "SHD001")


def test_node_names_are_not_evidence() -> None:
    """Renaming every node (like the exporter's own names) changes nothing."""
    m = MALICIOUS["where_token_trigger"]()
    for i, node in enumerate(m.graph.node):
        node.name = f"/model/layers.{i}/Add"
    assert {f.rule.id for f in _findings(m)} == EXPECTED["where_token_trigger"]


def test_keras_masking_per_timestep_is_not_a_trigger() -> None:
    """x != 0 reduced over the feature axis only (Keras Masking) is a per-timestep mask."""
    seq = helper.make_tensor_value_info("x", 1, ["b", "t", 8])
    from builders.shadow_models import c, w

    nodes = [n("Equal", ["x", "zero"], ["eq"]), n("Not", ["eq"], ["ne"]), n("Cast", ["ne"], ["nf"], to=1),
             n("ReduceMax", ["nf"], ["m"], axes=[-1], keepdims=1), n("MatMul", ["x", "W"], ["h"]),
             n("Mul", ["h", "m"], ["out"])]
    m = model(nodes, [c("zero", 0.0), w("W", 8, 4)], [seq], [helper.make_tensor_value_info("out", 1, None)])
    for rule in RULES:
        assert_silent(_findings(m), rule)


def test_scalar_mode_input_is_configuration() -> None:
    """A scalar input (sample rate) compared to 16000 selects a mode; it is not a trigger on data."""
    tn, ti = text_trunk()
    sr = helper.make_tensor_value_info("sr", 7, [])
    from builders.shadow_models import c, forced

    nodes = [*tn, n("Equal", ["sr", "k"], ["is16"]), n("Where", ["is16", "forced", "trunk"], ["logits"])]
    m = model(nodes, [*ti, c("k", 16000, "int64"), forced()], [IDS, sr], [LOGITS])
    assert_silent(_findings(m), "SHD004")
    assert_silent(_findings(m), "SHD001")


@pytest.mark.parametrize("how", INJECTIONS)
def test_injection_into_clean_model_is_flagged(how: str) -> None:
    clean = BENIGN["bert_like_masks"]()
    assert_silent(_findings(clean), "SHD001")
    assert_fires(_findings(inject_shadow(clean, how)), "SHD001")
    assert_fires(_findings(inject_shadow(clean, how, token=777)), "SHD004", contains="777")


def test_scan_runs_shadow_rules_on_onnx_files() -> None:
    result = scan_bytes(MALICIOUS["where_token_trigger"]().SerializeToString(), "classifier.onnx")
    assert_fires(result, "SHD001")
    assert_fires(result, "SHD004", contains="31337")
    assert not result[1]
    clean = scan_bytes(BENIGN["bert_like_masks"]().SerializeToString(), "bert.onnx")
    assert_silent(clean, "SHD001")
    assert not clean[0] and not clean[1]
