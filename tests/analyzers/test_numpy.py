"""NumPy analyzer: headers parsed without evaluation, object arrays' pickles analysed,
size mismatches reported, array bytes never read."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from builders import numpyfiles as N
from builders.pickles import reduce_call
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.analyzers import BUILTIN
from trojanguard.artifact import Artifact
from trojanguard.model import Severity
from trojanguard.scanner import scan_artifact

OURS = ("NPY001", "NPY002", "NPY003")
EVIL = reduce_call("os", "system", "echo pwned", protocol=3)


def _no_internal_errors(result: tuple[object, list, object]) -> None:
    assert not [e for e in result[1] if e.kind == "internal"], result[1]


REAL = {
    "float": np.arange(12, dtype=np.float32).reshape(3, 4),
    "fortran": np.asfortranarray(np.ones((3, 5), dtype=">f8")),
    "scalar": np.array(3.5),
    "empty": np.zeros((0, 7), dtype=np.int16),
    "unicode": np.array(["abc", "de"]),
    "bytes": np.array([b"abc", b"de"]),
    "bool": np.array([True, False]),
    "complex": np.array([1 + 2j], dtype=np.complex64),
    "datetime": np.array(["2024-01-01", "2024-02-03"], dtype="datetime64[ns]"),
    "structured": np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2, 3)), ("c", "S5")]),
    "aligned": np.zeros(2, dtype=np.dtype([("a", "u1"), ("b", "<i8")], align=True)),
    "void": np.zeros(2, dtype="V7"),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_arrays_are_clean(name: str) -> None:
    result = scan_bytes(N.npy(REAL[name]), f"{name}.npy")
    assert result[2][-1].format == "numpy"
    assert_silent(result, "NPY001")
    assert_silent(result, "NPY002")
    assert_silent(result, "NPY003")
    assert not result[1]


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_header_versions(version: tuple[int, int]) -> None:
    for rule in OURS:
        assert_silent(scan_bytes(N.npy(REAL["structured"], version=version), "a.npy"), rule)


def test_object_array_is_flagged_and_its_pickle_analysed() -> None:
    array = np.array([{"a": 1}, None, "text"], dtype=object)
    result = scan_bytes(N.npy(array), "obj.npy")
    found = assert_fires(result, "NPY001", contains="allow_pickle")
    assert found[0].severity == Severity.LOW  # the pickle inside carries the risk
    assert_silent(result, "PKL001")


def test_object_array_payload_is_found() -> None:
    data = N.raw_npy(N.header("|O", (1,)), EVIL)
    result = scan_bytes(data, "weights.npy")
    assert_fires(result, "NPY001")
    assert_fires(result, "PKL001", contains="os.system")


def test_structured_dtype_with_object_field() -> None:
    data = N.raw_npy("{'descr': [('a', '<i4'), ('o', '|O')], 'fortran_order': False, 'shape': (1,), }", EVIL)
    result = scan_bytes(data, "s.npy")
    assert_fires(result, "NPY001")
    assert_fires(result, "PKL001")


def test_appended_payload_after_array() -> None:
    data = N.npy(np.zeros(4, dtype="<f4")) + EVIL
    result = scan_bytes(data, "x.npy")
    assert_fires(result, "NPY002", contains="needs 16 data bytes")
    assert_fires(result, "PKL001")


def test_truncated_array() -> None:
    data = N.npy(np.zeros(100, dtype="<f8"))[:-8]
    assert_fires(scan_bytes(data, "x.npy"), "NPY002")


def test_huge_declared_shape_is_a_finding_not_an_allocation() -> None:
    data = N.raw_npy(N.header("<f8", (10**12, 10**6)), b"\x00" * 16)
    assert_fires(scan_bytes(data, "x.npy"), "NPY002")


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('id')",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
        "{'descr': '<f4', 'fortran_order': 'no', 'shape': (3,)}",
        "{'descr': 'zz9', 'fortran_order': False, 'shape': (3,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (" + "(" * 300 + ")" * 300 + ",)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (" + "9" * 5000 + ",)}",
        "\xff\xfe not text",
    ],
)
def test_malformed_headers(text: str) -> None:
    result = scan_bytes(N.raw_npy(text, b"\x00" * 12), "x.npy")
    assert_fires(result, "NPY003")
    _no_internal_errors(result)


def test_header_length_and_version_lies() -> None:
    assert_fires(scan_bytes(N.raw_npy(N.header("<f4", (3,)), length=60000), "x.npy"), "NPY003")
    assert_fires(scan_bytes(N.raw_npy(N.header("<f4", (3,)), version=(9, 0)), "x.npy"), "NPY003")
    big = N.MAGIC + b"\x02\x00" + (1 << 30).to_bytes(4, "little") + b"{"
    assert_fires(scan_bytes(big, "x.npy"), "NPY003", contains="exceeds")


def test_truncations_never_crash() -> None:
    data = N.npy(REAL["structured"])
    for cut in range(1, len(data), 7):
        _no_internal_errors(scan_bytes(data[:cut], "x.npy"))


def test_npz_members_are_analysed() -> None:
    clean = scan_bytes(N.npz({"a": REAL["float"], "b": REAL["structured"]}), "arrays.npz")
    for rule in OURS:
        assert_silent(clean, rule)
    hostile = N.raw_npy(N.header("|O", (1,)), EVIL)
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.npy", N.npy(REAL["float"]))
        zf.writestr("evil.npy", hostile)
    result = scan_bytes(buf.getvalue(), "arrays.npz")
    assert_fires(result, "NPY001")
    assert_fires(result, "PKL001")


def test_array_bytes_are_never_read(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    N.sparse_npy(str(path), 1 << 28)  # 1 GiB of float32
    reads: list[int] = []

    class Counting(io.FileIO):
        def read(self, size: int = -1) -> bytes:  # type: ignore[override]
            data = super().read(size)
            reads.append(len(data))
            return data

    art = Artifact.from_path(str(path))
    art.opener = lambda: Counting(str(path), "rb")  # type: ignore[assignment,return-value]
    findings, errors, _ = scan_artifact(art, BUILTIN)
    assert not errors and not findings
    assert sum(reads) < 1 << 16
