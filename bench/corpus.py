"""Generate the benchmark corpus: malicious pickles in realistic carriers, plus benign files.

Why generated: a committed set of trojaned binaries would be a hazard and would rot; the
project's fixture builders (``tests/builders/``) already describe the attacks, so the
corpus is rebuilt from them on demand.  Every malicious pickle stream is wrapped in each
carrier an attacker would really use (a torch zip whose ``data.pkl`` is the payload, a raw
``.pkl`` / ``.bin``, a joblib file, a ``.npy`` object array, a zip and a tar.gz nesting
them), so a scanner that only looks at one container kind shows up in the recall numbers.

Benign files are the real model files from ``bench/realmodels.py`` plus the builders'
benign streams in the same carriers and generated torch-style state dicts.

Nothing here loads a pickle: streams are written with the opcode-level ``PickleBuilder``.

Usage::

    .venv/bin/python bench/corpus.py [--out bench/.cache/corpus] [--no-real]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
DEFAULT_OUT = CACHE / "corpus"
sys.path.insert(0, str(REPO / "tests"))  # the builders import each other as `builders.*`

from builders.pickles import PickleBuilder, reduce_call  # noqa: E402


def _optional_builder(name: str) -> ModuleType | None:
    """Import ``tests/builders/<name>.py`` if it exists (other engineers write them in parallel)."""
    if not (REPO / "tests" / "builders" / f"{name}.py").exists():
        return None
    import importlib

    return importlib.import_module(f"builders.{name}")


# --------------------------------------------------------------------------- payload streams
def _fallback_malicious() -> dict[str, bytes]:
    """A small built-in payload set, used only while tests/builders/payloads.py is absent."""
    out = {
        "os_system": reduce_call("os", "system", "id", protocol=2),
        "posix_system_p4": reduce_call("posix", "system", "id", protocol=4),
        "builtins_eval": reduce_call("builtins", "eval", "__import__('os').system('id')", protocol=4),
        "builtins_exec": reduce_call("builtins", "exec", "import os; os.system('id')", protocol=2),
        "subprocess_check_output": reduce_call("subprocess", "check_output", "id", protocol=4),
        "runpy_run_path": reduce_call("runpy", "run_path", "/tmp/x.py", protocol=4),
        "webbrowser_open": reduce_call("webbrowser", "open", "http://example.invalid", protocol=3),
        "proto0_os_system": reduce_call("os", "system", "id", protocol=0),
    }
    return out


def _fallback_benign() -> dict[str, bytes]:
    return {
        "plain_dict": PickleBuilder(4).proto().empty_dict().value("lr").value(0.01).setitem().stop().bytes(),
        "plain_list": PickleBuilder(2).proto().empty_list().mark().value(1).value(2).value(3).appends().stop().bytes(),
    }


def payload_streams() -> tuple[dict[str, bytes], dict[str, bytes], str]:
    """(malicious, benign, source) pickle streams from tests/builders/payloads.py or the fallback."""
    payloads = _optional_builder("payloads")
    if payloads is not None and hasattr(payloads, "MALICIOUS"):
        mal = {str(k): _as_bytes(v) for k, v in payloads.MALICIOUS.items()}
        ben = {str(k): _as_bytes(v) for k, v in getattr(payloads, "BENIGN", {}).items()}
        return mal, ben, "tests/builders/payloads.py"
    return _fallback_malicious(), _fallback_benign(), "bench/corpus.py fallback"


def _as_bytes(value: object) -> bytes:
    """Builders may store bytes, a callable returning bytes, or an object with ``.data``."""
    if callable(value):
        value = value()
    if isinstance(value, tuple) and value and isinstance(value[0], (bytes, bytearray)):
        value = value[0]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    data: object = getattr(value, "data", None)
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    raise TypeError(f"cannot get pickle bytes from {type(value).__name__}")


# --------------------------------------------------------------------------- benign state dicts
def state_dict_pickle(tensors: Iterable[tuple[str, tuple[int, ...]]]) -> bytes:
    """What ``torch.save(model.state_dict())`` writes as data.pkl (protocol 2, persistent ids)."""
    p = PickleBuilder(2).proto()
    p.global_("collections", "OrderedDict").binput(0).empty_tuple().reduce().mark()
    for key, (name, shape) in enumerate(tensors):
        numel = 1
        for d in shape:
            numel *= d
        # torch memoises each global once and re-uses it with BINGET, like this
        p.value(name)
        p.global_("torch._utils", "_rebuild_tensor_v2").binput(1) if key == 0 else p.binget(1)
        p.mark().mark().value("storage")
        p.global_("torch", "FloatStorage").binput(2) if key == 0 else p.binget(2)
        p.value(str(key)).value("cpu").value(numel).tuple_()
        p.binpersid().value(0)
        p.mark()
        for d in shape:
            p.value(d)
        p.tuple_().mark()
        stride = 1
        strides = []
        for d in reversed(shape):
            strides.append(stride)
            stride *= d
        for s in reversed(strides):
            p.value(s)
        p.tuple_().newfalse().binget(0).empty_tuple().reduce().tuple_().reduce()
    return p.setitems().stop().bytes()


def torch_zip(data_pkl: bytes, storages: dict[str, bytes] | None = None, prefix: str = "archive") -> bytes:
    """A torch.save zip (stored, like torch writes it) with the given data.pkl and storages."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/data.pkl", data_pkl)
        zf.writestr(f"{prefix}/byteorder", "little")
        for key, blob in (storages or {}).items():
            zf.writestr(f"{prefix}/data/{key}", blob)
        zf.writestr(f"{prefix}/version", "3\n")
        zf.writestr(f"{prefix}/.data/serialization_id", "0123456789012345678901234567890123456789")
    return buf.getvalue()


