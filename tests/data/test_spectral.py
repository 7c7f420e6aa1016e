"""Spectral signatures (DAT101) and activation clustering (DAT102) on generated data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from builders.poison_images import blend, digits
from conftest import assert_fires, assert_silent
from trojanguard.data.spectral import (
    activation_clusters,
    onnx_representations,
    proxy_representations,
    representation_findings,
    spectral_groups,
    spectral_scores,
)
from trojanguard.errors import MalformedInput


def _planted(n: int = 400, poisoned: int = 12, dims: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two Gaussian classes; ``poisoned`` rows of class 1 share an offset (a learned trigger feature)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dims))
    y = np.repeat([0, 1], n // 2)
    x[y == 1] += 3.0
    rows = np.flatnonzero(y == 1)[:poisoned]
    x[rows, :5] += 6.0
    return x, y, rows


def test_spectral_score_is_the_centred_squared_projection() -> None:
    x, y, rows = _planted()
    scores = spectral_scores(x, y)
    cls = x[y == 1] - x[y == 1].mean(axis=0)
    v = np.linalg.svd(cls, full_matrices=False)[2][0]
    assert np.allclose(scores[y == 1], (cls @ v) ** 2)
    assert set(np.argsort(-scores)[: rows.size].tolist()) == set(rows.tolist())


def test_spectral_finding_names_the_rows() -> None:
    x, y, rows = _planted()
    found = assert_fires(representation_findings(x, y, "train.csv", clustering=False), "DAT101")
    assert {f.location.row for f in found} == set(rows.tolist())


def test_activation_clustering_flags_the_small_cluster() -> None:
    x, y, rows = _planted()
    assert set(np.flatnonzero(activation_clusters(x, y)).tolist()) == set(rows.tolist())
    assert_fires(representation_findings(x, y, "train.csv"), "DAT102")


def test_gaussian_classes_are_silent() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 20))
    y = np.repeat([0, 1], 200)
    findings = representation_findings(x, y, "train.csv")
    assert_silent(findings, "DAT101")
    assert_silent(findings, "DAT102")


def test_blend_on_digit_pixels_at_one_percent() -> None:
    x, y, rows = blend(*digits(), 0.01)
    flat = x.reshape(len(x), -1)
    (group,) = spectral_groups(flat, y, inputs=flat)
    assert set(group.rows) == set(rows.tolist())


def test_clean_digit_pixels_are_silent() -> None:
    x, y = digits()
    flat = x.reshape(len(x), -1)
    assert_silent(representation_findings(flat, y, "digits", inputs=flat), "DAT101")


@pytest.mark.parametrize(
    "x, y",
    [
        (np.zeros(5), np.zeros(5)),
        (np.zeros((5, 2)), np.zeros(4)),
        (np.full((5, 2), np.inf), np.zeros(5)),
        (np.array([["a", "b"]]), np.zeros(1)),
    ],
)
def test_malformed_representations_are_refused(x: np.ndarray, y: np.ndarray) -> None:
    with pytest.raises(MalformedInput):
        spectral_scores(x, y)


def test_degenerate_inputs_do_not_crash() -> None:
    assert representation_findings(np.zeros((30, 4)), np.zeros(30), "z") == []
    assert spectral_scores(np.ones((1, 3)), np.zeros(1)).tolist() == [0.0]


@pytest.mark.parametrize("rate", [0.10, 0.20])
def test_poisoned_majority_of_the_target_class_is_found(rate: float) -> None:
    # 10%: the poisoned rows are half of class 0, 20%: two thirds; size cannot pick the side.
    x, y, rows = blend(*digits(), rate)
    flat = x.reshape(len(x), -1)
    (group,) = spectral_groups(flat, y, inputs=flat)
    assert set(group.rows) == set(rows.tolist())
    assert group.coherence > 0.42 and group.disagreement > 0.85


def test_flipped_rows_share_no_trigger_and_are_silent() -> None:
    x, y = digits()
    rng = np.random.default_rng(0)
    flipped = y.copy()
    rows = rng.choice(y.size, size=y.size // 5, replace=False)
    flipped[rows] = (y[rows] + rng.integers(1, 10, size=rows.size)) % 10
    flat = x.reshape(len(x), -1)
    findings = representation_findings(flat, flipped, "digits", inputs=flat)
    assert_silent(findings, "DAT101")
    assert_silent(findings, "DAT102")


def test_proxy_accepts_image_arrays_and_trains_on_a_sample() -> None:
    x, y, _ = blend(*digits(), 0.05)
    reps = proxy_representations(x, y, kind="images", hidden=16, train_rows=600)
    assert reps.shape == (len(x), 16)
    assert np.isfinite(reps).all()


def test_image_inputs_are_flattened_and_row_counts_checked() -> None:
    x, y, rows = blend(*digits(), 0.05)
    (group,) = spectral_groups(x.reshape(len(x), -1), y, inputs=x)  # (n, 8, 8) images as inputs
    assert set(group.rows) == set(rows.tolist())
    with pytest.raises(MalformedInput):
        spectral_groups(x.reshape(len(x), -1), y, inputs=x[:-1])


def _linear_onnx(path: Path, weights: np.ndarray) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", weights.shape[0]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", weights.shape[1]])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "proxy", [x], [y],
                              initializer=[numpy_helper.from_array(weights.astype(np.float32), "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_onnx_representations_run_the_users_model(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    w = np.random.default_rng(0).normal(size=(64, 8))
    _linear_onnx(tmp_path / "proxy.onnx", w)
    x = np.random.default_rng(1).normal(size=(700, 64))  # more rows than one batch
    reps = onnx_representations(tmp_path / "proxy.onnx", x, batch=256)
    assert reps.shape == (700, 8) and np.allclose(reps, x @ w, atol=1e-3)


def test_onnx_representations_refuse_hostile_or_broken_models(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from builders.onnx_files import custom_op_model
    from trojanguard.errors import Error, UsageError

    hostile = tmp_path / "custom.onnx"
    hostile.write_bytes(custom_op_model("ai.onnx.contrib", "PyOp"))  # onnxruntime-extensions runs Python here
    with pytest.raises(UsageError, match="refusing to run this proxy model"):
        onnx_representations(hostile, np.zeros((2, 4)))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07" + bytes(range(256)) * 4)
    with pytest.raises(Error):
        onnx_representations(junk, np.zeros((2, 4)))
    _linear_onnx(tmp_path / "p.onnx", np.ones((64, 8)))
    with pytest.raises(Error, match="cannot run the proxy model"):  # rows of the wrong width
        onnx_representations(tmp_path / "p.onnx", np.zeros((3, 10)))
