"""``data diff``: row matching, relabels (DAT301), cluster label shift (DAT302), new triggers (DAT303), CLI."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from builders.data_versions import digit_versions, tabular_versions, text_versions
from conftest import assert_fires, assert_silent
from trojanguard.cli import main
from trojanguard.data.diff import DiffOptions, diff, diff_datasets, match_rows
from trojanguard.data.loaders import Dataset
from trojanguard.errors import MalformedInput, UsageError
from trojanguard.model import Severity

pytest.importorskip("sklearn")


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread() -> Iterator[None]:
    """Tiny fits: BLAS/OpenMP threads only spin against each other on a shared 2-core machine (4x slower)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _text_ds(path: str, texts: list[object], labels: np.ndarray) -> Dataset:
    return Dataset(path, {"text": np.array(texts, dtype=object), "label": np.array([str(v) for v in labels], dtype=object)})


def _csv(path: Path, texts: list[object], labels: np.ndarray, ids: list[str] | None = None) -> str:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label"] if ids else ["text", "label"])
        for i, (t, y) in enumerate(zip(texts, labels, strict=True)):
            w.writerow([ids[i], t, int(y)] if ids else [t, int(y)])
    return str(path)


def _rows(findings: object, rule: str) -> set[int]:
    return {f.location.row for f in findings if f.rule.id == rule and f.location.row is not None}  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- matching


def test_match_rows_pairs_duplicates_one_to_one() -> None:
    old = [b"a", b"a", b"b", b"c"]
    new = [b"a", b"b", b"a", b"d"]
    m = match_rows(old, ["0", "0", "0", "1"], new, ["0", "1", "0", "1"])
    assert m.counts() == {"added": 1, "removed": 1, "unchanged": 2, "relabelled": 1, "modified": 0}
    assert m.relabelled == ((2, 1),) and m.added.tolist() == [3] and m.removed.tolist() == [3]


def test_match_rows_by_key_sees_modified_content() -> None:
    m = match_rows(["k1", "k2"], ["0", "0"], ["k2", "k1"], ["0", "1"], [b"x", b"y"], [b"y2", b"x"])
    assert m.relabelled == ((0, 1),) and m.modified == ((1, 0),)
    assert m.fresh(2).tolist() == [True, True]


def test_text_normalisation_matches_case_and_spacing() -> None:
    old = _text_ds("old", ["Win  a PRIZE", "see you"], np.array([1, 0]))
    new = _text_ds("new", ["win a prize ", "see you"], np.array([1, 0]))
    findings, m = diff_datasets(old, new, DiffOptions(text="text"))
    assert m.counts()["unchanged"] == 2 and not findings


@pytest.fixture(scope="module")
def poisoned() -> tuple[object, list[object]]:
    """One diff shared by the positive tests: 3% relabels toward spam and 3% injected 'cf' rows."""
    v = text_versions(relabel=0.03, inject=0.03, seed=1, n_old=400)
    findings, _ = diff_datasets(_text_ds("old", v.old, v.old_labels), _text_ds("new", v.new, v.new_labels), DiffOptions(text="text"))
    return v, findings


@pytest.fixture(scope="module")
def honest() -> tuple[object, list[object], object]:
    v = text_versions(seed=1, n_old=400)
    findings, m = diff_datasets(_text_ds("old", v.old, v.old_labels), _text_ds("new", v.new, v.new_labels), DiffOptions(text="text"))
    return v, findings, m


# --------------------------------------------------------------------------- DAT301


def test_relabel_campaign_fires_high_per_row(poisoned: tuple[object, list[object]]) -> None:
    v, findings = poisoned
    assert len(v.relabelled) == 12  # type: ignore[attr-defined]
    assert_fires(findings, "DAT301", min_severity=Severity.HIGH, contains="'0' -> '1'")
    assert _rows(findings, "DAT301") == set(v.relabelled.tolist())  # type: ignore[attr-defined]
    row = next(f for f in findings if f.rule.id == "DAT301" and f.location.row is not None)
    assert dict(row.evidence)["old_label"] == "0" and dict(row.evidence)["new_label"] == "1"


