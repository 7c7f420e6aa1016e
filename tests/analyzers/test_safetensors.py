"""safetensors analyzer: real files clean, hostile headers reported, tensor bytes never read."""

from __future__ import annotations

import io
import struct

from builders.safetensors_files import hand_built, raw, real_file, tensor
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.analyzers.base import Context
from trojanguard.analyzers.safetensors import scan_safetensors
from trojanguard.artifact import Artifact, Budget, Limits
from trojanguard.model import Location

ALL = ("SFT001", "SFT002", "SFT003", "SFT004")


def test_real_file_is_clean() -> None:
    result = scan_bytes(real_file({"format": "pt", "note": "hello"}), "model.safetensors")
    for rule in ALL:
        assert_silent(result, rule)
    assert not result[1]
    assert result[2][-1].format == "safetensors"


def test_header_length_past_end_of_file() -> None:
    data = raw('{"a": 1}', length=10_000)
    assert_fires(scan_bytes(data, "m.safetensors"), "SFT001", contains="past the end")


def test_absurd_header_size_is_limit_not_allocation() -> None:
    data = struct.pack("<Q", 1 << 40) + b'{"x": {"dtype": "F32"}}'
    result = scan_bytes(data, "m.safetensors")
    assert_fires(result, "SFT003")
    small = Limits(max_in_memory=16)
    assert_fires(scan_bytes(real_file(), "m.safetensors", limits=small), "SFT003")
    assert_silent(scan_bytes(real_file(), "m.safetensors"), "SFT003")


def test_not_json_and_not_object() -> None:
    assert_fires(scan_bytes(raw('{"a": nope}'), "m.safetensors"), "SFT001", contains="not valid")
    assert_fires(scan_bytes(raw('{"a": "\xff'.encode("latin-1") + b'"}'), "m.safetensors"), "SFT001")


def test_duplicate_keys() -> None:
    header = ('{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},'
              ' "w": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}')
    result = scan_bytes(raw(header, b"ab"), "m.safetensors")
    assert_fires(result, "SFT004", contains="'w'")
    assert_silent(scan_bytes(real_file(), "m.safetensors"), "SFT004")


def test_metadata_must_be_str_to_str() -> None:
    data = hand_built({"a": tensor("U8", [2], 0, 2)}, b"ab", metadata={"n": 3})
    assert_fires(scan_bytes(data, "m.safetensors"), "SFT001", contains="__metadata__")
    data = hand_built({"a": tensor("U8", [2], 0, 2)}, b"ab", metadata=["x"])
    assert_fires(scan_bytes(data, "m.safetensors"), "SFT001", contains="__metadata__")
    ok = hand_built({"a": tensor("U8", [2], 0, 2)}, b"ab", metadata={"n": "3"})
    assert_silent(scan_bytes(ok, "m.safetensors"), "SFT001")


def test_overlap_gap_overrun_trailing() -> None:
    overlap = hand_built({"a": tensor("U8", [4], 0, 4), "b": tensor("U8", [4], 2, 6)}, b"x" * 6)
    assert_fires(scan_bytes(overlap, "m.safetensors"), "SFT002", contains="overlaps")
    gap = hand_built({"a": tensor("U8", [2], 0, 2), "b": tensor("U8", [2], 4, 6)}, b"x" * 6)
    assert_fires(scan_bytes(gap, "m.safetensors"), "SFT002", contains="unreferenced")
    overrun = hand_built({"a": tensor("U8", [8], 0, 8)}, b"x" * 4)
    assert_fires(scan_bytes(overrun, "m.safetensors"), "SFT002", contains="data section")
    trailing = hand_built({"a": tensor("U8", [2], 0, 2)}, b"x" * 2 + b"PK\x03\x04hidden")
    assert_fires(scan_bytes(trailing, "m.safetensors"), "SFT002", contains="trailing")
    tiled = hand_built({"a": tensor("U8", [2], 0, 2), "b": tensor("F32", [1], 2, 6)}, b"x" * 6)
    assert_silent(scan_bytes(tiled, "m.safetensors"), "SFT002")


def test_dtype_and_shape_checks() -> None:
    mismatch = hand_built({"a": tensor("F32", [2, 2], 0, 4)}, b"x" * 4)
    assert_fires(scan_bytes(mismatch, "m.safetensors"), "SFT002", contains="needs 16 bytes")
    unknown = hand_built({"a": tensor("F128", [1], 0, 4)}, b"x" * 4)
    assert_fires(scan_bytes(unknown, "m.safetensors"), "SFT002", contains="unknown dtype")
    negative = hand_built({"a": tensor("U8", [-1], 0, 4)}, b"x" * 4)
    assert_fires(scan_bytes(negative, "m.safetensors"), "SFT002", contains="shape")
    reversed_ = hand_built({"a": tensor("U8", [1], 4, 0)}, b"x" * 4)
    assert_fires(scan_bytes(reversed_, "m.safetensors"), "SFT002", contains="ends before")
    bad_offsets = hand_built({"a": {"dtype": "U8", "shape": [1], "data_offsets": ["0", 1]}}, b"x")
    assert_fires(scan_bytes(bad_offsets, "m.safetensors"), "SFT002")
    huge = hand_built({"a": tensor("F32", [1 << 40, 1 << 40], 0, 4)}, b"x" * 4)
    assert_fires(scan_bytes(huge, "m.safetensors"), "SFT002")


class _CountingReader(io.BytesIO):
    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        _CountingReader.read_bytes += len(data)
        return data


def test_tensor_bytes_are_never_read() -> None:
    import numpy as np
    from safetensors.numpy import save

    data = save({"big": np.zeros(4 << 20, dtype=np.uint8)})
    _CountingReader.read_bytes = 0
    artifact = Artifact(Location("big.safetensors"), "big.safetensors", lambda: _CountingReader(data), len(data))
    findings = list(scan_safetensors(artifact, Context(Limits(), Budget(Limits()))))
    assert findings == []
    assert _CountingReader.read_bytes < 1024


def test_truncated_and_mutated_inputs_never_crash() -> None:
    base = real_file()
    for cut in range(0, 120, 3):
        result = scan_bytes(base[:cut], "m.safetensors")
        assert all(e.kind != "internal" for e in result[1]), result[1]
    for i in range(0, 120):
        mutated = bytearray(base)
        mutated[i] ^= 0xFF
        result = scan_bytes(bytes(mutated), "m.safetensors")
        assert all(e.kind != "internal" for e in result[1]), result[1]
