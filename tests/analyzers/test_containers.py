"""Containers: hostile zips (both views), tar, compressed streams, 7z, nesting and limits.

Every archive is generated in memory by ``builders.archives``.  Tests go through the full
scanner (``scan_bytes``) where the inner pickle analyzer must be reached, and call the
container analyzers directly to assert on the member artifacts they yield.
"""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from builders import archives as A
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.analyzers.base import Context
from trojanguard.analyzers.containers import (
    CompressedAnalyzer,
    SevenZipAnalyzer,
    TarAnalyzer,
    ZipAnalyzer,
    ZipEntry,
    decompressed_name,
    iter_zip_entries,
)
from trojanguard.artifact import Artifact, Budget, Limits
from trojanguard.errors import LimitExceeded, MalformedInput
from trojanguard.model import Finding, Location, ScanError, Severity

SMALL = Limits(ratio_floor=1 << 20, max_ratio=50.0)


def _ctx(limits: Limits | None = None) -> Context:
    limits = limits or Limits()
    return Context(limits=limits, budget=Budget(limits))


def _artifact(data: bytes, name: str) -> Artifact:
    return Artifact.from_bytes(data, Location(name), name)


def _run(analyzer: object, data: bytes, name: str, limits: Limits | None = None) -> list[object]:
    return list(analyzer.analyze(_artifact(data, name), _ctx(limits)))  # type: ignore[attr-defined]


