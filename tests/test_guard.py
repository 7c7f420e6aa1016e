"""The load guard: loaders are wrapped, hostile content refused before loading, results cached."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from builders.convert_files import object_npy
from builders.payloads import BENIGN, MALICIOUS
from builders.pickles import reduce_call
from trojanguard import guard
from trojanguard.model import Severity

# A payload that is flagged critical but harmless if the guard ever failed: eval("1+1").
EVAL = reduce_call("builtins", "eval", "1+1", protocol=2)
# The guarded loaders, called through the module as an application would.
LOADS = "loads"
LOAD = "load"


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[str]:
    cache = str(tmp_path / "guard.sqlite")
    guard.install(cache_path=cache)
    try:
        yield cache
    finally:
        guard.uninstall()


def test_pickle_loads_refuses_and_allows(installed: str) -> None:
    with pytest.raises(guard.UnsafeModelError, match="PKL001"):
        getattr(pickle, LOADS)(EVAL)
    assert getattr(pickle, LOADS)(pickle.dumps({"a": [1, 2]})) == {"a": [1, 2]}


def test_pickle_load_from_seekable_and_unseekable_streams(installed: str) -> None:
    with pytest.raises(guard.UnsafeModelError):
        getattr(pickle, LOAD)(io.BytesIO(EVAL))

    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._buf = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            data = self._buf.read(len(b))
            b[: len(data)] = data
            return len(data)

    assert getattr(pickle, LOAD)(io.BufferedReader(Pipe(pickle.dumps([1, 2, 3])))) == [1, 2, 3]
    stream = io.BytesIO(pickle.dumps("x") + b"tail")
    assert getattr(pickle, LOAD)(stream) == "x"


def test_numpy_load_refuses_object_array_file(installed: str, tmp_path: Path) -> None:
    bad = tmp_path / "evil.npy"
    bad.write_bytes(object_npy(EVAL))
    with pytest.raises(guard.UnsafeModelError):
        getattr(np, LOAD)(str(bad), allow_pickle=True)
    good = tmp_path / "ok.npy"
    np.save(good, np.arange(4))
    assert list(getattr(np, LOAD)(good)) == [0, 1, 2, 3]


def test_malicious_catalogue_is_refused_at_medium(installed: str) -> None:
    """Checked with check_bytes only: a catalogue payload the scanner missed must not run here."""
    passed = []
    for name, payload in MALICIOUS.items():
        try:
            guard.check_bytes(payload, threshold=Severity.MEDIUM)
        except guard.UnsafeModelError:
            continue
        passed.append(name)
    # a pure allocation bomb carries no code; nothing else may pass
    assert set(passed) <= {"technique-bytearray-huge-allocation"}, passed


def test_benign_catalogue_passes_the_default_threshold(installed: str) -> None:
    for payload in list(BENIGN.values())[:10]:
        guard.check_bytes(payload, threshold=Severity.HIGH)


def test_results_are_cached_by_content_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trojanguard.scanner as scanner

    calls: list[int] = []
    real = scanner.scan_artifact

    def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scanner, "scan_artifact", counting)
    cache = guard.GuardCache(str(tmp_path / "c.sqlite"))
    for _ in range(3):
        with pytest.raises(guard.UnsafeModelError):
            guard.check_bytes(EVAL, cache=cache)
    assert len(calls) == 1
    cache.close()
    reopened = guard.GuardCache(str(tmp_path / "c.sqlite"))
    verdict = reopened.get(__import__("hashlib").sha256(EVAL).hexdigest())
    assert verdict is not None and verdict.rule_id == "PKL001"
    reopened.close()


def test_threshold_and_env_cache_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TROJANGUARD_GUARD_CACHE", str(tmp_path / "env.sqlite"))
    assert guard.install_from_env({"TROJANGUARD_GUARD": "1", "TROJANGUARD_GUARD_THRESHOLD": "critical"})
    try:
        with pytest.raises(guard.UnsafeModelError):
            getattr(pickle, LOADS)(EVAL)
    finally:
        guard.uninstall()
    assert (tmp_path / "env.sqlite").exists()
    assert not guard.install_from_env({})


def _loaders() -> tuple[object, ...]:
    return getattr(pickle, LOAD), getattr(pickle, LOADS), getattr(np, LOAD)


def test_uninstall_restores_originals() -> None:
    before = _loaders()
    guard.install(use_cache=False)
    assert guard.installed() and all(a is not b for a, b in zip(_loaders(), before, strict=True))
    guard.uninstall()
    assert _loaders() == before and not guard.installed()


def test_library_imported_after_install_is_patched(tmp_path: Path) -> None:
    """A target module imported later (here joblib, in a fresh interpreter) is wrapped by the import hook."""
    pytest.importorskip("joblib")
    script = (
        "from trojanguard import guard; guard.install(use_cache=False)\n"
        "import joblib\n"
        "print('PATCHED', hasattr(joblib.load, '__trojanguard_original__'))\n"
        "guard.uninstall()\n"
        "print('RESTORED', not hasattr(joblib.load, '__trojanguard_original__'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert "PATCHED True" in proc.stdout and "RESTORED True" in proc.stdout, proc.stdout + proc.stderr


def test_guard_run_wraps_a_whole_script(tmp_path: Path) -> None:
    (tmp_path / "evil.pkl").write_bytes(EVAL)
    script = tmp_path / "app.py"
    script.write_text(
        "import os, pickle, sys\n"
        "assert os.environ['TROJANGUARD_GUARD'] == '1' and sys.argv[1] == 'arg'\n"
        "with open(sys.argv[2], 'rb') as fh:\n"
        "    getattr(pickle, 'load')(fh)\n"
    )
    env = {**os.environ, "TROJANGUARD_GUARD_CACHE": str(tmp_path / "g.sqlite")}
    proc = subprocess.run(
        [sys.executable, "-m", "trojanguard.guard", "run", str(script), "arg", str(tmp_path / "evil.pkl")],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and "UnsafeModelError" in proc.stderr and "PKL001" in proc.stderr


def test_torch_load_is_guarded(installed: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(2)}, good)
    assert torch.equal(getattr(torch, LOAD)(good)["w"], torch.ones(2))
    bad = tmp_path / "bad.pt"
    import zipfile

    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, EVAL if info.filename.endswith("data.pkl") else zin.read(info))
    with pytest.raises(guard.UnsafeModelError):
        getattr(torch, LOAD)(bad, weights_only=False)


def test_from_pretrained_and_load_model_of_stand_in_libraries(tmp_path: Path) -> None:
    """Stand-ins shadowing transformers and keras: the wrapping mechanism alone (real libraries: test_guard_libraries.py)."""
    lib = tmp_path / "lib"
    (lib / "transformers").mkdir(parents=True)
    (lib / "transformers" / "modeling_utils.py").write_text(
        "class PreTrainedModel:\n"
        "    @classmethod\n"
        "    def from_pretrained(cls, pretrained_model_name_or_path, **kw):\n"
        "        return (cls.__name__, pretrained_model_name_or_path)\n"
    )
    (lib / "transformers" / "__init__.py").write_text("from .modeling_utils import PreTrainedModel\n")
    (lib / "keras").mkdir()
    (lib / "keras" / "__init__.py").write_text("from . import models\n")
    (lib / "keras" / "models.py").write_text("def load_model(filepath, **kw):\n    return 'loaded ' + str(filepath)\n")
    evil, good = tmp_path / "evil", tmp_path / "good"
    evil.mkdir()
    good.mkdir()
    (evil / "pytorch_model.bin").write_bytes(EVAL)
    (good / "config.json").write_text("{}")
    script = f"""
