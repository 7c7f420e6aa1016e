"""The load guard against the real libraries: transformers' ``from_pretrained`` and Keras 3's
``load_model`` (torch backend), not stand-ins.

Each hostile case proves that nothing ran: the library's own loader (``torch.load``, the
original ``load_model``) is replaced by a spy *before* the guard is installed, so the guard
wraps the spy; a refusal must leave the spy uncalled, the payload's sentinel file absent and
an audit hook without ``os.system``/``marshal.loads``/``exec`` events.  The libraries are
imported once per module (transformers + torch cost several seconds); the tests skip when
they are not importable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from builders.keras_files import dense, functional, keras_zip, lambda_v3
from builders.pickles import reduce_call
from trojanguard import guard

pytestmark = pytest.mark.slow  # importing transformers/torch/keras takes > 10 s on a busy machine

WATCHED = ("os.system", "subprocess.Popen", "marshal.loads", "exec", "pickle.find_class")
_EVENTS: list[str] = []
_RECORDING: list[bool] = []


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _RECORDING or event not in WATCHED:
        return
    caller = sys._getframe(1).f_code.co_filename
    if caller.startswith("<frozen importlib"):
        return  # importing a module (lazily, by trojanguard or the library) unmarshals and execs its bytecode
    _EVENTS.append(f"{event} from {caller}")


_HOOKED: list[bool] = []


@pytest.fixture
def audit() -> Iterator[list[str]]:
    if not _HOOKED:  # audit hooks cannot be removed: added once, on first use, and it only records while a test asks
        sys.addaudithook(_hook)
        _HOOKED.append(True)
    _EVENTS.clear()
    _RECORDING.append(True)
    try:
        yield _EVENTS
    finally:
        _RECORDING.clear()


def test_the_audit_hook_sees_calls_outside_imports(audit: list[str]) -> None:
    """Control: the import filter does not hide a real call (os.system of ``true``, a marshal.loads)."""
    import marshal

    os.system("true")  # noqa: S605, S607 - a fixed harmless command
    marshal.loads(marshal.dumps(1))  # noqa: TID251 - trusted bytes made on this line (the hook's control)
    assert [e.split(" from ")[0] for e in audit] == ["os.system", "marshal.loads"], audit


def _spy(calls: list[object], real: Callable[..., Any]) -> Callable[..., Any]:
    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[:1] or tuple(kwargs.values())[:1])
        return real(*args, **kwargs)

    return spy


def _evil_pickle(sentinel: Path) -> bytes:
    """REDUCE of os.system; harmless if it ever ran (it creates the sentinel file)."""
    return reduce_call("os", "system", f"touch {sentinel}", protocol=2)


# --------------------------------------------------------------------------- transformers


@pytest.fixture(scope="module")
def hf() -> tuple[ModuleType, ModuleType]:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    return torch, transformers


@pytest.fixture(scope="module")
def bert_dirs(hf: tuple[ModuleType, ModuleType], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny random BertModel saved as safetensors and as pytorch_model.bin, plus an evil copy of the latter."""
    torch, transformers = hf
    root = tmp_path_factory.mktemp("hf")
    config = transformers.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=16)  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    dirs = {kind: root / kind for kind in ("safetensors", "bin", "evil")}
    model.save_pretrained(str(dirs["safetensors"]))
    model.save_pretrained(str(dirs["bin"]))  # transformers 5 writes only safetensors: replace them by a torch.save .bin
    (dirs["bin"] / "model.safetensors").unlink()
    torch.save(model.state_dict(), str(dirs["bin"] / "pytorch_model.bin"))
    dirs["evil"].mkdir()
    (dirs["evil"] / "config.json").write_bytes((dirs["bin"] / "config.json").read_bytes())
    with zipfile.ZipFile(dirs["bin"] / "pytorch_model.bin") as zin, zipfile.ZipFile(dirs["evil"] / "pytorch_model.bin", "w") as zout:
        for info in zin.infolist():
            data = _evil_pickle(root / "SENTINEL") if info.filename.endswith("data.pkl") else zin.read(info)
            zout.writestr(info, data)
    return dirs


@pytest.fixture
def torch_spy(hf: tuple[ModuleType, ModuleType], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[object]]:
    """torch.load replaced by a spy, then the guard installed on top of it."""
    torch, _ = hf
    calls: list[object] = []
    monkeypatch.setattr(torch, "load", _spy(calls, torch.load))
    guard.install(cache_path=str(tmp_path / "guard.sqlite"))
    try:
        yield calls
    finally:
        guard.uninstall()


