"""Generate Keras ``.keras`` zips and legacy HDF5 files in code (no Keras needed)."""

from __future__ import annotations

import base64
import io
import json
import marshal
import zipfile
from collections.abc import Callable
from typing import Any


def dense(name: str = "dense") -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": name, "units": 4, "activation": "relu"}}


def functional(layers: list[dict[str, Any]], name: str = "model") -> dict[str, Any]:
    return {"module": "keras", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": name, "layers": layers}}


def lambda_code(fn: Callable[..., Any]) -> str:
    """base64 of marshalled bytecode, as Keras' func_dump writes it."""
    return base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")


def lambda_v3(fn: Callable[..., Any], name: str = "lambda") -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": name, "function": {"class_name": "__lambda__",
                                                  "config": {"code": lambda_code(fn), "defaults": None,
                                                             "closure": None}}}}


def lambda_v2(fn: Callable[..., Any], name: str = "lambda") -> dict[str, Any]:
    return {"class_name": "Lambda",
            "config": {"name": name, "function": [lambda_code(fn), None, None], "function_type": "lambda"}}


def weights_h5() -> bytes:
    import h5py
    import numpy as np

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("layers/dense/vars/0", data=np.zeros((4, 4), dtype="float32"))
    return buf.getvalue()


def keras_zip(config: dict[str, Any], extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.3.3", "date_saved": "2024-01-01"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", weights_h5())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def legacy_h5(config: dict[str, Any] | None, training: dict[str, Any] | None = None) -> bytes:
    import h5py
    import numpy as np

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        if config is not None:
            f.attrs["model_config"] = json.dumps(config)
            f.attrs["keras_version"] = "2.15.0"
        if training is not None:
            f.attrs["training_config"] = json.dumps(training)
        f.create_dataset("model_weights/dense/kernel:0", data=np.zeros((4, 4), dtype="float32"))
    return buf.getvalue()
