"""The AI-BOM validates against CycloneDX 1.6 (with modelCard/data added) and drift is detected."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("cyclonedx")

from trojanguard.errors import VerificationError  # noqa: E402
from trojanguard.integrity.aibom import BomInputs, build_bom, render_bom, validate_bom, verify_bom  # noqa: E402

CARD = "---\nlicense: apache-2.0\npipeline_tag: text-classification\nlanguage: [en, de]\nbase_model: bert-base\n---\n# A model\n"


def make_system(root: Path) -> tuple[Path, Path, Path, Path]:
    model = root / "model"
    model.mkdir()
    (model / "README.md").write_text(CARD)
    (model / "config.json").write_text('{"model_type": "bert"}')
    header = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    (model / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(16))
    csv_path = root / "train.csv"
    csv_path.write_text("text,label\nhello,1\n\"multi\nline\",0\nbye,1\n")
    jsonl = root / "feedback.jsonl"
    jsonl.write_text('{"text": "a", "label": 1}\n\n{"text": "b", "source": "u1"}\n')
    repo = root / "repo"
    repo.mkdir()
    (repo / "train.py").write_text("print('train')\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return model, csv_path, jsonl, repo


@pytest.fixture
def system(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    return make_system(tmp_path)


def _components(doc: dict) -> dict[str, dict]:
    return {c["type"] + ":" + c["name"]: c for c in doc["components"]}


def _props(comp: dict) -> dict[str, str]:
    return {p["name"]: p["value"] for p in comp.get("properties", [])}


def test_bom_has_every_component_and_validates(system: tuple[Path, Path, Path, Path]) -> None:
    model, csv_path, jsonl, repo = system
    doc = build_bom(BomInputs(str(model), data=[str(csv_path), str(jsonl)], code=str(repo), env=True))
    text = render_bom(doc)
    validate_bom(text)
    assert doc["specVersion"] == "1.6"
    comps = _components(doc)
    m = comps["machine-learning-model:model"]
    assert _props(m)["trojanguard:format"] == "safetensors"
    assert _props(m)["trojanguard:scan:verdict"] == "clean"
    assert m["modelCard"]["modelParameters"]["task"] == "text-classification"
    assert {"name": "model-card:license", "value": "apache-2.0"} in m["modelCard"]["properties"]
    assert m["licenses"] == [{"license": {"name": "apache-2.0"}}]
    assert len(m["modelCard"]["modelParameters"]["datasets"]) == 2
    assert {c["name"] for c in m["components"]} == {"README.md", "config.json", "model.safetensors"}
    train = _props(comps["data:train.csv"])
    assert (train["trojanguard:data:rows"], train["trojanguard:data:columns"]) == ("3", "text,label")
    fb = _props(comps["data:feedback.jsonl"])
    assert (fb["trojanguard:data:rows"], fb["trojanguard:data:columns"]) == ("2", "label,source,text")
    assert comps["data:train.csv"]["data"][0]["type"] == "dataset"
    code = _props(comps["application:repo"])
    assert code["git:dirty"] == "false" and len(code["git:commit"]) == 40
    env = comps["platform:python"]
    assert any(c["name"] == "pytest" and c.get("hashes") for c in env["components"])
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert m["bom-ref"] in deps["system"] and deps[m["bom-ref"]] == {comps["data:train.csv"]["bom-ref"], comps["data:feedback.jsonl"]["bom-ref"]}
    assert verify_bom(text) == 5


def test_drift_is_reported_for_every_component(system: tuple[Path, Path, Path, Path]) -> None:
    model, csv_path, jsonl, repo = system
    text = render_bom(build_bom(BomInputs(str(model), data=[str(csv_path), str(jsonl)], code=str(repo), scan=False)))
    (model / "config.json").write_text('{"model_type": "evil"}')
    (model / "extra.pkl").write_bytes(b"\x80\x04N.")
    (model / "README.md").unlink()
    csv_path.write_text("text,label\nhello,0\n")
    (repo / "train.py").write_text("print('poisoned')\n")
    with pytest.raises(VerificationError) as info:
        verify_bom(text)
    message = str(info.value)
    for expected in ("config.json modified", "extra.pkl added", "README.md removed", "dataset train.csv", "work tree dirty"):
        assert expected in message, message
    assert "feedback.jsonl" not in message


def test_new_commit_is_drift(system: tuple[Path, Path, Path, Path]) -> None:
    model, _, _, repo = system
    text = render_bom(build_bom(BomInputs(str(model), code=str(repo), scan=False)))
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "two"], check=True)
    with pytest.raises(VerificationError, match="code repo: commit"):
        verify_bom(text)


def test_env_drift(system: tuple[Path, Path, Path, Path]) -> None:
    model = system[0]
    doc = build_bom(BomInputs(str(model), env=True, scan=False))
    env = next(c for c in doc["components"] if c["type"] == "platform")
    lib = next(c for c in env["components"] if c["name"] == "pytest")
    lib["hashes"][0]["content"] = "0" * 64
    env["components"].append({"type": "library", "name": "ghost-package", "version": "1.0", "bom-ref": "pypi:ghost"})
    with pytest.raises(VerificationError) as info:
        verify_bom(json.dumps(doc))
    assert "pytest" in str(info.value) and "RECORD changed" in str(info.value)
    assert "ghost-package removed" in str(info.value)


def test_invalid_bom_rejected() -> None:
    with pytest.raises(VerificationError, match="CycloneDX 1.6"):
        validate_bom(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "x"}]}))
    with pytest.raises(VerificationError):
        verify_bom(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}))


def test_scan_verdict_flagged(tmp_path: Path) -> None:
    import pickle

    model = tmp_path / "m"
    model.mkdir()

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, ("id",))

    (model / "model.pkl").write_bytes(pickle.dumps(Evil()))
    doc = build_bom(BomInputs(str(model), signature_status="unsigned"))
    props = _props(doc["components"][0])
    assert props["trojanguard:scan:verdict"] == "flagged" and "PKL" in props["trojanguard:scan:rules"]
    assert props["trojanguard:signature:status"] == "unsigned"


def test_cli_bom_and_bom_verify(system: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    import io

    from trojanguard.cli import Console, main

    def cli(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return main(list(argv), Console(out=out, err=err, env={})), out.getvalue(), err.getvalue()

    model, csv_path, _, repo = system
    bom = tmp_path / "bom.cdx.json"
    code, out, err = cli("bom", str(model), "--data", str(csv_path), "--code", str(repo), "-o", str(bom))
    assert code == 0, err
    doc = json.loads(bom.read_text())
    assert {c["type"] for c in doc["components"]} == {"machine-learning-model", "data", "application"}
    assert "unsigned" in bom.read_text()
    assert cli("bom", "verify", str(bom))[0] == 0
    csv_path.write_text("text,label\n")
    code, _, err = cli("bom", "verify", str(bom))
    assert code == 1 and "dataset train.csv" in err and "Traceback" not in err
    assert cli("bom", "verify")[0] == 2
    assert cli("bom", str(tmp_path / "missing"))[0] == 2


@pytest.mark.parametrize("text", ["", "{", "[" * 100_000, "[1]", '{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": 5}'])
def test_hostile_bom_fails_cleanly(text: str) -> None:
    with pytest.raises(VerificationError):
        verify_bom(text)


def test_dataset_directory_rows_and_columns(tmp_path: Path) -> None:
    model, csv_path, jsonl, _ = make_system(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    csv_path.rename(data / "train.csv")
    jsonl.rename(data / "feedback.jsonl")
    (data / "notes.txt").write_text("n/a")
    doc = build_bom(BomInputs(str(model), data=[str(data)], scan=False))
    props = _props(_components(doc)["data:data"])
    assert props["trojanguard:data:rows"] == "5" and props["trojanguard:data:files"] == "3"
    assert props["trojanguard:data:columns"] == "label,source,text"
    text = render_bom(doc)
    (data / "notes.txt").write_text("changed")
    with pytest.raises(VerificationError, match="dataset data: content changed"):
        verify_bom(text)


def test_cli_bom_records_signature_status(system: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("model_signing")
    import io

    from builders.pki import write_key
    from trojanguard.cli import Console, main
    from trojanguard.integrity.signature import sign_model

    model = system[0]
    key = write_key(tmp_path, "k")
    sign_model(str(model), private_key=str(key.private))

    def status(*extra: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        assert main(["bom", str(model), "--no-scan", *extra], Console(out=out, err=err, env={})) == 0, err.getvalue()
        model_comp = next(c for c in json.loads(out.getvalue())["components"] if c["type"] == "machine-learning-model")
        return _props(model_comp)["trojanguard:signature:status"]

    assert status() == "present, not verified"
    assert status("--key", str(key.public)).startswith("verified (key, signer sha256:")
    (model / "config.json").write_text("{}")
    assert status("--key", str(key.public)).startswith("failed: ") and "config.json" in status("--key", str(key.public))
