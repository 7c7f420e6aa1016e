"""Red-team regressions: pickle carriers that hid a payload from the scanner.

Each test is named after the technique; every payload is generated in
``builders.redteam`` and scanned through the full scanner, never loaded.
"""

from __future__ import annotations

import pytest

from builders import archives, redteam
from builders.pickles import PickleBuilder
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.model import Severity


@pytest.mark.parametrize("first", [b"", b"\x880", b"\x8f0", b"C\x02xx0", b"\x8a\x01\x010"])
@pytest.mark.parametrize("name", ["model.pkl", "weights.npy", "pytorch_model.bin", "noext"])
def test_headerless_protocol4_opcodes(first: bytes, name: str) -> None:
    """No PROTO header, yet SHORT_BINUNICODE/STACK_GLOBAL: CPython runs it; the sniffer
    used to accept only protocol 0/1 first opcodes and the file went unrecognised."""
    result = scan_bytes(redteam.headerless_modern_pickle(first), name)
    assert_fires(result, "PKL001", min_severity=Severity.CRITICAL, contains="os.system")


def test_headerless_frame_first() -> None:
    assert_fires(scan_bytes(redteam.framed_headerless(), "model.pkl"), "PKL001", contains="os.system")


def test_headerless_sniffer_keeps_binary_lookalikes_out() -> None:
    """Binary that merely starts with a protocol-4 opcode byte is not a pickle."""
    blob = b"\x8c\x05hello" + bytes(range(256)) * 4
    findings, errors, scanned = scan_bytes(blob, "blob.bin")
    assert_silent(findings, "PKL005")
    assert_silent(findings, "PKL001")
    assert scanned[0].format != "pickle"


@pytest.mark.parametrize(("kind", "ext"), [("gzip", ".gz"), ("xz", ".xz"), ("zstd", ".zst"), ("lz4", ".lz4"),
                                           ("bzip2", ".bz2")])
def test_compressed_payload_then_junk(kind: str, ext: str) -> None:
    """Junk after the compressed stream made the library raise on the first read, so the
    decoded payload was never analysed (only an error was reported)."""
    findings, errors, _ = scan_bytes(redteam.compressed_then_junk(kind), "model.pkl" + ext)
    assert_fires(findings, "PKL001", min_severity=Severity.CRITICAL, contains="os.system")
    if kind != "bzip2":  # bz2 ignores trailing junk like BZ2File does
        assert errors, "the broken stream must still make the scan incomplete"


def test_truncated_gzip_payload_still_named() -> None:
    findings, errors, _ = scan_bytes(redteam.truncated_gzip_payload(), "model.pkl.gz")
    assert_fires(findings, "PKL001", contains="os.system")
    assert errors


