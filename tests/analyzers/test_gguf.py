"""GGUF/GGML analyzer: bounded header parsing, chat-template injection, real templates clean."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from builders.gguf_files import (
    BENIGN_TEMPLATES,
    CHATML,
    MALICIOUS_TEMPLATES,
    gguf_file,
    kv_f32_array,
    kv_string,
    kv_string_array,
    model_with_template,
    tensor_info,
)
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.analyzers.base import Context
from trojanguard.analyzers.gguf import GgufAnalyzer
from trojanguard.artifact import Artifact, Budget, Limits
from trojanguard.model import Location, Severity

RULES = ("GGF001", "GGF002", "GGF003", "GGF004", "GGF005", "GGF006")


@pytest.mark.parametrize("name", sorted(BENIGN_TEMPLATES))
def test_real_chat_templates_are_clean(name: str) -> None:
    result = scan_bytes(model_with_template(BENIGN_TEMPLATES[name]), "model.gguf")
    for rule in RULES:
        assert_silent(result, rule)
    assert not result[1], result[1]


@pytest.mark.parametrize("name", sorted(MALICIOUS_TEMPLATES))
def test_malicious_templates_fire(name: str) -> None:
    result = scan_bytes(model_with_template(MALICIOUS_TEMPLATES[name]), "model.gguf")
    assert_fires(result, "GGF001", min_severity=Severity.HIGH)


def test_ghsa_56xg_payload_is_critical() -> None:
    result = scan_bytes(model_with_template(MALICIOUS_TEMPLATES["ghsa-56xg"]), "model.gguf")
    assert_fires(result, "GGF001", min_severity=Severity.CRITICAL, contains="__subclasses__")
    assert_fires(result, "GGF002", contains="'os'")


def test_gguf_v1_and_v2_are_parsed() -> None:
    for version in (1, 2):
        evil = scan_bytes(model_with_template(MALICIOUS_TEMPLATES["mro"], version=version), "m.gguf")
        assert_fires(evil, "GGF001")
        clean = scan_bytes(model_with_template(CHATML, version=version), "m.gguf")
        assert_silent(clean, "GGF001")
        assert_silent(clean, "GGF004")


def test_real_gguf_writer_file_is_clean(tmp_path: Path) -> None:
    import numpy as np
    from gguf import GGUFWriter

    path = tmp_path / "real.gguf"
    writer = GGUFWriter(str(path), "llama")
    writer.add_chat_template(BENIGN_TEMPLATES["qwen2.5-tools"])
    writer.add_token_list(["<s>", "</s>", "a"])
    writer.add_tensor("w", np.zeros((8, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    result = scan_bytes(path.read_bytes(), "real.gguf")
    for rule in RULES:
        assert_silent(result, rule)
    assert not result[1]


def test_other_template_like_strings_and_suspicious_filters() -> None:
    kvs = [kv_string("tokenizer.chat_template.tool_use", "{{ messages|evilfilter }}"),
           kv_string("general.description", "{{ cycler.__init__.__globals__ }}")]
    result = scan_bytes(gguf_file(kvs), "m.gguf")
    assert_fires(result, "GGF002", contains="evilfilter")
    assert_fires(result, "GGF001", contains="general.description")
    assert_silent(scan_bytes(gguf_file([kv_string("general.description", "plain text")]), "m.gguf"), "GGF002")


def test_unparsable_template() -> None:
    result = scan_bytes(model_with_template("{% for x in %}"), "m.gguf")
    assert_fires(result, "GGF003")
    assert_silent(scan_bytes(model_with_template(CHATML), "m.gguf"), "GGF003")


def test_absurd_counts_are_findings() -> None:
    assert_fires(scan_bytes(gguf_file(tensor_count=1 << 63), "m.gguf"), "GGF004", contains="tensor_count")
    assert_fires(scan_bytes(gguf_file(kv_count=1 << 62), "m.gguf"), "GGF004", contains="kv_count")
    huge_array = b"\x00" * 0
    bad_array = gguf_file([kv_string_array("tokenizer.ggml.tokens", ["a"])[:-9] + struct.pack("<Q", 1 << 60)])
    assert_fires(scan_bytes(bad_array + huge_array, "m.gguf"), "GGF004")
    bad_version = b"GGUF" + struct.pack("<I", 99) + b"\x00" * 16
    assert_fires(scan_bytes(bad_version, "m.gguf"), "GGF004", contains="version")
    assert_silent(scan_bytes(model_with_template(CHATML), "m.gguf"), "GGF004")


def test_truncated_and_mutated_files_never_crash() -> None:
    base = model_with_template(BENIGN_TEMPLATES["gemma"])
    for cut in range(0, len(base), 7):
        result = scan_bytes(base[:cut], "m.gguf")
        assert all(e.kind != "internal" for e in result[1]), result[1]
    for i in range(0, 200):
        mutated = bytearray(base)
        mutated[i] ^= 0xA5
        result = scan_bytes(bytes(mutated), "m.gguf")
        assert all(e.kind != "internal" for e in result[1]), result[1]


def test_tensor_offsets_beyond_file() -> None:
    tensors = [tensor_info("w", [1024, 1024], 0, 0)]
    result = scan_bytes(gguf_file([kv_string("general.name", "x")], tensors, b"\x00" * 64), "m.gguf")
    assert_fires(result, "GGF005", contains="past the end")
    unknown = scan_bytes(gguf_file([], [tensor_info("w", [4], 999, 0)], b"\x00" * 64), "m.gguf")
    assert_fires(unknown, "GGF005", contains="unknown ggml type")
    assert_silent(scan_bytes(model_with_template(CHATML), "m.gguf"), "GGF005")


def test_oversized_metadata_string() -> None:
    big = kv_string("general.description", "x" * 4096)
    result = scan_bytes(gguf_file([big]), "m.gguf", limits=Limits(max_in_memory=1024))
    assert_fires(result, "GGF006", contains="general.description")
    assert_silent(scan_bytes(gguf_file([big]), "m.gguf"), "GGF006")
    huge_template = kv_string("tokenizer.chat_template", "{{ x }}" + "{{" * (300 << 10))
    assert_fires(scan_bytes(gguf_file([huge_template]), "m.gguf"), "GGF006", contains="not parsed")


class _Counting(io.BytesIO):
    total = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        _Counting.total += len(data)
        return data


def test_weights_and_numeric_arrays_are_not_read() -> None:
    data = gguf_file([kv_f32_array("tokenizer.ggml.scores", 1 << 20), kv_string("tokenizer.chat_template", CHATML)],
                     [tensor_info("w", [1 << 20], 0, 0)], b"\x00" * (4 << 20))
    _Counting.total = 0
    artifact = Artifact(Location("m.gguf"), "m.gguf", lambda: _Counting(data), len(data))
    findings = list(GgufAnalyzer().analyze(artifact, Context(Limits(), Budget(Limits()))))
    assert findings == []
    assert _Counting.total < 64 * 1024


def test_legacy_ggml_magics() -> None:
    assert_silent(scan_bytes(b"tjgg" + struct.pack("<I", 3) + b"\x00" * 64, "m.bin"), "GGF004")
    assert_fires(scan_bytes(b"tjgg" + struct.pack("<I", 77) + b"\x00" * 64, "m.bin"), "GGF004", contains="ggjt")
