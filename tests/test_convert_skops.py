"""scikit-learn pickles and joblib files -> skops: round trips, predictions, refusals, no execution."""

from __future__ import annotations

import io
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skops")

import numpy as np  # noqa: E402

from builders.convert_files import (  # noqa: E402
    forest_with_a_wider_tree,
    hostile_sklearn_files,
    sklearn_file,
    sklearn_models,
    tree_built_twice,
    unsupported_sklearn_files,
)
from builders.payloads import MALICIOUS  # noqa: E402
from trojanguard.cli import Console, main  # noqa: E402
from trojanguard.convert import ConversionRefused, convert  # noqa: E402
from trojanguard.errors import Error, MalformedInput  # noqa: E402

MODELS = sklearn_models()
FORMS = ["p2", "p4", "p5", "joblib", "joblib3", "joblib-gzip"]


def _probe(name: str) -> object:
    if name == "tfidf":
        return ["win cheap pills", "noon meeting today", "money now", "lunch"]
    return np.random.default_rng(7).normal(size=(32, 5))


def _skops_load(path: Path, trusted: tuple[str, ...]) -> object:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=str(path))
    assert set(untrusted) <= set(trusted), untrusted  # only types the converter itself built and checked
    return sio.load(str(path), trusted=list(untrusted))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("form", FORMS)
def test_round_trip_predictions_match_the_original(tmp_path: Path, name: str, form: str) -> None:
    """The written .skops predicts exactly like the estimator the test fitted (never loaded from the file)."""
    model = MODELS[name]
    src = tmp_path / f"{name}.{form}"
    src.write_bytes(sklearn_file(model, form))
    result = convert(str(src), str(tmp_path / "m.skops"))
    assert result.verified and result.tensors > 0
    assert type(model).__module__ + "." + type(model).__name__ in result.metadata_keys
    loaded = _skops_load(tmp_path / "m.skops", result.metadata_keys)
    probe = _probe(name)
    assert np.array_equal(loaded.predict(probe), model.predict(probe))  # type: ignore[attr-defined]
    if hasattr(model, "predict_proba"):
        assert np.array_equal(loaded.predict_proba(probe), model.predict_proba(probe))  # type: ignore[attr-defined]


def test_forest_trees_are_trusted_only_because_they_were_validated(tmp_path: Path) -> None:
    src = tmp_path / "forest.joblib"
    src.write_bytes(sklearn_file(MODELS["forest"], "joblib"))
    result = convert(str(src), str(tmp_path / "f.skops"))
    assert "sklearn.tree._tree.Tree" in result.metadata_keys


def test_cli_writes_skops(tmp_path: Path) -> None:
    src = tmp_path / "m.joblib"
    src.write_bytes(sklearn_file(MODELS["logreg"], "joblib3"))
    out, err = io.StringIO(), io.StringIO()
    code = main(["convert", str(src), "-o", str(tmp_path / "m.skops")], Console(out=out, err=err))
    assert code == 0, err.getvalue()
    assert "verified" in out.getvalue() and (tmp_path / "m.skops").exists()


@pytest.mark.parametrize("name", sorted(hostile_sklearn_files()))
def test_hostile_sklearn_files_are_refused(tmp_path: Path, name: str) -> None:
    src = tmp_path / name
    src.write_bytes(hostile_sklearn_files()[name])
    with pytest.raises(Error) as info:
        convert(str(src), str(tmp_path / "x.skops"))
    message = str(info.value)
    if "os-system" in name:
        assert isinstance(info.value, ConversionRefused) and "system" in message
    elif "counter" in name:
        assert "collections.Counter" in message
    else:
        assert isinstance(info.value, MalformedInput) and "out of bounds" in message
    assert not (tmp_path / "x.skops").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tg-convert-")]


def test_every_core_payload_is_refused_as_pickle_and_as_joblib(tmp_path: Path) -> None:
    """The scanner's whole MALICIOUS catalogue, plain and zlib-framed like joblib's compress=N."""
    refused = 0
    for i, payload in enumerate(MALICIOUS.values()):
        for suffix, blob in (("pkl", payload), ("joblib", zlib.compress(payload))):
            src = tmp_path / f"{i}.{suffix}"
            src.write_bytes(blob)
            try:
                convert(str(src), str(tmp_path / f"{i}.skops"))
            except Error:
                refused += 1
    assert refused == 2 * len(MALICIOUS)
    assert not list(tmp_path.glob("*.skops"))


