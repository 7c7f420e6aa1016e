"""Format identification by content; the file name is only a hint.

This is the one place that knows magic bytes and the extensions each format is expected
to carry.  ``identify()`` looks at the head of an artifact (and, for zip files, at the
member names in the central directory) and returns a :class:`Format`.  Analyzers declare
which formats they handle; the scanner compares the identified format with the extension
and reports a mismatch (a ``.safetensors`` that is a pickle) as a finding.
"""

from __future__ import annotations

import enum
import json
import zipfile
from collections.abc import Callable
from typing import BinaryIO

from .artifact import HEAD_SIZE, Artifact


class Format(str, enum.Enum):
    # pickle family
    PICKLE = "pickle"
    TORCH_ZIP = "torch-zip"
    TORCH_LEGACY = "torch-legacy"
    TORCHSCRIPT = "torchscript"
    NUMPY = "numpy"
    NPZ = "npz"
    JOBLIB = "joblib"
    # containers
    ZIP = "zip"
    TAR = "tar"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    LZMA = "lzma"
    ZSTD = "zstd"
    LZ4 = "lz4"
    SEVENZIP = "7z"
    # other model formats
    SAFETENSORS = "safetensors"
    ONNX = "onnx"
    GGUF = "gguf"
    GGML = "ggml"
    HDF5 = "hdf5"
    KERAS = "keras"
    TFLITE = "tflite"
    SAVEDMODEL = "tf-savedmodel"
    TF_GRAPHDEF = "tf-graphdef"
    PROTOBUF = "protobuf"
    # plain content
    PYTHON = "python"
    JSON = "json"
    TEXT = "text"
    IMAGE = "image"
    EMPTY = "empty"
    UNKNOWN = "unknown"


#: Extensions a format is expected to carry (lower case).  A file whose content is a
#: code-carrying format but whose extension belongs to a *different* format is a mismatch.
EXTENSIONS: dict[Format, frozenset[str]] = {
    Format.PICKLE: frozenset({".pkl", ".pickle", ".p", ".dat", ".data", ".pt", ".pth", ".bin", ".ckpt", ".sav",
                              ".model", ".joblib", ".dill", ".cloudpickle", ".db", ".npy", ".tar"}),
    Format.TORCH_ZIP: frozenset({".pt", ".pth", ".bin", ".ckpt", ".model", ".pkl", ".zip", ".tar", ".mar"}),
    Format.TORCH_LEGACY: frozenset({".pt", ".pth", ".bin", ".ckpt", ".model", ".pkl", ".tar"}),
    Format.TORCHSCRIPT: frozenset({".pt", ".pth", ".jit", ".ptl", ".torchscript", ".zip", ".bin", ".model"}),
    Format.NUMPY: frozenset({".npy"}),
    Format.NPZ: frozenset({".npz", ".zip"}),
    Format.JOBLIB: frozenset({".joblib", ".pkl", ".z", ".gz", ".bz2", ".xz", ".lzma", ".lz4", ".sav", ".model"}),
    Format.ZIP: frozenset({".zip", ".jar", ".whl", ".mar", ".nemo", ".keras", ".npz"}),
    Format.TAR: frozenset({".tar", ".nemo"}),
    # joblib.dump(compress=(method, level)) keeps the .joblib name for every codec
    Format.GZIP: frozenset({".gz", ".tgz", ".z", ".joblib"}),
    Format.BZIP2: frozenset({".bz2", ".tbz2", ".joblib"}),
    Format.XZ: frozenset({".xz", ".txz", ".joblib"}),
    Format.LZMA: frozenset({".lzma", ".joblib"}),
    Format.ZSTD: frozenset({".zst", ".zstd"}),
    Format.LZ4: frozenset({".lz4", ".joblib"}),
    Format.SEVENZIP: frozenset({".7z"}),
    Format.SAFETENSORS: frozenset({".safetensors", ".st"}),
    Format.ONNX: frozenset({".onnx", ".ort"}),
    Format.GGUF: frozenset({".gguf"}),
    Format.GGML: frozenset({".ggml", ".bin"}),
    Format.HDF5: frozenset({".h5", ".hdf5", ".keras", ".he5", ".hdf"}),
    Format.KERAS: frozenset({".keras", ".zip"}),
    Format.TFLITE: frozenset({".tflite", ".lite"}),
    Format.SAVEDMODEL: frozenset({".pb"}),
    Format.TF_GRAPHDEF: frozenset({".pb", ".graphdef"}),
}

