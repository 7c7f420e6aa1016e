"""Loaders: every format to columns, clear errors, no unpickling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trojanguard.data.loaders import load_dataset
from trojanguard.errors import InputError, LimitExceeded, MalformedInput


def test_csv_infers_numbers_and_text(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("text,label,f1\nhello there,1,0.5\nbye,0,2\n")
    ds = load_dataset(p)
    assert ds.rows == 2
    assert ds.column("f1").dtype == np.float64
    assert ds.text("text") == ["hello there", "bye"]
    assert list(ds.labels("label")) == ["1", "0"]


def test_missing_column_names_what_exists(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no column 'label'.*a, b"):
        load_dataset(p).column("label")


def test_empty_and_ragged_csv(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("a,b\n")
    with pytest.raises(MalformedInput, match="empty"):
        load_dataset(p)
    p.write_text("a,b\n1,2,3\n")
    with pytest.raises(MalformedInput, match="3 fields"):
        load_dataset(p)


def test_jsonl_mixed_types_and_non_objects(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text('{"x": 1, "label": "a"}\n{"x": "two", "label": "b"}\n')
    with pytest.raises(MalformedInput, match="mixed types"):
        load_dataset(p)
    p.write_text("[1, 2]\n")
    with pytest.raises(MalformedInput, match="not an object"):
        load_dataset(p)
    p.write_text("{" * 100000 + "\n")
    with pytest.raises(MalformedInput):
        load_dataset(p)


def test_numeric_column_with_text_is_mixed(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("f,label\n1,a\nx,b\n")
    with pytest.raises(MalformedInput, match="mixed types: 'x' at row 1"):
        load_dataset(p).numeric("f")


def test_row_limit(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"a": i}) + "\n" for i in range(10)))
    with pytest.raises(LimitExceeded):
        load_dataset(p, max_rows=5)


def test_npz_refuses_object_arrays(tmp_path: Path) -> None:
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((4, 8, 8)), y=np.arange(4))
    ds = load_dataset(p)
    assert ds.images is not None and ds.images.shape == (4, 8, 8)
    np.savez(p, y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(MalformedInput, match="refused"):
        load_dataset(p)


def test_parquet_and_hf_arrow_dir(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"text": ["a b", "c d", "e"], "label": [0, 1, 0]})
    pq.write_table(table, tmp_path / "d.parquet")
    assert load_dataset(tmp_path / "d.parquet").rows == 3
    hf = tmp_path / "hf"
    hf.mkdir()
    with pa.OSFile(str(hf / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    (hf / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    ds = load_dataset(hf)
    assert list(ds.labels("label")) == ["0", "1", "0"]
    (hf / "state.json").write_text(json.dumps({"_data_files": [{"filename": "../../etc/passwd"}]}))
    with pytest.raises(MalformedInput):
        load_dataset(hf)


def test_image_folder(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            image.fromarray(np.full((6, 6), 40 * i, dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dog" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(MalformedInput, match="unreadable"):
        load_dataset(tmp_path)
    (tmp_path / "dog" / "bad.png").unlink()
    ds = load_dataset(tmp_path)
    assert ds.images is not None and ds.images.shape == (4, 6, 6)
    assert list(ds.labels("label")) == ["cat", "cat", "dog", "dog"]


def test_jsonl_with_a_new_key_per_line_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each new key back-fills a column as long as the file so far: capped, not quadratic memory."""
    from trojanguard.data import loaders

    monkeypatch.setattr(loaders, "MAX_COLUMNS", 64)  # the real cap (4096) works alike, only slower to build
    p = tmp_path / "keys.jsonl"
    p.write_text("".join(json.dumps({f"k{i}": i, "label": 1}) + "\n" for i in range(100)))
    with pytest.raises(LimitExceeded, match="distinct columns"):
        load_dataset(p)


def test_csv_streams_many_rows_into_typed_columns(tmp_path: Path) -> None:
    p = tmp_path / "big.csv"
    with p.open("w") as fh:
        fh.write("text,label,x\n")
        fh.writelines(f"message number {i},{i % 2},{i * 0.5}\n" for i in range(20_000))
    ds = load_dataset(p)
    assert ds.rows == 20_000
    assert ds.column("x").dtype == np.float64 and ds.column("x")[-1] == 19_999 * 0.5
    assert ds.text("text")[3] == "message number 3"
    with pytest.raises(LimitExceeded):
        load_dataset(p, max_rows=19_999)


def test_npz_that_is_not_a_zip_or_declares_too_much_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trojanguard.data import loaders

    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(MalformedInput, match="malformed .npz"):
        load_dataset(junk)
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, images=np.zeros((64, 32, 32)), label=np.arange(64) % 2)
    monkeypatch.setattr(loaders, "MAX_NPZ_BYTES", 100_000)  # the members inflate to ~525 kB
    with pytest.raises(LimitExceeded, match="declare"):
        load_dataset(bomb)