def storages_for(data_pkl: bytes) -> dict[str, bytes]:
    """Zero-filled storages sized as the pickle's persistent ids declare (like torch.save writes)."""
    import io as _io

    from trojanguard.analyzers import _pickle_vm as vm
    from trojanguard.analyzers.base import Context
    from trojanguard.analyzers.pickle import analyze_pickle_stream
    from trojanguard.analyzers.torch import _ITEMSIZE
    from trojanguard.artifact import Budget, Limits
    from trojanguard.model import Location

    limits = Limits()
    scan = analyze_pickle_stream(_io.BytesIO(data_pkl), Location("corpus"), Context(limits, Budget(limits)))
    out: dict[str, bytes] = {}
    for pid in scan.persistent_ids:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[2], str):
            kind = pid[1].name if isinstance(pid[1], vm.Global) else ""
            numel = pid[4] if isinstance(pid[4], int) else 0
            out.setdefault(pid[2], b"\x00" * (numel * _ITEMSIZE.get(kind, 1)))
    return out or {"0": b"\x00" * 64}


def npy_bytes(descr: str, shape: tuple[int, ...], body: bytes) -> bytes:
    """A .npy v1.0 file: magic, padded header dict, then the body (raw data or a pickle)."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(header) + 1) % 64
    header_bytes = (header + " " * pad + "\n").encode("latin-1")
    return b"\x93NUMPY\x01\x00" + len(header_bytes).to_bytes(2, "little") + header_bytes + body


def zip_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def tar_gz_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def torch_legacy(payload: bytes) -> bytes:
    """torch.save(..., _use_new_zipfile_serialization=False): magic, protocol and sys-info
    pickles, then the object pickle (here: the payload), then the storage-key list."""
    header = [0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}]
    return b"".join(pickle.dumps(v, protocol=2) for v in header) + payload + pickle.dumps([], protocol=2)


#: carrier name -> (file suffix, wrap(pickle stream) -> file bytes)
CARRIERS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "pkl": (".pkl", lambda s: s),
    "bin": (".bin", lambda s: s),
    "torch-zip": (".pt", lambda s: torch_zip(s, storages_for(s))),
    "joblib": (".joblib", lambda s: s),
    "npy-object": (".npy", lambda s: npy_bytes("|O", (1,), s)),
    "zip-nested": (".zip", lambda s: zip_of("model/model.pkl", s)),
    "targz-torch": (".tar.gz", lambda s: tar_gz_of("checkpoint/model.pt", torch_zip(s, storages_for(s)))),
    "torch-legacy": (".pth", torch_legacy),
    "joblib-zlib": (".joblib", zlib.compress),  # joblib.dump(compress=...) default codec
    "pkl-gz": (".pkl.gz", lambda s: gzip.compress(s, mtime=0)),
}


# --------------------------------------------------------------------------- corpus
def _write(root: Path, rel: str, data: bytes) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]


def _generated_benign(root: Path) -> list[dict[str, str]]:
    rows = []
    for n, layers in enumerate((2, 8, 32)):
        tensors = [(f"layers.{i}.weight", (16, 16)) for i in range(layers)] + [("head.bias", (10,))]
        storages = {str(i): b"\x00" * (4 * 16 * 16) for i in range(layers)} | {str(layers): b"\x00" * 40}
        rel = _write(root, f"benign/generated/state_dict_{n}.pt", torch_zip(state_dict_pickle(tensors), storages))
        rows.append({"file": rel, "expected": "benign", "payload": f"state_dict_{layers}", "carrier": "torch-zip"})
    rel = _write(root, "benign/generated/weights.npy", npy_bytes("<f4", (4, 4), b"\x00" * 64))
    rows.append({"file": rel, "expected": "benign", "payload": "float32-array", "carrier": "npy"})
    return rows + _library_benign(root) + _torch_benign(root)


def _library_benign(root: Path) -> list[dict[str, str]]:
    """Files written by numpy and joblib themselves from trusted objects (saving only)."""
    rows = []
    try:
        import joblib
        import numpy as np
    except ImportError:
        return rows
    rng = np.random.default_rng(0)
    arrays = {"coef": rng.standard_normal((10, 4)), "intercept": np.zeros(4), "classes": np.arange(4)}
    out = root / "benign" / "library"
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "float_matrix.npy", rng.standard_normal((64, 64)).astype(np.float32))
    np.save(out / "object_array_of_dicts.npy", np.array([{"a": 1}, {"b": [1, 2]}], dtype=object), allow_pickle=True)
    np.savez(out / "arrays.npz", **arrays)
    np.savez_compressed(out / "arrays_compressed.npz", **arrays)
    joblib.dump({"params": {"C": 1.0, "penalty": "l2"}, **arrays}, out / "estimator_like.joblib")
    joblib.dump({"params": {"C": 1.0}, **arrays}, out / "estimator_like_zlib.joblib", compress=3)
    joblib.dump({"params": {"C": 1.0}, **arrays}, out / "estimator_like.pkl.lz4", compress="lz4")
    for path in sorted(out.iterdir()):
        rows.append(
            {"file": str(path.relative_to(root)), "expected": "benign", "payload": path.stem, "carrier": "library"}
        )
    return rows + _library_malicious(root, arrays)


class _Hook:
    """A trusted stand-in for an attacker's object: pickling it records a call, nothing runs."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def _library_malicious(root: Path, arrays: dict[str, object]) -> list[dict[str, str]]:
    """joblib.dump / numpy.save of ordinary data with one payload object inside."""
    import joblib
    import numpy as np

    out = root / "malicious" / "library"
    out.mkdir(parents=True, exist_ok=True)
    hook = _Hook(os.system, "id")
    joblib.dump({**arrays, "hook": hook}, out / "os_system_in_estimator.joblib")
    joblib.dump({**arrays, "hook": hook}, out / "os_system_in_estimator_zlib.joblib", compress=3)
    joblib.dump({**arrays, "hook": hook}, out / "os_system_in_estimator.pkl.lz4", compress="lz4")
    np.save(out / "os_system_object_array.npy", np.array([{"a": 1}, hook], dtype=object), allow_pickle=True)
    np.savez(out / "os_system_in_npz.npz", weights=np.zeros(4), meta=np.array([hook], dtype=object))
    return [
        {"file": str(p.relative_to(root)), "expected": "malicious", "payload": "os.system", "carrier": "library"}
        for p in sorted(out.iterdir())
    ]


