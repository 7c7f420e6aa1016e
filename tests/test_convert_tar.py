"""Conversion of torch < 0.4 tar checkpoints (sys_info, pickle, storages, tensors) without torch.

The fixtures are assembled byte by byte in builders/convert_files.py; a one-off check with
torch 2.13's own legacy reader on the same bytes gave identical tensors (views, storage views,
ties, fp16, scalars).  Hostile variants must end in ConversionRefused or MalformedInput
(LimitExceeded), never another exception, and nothing may execute.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from builders.convert_files import (
    View,
    legacy_tar_members_with,
    legacy_tar_with,
    sys_info,
    tar_bytes,
    tar_storages,
    tar_tensors,
)
from builders.payloads import MALICIOUS
from builders.pickles import PickleBuilder
from builders.torchfiles import inject, legacy_tar, tensors
from trojanguard.cli import Console, main
from trojanguard.convert import ConversionRefused, convert
from trojanguard.errors import Error, LimitExceeded, MalformedInput

safetensors_numpy = pytest.importorskip("safetensors.numpy")

BASE = np.arange(24, dtype="<f4")
HALF = (np.arange(5, dtype="<f2") / 3).astype("<f2")
STORAGES = {"0": BASE.tobytes(), "1": HALF.tobytes()}
FLOATS = {"0": BASE.tobytes()}
VIEWS = [
    View("w", "0", (4, 6), (6, 1)),
    View("wt", "0", (6, 4), (1, 6)),
    View("window", "v", (2, 2), (3, 1), offset=1),  # on storage view v = elements 10..17 of storage 0
    View("tied", "0", (4, 6), (6, 1), tie="w"),
    View("h", "1", (5,), (1,), storage="HalfStorage"),
    View("scalar", "v", (), (), offset=2),
    View("empty", "0", (0, 3), (3, 1)),
]
STORAGE_VIEWS = [("v", "0", 10, 8)]


def _expected() -> dict[str, np.ndarray]:
    w = BASE.reshape(4, 6)
    v = BASE[10:18]
    return {"w": w, "wt": w.T, "window": np.array([[v[1], v[2]], [v[4], v[5]]]), "tied": w, "h": HALF,
            "scalar": np.array(v[2]), "empty": np.zeros((0, 3), "<f4")}  # fmt: skip


def _convert(tmp_path: Path, data: bytes) -> object:
    src = tmp_path / "old.pt"
    src.write_bytes(data)
    return convert(str(src), str(tmp_path / "old.safetensors"))


def _members(**override: bytes) -> list[tuple[str, bytes]]:
    members = legacy_tar_members_with(VIEWS, STORAGES, STORAGE_VIEWS)
    members.update(override)
    return list(members.items())


def test_views_storage_views_ties_and_dtypes_round_trip(tmp_path: Path) -> None:
    result = _convert(tmp_path, legacy_tar_with(VIEWS, STORAGES, STORAGE_VIEWS, epoch=3))
    assert result.verified and result.tensors == len(VIEWS)  # type: ignore[attr-defined]
    assert ("state_dict.tied", "state_dict.w") in result.aliases  # type: ignore[attr-defined]
    assert result.metadata_keys == ("epoch",)  # type: ignore[attr-defined]
    out = dict(safetensors_numpy.load_file(str(tmp_path / "old.safetensors")))
    for name, want in _expected().items():
        got = out[f"state_dict.{name}"]
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want), name


def test_gnu_and_ustar_tars_and_the_torchfiles_builder(tmp_path: Path) -> None:
    for fmt in (tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT):
        assert _convert(tmp_path, tar_bytes(_members(), fmt)).tensors == len(VIEWS)  # type: ignore[attr-defined]
    assert _convert(tmp_path, legacy_tar(tensors(3))).tensors == 3  # type: ignore[attr-defined]


def test_storage_bytes_are_seeked_over_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing reads headers and records only; storage bytes are read once, for the tensors."""
    big = {"0": bytes(4 << 20)}
    data = legacy_tar_with([View("x", "0", (2,), (1,))], big)
    src = tmp_path / "big.pt"
    src.write_bytes(data)
    from trojanguard import convert as conv

    ck = conv.read_checkpoint(str(src))
    try:
        assert ck.tensors["state_dict.x"].storage.numel == 1 << 20
    finally:
        ck.close()
    read: list[int] = []
    real_open = open

    class Counting(io.FileIO):
        def read(self, n: int = -1) -> bytes:  # type: ignore[override]
            chunk = super().read(n)
            read.append(len(chunk))
            return chunk

    monkeypatch.setattr(conv, "open", lambda p, m="r": Counting(p, m.replace("b", "")) if "b" in m else real_open(p, m), raising=False)
    ck = conv.read_checkpoint(str(src))
    ck.close()
    assert sum(read) < 64 << 10, sum(read)