#: Formats that can carry code or executable logic: a mismatch with one of these is
#: reported with a high severity, because renaming them hides them from name-based tools.
CODE_CARRYING = frozenset({
    Format.PICKLE, Format.TORCH_ZIP, Format.TORCH_LEGACY, Format.TORCHSCRIPT, Format.JOBLIB, Format.KERAS,
    Format.HDF5, Format.SAVEDMODEL, Format.TF_GRAPHDEF, Format.PYTHON,
})

#: Extensions that promise a format with no code at all; finding code behind them is worst.
SAFE_PROMISES = frozenset({".safetensors", ".npy", ".json", ".txt", ".onnx", ".gguf", ".tflite", ".csv", ".png", ".jpg"})

_IMAGE_MAGICS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"RIFF")

#: A legacy (non-zip) torch.save file starts with a protocol-2 pickle of this magic number.
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"

PickleSniffer = Callable[[bytes, Callable[[], BinaryIO]], bool]
_pickle_sniffer: PickleSniffer | None = None


def register_pickle_sniffer(fn: PickleSniffer) -> None:
    """The pickle analyzer installs its structural sniffer for header-less pickles; it gets
    the head and an opener for the whole artifact (used only when the head is cut inside a
    long first argument)."""
    global _pickle_sniffer
    _pickle_sniffer = fn


#: Prefix of the hint the scanner puts on the second look at a polyglot: the format
#: after the colon is forced (see :func:`second_format`).
POLYGLOT_HINT = "polyglot:"
_PICKLE_FAMILY = frozenset({Format.PICKLE, Format.TORCH_LEGACY})


#: Names whose loaders open the file with ``zipfile`` (which reads the tail) whatever its head.
_OPENED_BY_TAIL = frozenset({".keras", ".zip"})
_ZIP_FAMILY = frozenset({Format.ZIP, Format.TORCH_ZIP, Format.TORCHSCRIPT, Format.NPZ, Format.KERAS})


def other_formats(artifact: Artifact, fmt: Format) -> tuple[Format, ...]:
    """Every other format the same bytes also are (see :func:`second_format`), plus a zip
    when an end-of-central-directory record ends a ``.keras``/``.zip`` file identified by its
    head as something else: ``zipfile`` (and ``keras.saving.load_model``) open it from the
    tail.  Other names are not tail-checked: their loaders test the head."""
    if artifact.hint is not None and artifact.hint.startswith(POLYGLOT_HINT):
        return ()
    found: list[Format] = []
    if artifact.extension in _OPENED_BY_TAIL and fmt not in _ZIP_FAMILY \
            and fmt not in (Format.PICKLE, Format.UNKNOWN, Format.TEXT, Format.EMPTY) and _has_zip_tail(artifact):
        found.append(_zip_kind(artifact))
    second = second_format(artifact, fmt)
    if second is not None and second not in found:
        found.append(second)
    return tuple(found)


def second_format(artifact: Artifact, fmt: Format) -> Format | None:
    """Another format the same bytes also are, which a different loader would run.

    * a pickle: ``GGUF`` + 5 bytes is a BINFLOAT, a GIF/BMP header is BINFLOAT/BINBYTES, a
      safetensors length prefix can sit inside SHORT_BINBYTES, a tar member name can open a
      STRING: ``pickle.load``/``torch.load`` run such a file while its magic routes it to
      a harmless-format analyzer;
    * a Keras zip: a torch zip that also has Keras' root ``config.json`` is what
      ``keras.saving.load_model`` reads when it is named ``.keras``.
    """
    if artifact.hint is not None and artifact.hint.startswith(POLYGLOT_HINT):
        return None
    if fmt in (Format.TORCH_ZIP, Format.TORCHSCRIPT) and _zip_names_are_keras(artifact):
        return Format.KERAS
    if fmt in _PICKLE_FAMILY or _pickle_sniffer is None:
        return None
    head = artifact.head()
    return Format.PICKLE if head and _pickle_sniffer(head, artifact.open) else None