def _members(results: list[object]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for r in results:
        if isinstance(r, Artifact):
            with r.open() as stream:
                out[r.location.members[-1]] = stream.read()
    return out


def _findings(results: list[object]) -> list[Finding]:
    return [r for r in results if isinstance(r, Finding)]


def _pkl001_chains(result: tuple[list[Finding], list[ScanError], list[object]]) -> set[tuple[str, ...]]:
    return {f.location.members for f in result[0] if f.rule.id == "PKL001"}


# --------------------------------------------------------------------------- zip: benign


def test_benign_zip_yields_members_and_no_arc_findings() -> None:
    data = A.benign_zip()
    result = scan_bytes(data, "docs.zip")
    assert_silent(result, "ARC001")
    assert_silent(result, "ARC002")
    assert_silent(result, "ARC003")
    assert_silent(result, "ARC004")
    assert_silent(result, "ARC005")
    assert_silent(result, "ARC006")
    assert_silent(result, "ARC007")
    assert_silent(result, "ARC008")
    assert not result[1], result[1]
    members = _members(_run(ZipAnalyzer(), data, "docs.zip"))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        expected = {n: zf.read(n) for n in zf.namelist()}
    assert members == expected


def test_zipfile_written_archive_is_clean() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/b.json", '{"x": 1}')
        zf.writestr("c.txt", "hello " * 1000, compress_type=zipfile.ZIP_LZMA)
        zf.writestr("d.txt", "bz " * 100, compress_type=zipfile.ZIP_BZIP2)
        zf.writestr("e.txt", "stored", compress_type=zipfile.ZIP_STORED)
    results = _run(ZipAnalyzer(), buf.getvalue(), "x.zip")
    assert not _findings(results), _findings(results)
    members = _members(results)
    assert members["c.txt"] == b"hello " * 1000
    assert members["d.txt"] == b"bz " * 100


def test_zip64_archive_is_read() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("big.txt", "w", force_zip64=True) as fh:
        fh.write(b"zip64 " * 10)
    results = _run(ZipAnalyzer(), buf.getvalue(), "x.zip")
    assert _members(results) == {"big.txt": b"zip64 " * 10}


# --------------------------------------------------------------------------- zip: hostile


def test_crc_mismatch_is_reported_and_member_still_analysed() -> None:
    result = scan_bytes(A.crc_mismatch_zip(), "model.zip")
    assert_fires(result, "ARC003", contains="0xdeadbeef")
    assert ("model/weights.pkl",) in _pkl001_chains(result)


def test_duplicate_names_yield_every_copy() -> None:
    result = scan_bytes(A.duplicate_zip(), "model.zip")
    assert_fires(result, "ARC002", min_severity=Severity.HIGH)
    members = _members(_run(ZipAnalyzer(), A.duplicate_zip(), "model.zip"))
    assert members["model/weights.pkl"] == A.PAYLOAD
    assert "model/weights.pkl[2]" in members


def test_duplicate_torch_data_pkl_entries_via_public_api() -> None:
    entries = [e for e in iter_zip_entries(_artifact(A.duplicate_zip("archive/data.pkl"), "m.pt"), _ctx())
               if isinstance(e, ZipEntry)]
    assert [(e.name, e.duplicate_index) for e in entries] == [("archive/data.pkl", 1), ("archive/data.pkl[2]", 2)]
    with entries[0].open() as stream:
        assert stream.read() == A.PAYLOAD


def test_name_mismatch_analyses_both_names() -> None:
    result = scan_bytes(A.name_mismatch_zip(), "model.zip")
    assert_fires(result, "ARC001", contains="archive/data.pkl")
    chains = _pkl001_chains(result)
    assert ("archive/notes.txt",) in chains
    assert ("archive/data.pkl[local@0]",) in chains


def test_hidden_local_entry_is_yielded() -> None:
    result = scan_bytes(A.hidden_entry_zip(), "model.zip")
    assert_fires(result, "ARC001", contains="hidden")
    assert any(c[0].startswith("archive/evil.pkl[hidden@") for c in _pkl001_chains(result))


def test_prefix_data_is_yielded_as_member() -> None:
    results = _run(ZipAnalyzer(), A.prefix_zip(), "model.zip")
    assert_fires(_findings(results), "ARC004", contains="before the first")
    members = _members(results)
    assert members["<prefix>"] == A.PAYLOAD
    assert members["readme.txt"] == b"plain"


def test_unfixed_prefix_offsets_are_followed_like_zipfile() -> None:
    results = _run(ZipAnalyzer(), A.prefix_zip(b"JUNK" * 8, fix_offsets=False), "model.zip")
    assert_fires(_findings(results), "ARC004", contains="without fixing offsets")
    assert _members(results)["readme.txt"] == b"plain"


def test_trailing_data_is_reported() -> None:
    data = A.build_zip([A.ZipMember("a.txt", b"a")], suffix=A.PAYLOAD)
    results = _run(ZipAnalyzer(), data, "x.zip")
    assert_fires(_findings(results), "ARC004", contains="after the end")
    assert _members(results)["<suffix>"] == A.PAYLOAD


def test_corrupted_first_local_header() -> None:
    results = _run(ZipAnalyzer(), A.corrupted_first_header_zip(), "x.zip")
    assert_fires(_findings(results), "ARC001", contains="corrupted")
    assert _members(results)["model/weights.pkl"] == A.PAYLOAD


def test_fake_encryption_is_seen_through() -> None:
    result = scan_bytes(A.fake_encrypted_zip(), "model.zip")
    assert_fires(result, "ARC005", min_severity=Severity.HIGH, contains="flagged encrypted")
    assert ("model/weights.pkl",) in _pkl001_chains(result)
    assert_silent(result, "ARC008")


def test_real_encryption_is_a_finding_not_a_crash() -> None:
    result = scan_bytes(A.encrypted_zip(), "x.zip")
    assert_fires(result, "ARC008")
    assert_silent(result, "ARC005")


def test_odd_flag_bits() -> None:
    assert_fires(scan_bytes(A.odd_flags_zip(), "x.zip"), "ARC005", contains="reserved")


def test_overlapping_entries() -> None:
    result = scan_bytes(A.overlapping_zip(), "x.zip")
    assert_fires(result, "ARC007")
    assert_silent(scan_bytes(A.benign_zip(), "x.zip"), "ARC007")


def test_zip_path_traversal_names() -> None:
    data = A.build_zip([A.ZipMember("../../home/u/.bashrc", b"id\n"), A.ZipMember("ok.txt", b"x")])
    assert_fires(scan_bytes(data, "x.zip"), "ARC006", contains="../../home/u/.bashrc")


def test_zip_bomb_stopped_from_headers() -> None:
    result = scan_bytes(A.zip_bomb(8 << 20), "bomb.zip", SMALL)
    assert_fires(result, "SCN002", contains="ratio")
    assert result[1]


def test_member_reading_is_bounded_even_if_headers_lie() -> None:
    """A member whose data expands far beyond SMALL's ratio stops with LimitExceeded."""
    data = A.zip_bomb(4 << 20)
    entries = [e for e in iter_zip_entries(_artifact(data, "b.zip"), _ctx()) if isinstance(e, ZipEntry)]
    bounded = Context(limits=SMALL, budget=Budget(SMALL))
    entries[0]._ctx = bounded
    with pytest.raises(LimitExceeded), entries[0].open() as stream:
        while stream.read(1 << 20):
            pass


def test_too_many_entries_stops_with_a_finding() -> None:
    data = A.many_entries_zip(10_001)
    result = scan_bytes(data, "many.zip", Limits(max_members=10_000))
    assert_fires(result, "SCN002", contains="10001")
    result = scan_bytes(data, "many.zip")
    assert not result[1]


def test_truncated_zip_still_reaches_complete_members() -> None:
    result = scan_bytes(A.truncated_zip(), "t.zip")
    assert result[1], "a truncated zip is an incomplete scan"
    assert ("model/weights.pkl",) in _pkl001_chains(result)


# --------------------------------------------------------------------------- tar


def test_torch_legacy_tar_members_are_reached() -> None:
    result = scan_bytes(A.torch_legacy_tar(), "model.tar")
    assert ("pickle",) in _pkl001_chains(result)
    assert_silent(result, "ARC006")
    members = _members(_run(TarAnalyzer(), A.torch_legacy_tar(), "model.tar"))
    assert set(members) == {"sys_info", "pickle", "storages", "tensors"}


def test_tar_traversal_and_links_are_findings_not_followed() -> None:
    result = scan_bytes(A.traversal_tar(), "x.tar")
    found = assert_fires(result, "ARC006")
    messages = " ".join(f.message for f in found)
    assert "../../etc/cron.d/evil" in messages and "symbolic link" in messages and "hard link" in messages
    members = _members(_run(TarAnalyzer(), A.traversal_tar(), "x.tar"))
    assert "link" not in members and members["ok.txt"] == b"fine"


def test_tar_pax_and_gnu_long_names() -> None:
    long = "d/" * 80 + "model.pkl"
    for fmt in (A.tarfile.PAX_FORMAT, A.tarfile.GNU_FORMAT):
        members = _members(_run(TarAnalyzer(), A.build_tar({long: A.PAYLOAD}, fmt=fmt), "x.tar"))
        assert members == {long: A.PAYLOAD}


def test_tar_duplicates() -> None:
    data = A.build_tar([("a.pkl", A.PAYLOAD), ("a.pkl", b"x")])
    results = _run(TarAnalyzer(), data, "x.tar")
    assert_fires(_findings(results), "ARC002")
    assert set(_members(results)) == {"a.pkl", "a.pkl[2]"}


# --------------------------------------------------------------------------- compressed streams


@pytest.mark.parametrize(("kind", "ext"), [("gzip", ".gz"), ("bzip2", ".bz2"), ("xz", ".xz"), ("lzma", ".lzma"),
                                           ("zstd", ".zst"), ("lz4", ".lz4")])
def test_compressed_pickle_is_reached(kind: str, ext: str) -> None:
    data = A.compress(A.PAYLOAD, kind)
    result = scan_bytes(data, "model.pkl" + ext)
    assert ("model.pkl",) in _pkl001_chains(result)
    truncated = scan_bytes(data[: len(data) // 2], "model.pkl" + ext)
    assert truncated[1], f"truncated {kind} must be an incomplete scan"


def test_multi_member_gzip_is_joined() -> None:
    data = A.multi_member_gzip(A.PAYLOAD[:7], A.PAYLOAD[7:])
    assert _members(_run(CompressedAnalyzer(), data, "m.pkl.gz")) == {"m.pkl": A.PAYLOAD}


def test_multi_frame_zstd() -> None:
    data = A.compress(b"abc", "zstd") + A.compress(b"def", "zstd")
    assert _members(_run(CompressedAnalyzer(), data, "m.zst")) == {"m": b"abcdef"}


def test_decompressed_names() -> None:
    assert decompressed_name("model.pkl.gz") == "model.pkl"
    assert decompressed_name("x.tgz") == "x.tar"
    assert decompressed_name("blob") == "blob"


def test_gzip_bomb_is_limited_when_read() -> None:
    data = A.compress(b"\x00" * (4 << 20), "gzip")
    (child,) = [r for r in _run(CompressedAnalyzer(), data, "z.gz", SMALL) if isinstance(r, Artifact)]
    with pytest.raises(LimitExceeded), child.open() as stream:
        while stream.read(1 << 20):
            pass


# --------------------------------------------------------------------------- 7z


def test_sevenzip_members_are_reached() -> None:
    data = A.build_7z({"a/model.pkl": A.PAYLOAD, "b.txt": b"hi"})
    result = scan_bytes(data, "x.7z")
    assert ("a/model.pkl",) in _pkl001_chains(result)
    assert_silent(result, "ARC008")


def test_sevenzip_encryption_is_a_finding() -> None:
    assert_fires(scan_bytes(A.build_7z({"m.pkl": A.PAYLOAD}, password="pw"), "x.7z"), "ARC008")
    assert_fires(scan_bytes(A.build_7z({"m.pkl": A.PAYLOAD}, password="pw", header_encryption=True), "x.7z"),
                 "ARC008", contains="headers")


def test_sevenzip_in_memory_limit_checked_from_headers() -> None:
    data = A.build_7z({"zeros.bin": b"\x00" * (2 << 20)})
    with pytest.raises(LimitExceeded):
        _run(SevenZipAnalyzer(), data, "x.7z", Limits(max_in_memory=1 << 20))


# --------------------------------------------------------------------------- nesting and robustness


def test_nested_zip_in_tar_in_gzip_reaches_the_pickle() -> None:
    result = scan_bytes(A.nested_zip_in_tar_in_gzip(), "bundle.tar.gz")
    assert ("bundle.tar", "bundle/model.zip", "model/weights.pkl") in _pkl001_chains(result)


def test_nesting_deeper_than_limit() -> None:
    data = A.PAYLOAD
    for i in range(4):
        data = A.build_zip([A.ZipMember(f"l{i}.zip" if i else "p.pkl", data)])
    result = scan_bytes(data, "deep.zip", Limits(max_depth=2))
    assert_fires(result, "SCN004")


_SAMPLES = {
    "zip": A.crc_mismatch_zip(), "hidden": A.hidden_entry_zip(), "tar": A.torch_legacy_tar(),
    "gz": A.compress(A.build_tar({"a": A.PAYLOAD}), "gzip"), "zst": A.compress(A.PAYLOAD, "zstd"),
    "7z": A.build_7z({"m.pkl": A.PAYLOAD}),
}


@pytest.mark.parametrize("kind", sorted(_SAMPLES))
def test_truncations_and_mutations_never_crash(kind: str) -> None:
    data = _SAMPLES[kind]
    rng = random.Random(kind)
    variants = [data[:n] for n in range(0, len(data), max(1, len(data) // 40))]
    for _ in range(60):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        variants.append(bytes(mutated))
    for variant in variants:
        _, errors, _ = scan_bytes(variant, f"x.{kind}", SMALL)
        assert not [e for e in errors if e.kind == "internal"], errors


def test_analyzers_raise_only_trojanguard_errors_on_garbage() -> None:
    for analyzer, name in ((ZipAnalyzer(), "x.zip"), (TarAnalyzer(), "x.tar"), (SevenZipAnalyzer(), "x.7z"),
                           (CompressedAnalyzer(), "x.gz")):
        for blob in (b"", b"PK\x05\x06" + b"\xff" * 18, b"\x1f\x8b" + b"\x00" * 30, b"7z\xbc\xaf\x27\x1c" + b"\x01" * 40):
            try:
                for r in analyzer.analyze(_artifact(blob, name), _ctx()):
                    if isinstance(r, Artifact):
                        with r.open() as stream:
                            stream.read()
            except MalformedInput:
                pass


class _CountingBytes(io.BytesIO):
    """Counts the bytes served, to prove that tensor bytes are seeked over, not read."""

    served = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        _CountingBytes.served += len(data)
        return data


def test_scanning_cost_follows_metadata_not_member_bytes() -> None:
    big = b"\x00" * (24 << 20)
    data = A.build_zip([A.ZipMember("archive/data/0", big), A.ZipMember("weights.bin", big),
                        A.ZipMember("model/weights.pkl", A.PAYLOAD)])
    artifact = Artifact(Location("m.zip"), "m.zip", lambda: _CountingBytes(data), len(data))
    _CountingBytes.served = 0
    results = list(ZipAnalyzer().analyze(artifact, _ctx()))
    assert len([r for r in results if isinstance(r, Artifact)]) == 3
    assert _CountingBytes.served < 256 << 10, _CountingBytes.served


def test_zip_inside_gzip_is_read_once_in_memory() -> None:
    data = A.compress(A.crc_mismatch_zip(), "gzip")
    result = scan_bytes(data, "model.zip.gz")
    assert_fires(result, "ARC003")
    assert ("model.zip", "model/weights.pkl") in _pkl001_chains(result)


@pytest.mark.parametrize("fix_offsets", [True, False])
def test_zip64_end_records(fix_offsets: bool) -> None:
    data = A.build_zip([A.ZipMember("a.txt", b"alpha", A.DEFLATED), A.ZipMember("b.txt", b"beta")],
                       zip64=True, prefix=b"P" * 10, fix_offsets=fix_offsets)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("b.txt") == b"beta"  # the builder's ZIP64 records are valid
    results = _run(ZipAnalyzer(), data, "x.zip")
    assert {k: v for k, v in _members(results).items() if not k.startswith("<")} == {"a.txt": b"alpha", "b.txt": b"beta"}
    assert_silent(_findings(results), "ARC001")


def test_tar_pax_size_override_and_members_after_it() -> None:
    big = "x" * 200  # a long name forces a pax header in front of the member
    data = A.build_tar([(big + ".pkl", A.PAYLOAD * 30), ("after.txt", b"after")], fmt=A.tarfile.PAX_FORMAT)
    members = _members(_run(TarAnalyzer(), data, "x.tar"))
    assert members == {big + ".pkl": A.PAYLOAD * 30, "after.txt": b"after"}


def test_hostile_64bit_offsets_do_not_overflow() -> None:
    data = bytearray(A.build_zip([A.ZipMember("a.pkl", A.PAYLOAD, A.DEFLATED)], zip64=True))
    rec = data.index(b"PK\x06\x06")
    data[rec + 48 : rec + 56] = (1 << 63).to_bytes(8, "little")  # central directory offset
    _, errors, _ = scan_bytes(bytes(data), "x.zip")
    assert errors and not [e for e in errors if e.kind == "internal"], errors


def test_empty_central_directory_with_local_entries() -> None:
    data = A.build_zip([A.ZipMember("model/weights.pkl", A.PAYLOAD, in_central=False),
                        A.ZipMember("b.txt", b"b", in_central=False)])
    result = scan_bytes(data, "x.zip")
    assert_fires(result, "ARC001", contains="hidden")
    assert any(c[0].startswith("model/weights.pkl[hidden@0]") for c in _pkl001_chains(result))


def test_data_descriptor_flag_in_one_record_only() -> None:
    data = A.build_zip([A.ZipMember("model/weights.pkl", A.PAYLOAD, A.DEFLATED, local_flags=0x0008)])
    results = _run(ZipAnalyzer(), data, "x.zip")
    assert_fires(_findings(results), "ARC005", contains="data descriptor")
    assert _members(results)["model/weights.pkl"] == A.PAYLOAD


def test_descriptor_flag_without_descriptor_keeps_the_walk_aligned() -> None:
    data = A.build_zip([A.ZipMember("a.txt", b"a", local_flags=0x0008), A.ZipMember("b.txt", b"b")])
    assert_silent(_findings(_run(ZipAnalyzer(), data, "x.zip")), "ARC004")


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.buf = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        return self.buf.write(b)


def test_streamed_zip_with_real_data_descriptors_is_clean() -> None:
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.json", '{"a": 1}')
        zf.writestr("b.txt", "bee " * 100)
    results = _run(ZipAnalyzer(), sink.buf.getvalue(), "s.zip")
    assert not _findings(results), _findings(results)
    assert _members(results) == {"a.json": b'{"a": 1}', "b.txt": b"bee " * 100}


def test_overlap_bomb_is_stopped_from_headers_with_default_limits() -> None:
    data = A.overlapping_zip(count=500, size=1 << 20)  # 500 MiB declared from ~30 kB
    result = scan_bytes(data, "bomb.zip")
    assert_fires(result, "SCN002", contains="ratio")
    assert_fires(result, "ARC007", contains="overlap")
    assert len(data) < 64 << 10