def test_missing_skops_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "m.pkl"
    src.write_bytes(sklearn_file(MODELS["logreg"], "p4"))
    monkeypatch.setitem(sys.modules, "skops.io._trusted_types", None)
    with pytest.raises(ConversionRefused, match="needs the skops package"):
        convert(str(src), str(tmp_path / "m.skops"))


def test_truncated_and_garbage_inputs_are_malformed_not_tracebacks(tmp_path: Path) -> None:
    good = sklearn_file(MODELS["forest"], "joblib")
    for i, blob in enumerate([good[: len(good) // 2], good[:-3], b"\x80\x04junk", b"\x1f\x8b\x08junk", b"hello"]):
        src = tmp_path / f"{i}.joblib"
        src.write_bytes(blob)
        with pytest.raises(Error):
            convert(str(src), str(tmp_path / f"{i}.skops"))


@pytest.mark.slow
def test_conversion_runs_under_an_audit_hook_that_sees_no_execution(tmp_path: Path) -> None:
    """In a fresh interpreter: hostile pickles/joblib files trigger no exec/system/subprocess event."""
    for name, blob in hostile_sklearn_files().items():
        (tmp_path / name).write_bytes(blob)
    for i, payload in enumerate(list(MALICIOUS.values())[:40]):
        (tmp_path / f"m{i}.joblib").write_bytes(zlib.compress(payload))
    (tmp_path / "warm.joblib").write_bytes(sklearn_file(MODELS["forest"], "joblib3"))
    script = f"""
import sys, glob
from trojanguard.convert import convert
from trojanguard.errors import Error
d = {str(tmp_path)!r}
convert(d + "/warm.joblib", d + "/warm.skops")  # lazy imports (skops, sklearn) happen here
bad = []
sys.addaudithook(lambda e, a: bad.append(e) if e in ("exec", "os.system", "subprocess.Popen", "pickle.find_class", "marshal.loads") else None)
for p in sorted(glob.glob(d + "/*.pkl") + glob.glob(d + "/m*.joblib") + glob.glob(d + "/function*.joblib")):
    try:
        convert(p, p + ".skops")
        print("CONVERTED", p)
    except Error:
        pass
print("EVENTS", sorted(set(bad)))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert "EVENTS []" in proc.stdout and "CONVERTED" not in proc.stdout, proc.stdout + proc.stderr


def test_a_second_build_cannot_replace_a_validated_tree_state(tmp_path: Path) -> None:
    src = tmp_path / "twice.pkl"
    src.write_bytes(tree_built_twice())
    with pytest.raises(ConversionRefused, match="only a new estimator's state is set, once"):
        convert(str(src), str(tmp_path / "x.skops"))


def test_a_forest_tree_wider_than_the_forest_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "forest.pkl"
    src.write_bytes(forest_with_a_wider_tree())
    with pytest.raises(MalformedInput, match="differs from the forest"):
        convert(str(src), str(tmp_path / "x.skops"))


@pytest.mark.parametrize("name", sorted(unsupported_sklearn_files()))
def test_estimators_outside_the_vocabulary_are_refused_by_name(tmp_path: Path, name: str) -> None:
    src = tmp_path / name
    src.write_bytes(unsupported_sklearn_files()[name])
    with pytest.raises(ConversionRefused) as info:
        convert(str(src), str(tmp_path / "x.skops"))
    print(name, info.value)
    assert not (tmp_path / "x.skops").exists()


def test_byte_mutations_end_in_an_error_or_a_verified_file(tmp_path: Path) -> None:
    """Seeded byte flips of real files: every outcome is a trojanguard Error or a verified conversion."""
    import random

    rnd = random.Random(5)
    src, out = tmp_path / "m.bin", tmp_path / "m.skops"
    for form in ("joblib", "p2"):
        good = sklearn_file(MODELS["forest"], form)
        for _ in range(30):
            blob = bytearray(good)
            for _ in range(rnd.randint(1, 3)):
                blob[rnd.randrange(len(blob))] = rnd.randrange(256)
            src.write_bytes(bytes(blob))
            try:
                assert convert(str(src), str(out)).verified
            except Error:
                pass