@pytest.mark.parametrize("kind", ["safetensors", "bin"])
def test_benign_hf_directory_loads_through_from_pretrained(hf: tuple[ModuleType, ModuleType], bert_dirs: dict[str, Path],
                                                           torch_spy: list[object], kind: str) -> None:
    torch, transformers = hf
    assert hasattr(transformers.PreTrainedModel.__dict__["from_pretrained"].__func__, "__trojanguard_original__")
    model = transformers.BertModel.from_pretrained(str(bert_dirs[kind]))
    reference = transformers.BertModel.from_pretrained(str(bert_dirs["safetensors"]))
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert len(torch_spy) == (1 if kind == "bin" else 0)


def test_malicious_bin_is_refused_before_torch_load(hf: tuple[ModuleType, ModuleType], bert_dirs: dict[str, Path],
                                                    torch_spy: list[object], audit: list[str]) -> None:
    _, transformers = hf
    with pytest.raises(guard.UnsafeModelError) as info:
        transformers.BertModel.from_pretrained(str(bert_dirs["evil"]))
    assert info.value.rule_id == "PKL001" and "os.system" in str(info.value), str(info.value)
    assert torch_spy == [] and audit == [] and not (bert_dirs["evil"].parent / "SENTINEL").exists()


def test_inner_torch_load_is_guarded_too(hf: tuple[ModuleType, ModuleType], bert_dirs: dict[str, Path],
                                         torch_spy: list[object], audit: list[str]) -> None:
    """A code path that skips from_pretrained (transformers' own load_state_dict) still meets the guard."""
    torch, _ = hf
    from transformers.modeling_utils import load_state_dict

    with pytest.raises(guard.UnsafeModelError, match="PKL001"):
        load_state_dict(str(bert_dirs["evil"] / "pytorch_model.bin"))
    assert torch_spy == [] and audit == []


def test_environment_variable_guards_a_whole_process(bert_dirs: dict[str, Path], tmp_path: Path) -> None:
    """TROJANGUARD_GUARD=1 with the documented sitecustomize line: a fresh interpreter refuses the evil directory."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import trojanguard.guard\ntrojanguard.guard.install_from_env()\n")
    script = f"""
import transformers
from trojanguard import guard
print("INSTALLED", guard.installed())
transformers.BertModel.from_pretrained({str(bert_dirs["bin"])!r})
print("GOOD LOADED")
try:
    transformers.BertModel.from_pretrained({str(bert_dirs["evil"])!r})
    print("EVIL LOADED")
except guard.UnsafeModelError as exc:
    print("REFUSED", exc.rule_id)
"""
    env = {**os.environ, "PYTHONPATH": str(site), "TROJANGUARD_GUARD": "1", "TROJANGUARD_GUARD_CACHE": str(tmp_path / "g.sqlite")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env, check=False)
    out = proc.stdout
    assert "INSTALLED True" in out and "GOOD LOADED" in out and "REFUSED PKL001" in out, out + proc.stderr[-3000:]
    assert "EVIL LOADED" not in out and not (bert_dirs["evil"].parent / "SENTINEL").exists()
    env.pop("TROJANGUARD_GUARD")
    proc = subprocess.run([sys.executable, "-c", "from trojanguard import guard; print('INSTALLED', guard.installed())"],
                          capture_output=True, text=True, timeout=120, env=env, check=True)  # fmt: skip
    assert "INSTALLED False" in proc.stdout, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- keras 3 (torch backend)


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    module = pytest.importorskip("keras")
    import keras.models  # noqa: F401 - the guard's target module

    return module


def _marker(x: Any) -> Any:
    """The Lambda's function: would touch a file named like itself if Keras ever ran it."""
    import pathlib

    pathlib.Path("KERAS_LAMBDA_RAN").touch()
    return x


@pytest.fixture
def keras_spy(keras: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[object]]:
    calls: list[object] = []
    monkeypatch.setattr(keras.models, "load_model", _spy(calls, keras.models.load_model))
    guard.install(cache_path=str(tmp_path / "guard.sqlite"))
    try:
        yield calls
    finally:
        guard.uninstall()


def test_benign_keras_file_loads(keras: ModuleType, keras_spy: list[object], tmp_path: Path) -> None:
    import numpy as np

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    path = tmp_path / "ok.keras"
    model.save(str(path))
    assert hasattr(keras.models.load_model, "__trojanguard_original__")
    assert hasattr(keras.saving.load_model, "__trojanguard_original__")
    loaded = keras.models.load_model(str(path))
    x = np.ones((1, 3), "float32")
    assert np.allclose(np.asarray(loaded.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)))
    assert len(keras_spy) == 1


def test_keras_lambda_with_marshalled_code_is_refused_before_load_model(
    keras: ModuleType, keras_spy: list[object], audit: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.keras"
    path.write_bytes(keras_zip(functional([dense(), lambda_v3(_marker)])))
    with pytest.raises(guard.UnsafeModelError) as info:
        keras.models.load_model(str(path), safe_mode=False)
    assert info.value.rule_id.startswith("KER"), str(info.value)
    assert keras_spy == [] and audit == [] and not (tmp_path / "KERAS_LAMBDA_RAN").exists()
