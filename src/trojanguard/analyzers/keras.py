"""Keras models: ``.keras`` v3 zips and legacy HDF5 (``.h5``) files.

Keras rebuilds a model from a JSON config by importing the modules it names and calling
the classes/functions it names; a ``Lambda`` layer carries marshalled Python bytecode.
This analyzer reads the config (``config.json`` in the zip, the ``model_config`` /
``training_config`` attributes in HDF5), walks every nested object, and reports Lambda
layers (their bytecode is summarised statically, never unmarshalled), names outside the
Keras namespaces, and features that load code or data at load time.  Weights are never
read.  Other members of a ``.keras`` zip are yielded back so that e.g. a pickle hidden
in ``assets/`` is still scanned.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Iterator
from typing import Any

from trojanguard.analyzers._marshal import summarize_code
from trojanguard.analyzers.base import Context, Result
from trojanguard.analyzers.containers import ZipEntry, iter_zip_entries
from trojanguard.artifact import Artifact
from trojanguard.errors import LimitExceeded, MalformedInput
from trojanguard.formats import Format
from trojanguard.model import Location, Rule, ScanError, Severity
from trojanguard.policy import keras_layers as policy
from trojanguard.policy.python_calls import NAME_CATEGORIES

LAMBDA = Rule(
    "KER001",
    "keras-lambda-layer",
    Severity.HIGH,
    "A Keras Lambda layer carries marshalled Python bytecode that runs when the model is loaded or called.",
    cwe=94,
)
FOREIGN_CALLABLE = Rule(
    "KER002",
    "keras-foreign-callable",
    Severity.HIGH,
    "A Keras config names a module, class or function outside the Keras namespaces, which Keras imports and calls.",
    cwe=502,
)
UNSAFE_FEATURE = Rule(
    "KER003",
    "keras-unsafe-feature",
    Severity.HIGH,
    "A Keras config uses a feature that loads code or data at load time (TorchModuleWrapper, "
    "enable_unsafe_deserialization, get_file, TFOpLambda on I/O ops).",
    cwe=829,
)

MAX_NODES = 1_000_000
CONFIG_MEMBERS = ("config.json", "metadata.json")
_TFOP_DANGER = ("io.", "gfile", "py_function", "numpy_function", "py_func", "load_library", "load_op_library",
                "write_file", "read_file", "print", "debugging")


class KerasAnalyzer:
    name = "keras"
    formats = frozenset({Format.KERAS, Format.HDF5})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        head = artifact.head(8)
        if head.startswith(b"\x89HDF"):
            yield from _analyze_hdf5(artifact, ctx)
        else:
            yield from _analyze_zip(artifact, ctx)


# --------------------------------------------------------------------------- zip (.keras)


def _analyze_zip(artifact: Artifact, ctx: Context) -> Iterator[Result]:
    """Hostile-zip checks come from the containers module; every ``config.json`` view
    (duplicates and hidden local entries included: loaders disagree on which one wins) is
    checked, every other member goes back to the scanner."""
    for item in iter_zip_entries(artifact, ctx):
        if not isinstance(item, ZipEntry):
            yield item
            continue
        base = (item.raw_name or item.name).replace("\\", "/")
        if base == "config.json" and item.kind in ("member", "local-name", "hidden"):
            data = _read_entry(item, ctx)
            yield from _check_json(data, artifact.location.child(item.name))
            if item.kind == "member" and item.duplicate_index == 1:
                continue
        if item.kind == "member" and base == "metadata.json":
            continue
        yield item.artifact(artifact)


def _read_entry(entry: ZipEntry, ctx: Context) -> bytes:
    limit = ctx.limits.max_in_memory
    if entry.size > limit:
        raise LimitExceeded(f"{entry.name} declares {entry.size} bytes (limit {limit})", limit="max_in_memory")
    try:
        with entry.open() as stream:
            data = bytes(stream.read(limit + 1))
    except (zlib.error, EOFError, ValueError) as exc:
        raise MalformedInput(f"corrupt zip member {entry.name}: {exc}") from exc
    if len(data) > limit:
        raise LimitExceeded(f"{entry.name} is larger than {limit} bytes", limit="max_in_memory")
    return data


# --------------------------------------------------------------------------- HDF5


def _analyze_hdf5(artifact: Artifact, ctx: Context) -> Iterator[Result]:
    if artifact.depth > 0 and artifact.name == "model.weights.h5":
        return  # Keras 3 reads only weights from this member, never a config: nothing to check
    try:
        import h5py
    except ImportError:
        yield ScanError(artifact.location, "h5py is not installed; HDF5 Keras config not checked", "dependency")
        return
    try:
        attrs = _hdf5_attrs(h5py, artifact, ctx)
    except LimitExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py/HDF5 raise many types (OverflowError...) on hostile files
        raise MalformedInput(f"unreadable HDF5: {type(exc).__name__}: {exc}") from exc
    for key, text in attrs:
        yield from _check_json(text, artifact.location.child(f"@{key}"))


def _hdf5_attrs(h5py: Any, artifact: Artifact, ctx: Context) -> list[tuple[str, bytes]]:
    """The Keras config attributes of the root group (and of ``/model_weights``-less files)."""
    source: Any = artifact.fs_path if artifact.fs_path else artifact.open()
    out: list[tuple[str, bytes]] = []
    try:
        with h5py.File(source, "r") as handle:
            for key in ("model_config", "training_config"):
                if key not in handle.attrs:
                    continue
                raw = handle.attrs.get(key)
                data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
                if len(data) > ctx.limits.max_in_memory:
                    raise LimitExceeded(f"HDF5 attribute {key} too large", limit="max_in_memory")
                out.append((key, data))
    finally:
        if not isinstance(source, str):
            source.close()
    return out


# --------------------------------------------------------------------------- config walk


def _check_json(data: bytes, where: Location) -> Iterator[Result]:
    try:
        config = json.loads(data)
    except (ValueError, RecursionError) as exc:
        yield ScanError(where, f"Keras config is not valid JSON: {exc}", "malformed")
        return
    yield from check_config(config, where)


def check_config(config: object, where: Location) -> Iterator[Result]:
    """Report dangerous objects anywhere in a parsed Keras model config (nested models too)."""
    stack: list[tuple[object, str]] = [(config, "")]
    seen = 0
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise LimitExceeded(f"Keras config has more than {MAX_NODES} nodes", limit="max_nodes")
        if isinstance(node, dict):
            yield from _check_object(node, path, where)
            lambda_layer = node.get("class_name") == "Lambda"
            for key, value in node.items():
                if lambda_layer and key == "config" and isinstance(value, dict) and _is_lambda_fn(value.get("function")):
                    value = {k: v for k, v in value.items() if k != "function"}  # reported with its layer
                if isinstance(value, (dict, list)):
                    stack.append((value, f"{path}/{key}"))
                elif isinstance(value, str):
                    yield from _check_string(value, f"{path}/{key}", where)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    stack.append((value, f"{path}/{i}"))
                elif isinstance(value, str):
                    yield from _check_string(value, f"{path}/{i}", where)


def _check_string(value: str, path: str, where: Location) -> Iterator[Result]:
    for marker, reason in policy.DANGEROUS_NAMES.items():
        if marker in value and len(value) < 512:
            yield UNSAFE_FEATURE.at(
                where,
                f"config value {value[:80]!r} at {path or '/'} names {marker}: {reason}",
                evidence={"path": path, "value": value[:200], "reason": reason},
                severity=Severity.CRITICAL if marker in ("enable_unsafe_deserialization", "torch.load") else None,
            )
            return


def _layer_name(obj: dict[str, Any]) -> str:
    config = obj.get("config")
    if isinstance(config, dict) and isinstance(config.get("name"), str):
        return str(config["name"])
    return str(obj.get("name", "?"))


def _check_object(obj: dict[str, Any], path: str, where: Location) -> Iterator[Result]:
    class_name = obj.get("class_name")
    if not isinstance(class_name, str):
        return
    if class_name == "Lambda":
        yield from _check_lambda(obj, path, where)
    elif class_name == "__lambda__":
        yield from _check_bare_lambda(obj, path, where)
    elif class_name == "TorchModuleWrapper":
        yield UNSAFE_FEATURE.at(
            where,
            f"TorchModuleWrapper layer {_layer_name(obj)!r} at {path or '/'}: "
            f"{policy.UNSAFE_CLASSES['TorchModuleWrapper']}",
            evidence={"path": path, "class_name": class_name},
            severity=Severity.CRITICAL,
        )
    elif class_name in ("TFOpLambda", "SlicingOpLambda"):
        yield from _check_tfop(obj, path, where)
    elif class_name in ("JaxLayer", "FlaxLayer"):
        yield UNSAFE_FEATURE.at(where, f"{class_name} layer {_layer_name(obj)!r}: {policy.UNSAFE_CLASSES[class_name]}",
                                evidence={"path": path, "class_name": class_name})
    yield from _check_module(obj, class_name, path, where)


def _check_module(obj: dict[str, Any], class_name: str, path: str, where: Location) -> Iterator[Result]:
    module = obj.get("module")
    registered = obj.get("registered_name")
    if isinstance(module, str) and module and not policy.module_allowed(module):
        target = f"{module}.{class_name}"
        if class_name == "function" and isinstance(obj.get("config"), str):
            target = f"{module}.{obj['config']}"
        reason = policy.critical_reason(target)
        severity = Severity.CRITICAL if reason else Severity.HIGH
        if not reason and module.startswith("tensorflow") and not any(d in target for d in _TFOP_DANGER):
            severity = Severity.MEDIUM  # a TensorFlow math function (tf.nn.gelu): foreign but not I/O
        yield FOREIGN_CALLABLE.at(
            where,
            f"config object at {path or '/'} imports {target} (outside Keras)" + (f": {reason}" if reason else ""),
            evidence={"path": path, "target": target, "module": module},
            severity=severity,
        )
    elif isinstance(registered, str) and ">" in registered:
        package = registered.split(">", 1)[0]
        if not policy.module_allowed(package.lower()):
            yield FOREIGN_CALLABLE.at(
                where,
                f"custom object {registered!r} at {path or '/'} needs custom code registered by the loader",
                evidence={"path": path, "target": registered},
                severity=Severity.MEDIUM,
            )


def _check_tfop(obj: dict[str, Any], path: str, where: Location) -> Iterator[Result]:
    config = obj.get("config")
    function = config.get("function") if isinstance(config, dict) else None
    if isinstance(function, str) and any(d in function for d in _TFOP_DANGER):
        yield UNSAFE_FEATURE.at(
            where,
            f"{obj['class_name']} layer {_layer_name(obj)!r} calls tf.{function} (I/O or Python callback)",
            evidence={"path": path, "function": function},
        )


def _lambda_code(obj: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """The base64 bytecode of a Lambda (Keras 2 list form or Keras 3 ``__lambda__`` dict)."""
    config = obj.get("config")
    if not isinstance(config, dict):
        return None, None
    function = config.get("function")
    is_list = isinstance(function, list) and bool(function) and isinstance(function[0], str)
    if is_list and config.get("function_type", "lambda") == "lambda":
        return str(function[0]), None  # type: ignore[index]
    if isinstance(function, dict):
        inner = function.get("config")
        if function.get("class_name") == "__lambda__" and isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return str(inner["code"]), None
        return None, function
    return None, None


def _is_lambda_fn(value: object) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__lambda__"


def _check_bare_lambda(obj: dict[str, Any], path: str, where: Location) -> Iterator[Result]:
    """A serialized lambda outside a Lambda layer (a loss or metric in ``compile_config`` /
    ``training_config``): Keras' deserializer ``func_load``s it just the same."""
    config = obj.get("config")
    code: object = None
    if isinstance(config, dict):
        code = config.get("code")
        value = config.get("value")  # serialization_lib: {"value": func_dump(fn)}
        if code is None and isinstance(value, list) and value:
            code = value[0]
    label = f"serialized lambda at {path or '/'}"
    if not isinstance(code, str):
        yield LAMBDA.at(where, f"{label} wraps a Python function", evidence={"path": path, "layer": "__lambda__"})
        return
    yield from _bytecode_finding(code, label, path, "__lambda__", where)