def _zip_names_are_keras(artifact: Artifact) -> bool:
    try:
        with artifact.open() as stream, zipfile.ZipFile(stream) as zf:  # type: ignore[arg-type]
            names = set(zf.namelist()[:100_000])
    except Exception:  # noqa: BLE001 - a broken zip: the zip analyzer reports why
        return False
    return "config.json" in names and bool(_KERAS_SIDECARS.intersection(names) or artifact.extension == ".keras")


_KERAS_SIDECARS = frozenset({"metadata.json", "model.weights.h5", "model.weights.npz"})


def _zip_kind(artifact: Artifact) -> Format:
    """Tell torch / TorchScript / Keras / npz zips from plain zips by member names."""
    try:
        with artifact.open() as stream, zipfile.ZipFile(stream) as zf:  # type: ignore[arg-type]
            names = zf.namelist()[:100_000]
    except Exception:  # noqa: BLE001 - a broken zip is still a zip; the zip analyzer reports why
        return Format.ZIP
    return zip_kind_from_names(names, artifact.extension)


def zip_kind_from_names(names: list[str], extension: str = "") -> Format:
    tails = {n.split("/", 1)[1] if "/" in n else n for n in names}
    if "data.pkl" in tails or any(n.endswith("/data.pkl") for n in names):
        if any(t.startswith("code/") for t in tails) or "constants.pkl" in tails:
            return Format.TORCHSCRIPT
        return Format.TORCH_ZIP
    if "config.json" in names and (_KERAS_SIDECARS.intersection(names) or extension == ".keras"):
        return Format.KERAS  # Keras reads config.json alone: the other members are optional
    if names and all(n.endswith(".npy") for n in names):
        return Format.NPZ
    return Format.ZIP


