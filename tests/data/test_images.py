"""Image trigger search (DAT103 patches, DAT104 blends) on generated digits datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from builders.poison_images import badnets, badnets28, blend, blend28, digits, digits28
from conftest import assert_fires, assert_silent
from trojanguard.data.images import find_patch_triggers, image_trigger_findings
from trojanguard.errors import MalformedInput


@pytest.fixture(scope="module")
def clean() -> tuple[np.ndarray, np.ndarray]:
    return digits()


@pytest.mark.parametrize("rate", [0.01, 0.05])
def test_badnets_patch_is_named_with_its_rows(clean: tuple[np.ndarray, np.ndarray], rate: float) -> None:
    x, y, rows = badnets(*clean, rate)
    findings = assert_fires(image_trigger_findings(x, y, "digits.npz"), "DAT103", contains="(6,6) 2x2")
    assert {f.location.row for f in findings} == set(rows.tolist())
    assert all(f.location.path == "digits.npz" for f in findings)


def test_patch_trigger_reports_location_and_values(clean: tuple[np.ndarray, np.ndarray]) -> None:
    x, y, rows = badnets(*clean, 0.05)
    (trigger,) = find_patch_triggers(x, y)
    assert (trigger.row, trigger.col, trigger.height, trigger.label) == (6, 6, 2, "0")
    assert trigger.values == (16.0, 0.0, 16.0, 16.0)
    assert trigger.disagreement > 0.9


def test_clean_digits_have_no_trigger(clean: tuple[np.ndarray, np.ndarray]) -> None:
    findings = image_trigger_findings(*clean, "digits.npz")
    assert_silent(findings, "DAT103")
    assert_silent(findings, "DAT104")


@pytest.mark.parametrize("rate", [0.01, 0.05])
def test_blended_pattern_is_found(clean: tuple[np.ndarray, np.ndarray], rate: float) -> None:
    x, y, rows = blend(*clean, rate)
    findings = image_trigger_findings(x, y, "digits.npz")
    found = assert_fires(findings, "DAT104")
    assert {f.location.row for f in found} == set(rows.tolist())
    assert_silent(findings, "DAT103")


def test_patch_class_gets_no_duplicate_blend_finding(clean: tuple[np.ndarray, np.ndarray]) -> None:
    x, y, _ = badnets(*clean, 0.05)
    assert_silent(image_trigger_findings(x, y, "d"), "DAT104")


@pytest.mark.parametrize(
    "images, labels",
    [
        (np.zeros((4, 8)), np.zeros(4)),  # not images
        (np.zeros((4, 8, 8)), np.zeros(3)),  # label count mismatch
        (np.full((4, 8, 8), np.nan), np.zeros(4)),  # NaN pixels
        (np.array([[["a"]]]), np.zeros(1)),  # not numeric
    ],
)
def test_malformed_input_is_refused(images: np.ndarray, labels: np.ndarray) -> None:
    with pytest.raises(MalformedInput):
        image_trigger_findings(images, labels, "bad")


def test_tiny_and_single_class_inputs_do_not_crash() -> None:
    assert image_trigger_findings(np.zeros((3, 2, 2)), np.zeros(3), "t") == []
    rng = np.random.default_rng(0)
    assert image_trigger_findings(rng.random((20, 5, 5, 3)), rng.integers(0, 2, 20), "t") == []


def _flips(y: np.ndarray, rate: float, *, targeted: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = y.copy()
    pool = np.flatnonzero(y != 0) if targeted else np.arange(y.size)
    rows = np.sort(rng.choice(pool, size=int(round(rate * y.size)), replace=False))
    for r in rows:
        out[r] = 0 if targeted else rng.choice([c for c in range(10) if c != y[r]])
    return out, rows


@pytest.mark.parametrize("rate", [0.10, 0.20])
def test_blend_that_is_half_the_target_class_or_more_is_found(clean: tuple[np.ndarray, np.ndarray], rate: float) -> None:
    x, y, rows = blend(*clean, rate)  # 10%: half of class 0 is poisoned; 20%: two thirds
    found = assert_fires(image_trigger_findings(x, y, "digits.npz"), "DAT104")
    assert {f.location.row for f in found} == set(rows.tolist())


@pytest.mark.parametrize("rate, targeted", [(0.10, False), (0.20, False), (0.20, True)])
def test_label_flips_are_not_called_triggers(clean: tuple[np.ndarray, np.ndarray], rate: float, targeted: bool) -> None:
    y, _ = _flips(clean[1], rate, targeted=targeted)
    findings = image_trigger_findings(clean[0], y, "digits.npz")
    assert_silent(findings, "DAT103")
    assert_silent(findings, "DAT104")


@pytest.fixture(scope="module")
def clean28() -> tuple[np.ndarray, np.ndarray]:
    return digits28(1500, seed=3)


@pytest.mark.slow
def test_badnets_on_28x28_names_the_patch(clean28: tuple[np.ndarray, np.ndarray]) -> None:
    x, y, rows = badnets28(*clean28, 0.02)
    (trigger,) = find_patch_triggers(x, y)
    assert (trigger.row, trigger.col, trigger.height, trigger.label) == (24, 24, 3, "0")
    assert trigger.values == (255.0, 0.0, 255.0, 0.0, 255.0, 0.0, 255.0, 0.0, 255.0)
    assert set(trigger.rows) == set(rows.tolist())


@pytest.mark.slow
def test_blend_on_28x28_is_found_and_clean_28x28_is_silent(clean28: tuple[np.ndarray, np.ndarray]) -> None:
    findings = image_trigger_findings(*clean28, "d")
    assert_silent(findings, "DAT103")
    assert_silent(findings, "DAT104")
    x, y, rows = blend28(*clean28, 0.05)
    # On 28x28 the digit never reaches the corners, where the blended pattern is a constant
    # patch on every poisoned row: it is named as a DAT103 window holding the pattern's values.
    found = assert_fires(image_trigger_findings(x, y, "d"), "DAT103")
    assert {f.location.row for f in found} == set(rows.tolist())


def test_window_search_on_a_sample_still_names_every_carrier(clean: tuple[np.ndarray, np.ndarray]) -> None:
    import trojanguard.data.images as images

    x, y, rows = badnets(*clean, 0.05)
    old = images.SEARCH_ROWS
    images.SEARCH_ROWS = 600  # the search sees a third of the rows; the carriers come from all of them
    try:
        (trigger,) = find_patch_triggers(x, y)
    finally:
        images.SEARCH_ROWS = old
    assert set(trigger.rows) == set(rows.tolist())


@pytest.mark.slow
def test_data_audit_of_an_image_npz_names_the_patch_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("cleanlab")
    from trojanguard.cli import main

    x, y, rows = badnets(*digits(), 0.02)
    np.savez(tmp_path / "d.npz", images=x, label=y)
    assert main(["data", "audit", str(tmp_path / "d.npz"), "-f", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    flagged = {f["row"] for f in out["findings"] if f["rule_id"] == "DAT103"}
    assert flagged == {int(r) for r in rows}