def _check_lambda(obj: dict[str, Any], path: str, where: Location) -> Iterator[Result]:
    code, named = _lambda_code(obj)
    layer = _layer_name(obj)
    if code is None:
        if named is None:
            yield LAMBDA.at(where, f"Lambda layer {layer!r} at {path or '/'} wraps a Python function",
                            evidence={"path": path, "layer": layer})
        return  # a named function is checked as a config object (module/class_name)
    yield from _bytecode_finding(code, f"Lambda layer {layer!r} at {path or '/'}", path, layer, where)


def _bytecode_finding(code: str, label: str, path: str, layer: str, where: Location) -> Iterator[Result]:
    """KER001 for base64 marshalled bytecode, summarised statically (never unmarshalled)."""
    try:
        raw = base64.b64decode(code)
        info = summarize_code(raw)
    except (binascii.Error, ValueError, MalformedInput) as exc:
        yield LAMBDA.at(
            where,
            f"{label} carries bytecode that could not be decoded ({exc})",
            evidence={"path": path, "layer": layer},
        )
        return
    names = sorted(info.all_names())
    dangerous = sorted(n for n in names if n in NAME_CATEGORIES)
    strings = [s for s in info.all_strings() if s.strip()][:20]
    detail = f"references {', '.join(dangerous)}" if dangerous else f"references {', '.join(names[:10]) or 'no globals'}"
    yield LAMBDA.at(
        where,
        f"{label} runs marshalled bytecode that {detail}",
        evidence={"path": path, "layer": layer, "names": tuple(names[:50]), "dangerous": tuple(dangerous),
                  "strings": tuple(s[:120] for s in strings)},
        severity=Severity.CRITICAL if dangerous else Severity.HIGH,
    )