def test_scattered_relabels_are_low() -> None:
    old = _text_ds("old", ["a b c", "d e f", "g h i", "j k l"], np.array([0, 1, 0, 1]))
    new = _text_ds("new", ["a b c", "d e f", "g h i", "j k l"], np.array([1, 0, 0, 1]))
    findings, _ = diff_datasets(old, new, DiffOptions(text="text"))
    found = assert_fires(findings, "DAT301")
    assert all(f.severity == Severity.LOW for f in found)


def test_honest_growth_is_silent(honest: tuple[object, list[object], object]) -> None:
    _, findings, m = honest
    assert m.counts() == {"added": 40, "removed": 0, "unchanged": 400, "relabelled": 0, "modified": 0}  # type: ignore[attr-defined]
    assert_silent(findings, "DAT301")
    assert_silent(findings, "DAT302")
    assert_silent(findings, "DAT303")


# --------------------------------------------------------------------------- DAT302


def test_mislabelled_additions_shift_their_clusters() -> None:
    v = text_versions(inject=0.05, trigger=None, seed=1, n_old=400)
    findings, _ = diff_datasets(_text_ds("old", v.old, v.old_labels), _text_ds("new", v.new, v.new_labels), DiffOptions(text="text"))
    assert_fires(findings, "DAT302", min_severity=Severity.HIGH)
    rows = _rows(findings, "DAT302")
    assert len(rows & set(v.injected.tolist())) >= 0.6 * len(v.injected)
    assert rows <= set(v.injected.tolist())  # honest additions are never blamed
    assert_silent(findings, "DAT301")
    summary = next(f for f in findings if f.rule.id == "DAT302" and f.location.row is None)
    assert dict(summary.evidence)["top_terms"]


def test_tabular_growth_without_shift_is_silent() -> None:
    old, new, _ = tabular_versions(seed=3)
    findings, _ = diff_datasets(Dataset("old", old), Dataset("new", new), DiffOptions(features=("a", "b", "c")))
    assert_silent(findings, "DAT302")
    assert_silent(findings, "DAT303")


# --------------------------------------------------------------------------- DAT303


def test_trigger_in_added_rows_fires(poisoned: tuple[object, list[object]]) -> None:
    v, findings = poisoned
    assert_fires(findings, "DAT303", min_severity=Severity.HIGH, contains="'cf'")
    assert _rows(findings, "DAT303") == set(v.injected.tolist())  # type: ignore[attr-defined]


def test_trigger_already_in_old_version_is_not_new() -> None:
    v = text_versions(inject=0.03, old_trigger=0.02, seed=1, n_old=400)
    findings, _ = diff_datasets(_text_ds("old", v.old, v.old_labels), _text_ds("new", v.new, v.new_labels), DiffOptions(text="text"))
    assert_silent(findings, "DAT303")


def test_tabular_trigger_in_added_rows_fires() -> None:
    old, new, injected = tabular_versions(inject=0.04, seed=3)
    findings, _ = diff_datasets(Dataset("old", old), Dataset("new", new), DiffOptions(features=("a", "b", "c")))
    assert_fires(findings, "DAT303", contains="c==7")
    assert _rows(findings, "DAT303") == set(injected.tolist())


@pytest.mark.slow
def test_image_patch_in_added_rows_fires() -> None:
    ox, oy, nx, ny, _, injected = digit_versions(inject=0.03, n_old=400, n_total=600)
    findings, _ = diff_datasets(Dataset("old", {"label": oy.astype(float)}, ox), Dataset("new", {"label": ny.astype(float)}, nx),
                                DiffOptions())
    assert_fires(findings, "DAT303", contains="patch (6,6)")
    assert _rows(findings, "DAT303") == set(injected.tolist())


