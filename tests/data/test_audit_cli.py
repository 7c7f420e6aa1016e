"""``trojanguard data audit`` end to end: CSV in, scan renderers and exit codes out; ``--html``; ``--images DIR``."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from builders.audit_images import image_table, write_png
from builders.poison_images import badnets, digits
from builders.poisoned_data import synthetic_text, text_trigger
from trojanguard.cli import main
from trojanguard.data.audit import AuditOptions, load_for_audit

pytest.importorskip("sklearn")
pytest.importorskip("cleanlab")
pytest.importorskip("PIL")

HOSTILE = "</script><script>alert(1)</script>"


def _csv(path: Path, texts: list[str], labels: object, *, sources: list[str] | None = None) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        extra = ["source", "ts"] if sources else []
        w.writerow(["text", "label", *extra])
        for i, (t, y) in enumerate(zip(texts, labels, strict=True)):  # type: ignore[call-overload]
            w.writerow([t, y, *([sources[i], 1000 + 60 * i] if sources else [])])


def _fails(args: list[str], capsys: pytest.CaptureFixture[str], needle: str) -> None:
    """Exit 2 and exactly one line on stderr that says ``needle``."""
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err, err


def test_audit_json_rows_exit_code_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts, y = synthetic_text(600, seed=1)
    poisoned, labels, rows = text_trigger(texts, y, 0.05, seed=2)
    poisoned[int(rows[0])] = HOSTILE + " " + poisoned[int(rows[0])]  # a flagged row: its text is in the table
    _csv(tmp_path / "d.csv", poisoned, labels, sources=[f"user{i % 25}" for i in range(600)])
    page = tmp_path / "audit.html"
    code = main(["data", "audit", str(tmp_path / "d.csv"), "--text", "text", "--source", "source", "--time", "ts",
                 "-f", "json", "--html", str(page)])
    assert code == 1
    captured = capsys.readouterr()
    out = json.loads(captured.out)  # progress never mixes into the report
    stages = [line for line in captured.err.splitlines() if line.startswith("trojanguard: data audit: ")]
    assert any("600 text rows" in line and "out-of-fold proxy" in line for line in stages)
    assert any("trigger search" in line for line in stages) and any("feedback sources" in line for line in stages)
    flagged = {f["row"] for f in out["findings"] if f["rule_id"] == "DAT010" and f["row"] is not None}
    assert flagged == {int(r) for r in rows}
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "&lt;/script&gt;&lt;script&gt;" in html
    assert 'class="timeline"' in html and 'class="tokens"' in html and 'class="ranked"' in html


def test_audit_missing_column_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts, y = synthetic_text(60, seed=1)
    _csv(tmp_path / "d.csv", texts, y)
    _fails(["data", "audit", str(tmp_path / "d.csv"), "--text", "nope"], capsys, "no column 'nope'")


def test_html_into_missing_directory_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts, y = synthetic_text(60, seed=1)
    _csv(tmp_path / "d.csv", texts, y)
    _fails(["data", "audit", str(tmp_path / "d.csv"), "--text", "text", "--html", str(tmp_path / "no" / "a.html")],
           capsys, "does not exist")


# --- --images DIR ------------------------------------------------------------------------------

def _digits_table(tmp_path: Path, n: int, rate: float = 0.0) -> tuple[Path, np.ndarray]:
    x, y = digits()
    x, y = x[:n], y[:n]
    rows = np.zeros(0, dtype=np.int64)
    if rate:
        x, y, rows = badnets(x, y, rate, seed=1)
    return image_table(tmp_path, x, list(y)), rows


def test_images_dir_column_is_guessed_and_audited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table, _ = _digits_table(tmp_path, 80)
    page = tmp_path / "a.html"
    code = main(["data", "audit", str(table), "--label", "label", "--images", str(tmp_path / "images"), "-f", "json",
                 "--html", str(page)])
    assert code in (0, 1)
    assert json.loads(capsys.readouterr().out)["schema_version"]
    assert "80 rows of images" in page.read_text(encoding="utf-8")


@pytest.mark.slow
def test_images_dir_badnets_rows_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table, rows = _digits_table(tmp_path, 600, rate=0.05)
    code = main(["data", "audit", str(table), "--images", str(tmp_path / "images"), "--image-column", "file", "-f", "json"])
    assert code == 1
    found = {f["row"] for f in json.loads(capsys.readouterr().out)["findings"] if f["rule_id"] == "DAT103"}
    assert found == {int(r) for r in rows}


def test_images_dir_mixed_sizes_are_resized_to_the_common_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 255, (8, 8)) for _ in range(5)]
    table = image_table(tmp_path, np.zeros((6, 8, 8)), [0, 1, 0, 1, 0, 1], write=False)
    for i, img in enumerate(images):
        write_png(tmp_path / "images" / f"cls{i % 2}" / f"img{i:05d}.png", img)
    write_png(tmp_path / "images" / "cls1" / "img00005.png", rng.uniform(0, 255, (16, 12)))
    ds = load_for_audit(str(table), AuditOptions(images_dir=str(tmp_path / "images")))
    assert ds.images is not None and ds.images.shape == (6, 8, 8)


def _small_table(tmp_path: Path, names: list[str]) -> Path:
    for i in range(3):
        write_png(tmp_path / "images" / f"ok{i}.png", np.full((4, 4), 10.0 * (i + 1)))
    return image_table(tmp_path, np.zeros((len(names), 4, 4)), [i % 2 for i in range(len(names))], names=names, write=False)


@pytest.mark.parametrize("bad", ["../outside.png", "/etc/passwd", "sub/../../outside.png"])
def test_images_dir_refuses_names_outside_the_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    write_png(tmp_path / "outside.png", np.ones((4, 4)))
    table = _small_table(tmp_path, ["ok0.png", "ok1.png", bad, "ok2.png"])
    args = ["data", "audit", str(table), "--images", str(tmp_path / "images")]
    _fails([*args, "--image-column", "file"], capsys, "must be a relative path inside the directory")
    _fails(args, capsys, "no column names image files")  # the guess never picks a column that escapes


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_images_dir_refuses_symlinks_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_png(tmp_path / "outside.png", np.ones((4, 4)))
    table = _small_table(tmp_path, ["ok0.png", "ok1.png", "link.png", "ok2.png"])
    (tmp_path / "images" / "link.png").symlink_to(tmp_path / "outside.png")
    _fails(["data", "audit", str(table), "--images", str(tmp_path / "images")], capsys, "resolves outside the directory")


def test_images_dir_missing_and_undecodable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = _small_table(tmp_path, ["ok0.png", "ok1.png", "gone.png", "ok2.png"])
    args = ["data", "audit", str(table), "--images", str(tmp_path / "images"), "--image-column", "file"]
    _fails(args, capsys, "'gone.png' at row 2 is missing")
    (tmp_path / "images" / "gone.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    _fails(args, capsys, "unreadable image")


def test_images_option_misuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = _small_table(tmp_path, ["ok0.png", "ok1.png", "ok2.png", "ok0.png"])
    _fails(["data", "audit", str(table), "--image-column", "file"], capsys, "--image-column needs --images DIR")
    _fails(["data", "audit", str(table), "--images"], capsys, "not an image folder or image .npz")
    _fails(["data", "audit", str(table), "--images", str(tmp_path / "nowhere")], capsys, "not a directory")
    _fails(["data", "audit", str(table), "--images", str(tmp_path / "images"), "--text", "note"], capsys,
           "cannot be combined")
    rows = table.read_text().splitlines()  # a second column naming the same files makes the guess ambiguous
    table.write_text("\n".join([rows[0] + ",copy"] + [r + "," + r.split(",")[0] for r in rows[1:]]) + "\n")
    _fails(["data", "audit", str(table), "--images", str(tmp_path / "images")], capsys, "pick one with --image-column")


def test_quiet_audit_prints_no_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts, y = synthetic_text(200, seed=3)
    _csv(tmp_path / "q.csv", texts, y)
    main(["data", "audit", str(tmp_path / "q.csv"), "--text", "text", "-q", "-f", "json"])
    captured = capsys.readouterr()
    assert json.loads(captured.out)["findings"] is not None and captured.err == ""


def test_library_warnings_stay_off_stderr(tmp_path: Path) -> None:
    """A class of one row makes cleanlab warn ("too few examples"): shown with TROJANGUARD_DEBUG=1,
    dropped otherwise (stderr keeps to errors and progress).  A subprocess: pytest captures warnings."""
    import subprocess
    import sys

    texts, y = synthetic_text(120, seed=4)
    labels = ["ham" if v == 0 else "spam" for v in y]
    labels[:1] = ["rare"]
    _csv(tmp_path / "w.csv", texts, labels)
    cmd = [sys.executable, "-m", "trojanguard", "data", "audit", str(tmp_path / "w.csv"), "--text", "text", "-q", "-f", "json"]
    env = {k: v for k, v in os.environ.items() if k not in ("TROJANGUARD_DEBUG", "PYTHONWARNINGS")}
    quiet = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    loud = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**env, "TROJANGUARD_DEBUG": "1"}, check=False)
    assert quiet.returncode in (0, 1) and json.loads(quiet.stdout)["findings"] is not None
    assert "Warning" in loud.stderr and "Warning" not in quiet.stderr