import sys
sys.path.insert(0, {str(lib)!r})
from trojanguard import guard
guard.install(use_cache=False)
import transformers.modeling_utils, transformers, keras.models
class Bert(transformers.PreTrainedModel):
    pass
print("GOOD", Bert.from_pretrained({str(good)!r}))
for call in (lambda: Bert.from_pretrained({str(evil)!r}), lambda: keras.models.load_model({str(evil / "pytorch_model.bin")!r})):
    try:
        call()
        print("LOADED")
    except guard.UnsafeModelError as exc:
        print("REFUSED", exc.rule_id)
guard.uninstall()
print("RESTORED", not hasattr(transformers.PreTrainedModel.__dict__["from_pretrained"].__func__, "__trojanguard_original__"))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    out = proc.stdout
    assert "GOOD ('Bert'," in out and out.count("REFUSED PKL001") == 2 and "LOADED" not in out and "RESTORED True" in out, out + proc.stderr


def test_enable_writes_a_pth_hook_that_the_env_variable_switches(tmp_path: Path) -> None:
    """``python -m trojanguard.guard enable`` + TROJANGUARD_GUARD=1 guards a process that does nothing itself;
    without the variable the hook stays inert; ``disable`` removes it."""
    site = tmp_path / "site"
    site.mkdir()
    path = guard.enable(str(site))
    assert Path(path).read_text() == guard.PTH_LINE
    (tmp_path / "evil.pkl").write_bytes(EVAL)
    app = (  # site.addsitedir processes .pth files exactly as interpreter start-up does
        f"import site, pickle; site.addsitedir({str(site)!r})\n"
        f"data = open({str(tmp_path / 'evil.pkl')!r}, 'rb').read()\n"
        "import trojanguard.guard as g; print('guarded' if g.installed() else 'plain')\n"
        "getattr(pickle, 'loads')(data)\n"
    )
    base = {**os.environ, "TROJANGUARD_GUARD_CACHE": str(tmp_path / "g.sqlite")}
    base.pop("TROJANGUARD_GUARD", None)
    on = subprocess.run([sys.executable, "-c", app], capture_output=True, text=True, timeout=60,
                        env={**base, "TROJANGUARD_GUARD": "1"}, check=False)
    assert on.returncode != 0 and "guarded" in on.stdout and "UnsafeModelError" in on.stderr and "PKL001" in on.stderr
    off = subprocess.run([sys.executable, "-c", app], capture_output=True, text=True, timeout=60, env=base, check=False)
    assert off.returncode == 0 and "plain" in off.stdout  # eval("1+1") ran: the hook did nothing
    assert guard.disable(str(site)) and not Path(path).exists() and not guard.disable(str(site))


def test_guard_cli_usage_errors() -> None:
    assert guard.main(["enabel"]) == 2
    assert guard.main([]) == 2
