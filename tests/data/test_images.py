"""Image trigger search (DAT103 patches, DAT104 blends) on generated digits datasets."""

from __future__ import annotations

import numpy as np
import pytest

from builders.poison_images import badnets, blend, digits
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
