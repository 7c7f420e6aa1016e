"""Real checkpoints stay clean: the allowlist covers what numpy, scikit-learn, joblib and
torch actually write (fixtures are built here from trusted objects with pickle.dumps /
joblib.dump / torch.save; nothing is ever loaded).

Why: the analyzer treats every non-allowlisted call as high, so a gap in the allowlist is
a false positive on every model of that kind.  Skipped where the library is missing.
"""

from __future__ import annotations

import collections
import io
import pickle
import warnings
from pathlib import Path

import pytest

from conftest import assert_silent, scan_bytes
from trojanguard.model import Finding, Severity


def _noisy(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule.id, f.message) for f in findings if f.severity >= Severity.MEDIUM]


def test_numpy_objects_are_clean() -> None:
    np = pytest.importorskip("numpy")
    objects = [np.arange(6.0).reshape(2, 3), np.array([1, "x", None], dtype=object),
               np.zeros(2, dtype=[("a", "i4"), ("b", "f8", (2,))]), np.array(["2020-01-01"], dtype="datetime64[D]"),
               np.float32(1.5), np.int64(3), np.random.RandomState(0), np.random.default_rng(0),
               np.ma.masked_array([1, 2], mask=[0, 1]), np.asfortranarray(np.ones((2, 2))), np.dtype("f4"),
               collections.OrderedDict(w=np.ones(3))]
    for obj in objects:
        for protocol in (2, 4, 5):
            findings, errors, _ = scan_bytes(pickle.dumps(obj, protocol=protocol), "arrays.pkl")
            assert not errors and _noisy(findings) == [], (type(obj), protocol)
            assert_silent(findings, "PKL002")


@pytest.mark.slow
def test_sklearn_estimators_are_clean() -> None:
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    joblib = pytest.importorskip("joblib")
    from sklearn import ensemble, linear_model, neighbors, pipeline, preprocessing, svm, tree
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = np.random.RandomState(0).rand(40, 4)
    y = (x[:, 0] > 0.5).astype(int)
    models = [linear_model.LogisticRegression(), tree.DecisionTreeClassifier(), svm.SVC(),
              ensemble.RandomForestClassifier(n_estimators=3), ensemble.HistGradientBoostingClassifier(max_iter=3),
              ensemble.GradientBoostingClassifier(n_estimators=3), neighbors.KNeighborsClassifier(algorithm="kd_tree"),
              pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.SGDClassifier())]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = [m.fit(x, y) for m in models] + [TfidfVectorizer().fit(["alpha beta", "beta gamma"])]
    for model in fitted:
        buf = io.BytesIO()
        joblib.dump(model, buf)
        for data, name in ((pickle.dumps(model, protocol=4), "model.pkl"), (buf.getvalue(), "model.joblib")):
            findings, errors, _ = scan_bytes(data, name)
            assert not errors and _noisy(findings) == [], (type(model).__name__, name, _noisy(findings))


def _torch_save(obj: object, legacy: bool = False) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


@pytest.mark.slow
def test_torch_checkpoints_are_clean() -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    opt = torch.optim.Adam(model.parameters())
    objects = {
        "state-dict": model.state_dict(),
        "full-model": model,
        "training-checkpoint": {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3},
        "dtypes": {str(d): torch.zeros(2, dtype=d) for d in (torch.float16, torch.bfloat16, torch.int8, torch.bool)},
        "quantized": torch.quantize_per_tensor(torch.ones(3), 0.1, 0, torch.quint8),
        "sparse": torch.eye(3).to_sparse(),
        "metadata": {"device": torch.device("cpu"), "size": torch.Size([2, 3]), "dtype": torch.float32},
    }
    for name, obj in objects.items():
        for legacy in (False, True):
            findings, errors, _ = scan_bytes(_torch_save(obj, legacy), "model.pt")
            assert not errors and _noisy(findings) == [], (name, legacy, _noisy(findings))


@pytest.mark.slow
def test_torch_legacy_full_model_is_clean() -> None:
    """Legacy persistent ids ('module', cls, file, source) resolve to cls, as torch's loader does."""
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    findings, _, _ = scan_bytes(_torch_save(model, legacy=True), "model.pt")
    assert _noisy(findings) == []


@pytest.mark.slow
def test_torchscript_archive_with_list_constants_is_clean(tmp_path: Path) -> None:
    """torch.jit.save output calls torch.jit._pickle.build_intlist for list attributes (bench FP)."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)
            self.sizes: list[int] = [1, 2, 3]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) * len(self.sizes)

    path = tmp_path / "net.jit"
    torch.jit.save(torch.jit.script(Net()), str(path))
    data = path.read_bytes()
    findings, errors, _ = scan_bytes(data, "net.jit")
    assert not errors and _noisy(findings) == [], _noisy(findings)
    assert b"build_intlist" in data or b"build_" in data  # the helper the fix allowlists is really there