def test_truncated_gzip_short_text_is_incomplete() -> None:
    """A short member that breaks early is still reported as an incomplete scan."""
    data = archives.compress(b"hello world, plain text\n" * 3, "gzip")
    findings, errors, _ = scan_bytes(data[: len(data) // 2], "notes.txt.gz")
    assert errors
    assert_silent(findings, "PKL001")


def test_benign_compressed_pickle_stays_clean() -> None:
    benign = PickleBuilder(4).proto().empty_dict().value("w").value(1.5).setitem().stop().bytes()
    for kind, ext in (("gzip", ".gz"), ("zstd", ".zst"), ("xz", ".xz")):
        findings, errors, _ = scan_bytes(archives.compress(benign, kind), "model.pkl" + ext)
        assert not errors
        assert_silent(findings, "PKL001")
        assert all(f.severity < Severity.MEDIUM for f in findings)


@pytest.mark.parametrize("kind", ["binbytes8", "binunicode", "string", "unicode", "proto2-string"])
def test_long_decoy_first_argument(kind: str) -> None:
    """A first argument longer than the sniffed head (or than the VM's line bound) hid the
    whole pickle: unrecognised file, or PKL005 only, never the call after it."""
    result = scan_bytes(redteam.long_first_argument(kind), "model.pkl")
    assert_fires(result, "PKL001", min_severity=Severity.CRITICAL, contains="os.system")
    assert_silent(result, "PKL005")


def test_long_text_line_is_not_a_pickle() -> None:
    findings, _, scanned = scan_bytes(b"V" + b"x" * 10_000 + b"\nhello world\n", "notes.txt")
    assert_silent(findings, "PKL005")
    assert scanned[0].format == "text"


@pytest.mark.parametrize(("kind", "name"), [("gguf", "model.gguf"), ("gguf", "pytorch_model.bin"),
                                            ("safetensors", "model.safetensors"), ("tflite", "model.tflite"),
                                            ("gif", "preview.gif"), ("bmp", "preview.bmp"),
                                            ("tar", "model.tar"), ("tar", "pytorch_model.bin")])
def test_format_pickle_polyglot(kind: str, name: str) -> None:
    """The magic routed the file to a code-free format's analyzer (or to no analyzer for
    images) while pickle.load / torch.load would run it: it is analysed as a pickle too."""
    result = scan_bytes(redteam.polyglot(kind), name)
    assert_fires(result, "PKL001", min_severity=Severity.CRITICAL, contains="os.system")


def test_real_formats_are_not_polyglots() -> None:
    from builders import gguf_files, safetensors_files, tflite_files

    for data, name in ((gguf_files.model_with_template("{{ bos_token }}"), "m.gguf"),
                       (safetensors_files.real_file(), "m.safetensors"),
                       (tflite_files.tflite_model([(0, None)], weight_bytes=64), "m.tflite")):
        findings, _, _ = scan_bytes(data, name)
        assert_silent(findings, "PKL005")
        assert_silent(findings, "PKL001")


@pytest.mark.parametrize("spec", ["object", "|O", "O8"])
def test_joblib_object_array_dtype_spelling(spec: str) -> None:
    """numpy.dtype('object') made the VM stop ('unsupported joblib dtype', PKL005) before the
    inline pickle joblib loads for object arrays."""
    result = scan_bytes(redteam.joblib_object_array(spec), "model.joblib")
    assert_fires(result, "PKL001", min_severity=Severity.CRITICAL, contains="os.system")


@pytest.mark.parametrize("spec", ["float64", "<f8"])
def test_joblib_named_float_dtype_is_clean(spec: str) -> None:
    findings, errors, _ = scan_bytes(redteam.joblib_object_array(spec), "model.joblib")
    assert_silent(findings, "PKL005")
    assert_silent(findings, "PKL001")
    assert not errors


@pytest.mark.parametrize(("module", "name"), [("antigravity", "geohash"), ("unittest.__main__", "main"),
                                              ("test.autotest", "main"), ("test.__main__", "main")])
def test_import_time_side_effect_modules(module: str, name: str) -> None:
    """find_class imports the module before anything is called: these run code on import,
    so merely naming them (never called: was PKL003 medium) is the payload."""
    data = PickleBuilder(2).proto().global_(module, name).pop().none().stop().bytes()
    assert_fires(scan_bytes(data, "model.pkl"), "PKL001", min_severity=Severity.CRITICAL, contains=module)


def test_user_module_named_test_stays_below_critical() -> None:
    data = PickleBuilder(2).proto().global_("test", "MyModel").empty_tuple().newobj().stop().bytes()
    findings, _, _ = scan_bytes(data, "model.pkl")
    assert_silent(findings, "PKL001")


def test_build_slotstate_class_swap() -> None:
    """BUILD's slot state is applied with setattr, so {'__class__': X} turns an allowlisted
    object into an X whose methods run later; only the import of X was reported (medium)."""
    p = PickleBuilder(4).proto().global_ref("collections", "OrderedDict").empty_tuple().reduce()
    p.none().empty_dict().value("__class__").global_ref("weakref", "finalize").setitem().tuple2().build().stop()
    assert_fires(scan_bytes(p.bytes(), "model.pkl"), "PKL008", min_severity=Severity.HIGH, contains="__class__")


def test_build_plain_state_is_clean() -> None:
    p = PickleBuilder(4).proto().global_ref("collections", "OrderedDict").empty_tuple().reduce()
    p.none().empty_dict().value("weight").value(1.5).setitem().tuple2().build().stop()
    assert_silent(scan_bytes(p.bytes(), "model.pkl"), "PKL008")


@pytest.mark.parametrize("typeflag", [b"Z", b"9", b"A"])
def test_tar_member_of_unknown_type(typeflag: bytes) -> None:
    """tarfile extracts members of unknown types as regular files; the walker skipped them."""
    result = scan_bytes(redteam.tar_with_type(typeflag), "bundle.tar")
    assert_fires(result, "PKL001", min_severity=Severity.CRITICAL, contains="os.system")


def test_tar_member_of_unknown_type_benign() -> None:
    findings, errors, _ = scan_bytes(redteam.tar_with_type(b"Z", b"plain text\n"), "bundle.tar")
    assert_silent(findings, "PKL001")
    assert not errors


def test_npz_member_compressed_with_zstd() -> None:
    """zip method 93 was 'unsupported; not analysed' while numpy.load (Python 3.14) reads it."""
    data = redteam.zip_member_zstd("weights.npy", redteam.object_npy_named_dtype("|O"))
    assert_fires(scan_bytes(data, "weights.npz"), "PKL001", min_severity=Severity.CRITICAL, contains="os.system")


def test_zstd_member_output_is_cut_at_declared_size() -> None:
    data = redteam.zip_member_zstd("notes.txt", b"hello " * 200_000, declared=1000)
    findings, _, _ = scan_bytes(data, "notes.zip")
    assert_silent(findings, "PKL001")
