"""Repository analyzer: auto_map, shipped Python (ast only), obfuscation, redundant pickle weights."""

from __future__ import annotations

from pathlib import Path

from builders import repo_files as rf
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.model import Severity
from trojanguard.scanner import scan

AUTO = {"AutoModel": "modeling_my.MyModel", "AutoConfig": "configuration_my.MyConfig"}


def test_clean_repo_without_auto_map_is_silent(tmp_path: Path) -> None:
    rf.write_repo(tmp_path, {"config.json": rf.config(), "model.safetensors": b"\x00" * 8,
                             "tokenizer_config.json": {"model_max_length": 512}})
    report = scan([str(tmp_path)])
    assert_silent(report, "REP001")
    assert_silent(report, "REP002")
    assert_silent(report, "REP003")
    assert_silent(report, "REP004")


def test_auto_map_reports_remote_code_and_analyses_the_module(tmp_path: Path) -> None:
    rf.write_repo(tmp_path, {"config.json": rf.config(AUTO), "modeling_my.py": rf.EVIL_MODELING})
    report = scan([str(tmp_path)])
    assert_fires(report, "REP001", contains="modeling_my")
    assert_fires(report, "REP002", min_severity=Severity.CRITICAL, contains="os.system")
    assert_fires(report, "REP002", contains="subprocess.run")
    assert_fires(report, "REP002", min_severity=Severity.CRITICAL, contains="urllib.request.urlopen() at import time")


def test_clean_modeling_file_is_silent(tmp_path: Path) -> None:
    rf.write_repo(tmp_path, {"config.json": rf.config(AUTO), "modeling_my.py": rf.CLEAN_MODELING})
    report = scan([str(tmp_path)])
    assert_fires(report, "REP001")
    assert_silent(report, "REP002")
    assert_silent(report, "REP003")


def test_unreferenced_file_is_reported_lower() -> None:
    found = assert_fires(scan_bytes(rf.EVIL_MODELING.encode(), "helper.py"), "REP002", contains="os.system")
    assert max(f.severity for f in found) <= Severity.HIGH
    assert all("not referenced" in f.message for f in found)


def test_remote_repo_reference_is_high(tmp_path: Path) -> None:
    cfg = rf.config({"AutoModel": "other-org/other-repo--modeling_x.Model"})
    rf.write_repo(tmp_path, {"config.json": cfg})
    assert_fires(scan([str(tmp_path)]), "REP001", min_severity=Severity.HIGH, contains="other-org/other-repo")


def test_tokenizer_auto_map_list_form(tmp_path: Path) -> None:
    tok = {"auto_map": {"AutoTokenizer": ["tokenization_my.MyTokenizer", None]}}
    rf.write_repo(tmp_path, {"tokenizer_config.json": tok, "tokenization_my.py": rf.OBFUSCATED})
    report = scan([str(tmp_path)])
    assert_fires(report, "REP001", contains="tokenization_my")
    assert_fires(report, "REP003", min_severity=Severity.CRITICAL, contains="zlib.decompress")


def test_obfuscation_unreferenced_is_high_and_plain_exec_is_not_obfuscation() -> None:
    found = assert_fires(scan_bytes(rf.OBFUSCATED.encode(), "x.py"), "REP003")
    assert all(f.severity == Severity.HIGH for f in found)
    assert_silent(scan_bytes(b"exec('print(1)')\n", "y.py"), "REP003")


def test_redundant_pickle_weights(tmp_path: Path) -> None:
    rf.write_repo(tmp_path, {"config.json": rf.config(), "model.safetensors": b"\x00" * 8,
                             "pytorch_model.bin": b"\x00" * 8})
    report = scan([str(tmp_path)])
    assert_fires(report, "REP004", contains="pytorch_model.bin")
    other = tmp_path / "only-safe"
    rf.write_repo(other, {"config.json": rf.config(), "model.safetensors": b"\x00" * 8})
    clean = scan([str(other)])
    assert_silent(clean, "REP004")


def test_hugging_face_cache_layout(tmp_path: Path) -> None:
    rf.write_hf_cache(tmp_path, "org/name", {"config.json": rf.config(AUTO), "modeling_my.py": rf.EVIL_MODELING})
    report = scan([str(tmp_path)])
    assert_fires(report, "REP001", contains="modeling_my")
    found = assert_fires(report, "REP002", min_severity=Severity.CRITICAL, contains="os.system")
    assert any("snapshots" in f.location.path and f.location.path.endswith("modeling_my.py") for f in found)


def test_hostile_python_and_json_never_crash(tmp_path: Path) -> None:
    cases = {"a.py": b"def (:\n", "b.py": b"(" * 5000 + b")" * 5000, "c.py": b"\xff\xfe\x00bad",
             "config.json": b"{" * 100 + b"}" * 100}
    rf.write_repo(tmp_path, cases)
    report = scan([str(tmp_path)])
    assert all(e.kind != "internal" for e in report.errors), report.errors
    rf.write_repo(tmp_path / "x", {"config.json": {"auto_map": {"AutoModel": 5, "B": ["..", None], "C": "nodot"}}})
    report = scan([str(tmp_path / "x")])
    assert all(e.kind != "internal" for e in report.errors), report.errors


def test_dynamic_import_and_getattr_chains_are_resolved() -> None:
    source = b'__import__("os").system("id")\ngetattr(__import__("subprocess"), "run")(["id"])\n'
    result = scan_bytes(source, "trick.py")
    assert_fires(result, "REP002", contains="os.system")
    assert_fires(result, "REP002", contains="subprocess.run")