@pytest.mark.parametrize("member", ["sys_info", "pickle", "storages", "tensors"])
def test_payload_in_any_member_is_refused(tmp_path: Path, member: str) -> None:
    with pytest.raises(ConversionRefused, match=r"os\.system"):
        _convert(tmp_path, legacy_tar(tensors(2), payload_in=member))
    assert not (tmp_path / "old.safetensors").exists()


def test_every_malicious_payload_as_the_pickle_member_is_refused(tmp_path: Path) -> None:
    for name, payload in MALICIOUS.items():
        with pytest.raises(Error) as info:
            _convert(tmp_path, tar_bytes(_members(pickle=payload)))
        assert isinstance(info.value, (ConversionRefused, MalformedInput)), (name, info.value)
    assert not (tmp_path / "old.safetensors").exists()


def test_payload_in_a_record_pickle_is_refused(tmp_path: Path) -> None:
    storages = tar_storages(STORAGES, {"0": "FloatStorage", "1": "HalfStorage"}, STORAGE_VIEWS)
    evil = inject(storages[: storages.index(b".") + 1], ("builtins", "exec", "print(1)")) + storages[storages.index(b".") + 1 :]
    with pytest.raises(ConversionRefused, match=r"builtins\.exec"):
        _convert(tmp_path, tar_bytes(_members(storages=evil)))


def test_pickled_module_source_is_refused(tmp_path: Path) -> None:
    p = PickleBuilder(2).proto().mark().value("module").value("Net").value("net.py").value("import os").tuple_()
    with pytest.raises(ConversionRefused, match="module class"):
        _convert(tmp_path, tar_bytes(_members(pickle=p.binpersid().stop().bytes())))


@pytest.mark.parametrize("missing", ["sys_info", "pickle", "storages", "tensors"])
def test_missing_member_is_refused(tmp_path: Path, missing: str) -> None:
    with pytest.raises(MalformedInput, match=f"lacks member.*{missing}"):
        _convert(tmp_path, tar_bytes([m for m in _members() if m[0] != missing]))


@pytest.mark.parametrize("entries", [
    [("../pickle", b"x")], [("/storages", b"x")], [("./tensors", b"x")], [("notes.txt", b"x")],
    [("symlink:pickle->/etc/passwd", b"")], [("pickle", b"x")],
])  # fmt: skip
def test_path_tricks_links_and_duplicates_are_refused(tmp_path: Path, entries: list[tuple[str, bytes]]) -> None:
    with pytest.raises(ConversionRefused):
        _convert(tmp_path, tar_bytes(_members() + entries))


def test_storage_view_outside_its_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MalformedInput, match="covers elements 20..28 of 24"):
        _convert(tmp_path, legacy_tar_with(VIEWS, STORAGES, [("v", "0", 20, 8)]))
    with pytest.raises(MalformedInput, match="unknown root"):
        _convert(tmp_path, legacy_tar_with(VIEWS, STORAGES, [("v", "9", 0, 8)]))


def test_tensor_outside_its_storage_or_view_is_refused(tmp_path: Path) -> None:
    # 8 elements from offset 5 of the 8-element view v: inside storage 0, outside the view
    with pytest.raises(MalformedInput, match="reaches element"):
        _convert(tmp_path, legacy_tar_with([View("x", "v", (8,), (1,), offset=5)], FLOATS, STORAGE_VIEWS))
    with pytest.raises(MalformedInput, match="reaches element"):
        _convert(tmp_path, legacy_tar_with([View("x", "0", (5,), (6,))], FLOATS))
    with pytest.raises(MalformedInput, match="does not hold"):
        _convert(tmp_path, legacy_tar_with([View("x", "7", (1,), (1,))], FLOATS))