def _looks_like_json(head: bytes) -> bool:
    text = head.lstrip()
    if text[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(head)
        return True
    except ValueError:
        pass
    if len(head) < HEAD_SIZE:
        return False  # the whole file was read and it is not JSON
    # a truncated head of a large JSON document: structure start plus clean UTF-8 text
    rest = text[1:].lstrip()[:1]
    return rest in (b'"', b"{", b"[", b"]", b"}") and _is_text(head)


def _is_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # the head may cut a multi-byte character at the end
        if exc.start < len(head) - 4:
            return False
    printable = sum(1 for b in head if b >= 32 or b in (9, 10, 13))
    return printable / len(head) > 0.97


def _looks_like_safetensors(head: bytes, size: int | None) -> bool:
    if len(head) < 10:
        return False
    n = int.from_bytes(head[:8], "little")
    if n < 2:
        return False
    # a length past the end of the file is still safetensors (a hostile header the analyzer
    # reports); the JSON object start right after the prefix is what identifies the format
    return head[8:9] == b"{" and (size is None or n <= size or head[9:10] in (b'"', b" ", b"\n", b"}"))


def _looks_like_tflite(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] in (b"TFL3", b"TFL2")


def _protobuf_kind(artifact: Artifact, head: bytes) -> Format | None:
    """ONNX and TF graphs are protobuf without magic: use structure plus the name hint."""
    name = artifact.name.lower()
    ext = artifact.extension
    if name in ("saved_model.pb", "saved_model.pbtxt"):
        return Format.SAVEDMODEL
    if name in ("keras_metadata.pb", "fingerprint.pb"):
        return Format.PROTOBUF
    if ext == ".onnx" and head:
        return Format.ONNX  # the ONNX analyzer reports a .onnx that does not parse (ONX005)
    if not head:
        return None
    first = head[0]
    wire = first & 7
    field_no = first >> 3
    if wire not in (0, 1, 2, 5) or field_no == 0:
        return None
    if ext in (".onnx", ".ort") and first == 0x08:  # ModelProto.ir_version varint
        return Format.ONNX
    if ext == ".pb" or ext == ".graphdef":
        return Format.TF_GRAPHDEF if first == 0x0A else Format.PROTOBUF
    if first == 0x08 and len(head) > 2 and head[1] < 0x20 and head[2] in (0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42):
        return Format.ONNX  # ir_version then producer/graph/opset: ONNX without its extension
    return None


def _has_zip_tail(artifact: Artifact) -> bool:
    """True when an end-of-central-directory record ends the file exactly.

    Python's ``zipfile`` (and everything built on it) finds a zip by its tail, so a zip
    with data prepended — a pickle, a script — opens fine there while head-sniffing tools
    see only the prefix.  Such files are treated as zips; the zip analyzer reports the
    prefix and hands it back for analysis.
    """
    size = artifact.size
    if size is None or size < 22:
        return False
    with artifact.open() as stream:
        start = max(0, size - (22 + 0xFFFF))
        stream.seek(start)
        tail = stream.read(size - start)
    pos = tail.rfind(b"PK\x05\x06")
    while pos >= 0:
        if pos + 22 <= len(tail):
            comment = int.from_bytes(tail[pos + 20 : pos + 22], "little")
            if pos + 22 + comment == len(tail):
                return True
        pos = tail.rfind(b"PK\x05\x06", 0, pos)
    return False


def identify(artifact: Artifact) -> Format:
    """The format of ``artifact`` judged by content (name used only to break protobuf ties)."""
    fmt = _identify_head(artifact)
    if fmt in (Format.PICKLE, Format.UNKNOWN, Format.TEXT) and _has_zip_tail(artifact):
        return _zip_kind(artifact)
    return fmt


def _identify_head(artifact: Artifact) -> Format:
    if artifact.size == 0:
        return Format.EMPTY
    head = artifact.head()
    if not head:
        return Format.EMPTY
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06") or head.startswith(b"PK\x07\x08"):
        return _zip_kind(artifact)
    if head.startswith(TORCH_LEGACY_MAGIC):
        return Format.TORCH_LEGACY
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return Format.PICKLE
    if head.startswith(b"\x93NUMPY"):
        return Format.NUMPY
    if head.startswith(b"\x1f\x8b"):
        return Format.GZIP
    if head.startswith(b"BZh"):
        return Format.BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return Format.XZ
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return Format.ZSTD
    if head.startswith(b"\x04\x22\x4d\x18"):
        return Format.LZ4
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Format.SEVENZIP
    if head.startswith(b"\x5d\x00\x00") and artifact.extension in (".lzma", ".joblib"):
        return Format.LZMA
    if head.startswith(b"ZF0x"):  # joblib < 0.10 zlib framing: 'ZF' + hex length + zlib stream
        return Format.JOBLIB
    if head.startswith(b"GGUF"):
        return Format.GGUF
    if head[:4] in (b"lmgg", b"tjgg", b"fmgg", b"ggml", b"ggjt", b"ggmf"):
        return Format.GGML
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return Format.HDF5
    if len(head) > 262 and head[257:262] == b"ustar":
        return Format.TAR
    if _looks_like_tflite(head):
        return Format.TFLITE
    if _looks_like_safetensors(head, artifact.size):
        return Format.SAFETENSORS
    if head.startswith(_IMAGE_MAGICS):
        return Format.IMAGE
    if _pickle_sniffer is not None and _pickle_sniffer(head, artifact.open):
        return Format.PICKLE
    if _looks_like_json(head):
        return Format.JSON
    if _is_text(head):
        return Format.PYTHON if artifact.extension in (".py", ".pyw", ".pyi") else Format.TEXT
    if head[:1] == b"\x78" and head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        return Format.JOBLIB  # a bare zlib stream (joblib.dump(compress=N)); after the text checks: 'x^' is text
    proto = _protobuf_kind(artifact, head)
    if proto is not None:
        return proto
    return Format.UNKNOWN


def extension_mismatch(artifact: Artifact, fmt: Format) -> bool:
    """True when the name promises a different format than the content is.

    Only an extension that belongs to *some* known format counts: an unknown or missing
    extension is no promise.  A container format hidden under a compression extension
    (``.pkl.gz`` is gzip) is not a mismatch.
    """
    ext = artifact.extension
    if not ext or fmt in (Format.UNKNOWN, Format.EMPTY, Format.TEXT, Format.JSON, Format.IMAGE, Format.PROTOBUF):
        return False
    known = set().union(*EXTENSIONS.values()) | SAFE_PROMISES
    if ext not in known:
        return False
    return ext not in EXTENSIONS.get(fmt, frozenset())