def test_image_relabels_are_matched_by_pixels() -> None:
    ox, oy, nx, ny, relabelled, _ = digit_versions(relabel=0.04, n_old=150, n_total=200)
    findings, m = diff_datasets(Dataset("old", {"label": oy.astype(float)}, ox), Dataset("new", {"label": ny.astype(float)}, nx),
                                DiffOptions())
    assert m.counts()["relabelled"] == len(relabelled)
    assert_fires(findings, "DAT301", min_severity=Severity.HIGH)
    assert_silent(findings, "DAT303")


# --------------------------------------------------------------------------- CLI and errors


def test_cli_json_rows_counts_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = text_versions(relabel=0.03, inject=0.03, seed=2, n_old=300)
    old = _csv(tmp_path / "v1.csv", v.old, v.old_labels, v.ids_old)
    new = _csv(tmp_path / "v2.csv", v.new, v.new_labels, v.ids_new)
    assert main(["data", "diff", old, new, "--text", "text", "--key", "id", "-f", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["extra"]["diff_relabelled"] == str(len(v.relabelled))
    assert out["extra"]["diff_added"] == str(len(v.new) - len(v.old))
    rows = {f["rule_id"]: set() for f in out["findings"]}
    for f in out["findings"]:
        if f["row"] is not None:
            rows[f["rule_id"]].add(f["row"])
    assert rows["DAT301"] == set(v.relabelled.tolist())
    assert rows["DAT303"] == set(v.injected.tolist())


def test_cli_text_summary_and_clean_exit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = text_versions(seed=4, n_old=100)
    old, new = _csv(tmp_path / "v1.csv", v.old, v.old_labels), _csv(tmp_path / "v2.csv", v.new, v.new_labels)
    assert main(["data", "diff", old, new, "--text", "text"]) == 0
    assert "added 10, removed 0, unchanged 100, relabelled 0" in capsys.readouterr().err


def test_cli_sarif_and_output_file(tmp_path: Path) -> None:
    v = text_versions(relabel=0.05, seed=5, n_old=100)
    old, new = _csv(tmp_path / "v1.csv", v.old, v.old_labels), _csv(tmp_path / "v2.csv", v.new, v.new_labels)
    assert main(["data", "diff", old, new, "--text", "text", "-f", "sarif", "-o", str(tmp_path / "r.sarif"), "--fail-on", "critical"]) == 0
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"DAT301"}


@pytest.mark.parametrize(
    ("old_text", "new_text", "args", "message"),
    [
        ("text,label\na,0\nb,1\n", "text,lab\na,0\n", ["--text", "text"], "no column 'label'"),
        ("text,label\na,0\nb,1\n", "text,label\n", ["--text", "text"], "empty data set"),
        ("text,label\na,0\nb,1\n", "body,label\na,0\n", ["--text", "text"], "no column 'text'"),
        ("text,label\na,0\nb,1\n", "text,label\na,x\nb,y\n", ["--text", "text"], "share no label"),
        ("id,text,label\n1,a,0\n1,b,1\n", "id,text,label\n1,a,0\n", ["--text", "text", "--key", "id"], "repeats"),
        ("text,label\na,0\nb,1\n", "text,label\na,0\n", [], "say what the rows are"),
        ("text,label\na,0\nb,1\n", "text,label\na,0\n", ["--images"], "holds no images"),
        ("text,label\na,0\nb,1\n", "text,label\na,0\n", ["--text", "text", "--fail-on", "bad"], "unknown severity"),
        ('text,label\n"a,0\n', "text,label\na,0\n", ["--text", "text"], "v1.csv"),
    ],
)
def test_cli_malformed_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], old_text: str, new_text: str,
                                     args: list[str], message: str) -> None:
    (tmp_path / "v1.csv").write_text(old_text)
    (tmp_path / "v2.csv").write_text(new_text)
    assert main(["data", "diff", str(tmp_path / "v1.csv"), str(tmp_path / "v2.csv"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_images_against_text_is_a_usage_error(tmp_path: Path) -> None:
    ox, oy, *_ = digit_versions(n_old=50, n_total=60)
    np.savez(tmp_path / "old.npz", images=ox, label=oy)
    (tmp_path / "new.csv").write_text("text,label\na,0\n")
    with pytest.raises(UsageError, match="images"):
        diff(str(tmp_path / "old.npz"), str(tmp_path / "new.csv"), DiffOptions())


def test_image_shapes_must_agree(tmp_path: Path) -> None:
    ox, oy, *_ = digit_versions(n_old=50, n_total=60)
    np.savez(tmp_path / "old.npz", images=ox, label=oy)
    np.savez(tmp_path / "new.npz", images=ox[:, :6, :6], label=oy)
    with pytest.raises(MalformedInput, match="images are"):
        diff(str(tmp_path / "old.npz"), str(tmp_path / "new.npz"), DiffOptions())


def test_npz_versions_end_to_end(tmp_path: Path) -> None:
    ox, oy, nx, ny, relabelled, _ = digit_versions(relabel=0.03, n_old=200, n_total=260)
    np.savez(tmp_path / "old.npz", images=ox, label=oy)
    np.savez(tmp_path / "new.npz", images=nx, label=ny)
    report = diff(str(tmp_path / "old.npz"), str(tmp_path / "new.npz"), DiffOptions())
    assert dict(report.extra)["diff_relabelled"] == str(len(relabelled))
    assert len(report.scanned) == 2 and report.complete
    assert_fires(report, "DAT301")


def test_hostile_duplicates_match_in_linear_time() -> None:
    n = 50_000
    m = match_rows([b"x"] * n, ["0"] * n, [b"x"] * n, ["1"] * (n // 2) + ["0"] * (n // 2))
    assert m.counts() == {"added": 0, "removed": 0, "unchanged": n // 2, "relabelled": n // 2, "modified": 0}


def test_empty_texts_and_one_label_do_not_crash() -> None:
    old = _text_ds("old", [""] * 30, np.array([0, 1] * 15))
    new = _text_ds("new", [""] * 30 + ["", "", ""], np.array([0, 1] * 15 + [1, 1, 1]))
    findings, m = diff_datasets(old, new, DiffOptions(text="text"))
    assert m.counts()["added"] == 3
    one = _text_ds("new", ["a b", "c d", "e f", "g h"], np.array([0, 0, 0, 0]))
    findings, _ = diff_datasets(_text_ds("old", ["a b", "c d"], np.array([0, 1])), one, DiffOptions(text="text"))
    assert_fires(findings, "DAT301")


def test_mixed_formats_csv_against_jsonl(tmp_path: Path) -> None:
    v = text_versions(relabel=0.05, seed=6, n_old=100)
    old = _csv(tmp_path / "v1.csv", v.old, v.old_labels)
    with (tmp_path / "v2.jsonl").open("w") as fh:
        for t, y in zip(v.new, v.new_labels, strict=True):
            fh.write(json.dumps({"text": t, "label": int(y)}) + "\n")
    report = diff(old, str(tmp_path / "v2.jsonl"), DiffOptions(text="text"))
    assert dict(report.extra)["diff_relabelled"] == str(len(v.relabelled))
    assert all(f.location.path.endswith("v2.jsonl") for f in report.findings)


def test_corrections_toward_the_content_are_low() -> None:
    v = text_versions(seed=7, n_old=300)
    spam = np.flatnonzero(v.old_labels == 1)[:12]
    wrong = v.old_labels.copy()
    wrong[spam] = 0  # the old version had these spam messages labelled ham; the new one fixes them
    findings, m = diff_datasets(_text_ds("old", v.old, wrong), _text_ds("new", v.new, v.new_labels), DiffOptions(text="text"))
    assert m.counts()["relabelled"] == 12
    found = assert_fires(findings, "DAT301")
    assert all(f.severity == Severity.LOW for f in found), [(f.severity, f.message) for f in found]
    assert all(dict(f.evidence)["p_new_label"] >= 0.5 for f in found if f.location.row is not None)
