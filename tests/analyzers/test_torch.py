"""PyTorch analyzers: torch.save zips, TorchScript archives, the legacy format.

Fixtures are byte-level imitations built without torch (``builders.torchfiles``); tests
that need real ``torch.save`` output skip when torch is absent.  The real TorchScript
model test (silero-vad's ``.jit`` from its wheel) is marked slow.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from builders import torchfiles as T
from builders.pickles import reduce_call
from conftest import assert_fires, assert_silent, scan_bytes
from realwheels import wheel_members
from trojanguard.analyzers import BUILTIN
from trojanguard.artifact import Artifact
from trojanguard.model import Finding, Location, Severity
from trojanguard.scanner import scan, scan_artifact

OURS = ("TOR001", "TOR002", "TOR003", "TOR004")
EVIL = ("os", "system", "echo pwned")


def _critical_at(result: tuple[list[Finding], object, object], member: str) -> list[Finding]:
    return [f for f in result[0] if f.rule.id == "PKL001" and any(member in m for m in f.location.members)]


def _no_internal_errors(result: tuple[object, list, object]) -> None:
    assert not [e for e in result[1] if e.kind == "internal"], result[1]


# --------------------------------------------------------------------------- torch.save zips


def test_benign_zip_is_clean_of_torch_rules() -> None:
    result = scan_bytes(T.torch_zip(), "model.pt")
    assert result[2][-1].format == "torch-zip"
    for rule in OURS:
        assert_silent(result, rule)
    assert_silent(result, "TOR001")
    assert_silent(result, "TOR003")
    assert_silent(result, "PKL001")
    assert not result[1]


def test_payload_in_data_pkl() -> None:
    data = T.torch_zip(pickle=T.state_dict_pickle(T.tensors(2), payload=EVIL))
    result = scan_bytes(data, "model.pt")
    assert _critical_at(result, "archive/data.pkl")
    assert_fires(result, "PKL001", contains="os.system")


def test_payload_in_extra_pickle_member() -> None:
    data = T.torch_zip(extra=[("extra/state.pkl", reduce_call(*EVIL, protocol=2))])
    result = scan_bytes(data, "model.pt")
    assert _critical_at(result, "archive/extra/state.pkl")


def test_pickle_hidden_as_text_member() -> None:
    data = T.torch_zip(extra=[("data.txt", reduce_call(*EVIL, protocol=2))])
    result = scan_bytes(data, "model.pt")
    assert _critical_at(result, "archive/data.txt")


def test_second_data_pkl_with_payload() -> None:
    members = T.torch_members(T.tensors(2))
    members.append(("archive/data.pkl", T.state_dict_pickle(T.tensors(2), payload=EVIL)))
    result = scan_bytes(T.zip_bytes(members), "model.pt")
    assert_fires(result, "ARC002")
    assert _critical_at(result, "archive/data.pkl[2]")


def test_missing_storage() -> None:
    members = [m for m in T.torch_members(T.tensors(3)) if m[0] != "archive/data/1"]
    result = scan_bytes(T.zip_bytes(members), "model.pt")
    assert_fires(result, "TOR004", contains="archive/data/1")


def test_storage_size_disagrees_with_pickle() -> None:
    members = [(n, b"\x00" * 5 if n == "archive/data/0" else d) for n, d in T.torch_members(T.tensors(2))]
    result = scan_bytes(T.zip_bytes(members), "model.pt")
    assert_fires(result, "TOR004", contains="should be 24 bytes")
    assert_silent(scan_bytes(T.torch_zip(T.tensors(2, storage="HalfStorage")), "m.pt"), "TOR004")


def test_storages_are_never_read_even_if_they_look_like_pickles() -> None:
    payload = reduce_call(*EVIL, protocol=2)
    # the referenced storage holds pickle bytes (same size as declared): torch never unpickles it
    fixed = [T.Tensor("w", "0", len(payload), "ByteStorage")]
    members = T.torch_members(fixed)
    members = [(n, payload if n == "archive/data/0" else d) for n, d in members]
    result = scan_bytes(T.zip_bytes(members), "model.pt")
    assert_silent(result, "PKL001")
    assert_silent(result, "TOR004")


def test_unreferenced_member_in_data_folder_is_identified() -> None:
    data = T.torch_zip(extra=[("data/99", reduce_call(*EVIL, protocol=2))])
    assert _critical_at(scan_bytes(data, "model.pt"), "archive/data/99")


@pytest.mark.parametrize(
    ("record", "value"),
    [("byteorder", b"sideways"), ("version", b"three"), (".data/serialization_id", b"id with spaces!"),
     ("version", b"9" * 400)],
)
def test_bad_records(record: str, value: bytes) -> None:
    result = scan_bytes(T.torch_zip(records={record: value}), "model.pt")
    found = assert_fires(result, "TOR003", contains=record)
    assert all(f.severity <= Severity.MEDIUM for f in found)


def test_member_outside_archive_folder() -> None:
    data = T.torch_zip(extra=[("/other/notes.bin", b"\x00\x01\x02")])
    assert_fires(scan_bytes(data, "model.pt"), "TOR003", contains="outside")


def test_root_level_archive_without_prefix_is_fine() -> None:
    result = scan_bytes(T.torch_zip(prefix=""), "model.pt")
    for rule in OURS:
        assert_silent(result, rule)


def test_zip_without_prefix_and_storage_cost_follows_metadata(tmp_path: Path) -> None:
    """A 1 GiB sparse storage costs no more reading than a tiny one."""
    reads: list[int] = []

    class Counting(io.FileIO):
        def read(self, size: int = -1) -> bytes:  # type: ignore[override]
            data = super().read(size)
            reads.append(len(data))
            return data

    path = tmp_path / "big.pt"
    with open(path, "wb") as out:
        T.write_zip(out, T.torch_members([T.Tensor("w", "0", 1 << 28)], sparse=True))
    art = Artifact.from_path(str(path))
    art.opener = lambda: Counting(str(path), "rb")  # type: ignore[assignment,return-value]
    findings, errors, _ = scan_artifact(art, BUILTIN)
    assert not errors and not [f for f in findings if f.rule.id in OURS]
    assert sum(reads) < 1 << 20, sum(reads)


# --------------------------------------------------------------------------- TorchScript


def test_benign_torchscript_is_clean() -> None:
    result = scan_bytes(T.torchscript_zip(), "model.jit")
    assert result[2][-1].format == "torchscript"
    for rule in OURS:
        assert_silent(result, rule)
    # the __torch__.Net class data.pkl instantiates is defined by the archive's code
    assert not [f for f in result[0] if "__torch__" in f.message and f.rule.id.startswith("PKL")]


@pytest.mark.parametrize(
    "line",
    [
        "_9 = os.system(\"id\")",
        "_9 = __import__(\"os\")",
        "_9 = eval(\"1\")",
        "_9 = open(\"/etc/passwd\")",
        "_9 = getattr(self, \"__globals__\")",
        "_9 = subprocess.check_output([\"id\"])",
        "_9 = torch.load(\"/tmp/x.pt\")",
        "_9 = (self).__class__.__bases__",
    ],
)
def test_torchscript_python_escapes_are_critical(line: str) -> None:
    code = T.BENIGN_CODE.replace("    return torch.add", f"    {line}\n    return torch.add")
    result = scan_bytes(T.torchscript_zip(code), "model.jit")
    assert_fires(result, "TOR001", min_severity=Severity.CRITICAL)


def test_torchscript_import_and_unknown_name() -> None:
    code = "import os\n" + T.BENIGN_CODE.replace("return torch.add", "return mystery(_0)")
    result = scan_bytes(T.torchscript_zip(code), "model.jit")
    found = assert_fires(result, "TOR001", contains="imports Python module os")
    assert any(f.severity == Severity.CRITICAL for f in found)
    assert_fires(result, "TOR001", contains="mystery")


def test_torchscript_custom_native_op() -> None:
    code = T.BENIGN_CODE.replace("torch.add(_0, CONSTANTS.c0)", "ops.evil_ns.run(_0)")
    assert_fires(scan_bytes(T.torchscript_zip(code), "model.jit"), "TOR002", min_severity=Severity.HIGH,
                 contains="evil_ns")
    code = T.BENIGN_CODE.replace("torch.add(_0, CONSTANTS.c0)", "torch.ops.my_lib.fused(_0)")
    assert_fires(scan_bytes(T.torchscript_zip(code), "model.jit"), "TOR002", contains="my_lib")
    code = T.BENIGN_CODE.replace("torch.add(_0, CONSTANTS.c0)", "torch.ops.load_library(\"/tmp/x.so\")")
    assert_fires(scan_bytes(T.torchscript_zip(code), "model.jit"), "TOR001", min_severity=Severity.CRITICAL)


def test_torchscript_domain_library_ops_are_low() -> None:
    code = T.BENIGN_CODE.replace("torch.add(_0, CONSTANTS.c0)", "ops.torchvision.nms(_0, _0, 0.5)")
    found = assert_fires(scan_bytes(T.torchscript_zip(code), "model.jit"), "TOR002")
    assert all(f.severity == Severity.LOW for f in found)
    assert_silent(scan_bytes(T.torchscript_zip(), "model.jit"), "TOR002")


def test_torchscript_undefined_archive_class_is_low() -> None:
    code = T.BENIGN_CODE.replace("torch.add(_0, CONSTANTS.c0)", "__torch__.nowhere.Thing(_0)")
    found = assert_fires(scan_bytes(T.torchscript_zip(code), "model.jit"), "TOR001", contains="nowhere")
    assert all(f.severity == Severity.LOW for f in found)


def test_torchscript_unparsable_and_non_utf8_code() -> None:
    result = scan_bytes(T.torchscript_zip("def broken(:\n"), "model.jit")
    assert_fires(result, "TOR003", contains="does not parse")
    deep = "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    result = scan_bytes(T.torchscript_zip(deep), "model.jit")
    _no_internal_errors(result)


def test_payload_in_constants_pkl() -> None:
    data = T.torchscript_zip(constants_pickle=reduce_call(*EVIL, protocol=2))
    assert _critical_at(scan_bytes(data, "model.jit"), "archive/constants.pkl")


def test_payload_in_torchscript_data_pkl() -> None:
    data = T.torchscript_zip(data_pickle=reduce_call(*EVIL, protocol=2))
    assert _critical_at(scan_bytes(data, "model.jit"), "archive/data.pkl")


# --------------------------------------------------------------------------- legacy format


def test_benign_legacy_file_is_clean() -> None:
    result = scan_bytes(T.legacy_file(), "model.pt")
    assert result[2][-1].format == "torch-legacy"
    for rule in (*OURS, "PKL005", "PKL006"):
        assert_silent(result, rule)
    assert not result[1]


@pytest.mark.parametrize("section", range(5))
def test_payload_in_each_legacy_pickle(section: int) -> None:
    result = scan_bytes(T.legacy_file(payload_in=section), "model.pt")
    assert result[2][-1].format == "torch-legacy"
    assert_fires(result, "PKL001", contains="os.system")


def test_legacy_storage_bytes_are_skipped_not_parsed() -> None:
    fill = reduce_call(*EVIL, protocol=2)
    result = scan_bytes(T.legacy_file(storage_fill=fill), "model.pt")
    assert_silent(result, "PKL001")
    assert_silent(result, "PKL006")


def test_legacy_element_count_mismatch_and_truncation() -> None:
    assert_fires(scan_bytes(T.legacy_file(numel_override=5), "model.pt"), "TOR004")
    data = T.legacy_file()
    result = scan_bytes(data[:-10], "model.pt")
    assert_fires(result, "TOR004", contains="past the end")
    _no_internal_errors(result)


def test_legacy_trailing_payload_after_storages() -> None:
    result = scan_bytes(T.legacy_file(trailer=reduce_call(*EVIL, protocol=2)), "model.pt")
    assert_fires(result, "TOR003", contains="follow the last storage")
    assert_fires(result, "PKL001")


def test_legacy_wrong_protocol_number() -> None:
    sections = T.legacy_sections(T.tensors(1))
    sections[1] = b"\x80\x02M\xea\x03."
    data = b"".join(sections) + (6).to_bytes(8, "little") + bytes(24)
    assert_fires(scan_bytes(data, "model.pt"), "TOR003", contains="protocol version")


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("builder", [T.torch_zip, T.torchscript_zip, T.legacy_file])
def test_truncations_never_crash(builder: object) -> None:
    data = builder()  # type: ignore[operator]
    for cut in sorted({1, 7, 15, 40, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1}):
        _no_internal_errors(scan_bytes(data[:cut], "model.pt"))


def test_corrupted_bytes_never_crash() -> None:
    data = bytearray(T.torchscript_zip())
    for pos in range(0, len(data), max(1, len(data) // 40)):
        mutated = bytearray(data)
        mutated[pos] ^= 0xFF
        _no_internal_errors(scan_bytes(bytes(mutated), "model.jit"))


# --------------------------------------------------------------------------- real torch files


def test_real_torch_save_zip_and_legacy(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    torch.save(model.state_dict(), tmp_path / "new.pt")
    torch.save(model.state_dict(), tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(model), tmp_path / "scripted.pt")
    report = scan([str(tmp_path)])
    assert not report.errors
    assert [s.format for s in report.scanned] == ["torch-zip", "torch-legacy", "torchscript"]
    for rule in OURS:
        assert_silent(report, rule)


# --------------------------------------------------------------------------- real TorchScript (wheel)









@pytest.mark.slow
def test_silero_vad_torchscript_is_clean() -> None:
    files = wheel_members("silero-vad", (".jit",))
    assert files
    for name, data in files:
        result = scan_bytes(data, name)
        assert result[2][-1].format == "torchscript"
        bad = [f for f in result[0] if f.rule.id in OURS and f.severity >= Severity.MEDIUM]
        assert not bad, [(f.rule.id, f.message) for f in bad]
        _no_internal_errors(result)



# --------------------------------------------------------------------------- legacy tar members


def _tar_member(name: str, data: bytes) -> list[object]:
    from trojanguard.analyzers.base import Context
    from trojanguard.analyzers.torch import TorchLegacyAnalyzer
    from trojanguard.artifact import Budget, Limits

    parent = Artifact.from_bytes(b"", Location("model.tar"), "model.tar")
    art = parent.member(name, lambda: io.BytesIO(data), len(data), hint="torch-legacy")
    return list(TorchLegacyAnalyzer().analyze(art, Context(Limits(), Budget(Limits()))))


def test_legacy_tar_members_are_walked_record_by_record() -> None:
    members = T.legacy_tar_members()
    for name in ("storages", "tensors"):
        findings = [r for r in _tar_member(name, members[name]) if isinstance(r, Finding)]
        for rule in ("PKL001", "PKL005", "PKL006", *OURS):  # raw bytes are never parsed as pickle
            assert_silent(findings, rule)


@pytest.mark.parametrize("member", ["storages", "tensors"])
def test_payload_in_a_later_legacy_tar_record(member: str) -> None:
    results = _tar_member(member, T.legacy_tar_members(payload_in=member)[member])
    assert_fires([r for r in results if isinstance(r, Finding)], "PKL001", contains="os.system")


def test_truncated_legacy_tar_member() -> None:
    data = T.legacy_tar_members()["storages"]
    for cut in (3, 20, len(data) // 2, len(data) - 3):
        results = _tar_member("storages", data[:cut])
        assert [r for r in results if isinstance(r, Finding)], cut


@pytest.mark.parametrize("member", ["sys_info", "pickle"])
def test_payload_in_legacy_tar_pickles(member: str) -> None:
    result = scan_bytes(T.legacy_tar(payload_in=member), "model.tar")
    assert result[2][-1].format == "tar"
    assert_fires(result, "PKL001")


def test_oversized_torchscript_source_is_reported_not_parsed() -> None:
    result = scan_bytes(T.torchscript_zip(T.BENIGN_CODE + "x = 1\n" * 400_000), "model.jit")
    assert_fires(result, "TOR003", contains="not checked")
    assert [e for e in result[1] if e.kind == "limit"]


@pytest.mark.slow
@pytest.mark.parametrize("project", ["lpips", "resemblyzer"])
def test_real_checkpoints_from_wheels_are_clean(project: str) -> None:
    files = wheel_members(project, (".pt", ".pth"))
    assert files
    for name, data in files:
        result = scan_bytes(data, name)
        assert result[2][-1].format in ("torch-zip", "torch-legacy")
        bad = [f for f in result[0] if f.severity >= Severity.MEDIUM]
        assert not bad, [(f.rule.id, f.message) for f in bad]
        assert not result[1]


@pytest.mark.parametrize("member", ["storages", "tensors"])
def test_payload_in_later_legacy_tar_record_through_the_scanner(member: str) -> None:
    """The tar walker hints storages/tensors as torch-legacy, so later records are reached."""
    result = scan_bytes(T.legacy_tar(payload_in=member), "model.tar")
    assert_fires(result, "PKL001", contains="os.system")


def test_benign_legacy_tar_through_the_scanner_is_quiet() -> None:
    result = scan_bytes(T.legacy_tar(), "model.tar")
    for rule in ("PKL001", "PKL005", "PKL006"):
        assert_silent(result, rule)
