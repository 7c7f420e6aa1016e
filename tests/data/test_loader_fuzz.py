"""Hostile bytes behind every data format the loaders accept end in a trojanguard error, never another exception.

Seeds are small valid files of each format; hypothesis truncates them, flips bytes and splices junk in.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trojanguard.data.loaders import load_dataset
from trojanguard.errors import Error


def _seeds() -> dict[str, bytes]:
    rows = [{"text": f"message {i} free prize" if i % 3 else f"see you at {i}", "label": "spam" if i % 3 else "ham"}
            for i in range(12)]
    csv = "text,label\n" + "".join(f'"{r["text"]}",{r["label"]}\n' for r in rows)
    jsonl = "".join(json.dumps(r) + "\n" for r in rows)
    npz = io.BytesIO()
    np.savez(npz, images=np.arange(12 * 16, dtype=np.float32).reshape(12, 4, 4), label=np.arange(12) % 2)
    seeds = {".csv": csv.encode(), ".jsonl": jsonl.encode(), ".npz": npz.getvalue()}
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"text": [r["text"] for r in rows], "label": [r["label"] for r in rows]})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        seeds[".parquet"] = buf.getvalue()
        sink = io.BytesIO()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        seeds[".arrow"] = sink.getvalue()
    except ImportError:  # the data extra is installed in CI; without pyarrow the loaders refuse these formats anyway
        pass
    return seeds


SEEDS = _seeds()


@st.composite
def _mutants(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[suffix])
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["truncate", "flip", "splice"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if action == "truncate":
            del data[at:]
        elif action == "flip":
            data[at] ^= draw(st.integers(1, 255))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return suffix, bytes(data)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutants())
def test_mutated_data_files_end_in_a_trojanguard_error(tmp_path: Path, case: tuple[str, bytes]) -> None:
    suffix, data = case
    path = tmp_path / f"d{suffix}"
    path.write_bytes(data)
    try:
        load_dataset(path)
    except Error:
        pass


def _png(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 200), st.integers(1, 255), st.sampled_from(["truncate", "flip", "junk"]))
def test_mutated_image_in_a_folder_ends_in_a_trojanguard_error(tmp_path_factory: pytest.TempPathFactory, at: int,
                                                                xor: int, action: str) -> None:
    pytest.importorskip("PIL")
    root = tmp_path_factory.mktemp("imgs")
    for label in ("cat", "dog"):
        (root / label).mkdir()
        for i in range(2):
            (root / label / f"{i}.png").write_bytes(_png(40 * i + (100 if label == "dog" else 0)))
    victim = root / "dog" / "1.png"
    data = bytearray(victim.read_bytes())
    at %= len(data)
    if action == "truncate":
        del data[at:]
    elif action == "flip":
        data[at] ^= xor
    else:
        data[at:at] = bytes([xor]) * 64
    victim.write_bytes(bytes(data))
    try:
        load_dataset(root)
    except Error:
        pass
