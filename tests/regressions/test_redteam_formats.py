"""Red-team regressions: non-pickle carriers (numpy dtype spellings, repo auto_map paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import redteam, repo_files
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.model import Severity
from trojanguard.scanner import scan


@pytest.mark.parametrize("descr", ["object", "O", ("|O", (2,)), {"names": ["a"], "formats": ["O"]}])
def test_npy_object_dtype_spelled_by_name(descr: object) -> None:
    """numpy.dtype accepts 'object' (and tuples/dicts); the analyzer only knew typestrs
    like '|O', rejected the header (NPY003) and never looked at the pickle behind it."""
    result = scan_bytes(redteam.object_npy_named_dtype(descr), "array.npy")
    assert_fires(result, "PKL001", min_severity=Severity.CRITICAL, contains="os.system")


def test_npz_innocent_member_with_named_object_dtype() -> None:
    result = scan_bytes(redteam.innocent_npz_with_object_member(), "weights.npz")
    assert_fires(result, "PKL001", contains="os.system")
    assert_fires(result, "NPY001")


def test_npy_named_float_dtype_is_clean() -> None:
    findings, errors, _ = scan_bytes(redteam.named_float_npy(), "array.npy")
    assert_silent(findings, "NPY003")
    assert_silent(findings, "PKL005")
    assert not errors


EVIL = "import os\nos.system('id')\n"


@pytest.mark.parametrize("ref", ["../other/file.MyModel", "/tmp/elsewhere/file.MyModel", "..\\other\\file.MyModel"])
def test_auto_map_path_outside_repository(tmp_path: Path, ref: str) -> None:
    """auto_map module names are joined onto the repo directory by transformers: an
    absolute or '..' path loads code from outside the repository (was REP001 medium)."""
    repo_files.write_repo(tmp_path / "other", {"file.py": EVIL})
    root = repo_files.write_repo(tmp_path / "repo", {"config.json": repo_files.config({"AutoModel": ref})})
    report = scan([str(root)])
    found = assert_fires(report, "REP001", min_severity=Severity.HIGH, contains="outside the repository")
    assert all("other/file.py" not in f.location.path for f in report.findings), "must not read outside the tree"
    assert found


def test_auto_map_other_hub_repo_is_high(tmp_path: Path) -> None:
    root = repo_files.write_repo(tmp_path / "repo", {"config.json": repo_files.config({"AutoModel": "org/repo--file.C"})})
    assert_fires(scan([str(root)]), "REP001", min_severity=Severity.HIGH, contains="org/repo")


def test_auto_map_local_module_stays_medium(tmp_path: Path) -> None:
    root = repo_files.write_repo(tmp_path / "repo", {"config.json": repo_files.config({"AutoModel": "modeling.MyModel"}),
                                                     "modeling.py": repo_files.CLEAN_MODELING})
    report = scan([str(root)])
    assert all(f.severity < Severity.HIGH for f in report.findings if f.rule.id == "REP001")
    assert_silent(report, "REP002")


@pytest.mark.parametrize("form", ["code", "value"])
def test_keras_lambda_in_compile_config(form: str) -> None:
    """A lambda loss outside any Lambda layer: only Lambda layers were checked."""
    result = scan_bytes(redteam.keras_lambda_loss(form), "model.keras")
    assert_fires(result, "KER001", min_severity=Severity.CRITICAL, contains="/compile_config/loss")


def test_h5_lambda_in_training_config() -> None:
    assert_fires(scan_bytes(redteam.h5_lambda_training_loss(), "model.h5"), "KER001", contains="os, system")


def test_keras_nested_lambda_reported_once() -> None:
    findings, _, _ = scan_bytes(redteam.keras_nested_lambda_layer(), "model.keras")
    found = assert_fires(findings, "KER001", min_severity=Severity.CRITICAL, contains="config/layer")
    assert len(found) == 1, [f.message for f in found]


def test_keras_string_loss_is_clean() -> None:
    from builders import keras_files

    config = keras_files.functional([keras_files.dense()])
    config["compile_config"] = {"optimizer": "adam", "loss": "mse", "metrics": ["accuracy"]}
    assert_silent(scan_bytes(keras_files.keras_zip(config), "model.keras"), "KER001")


SSTI = "{{ lipsum.__globals__['os'].popen('id').read() }}"


@pytest.mark.parametrize(("name", "config"), [
    ("tokenizer_config.json", {"chat_template": SSTI}),
    ("tokenizer_config.json", {"chat_template": [{"name": "default", "template": "{{ bos_token }}"},
                                                 {"name": "tool_use", "template": SSTI}]}),
    ("chat_template.json", {"chat_template": SSTI}),
])
def test_chat_template_injection_in_tokenizer_config(name: str, config: dict[str, object]) -> None:
    """The template checks ran only on GGUF metadata; the same Jinja ships in HF configs."""
    import json

    result = scan_bytes(json.dumps(config).encode(), name)
    assert_fires(result, "GGF001", min_severity=Severity.CRITICAL, contains="__globals__")


def test_real_chat_templates_in_tokenizer_config_are_clean() -> None:
    import json

    from builders import gguf_files

    for template in gguf_files.BENIGN_TEMPLATES.values():
        findings, errors, _ = scan_bytes(json.dumps({"chat_template": template}).encode(), "tokenizer_config.json")
        assert_silent(findings, "GGF001")
        assert all(f.severity < Severity.MEDIUM for f in findings), [f.message for f in findings]
        assert not errors


@pytest.mark.parametrize("pad", ["{# " + "x" * 400_000 + " #}", "y" * 400_000])
def test_chat_template_padded_past_size_cap(pad: str) -> None:
    """Padding a template past 256 KiB turned the injection into GGF006 (medium, not parsed);
    text and comments are cheap to parse, so only Jinja code counts against the cap."""
    import json

    from builders import gguf_files

    assert_fires(scan_bytes(gguf_files.model_with_template(pad + SSTI), "m.gguf"), "GGF001",
                 min_severity=Severity.CRITICAL)
    assert_fires(scan_bytes(json.dumps({"chat_template": pad + SSTI}).encode(), "tokenizer_config.json"), "GGF001")


def test_chat_template_with_too_much_code_is_high() -> None:
    from builders import gguf_files

    result = scan_bytes(gguf_files.model_with_template("{{ a }}" * 50_000 + SSTI), "m.gguf")
    assert_fires(result, "GGF006", min_severity=Severity.HIGH, contains="Jinja code")
    assert_silent(result, "GGF001")


def test_keras_zip_that_is_also_a_torch_zip() -> None:
    result = scan_bytes(redteam.keras_torch_zip_polyglot(), "model.keras")
    assert_fires(result, "KER001", min_severity=Severity.CRITICAL, contains="os, system")


def test_plain_torch_zip_is_not_a_keras_polyglot() -> None:
    from builders import torchfiles

    findings, errors, _ = scan_bytes(torchfiles.torch_zip(), "model.pt")
    assert_silent(findings, "KER001")
    assert_silent(findings, "KER002")
    assert not errors


def test_keras_zip_with_config_only() -> None:
    assert_fires(scan_bytes(redteam.keras_config_only_zip(), "model.keras"), "KER001", min_severity=Severity.CRITICAL)


@pytest.mark.parametrize("name", ["model.json", "config.json"])
def test_keras_model_json_on_its_own(name: str) -> None:
    found = assert_fires(scan_bytes(redteam.keras_model_json(), name), "KER001", min_severity=Severity.CRITICAL)
    assert len(found) == 1


def test_keras_zip_lambda_reported_once() -> None:
    findings, _, _ = scan_bytes(redteam.keras_config_only_zip(), "model.keras")
    assert len([f for f in findings if f.rule.id == "KER001"]) == 1


def test_json_with_class_name_that_is_not_keras_is_clean() -> None:
    import json

    findings, errors, _ = scan_bytes(json.dumps({"class_name": "x", "items": [1, 2]}).encode(), "data.json")
    assert_silent(findings, "KER002")
    assert not findings and not errors


@pytest.mark.parametrize(("op", "severity"), [("DatasetToTFRecord", Severity.CRITICAL), ("SqlDataset", Severity.HIGH),
                                              ("SaveDatasetV2", Severity.HIGH)])
def test_savedmodel_tf_data_io_ops(op: str, severity: Severity) -> None:
    """tf.data ops that write/read graph-chosen paths were 'unknown op' (TFS002, info)."""
    from builders import tf_files

    graph = tf_files.graphdef([tf_files.node("x", "Placeholder"), tf_files.node("w", op)],
                              [tf_files.function("__inference_serving_default_7", [tf_files.node("io", op)])])
    assert_fires(scan_bytes(tf_files.saved_model(graph), "saved_model.pb"), "TFS001", min_severity=severity, contains=op)


def test_savedmodel_standard_savers_stay_clean() -> None:
    from builders import tf_files

    graph = tf_files.graphdef([tf_files.node("x", "Placeholder")], tf_files.standard_saver_functions())
    assert_silent(scan_bytes(tf_files.saved_model(graph), "saved_model.pb"), "TFS001")


NEMO_CONFIG = (b"model:\n  encoder:\n    _target_: nemo.collections.asr.modules.ConformerEncoder\n    feat_in: 80\n"
               b"  hook:\n    _target_: os.system\n    _args_: ['id']\n")


@pytest.mark.parametrize(("data", "name"), [
    (NEMO_CONFIG, "model_config.yaml"),
    (b"x: {'_target_': 'builtins.eval', '_args_': ['1']}\n", "conf.yml"),
    (b'{"a": {"_target_": "subprocess.run", "args": ["id"]}}', "hparams.json"),
    (b'{"_target_": "runpy.run_path", "path_name": "x"}', "config.json"),
])
def test_hydra_target_in_config(data: bytes, name: str) -> None:
    """THREATS 4 (NeMo / Hydra _target_ instantiation) had no check at all."""
    assert_fires(scan_bytes(data, name), "REP005", min_severity=Severity.CRITICAL)


def test_hydra_target_in_nemo_archive() -> None:
    from builders import archives

    nemo = archives.build_tar({"./model_config.yaml": NEMO_CONFIG, "./model_weights.ckpt": bytes(16)})
    assert_fires(scan_bytes(nemo, "model.nemo"), "REP005", contains="os.system")


def test_hydra_library_targets_are_clean() -> None:
    config = (b"model:\n  _target_: nemo.collections.asr.models.EncDecCTCModel\n"
              b"  optim:\n    _target_: torch.optim.AdamW\n    lr: 0.001\n")
    findings, errors, _ = scan_bytes(config, "model_config.yaml")
    assert_silent(findings, "REP005")
    assert not findings and not errors


@pytest.mark.parametrize("template", [
    "{% for i in range(999999999) %}{{ i }}{% endfor %}",
    "{% for i in range(10**12) %}x{% endfor %}",
    "{{ 'a' * 999999999 }}",
    "{{ 9 ** 999999999 }}",
])
def test_chat_template_render_dos(template: str) -> None:
    """Templates that hang or exhaust the renderer were silent."""
    from builders import gguf_files

    assert_fires(scan_bytes(gguf_files.model_with_template(template), "m.gguf"), "GGF002",
                 min_severity=Severity.MEDIUM, contains="exhausts")


def test_chat_template_small_loops_are_clean() -> None:
    from builders import gguf_files

    template = "{% for i in range(messages|length) %}{{ '-' * 20 }}{{ 2 ** 3 }}{% endfor %}"
    assert_silent(scan_bytes(gguf_files.model_with_template(template), "m.gguf"), "GGF002")


@pytest.mark.parametrize("kind", ["safetensors", "gguf"])
def test_keras_zip_appended_to_other_format(kind: str) -> None:
    """zipfile (so keras.saving.load_model) finds a zip by its tail: a .keras whose head is
    a valid safetensors/GGUF file was judged by the head only."""
    from builders import gguf_files, safetensors_files

    head = safetensors_files.real_file() if kind == "safetensors" else gguf_files.model_with_template("{{ bos_token }}")
    result = scan_bytes(head + redteam.keras_config_only_zip(), "model.keras")
    assert_fires(result, "KER001", min_severity=Severity.CRITICAL)


def test_plain_safetensors_has_no_zip_tail() -> None:
    from builders import safetensors_files

    findings, errors, _ = scan_bytes(safetensors_files.real_file(), "model.safetensors")
    assert_silent(findings, "ARC004")
    assert not findings and not errors


def test_chat_template_jinja_file() -> None:
    """transformers >= 4.50 keeps the template in chat_template.jinja: a plain text file."""
    assert_fires(scan_bytes(SSTI.encode(), "chat_template.jinja"), "GGF001", min_severity=Severity.CRITICAL)


def test_real_chat_template_jinja_file_is_clean() -> None:
    from builders import gguf_files

    findings, errors, _ = scan_bytes(gguf_files.LLAMA31_TOOLS.encode(), "chat_template.jinja")
    assert_silent(findings, "GGF001")
    assert not findings and not errors