def test_huge_counts_and_sizes_are_refused(tmp_path: Path) -> None:
    types = {"0": "FloatStorage", "1": "HalfStorage"}
    cases = {
        "count": tar_storages(STORAGES, types, count=10**12),
        "numel": tar_storages(STORAGES, types, numel={"0": 10**15}),
        "past-end": tar_storages(STORAGES, types, numel={"1": 4096}),
    }
    for name, storages in cases.items():
        with pytest.raises(MalformedInput) as info:
            _convert(tmp_path, tar_bytes(_members(storages=storages)))
        assert name != "count" or isinstance(info.value, LimitExceeded)
    tensors_, _ = tar_tensors(VIEWS, count=10**9)
    with pytest.raises(LimitExceeded):
        _convert(tmp_path, tar_bytes(_members(tensors=tensors_)))
    bad_ndim = tar_tensors([View("x", "0", (1,), (1,))])[0].replace(struct.pack("<ii", 1, 0), struct.pack("<ii", 10**6, 0))
    with pytest.raises(MalformedInput, match="dimensions"):
        _convert(tmp_path, tar_bytes(_members(tensors=bad_ndim)))


def test_big_pax_header_and_bad_checksum_are_refused(tmp_path: Path) -> None:
    data = bytearray(tar_bytes(_members()))
    data[0] ^= 1
    with pytest.raises(MalformedInput, match="checksum"):
        _convert(tmp_path, bytes(data))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("pickle")
        info.pax_headers = {"comment": "x" * (1 << 17)}
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(LimitExceeded):
        _convert(tmp_path, buf.getvalue())


def test_big_endian_sys_info_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConversionRefused, match="big-endian"):
        _convert(tmp_path, tar_bytes(_members(sys_info=sys_info(little_endian=False))))


def test_truncations_and_mutations_only_raise_trojanguard_errors(tmp_path: Path) -> None:
    import random

    seed = legacy_tar_with(VIEWS, STORAGES, STORAGE_VIEWS)
    rng = random.Random(7)
    samples = [seed[:cut] for cut in range(0, len(seed), 97)]
    for _ in range(150):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        samples.append(bytes(data))
    for data in samples:
        try:
            _convert(tmp_path, data)
        except Error:
            pass


def test_cli_converts_a_legacy_tar(tmp_path: Path) -> None:
    (tmp_path / "m.tar").write_bytes(legacy_tar(tensors(2)))
    out, err = io.StringIO(), io.StringIO()
    code = main(["convert", str(tmp_path / "m.tar"), "-o", str(tmp_path / "m.safetensors")], Console(out=out, err=err))
    assert code == 0 and "2 tensors" in out.getvalue(), err.getvalue()


def test_hostile_tars_run_nothing_under_an_audit_hook(tmp_path: Path) -> None:
    for i, member in enumerate(("sys_info", "pickle", "storages", "tensors")):
        (tmp_path / f"{i}.pt").write_bytes(legacy_tar(tensors(2), payload_in=member))
    for i, payload in enumerate(list(MALICIOUS.values())[:20]):
        (tmp_path / f"m{i}.pt").write_bytes(tar_bytes(_members(pickle=payload)))
    (tmp_path / "warm.bin").write_bytes(legacy_tar(tensors(1)))
    script = f"""
import sys, glob
from trojanguard.convert import convert
from trojanguard.errors import Error
d = {str(tmp_path)!r}
convert(d + "/warm.bin", d + "/warm.safetensors")  # lazy imports happen here
bad = []
sys.addaudithook(lambda e, a: bad.append(e) if e in ("exec", "os.system", "subprocess.Popen", "pickle.find_class", "marshal.loads", "import") else None)
refused = 0
for p in glob.glob(d + "/*.pt"):
    try:
        convert(p, p + ".safetensors")
    except Error:
        refused += 1
print("EVENTS", sorted(set(bad)), "REFUSED", refused)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert "EVENTS [] REFUSED 24" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("layout", ["zip", "tar"])
def test_stride_zero_views_cannot_blow_up_memory(tmp_path: Path, layout: str) -> None:
    """Four bytes of storage, a (2**40,)-element stride-0 view: refused before materialising."""
    from builders.convert_files import torch_zip_with

    views = [View("x", "0", (1 << 40,), (0,))]
    data = torch_zip_with(views, {"0": bytes(4)}) if layout == "zip" else legacy_tar_with(views, {"0": bytes(4)})
    with pytest.raises(LimitExceeded, match="would materialise"):
        _convert(tmp_path, data)
    small = [View("x", "0", (1000,), (0,))]  # a modest expand() is still converted
    data = torch_zip_with(small, {"0": bytes(4)}) if layout == "zip" else legacy_tar_with(small, {"0": bytes(4)})
    assert _convert(tmp_path, data).tensors == 1  # type: ignore[attr-defined]