def _torch_benign(root: Path) -> list[dict[str, str]]:
    """Real torch.save / torch.jit.save output, via the peers venv (the one with torch)."""
    python = REPO / "bench" / ".peers-venv" / "bin" / "python"
    out = root / "benign" / "torch"
    bad = root / "malicious" / "torch.save"
    if not python.exists():
        return []
    cmd = [str(python), str(REPO / "bench" / "torch_benign.py"), str(out), str(bad)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"torch files skipped: {done.stderr[-300:]}", file=sys.stderr)
        return []
    return [
        {"file": str(p.relative_to(root)), "expected": label, "payload": p.stem, "carrier": "torch.save"}
        for label, folder in (("benign", out), ("malicious", bad))
        for p in sorted(folder.iterdir())
    ]


def _evil_lambda(x: object) -> object:  # pragma: no cover - marshalled, never called
    import os

    os.system("id")
    return x


def _keras(root: Path) -> list[dict[str, str]]:
    """Keras .keras / legacy .h5 files from tests/builders/keras_files.py, both ways."""
    kf = _optional_builder("keras_files")
    if kf is None:
        return []
    files = {
        ("malicious", "lambda_os_system.keras"): lambda: kf.keras_zip(
            kf.functional([kf.dense(), kf.lambda_v3(_evil_lambda)])
        ),
        ("malicious", "lambda_os_system.h5"): lambda: kf.legacy_h5(
            kf.functional([kf.dense(), kf.lambda_v2(_evil_lambda)])
        ),
        ("benign", "dense.keras"): lambda: kf.keras_zip(kf.functional([kf.dense()])),
        ("benign", "dense.h5"): lambda: kf.legacy_h5(kf.functional([kf.dense()])),
    }
    rows = []
    for (label, name), make in files.items():
        try:
            data = make()
        except Exception as exc:  # a builder still being written must not stop the corpus
            print(f"keras {name} skipped: {exc}", file=sys.stderr)
            continue
        rel = _write(root, f"{label}/keras/{name}", data)
        rows.append({"file": rel, "expected": label, "payload": name, "carrier": "keras"})
    return rows


