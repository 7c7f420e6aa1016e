"""The scan loop: inputs, identification, the except-boundary, limits, scanner rules."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.analyzers import BUILTIN
from trojanguard.analyzers.base import Context, Result
from trojanguard.artifact import Artifact, Limits
from trojanguard.errors import MalformedInput
from trojanguard.formats import Format, identify
from trojanguard.model import Location, Severity, Verdict
from trojanguard.scanner import scan, scan_artifact

PROTO2_PICKLE = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."  # {'a': 1}


def _art(data: bytes, name: str) -> Artifact:
    return Artifact.from_bytes(data, Location(name), name)


def test_identify_by_content_not_name() -> None:
    assert identify(_art(PROTO2_PICKLE, "weights.safetensors")) is Format.PICKLE
    assert identify(_art(b"\x93NUMPY\x01\x00", "x.bin")) is Format.NUMPY
    assert identify(_art(b"GGUF\x03\x00\x00\x00", "x")) is Format.GGUF
    assert identify(_art(gzip.compress(b"hello"), "x.pt")) is Format.GZIP
    assert identify(_art(b"", "empty.pt")) is Format.EMPTY
    assert identify(_art(b'{"a": [1, 2]}', "config.json")) is Format.JSON
    assert identify(_art(b"[build-system]\nrequires = []\n", "pyproject.toml")) is Format.TEXT


def test_identify_zip_kinds() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", PROTO2_PICKLE)
        zf.writestr("archive/data/0", b"\0" * 16)
    assert identify(_art(buf.getvalue(), "m.pt")) is Format.TORCH_ZIP
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hi")
    assert identify(_art(buf.getvalue(), "a.zip")) is Format.ZIP


def test_extension_mismatch_pickle_named_safetensors_is_critical() -> None:
    result = scan_bytes(PROTO2_PICKLE, "model.safetensors")
    found = assert_fires(result, "SCN001")
    assert found[0].severity is Severity.CRITICAL


def test_extension_mismatch_silent_for_matching_or_unknown_extension() -> None:
    assert_silent(scan_bytes(PROTO2_PICKLE, "model.pkl"), "SCN001")
    assert_silent(scan_bytes(PROTO2_PICKLE, "model.weird-ext"), "SCN001")
    assert_silent(scan_bytes(PROTO2_PICKLE, "model"), "SCN001")


class _Exploding:
    name = "exploding"
    formats = frozenset({Format.TEXT})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        yield from ()
        raise ZeroDivisionError("boom")


class _Malformed:
    name = "malformed"
    formats = frozenset({Format.TEXT})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        raise MalformedInput("bad header", offset=7)
        yield  # pragma: no cover


def test_analyzer_crash_becomes_internal_error_not_exception() -> None:
    findings, errors, scanned = scan_artifact(_art(b"plain text\n", "a.txt"), (_Exploding(),))
    assert [e.kind for e in errors] == ["internal"]
    assert "ZeroDivisionError" in errors[0].message
    assert scanned[0].verdict is Verdict.ERROR


def test_malformed_input_becomes_scan_error_with_offset() -> None:
    _, errors, _ = scan_artifact(_art(b"plain text\n", "a.txt"), (_Malformed(),))
    assert errors[0].kind == "malformed" and errors[0].location.offset == 7


class _Russian:
    """Each artifact yields a child of itself: infinite nesting unless the scanner stops it."""

    name = "russian"
    formats = frozenset({Format.TEXT})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        yield artifact.member("inner.txt", artifact.opener, artifact.size)


def test_nesting_depth_limit_is_a_finding() -> None:
    findings, errors, _ = scan_artifact(_art(b"doll\n", "doll.txt"), (_Russian(),), Limits(max_depth=3))
    assert_fires(findings, "SCN004")
    assert any(e.kind == "limit" for e in errors)


def test_nesting_within_limit_is_silent() -> None:
    class Once(_Russian):
        def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
            if artifact.depth == 0:
                yield artifact.member("inner.txt", artifact.opener, artifact.size)

    findings, errors, _ = scan_artifact(_art(b"doll\n", "doll.txt"), (Once(),), Limits(max_depth=3))
    assert_silent(findings, "SCN004")
    assert not errors


class _Many:
    name = "many"
    formats = frozenset({Format.TEXT})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        if artifact.depth == 0:
            for i in range(50):
                yield Artifact.from_bytes(b"", artifact.location.child(str(i)), str(i), depth=1)


def test_member_count_limit_is_a_finding() -> None:
    findings, errors, _ = scan_artifact(_art(b"x\n", "x.txt"), (_Many(),), Limits(max_members=10))
    assert_fires(findings, "SCN002", contains="more than 10 members")
    assert errors


def test_member_count_within_limit_is_silent() -> None:
    findings, errors, _ = scan_artifact(_art(b"x\n", "x.txt"), (_Many(),), Limits(max_members=100))
    assert_silent(findings, "SCN002")
    assert not errors


def test_directory_walk_sorted_and_symlinks(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "b.txt").write_text("b")
    (tree / "sub" / "a.txt").write_text("a")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, tree / "escape.txt")
    os.symlink(tree / "b.txt", tree / "inside.txt")
    os.symlink(tmp_path / "nowhere", tree / "dangling")
    report = scan([str(tree)])
    found = assert_fires(report, "SCN003")
    assert sorted(Path(f.location.path).name for f in found) == ["dangling", "escape.txt"]
    names = [Path(s.location.path).name for s in report.scanned]
    assert names == ["b.txt", "a.txt"] or sorted(names) == ["a.txt", "b.txt"]
    assert "secret.txt" not in names and "inside.txt" not in names


def test_symlink_inside_tree_is_silent(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("b")
    os.symlink(tmp_path / "b.txt", tmp_path / "inside.txt")
    assert_silent(scan([str(tmp_path)]), "SCN003")


def test_missing_path_is_an_error_but_other_files_are_scanned(tmp_path: Path) -> None:
    good = tmp_path / "ok.txt"
    good.write_text("fine")
    report = scan([str(tmp_path / "missing.pt"), str(good)])
    assert [e.kind for e in report.errors] == ["input"]
    assert [s.location.path for s in report.scanned] == [str(good)]
    assert not report.complete


def test_fifo_is_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    report = scan([str(tmp_path)])
    assert any("not a regular file" in e.message for e in report.errors)


def test_nothing_scanned_is_an_error(tmp_path: Path) -> None:
    report = scan([str(tmp_path)])
    assert report.errors and "nothing scanned" in report.errors[0].message
    assert not report.complete


def test_unrecognised_binary_is_listed(tmp_path: Path) -> None:
    (tmp_path / "blob.dat").write_bytes(bytes(range(256)) * 4)
    report = scan([str(tmp_path)])
    assert [s.verdict for s in report.unrecognised] == [Verdict.UNRECOGNISED]


def test_report_is_deterministic(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"m{i}.safetensors").write_bytes(PROTO2_PICKLE)
    one = scan([str(tmp_path)], jobs=1)
    two = scan([str(tmp_path)], jobs=2)
    assert one == two


def test_builtin_registry_covers_code_carrying_formats() -> None:
    handled = {fmt for analyzer in BUILTIN for fmt in analyzer.formats}
    for fmt in (Format.PICKLE, Format.TORCH_ZIP, Format.TORCH_LEGACY, Format.NUMPY, Format.ZIP, Format.TAR, Format.GZIP):
        assert fmt in handled, fmt


def test_zip_with_prepended_pickle_is_read_as_zip_and_prefix_scanned() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hello")
    evil = b"cos\nsystem\n(S'id'\ntR."
    assert identify(_art(evil + buf.getvalue(), "m.zip")) is Format.ZIP
    result = scan_bytes(evil + buf.getvalue(), "m.zip")
    found = assert_fires(result, "PKL001")
    assert any("<prefix>" in (f.location.member or "") for f in found)
    assert_silent(scan_bytes(buf.getvalue(), "m.zip"), "PKL001")
