"""TensorFlow analyzer: GraphDef and SavedModel op policy, keras_metadata.pb, hostile protobufs."""

from __future__ import annotations

import io
import time

from builders import keras_files as kf
from builders import tf_files as tf
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.analyzers.tensorflow import graphdef_ops
from trojanguard.model import Severity


def test_clean_frozen_graph_is_silent() -> None:
    result = scan_bytes(tf.clean_graph(), "frozen.pb")
    assert_silent(result, "TFS001")
    assert_silent(result, "TFS002")
    assert not result[1]


def test_pyfunc_in_graph_is_critical() -> None:
    data = tf.graphdef([tf.node("x", "Placeholder"), tf.node("cb", "PyFunc")])
    assert_fires(scan_bytes(data, "frozen.pb"), "TFS001", min_severity=Severity.CRITICAL, contains="PyFunc")


def test_readfile_hidden_in_library_function() -> None:
    fn = tf.function("__inference_call_77", [tf.node("r", "ReadFile"), tf.node("w", "WriteFile")])
    data = tf.saved_model(tf.graphdef([tf.node("x", "Placeholder")], [fn]))
    result = scan_bytes(data, "saved_model.pb")
    assert_fires(result, "TFS001", contains="ReadFile")
    assert_fires(result, "TFS001", min_severity=Severity.CRITICAL, contains="WriteFile")


def test_standard_saver_functions_are_benign() -> None:
    graph = tf.graphdef([tf.node("x", "Placeholder"), tf.node("save/SaveV2", "SaveV2"),
                         tf.node("save/RestoreV2", "RestoreV2")], tf.standard_saver_functions())
    result = scan_bytes(tf.saved_model(graph), "saved_model.pb")
    assert_silent(result, "TFS001")


def test_savev2_outside_saver_is_reported() -> None:
    fn = tf.function("__inference_serve_9", [tf.node("exfil", "SaveV2")])
    result = scan_bytes(tf.saved_model(tf.graphdef([], [fn])), "saved_model.pb")
    assert_fires(result, "TFS001", contains="SaveV2")


def test_custom_ops_are_reported() -> None:
    data = tf.graphdef([tf.node("g", "Addons>GeluCustom"), tf.node("z", "TotallyUnknownOp")])
    result = scan_bytes(data, "frozen.pb")
    found = assert_fires(result, "TFS002", contains="Addons>GeluCustom")
    assert any(f.severity == Severity.INFO and "TotallyUnknownOp" in f.message for f in found)


def test_keras_metadata_lambda_is_checked() -> None:
    def evil(x):  # noqa: ANN001, ANN202
        return eval("x")  # noqa: S307 - fixture body, never called

    data = tf.keras_metadata([kf.dense(), kf.lambda_v2(evil)])
    result = scan_bytes(data, "keras_metadata.pb")
    assert_fires(result, "KER001", min_severity=Severity.CRITICAL)
    assert_silent(scan_bytes(tf.keras_metadata([kf.dense()]), "keras_metadata.pb"), "KER001")


class _CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, n: int | None = -1) -> bytes:
        out = super().read(n)
        self.bytes_read += len(out)
        return out


def test_tensor_bytes_are_skipped_not_read() -> None:
    data = tf.clean_graph(tensor_bytes=8 << 20)
    reader = _CountingReader(data)
    start = time.perf_counter()
    uses = graphdef_ops(reader, len(data))
    assert [u.op for u in uses] == ["Placeholder", "Const", "MatMul", "Relu"]
    assert reader.bytes_read < 4096, reader.bytes_read
    assert time.perf_counter() - start < 1.0


def test_hostile_protobufs_never_crash() -> None:
    good = tf.saved_model(tf.graphdef([tf.node("r", "ReadFile")]))
    cases = [good[:-3], good[:10], b"\x0a\xff\xff\xff\xff\x0f", b"\x0f\x00", b"\x0a\x05abc", b"\x0a" + b"\x80" * 20]
    for data in cases:
        for name in ("saved_model.pb", "frozen.pb", "keras_metadata.pb"):
            _, errors, _ = scan_bytes(data, name)
            assert all(e.kind != "internal" for e in errors), (name, data, errors)


def test_saved_model_directory_zipped_is_found() -> None:
    import zipfile

    fn = tf.function("__inference_serve_1", [tf.node("cb", "EagerPyFunc")])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("export/saved_model.pb", tf.saved_model(tf.graphdef([], [fn, *tf.standard_saver_functions()])))
        zf.writestr("export/fingerprint.pb", b"\x08\x01\x10\x02")
        zf.writestr("export/variables/variables.index", b"\x00" * 16)
    result = scan_bytes(buf.getvalue(), "export.zip")
    found = assert_fires(result, "TFS001", min_severity=Severity.CRITICAL, contains="EagerPyFunc")
    assert found[0].location.members == ("export/saved_model.pb",)
    assert not any("SaveV2" in f.message for f in result[0])
