"""Any bytes in, findings or ScanErrors out: never an exception, never an internal error.

Hypothesis feeds random bytes and mutated real-format seeds (truncations, byte flips,
insertions) to the full scanner under many file names, so every analyzer that format
identification can reach is exercised.  An ``internal`` ScanError means an analyzer let an
unexpected exception escape: that is a bug this test exists to catch.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zipfile
from collections import OrderedDict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import scan_bytes
from trojanguard.artifact import Limits

NAMES = (
    "model.pt", "model.pkl", "weights.safetensors", "x.npy", "x.npz", "m.onnx", "m.gguf", "m.h5", "m.keras",
    "m.tflite", "saved_model.pb", "m.joblib", "a.zip", "a.tar", "a.gz", "a.7z", "a.zst", "a.lz4", "blob", "code.py",
    "config.json",
)

SMALL = Limits(max_total_bytes=32 << 20, max_member_size=16 << 20, max_in_memory=8 << 20, max_pickle_ops=200_000,
               ratio_floor=1 << 20, max_members=2_000)


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo hi",))


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _seeds() -> list[bytes]:
    state = OrderedDict(weight=[1.0, 2.0], bias=3, name="layer", raw=b"\x00\x01" * 8)
    pickles = [pickle.dumps(state, protocol=p) for p in range(6)] + [pickle.dumps(_Payload(), protocol=2)]
    npy = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }".ljust(127, b" ") + b"\n" + b"\0" * 16
    npy_obj = b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(127, b" ") + b"\n" + pickles[6]
    torch_zip = _zip({"archive/data.pkl": pickles[2], "archive/data/0": b"\0" * 32, "archive/version": b"3\n"})
    safetensors = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    safetensors = len(safetensors).to_bytes(8, "little") + safetensors + b"\0" * 8
    gguf = b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (1).to_bytes(8, "little")
    gguf += (24).to_bytes(8, "little") + b"tokenizer.chat_template" + b"_" + (8).to_bytes(4, "little")
    gguf += (11).to_bytes(8, "little") + b"{{ x.y }}ab"
    seeds = [*pickles, npy, npy_obj, torch_zip, safetensors, gguf, gzip.compress(pickles[6]), _tar({"pickle": pickles[2]})]
    seeds.append(_zip({"inner.zip": _zip({"data.pkl": pickles[6]}), "readme.txt": b"hello"}))
    seeds.extend(_builder_seeds())
    return seeds


def _builder_seeds() -> list[bytes]:
    """One or two seeds of every format the fixture builders can make."""
    from builders import (
        archives,
        gguf_files,
        keras_files,
        onnx_files,
        payloads,
        safetensors_files,
        tf_files,
        tflite_files,
        torchfiles,
    )

    seeds = list(payloads.MALICIOUS.values())[:40]
    seeds += [archives.benign_zip(), archives.duplicate_zip(), archives.hidden_entry_zip(), archives.prefix_zip()]
    seeds += [gguf_files.model_with_template("{% for m in messages %}{{ m.content }}{% endfor %}")]
    seeds += [keras_files.keras_zip(keras_files.functional([keras_files.dense()])), keras_files.weights_h5(),
              keras_files.legacy_h5(keras_files.functional([keras_files.dense()]))]
    seeds += [onnx_files.clean_model(), onnx_files.external_data_model("w.bin"), onnx_files.if_subgraph_model("x", "Op")]
    seeds += [safetensors_files.real_file()]
    seeds += [tf_files.saved_model(tf_files.clean_graph()), tf_files.clean_graph()]
    seeds += [tflite_files.tflite_model([(0, None), (32, "FlexPyFunc")])]
    seeds += [torchfiles.torch_zip(), torchfiles.torchscript_zip(), torchfiles.legacy_file()]
    return seeds


SEEDS = _seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("truncate", "flip", "insert", "delete")))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if op == "truncate":
            del data[pos:]
        elif op == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[pos : pos + draw(st.integers(1, 16))]
    return bytes(data)


def _check(data: bytes, name: str) -> None:
    findings, errors, scanned = scan_bytes(data, name, SMALL)
    internal = [e.message for e in errors if e.kind == "internal"]
    assert not internal, internal
    assert scanned, "every input is accounted for in the report"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2048), name=st.sampled_from(NAMES))
def test_random_bytes_never_crash(data: bytes, name: str) -> None:
    _check(data, name)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=mutated(), name=st.sampled_from(NAMES))
def test_mutated_formats_never_crash(data: bytes, name: str) -> None:
    _check(data, name)


def test_every_seed_scans_cleanly_unmutated() -> None:
    for seed in SEEDS:
        for name in ("model.pt", "blob"):
            _check(seed, name)
