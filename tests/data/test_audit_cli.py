"""``trojanguard data audit`` end to end: CSV in, scan renderers and exit codes out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from builders.poisoned_data import synthetic_text, text_trigger
from trojanguard.cli import main

pytest.importorskip("sklearn")
pytest.importorskip("cleanlab")


def _csv(path: Path, texts: list[str], labels: object) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels, strict=True))  # type: ignore[call-overload]


def test_audit_json_rows_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts, y = synthetic_text(600, seed=1)
    poisoned, labels, rows = text_trigger(texts, y, 0.05, seed=2)
    _csv(tmp_path / "d.csv", poisoned, labels)
    code = main(["data", "audit", str(tmp_path / "d.csv"), "--text", "text", "-f", "json"])
    assert code == 1
    out = json.loads(capsys.readouterr().out)
    flagged = {f["row"] for f in out["findings"] if f["rule_id"] == "DAT010" and f["row"] is not None}
    assert flagged == {int(r) for r in rows}


def test_audit_missing_column_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts, y = synthetic_text(60, seed=1)
    _csv(tmp_path / "d.csv", texts, y)
    assert main(["data", "audit", str(tmp_path / "d.csv"), "--text", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