#: tests/builders/archives.py makers whose archive carries the os.system pickle, and the
#: file name each is written under (the evasion is in the container, not the pickle)
_EVASIVE_ARCHIVES = {
    "crc_mismatch_zip": "crc_mismatch.zip",
    "duplicate_zip": "duplicate_names.zip",
    "name_mismatch_zip": "local_central_name_mismatch.pt",
    "hidden_entry_zip": "hidden_local_entry.pt",
    "prefix_zip": "pickle_before_zip.zip",
    "corrupted_first_header_zip": "corrupted_first_header.zip",
    "fake_encrypted_zip": "fake_encrypted.zip",
    "torch_legacy_tar": "torch_legacy.tar",
    "nested_zip_in_tar_in_gzip": "zip_in_tar_in_gzip.tar.gz",
}


def _archives(root: Path) -> list[dict[str, str]]:
    """Malformed/evasive containers from tests/builders/archives.py (and its benign zip)."""
    ab = _optional_builder("archives")
    if ab is None:
        return []
    rows = []
    makers = [("malicious", fn, name) for fn, name in _EVASIVE_ARCHIVES.items()] + [
        ("benign", "benign_zip", "benign.zip")
    ]
    for label, fn, name in makers:
        make = getattr(ab, fn, None)
        if make is None:
            continue
        rel = _write(root, f"{label}/archives/{name}", make())
        rows.append({"file": rel, "expected": label, "payload": fn, "carrier": "archive-evasion"})
    return rows


def _real_models(root: Path, real_dir: Path) -> list[dict[str, str]]:
    rows = []
    for src in sorted(p for p in real_dir.rglob("*") if p.is_file()):
        rel = f"benign/real/{src.relative_to(real_dir)}"
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copyfile(src, dest)
        rows.append({"file": rel, "expected": "benign", "payload": "real-model", "carrier": src.suffix or "-"})
    return rows


def build(out: Path = DEFAULT_OUT, real_dir: Path | None = CACHE / "real") -> list[dict[str, str]]:
    """(Re)create the corpus under ``out`` and write ``<out>.manifest.json``; return its rows."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    malicious, benign, source = payload_streams()
    rows: list[dict[str, str]] = []
    for label, streams in (("malicious", malicious), ("benign", benign)):
        for name, stream in sorted(streams.items()):
            for carrier, (suffix, wrap) in CARRIERS.items():
                rel = _write(out, f"{label}/{carrier}/{_safe(name)}{suffix}", wrap(stream))
                rows.append({"file": rel, "expected": label, "payload": name, "carrier": carrier})
    rows += _generated_benign(out)
    rows += _keras(out)
    rows += _archives(out)
    if real_dir is not None and real_dir.is_dir():
        rows += _real_models(out, real_dir)
    manifest = {"payload_source": source, "files": rows}
    manifest_path(out).write_text(json.dumps(manifest, indent=1))
    return rows


def manifest_path(root: Path) -> Path:
    """Beside the corpus, not inside it, so that no scanner sees it as a corpus file."""
    return root.with_name(root.name + ".manifest.json")


def load_manifest(root: Path = DEFAULT_OUT) -> dict[str, object]:
    data: dict[str, object] = json.loads(manifest_path(root).read_text())
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--no-real", action="store_true", help="leave out the real model files")
    args = ap.parse_args(argv)
    rows = build(args.out, None if args.no_real else CACHE / "real")
    mal = sum(r["expected"] == "malicious" for r in rows)
    print(f"corpus: {len(rows)} files ({mal} malicious, {len(rows) - mal} benign) in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
