"""joblib: real scikit-learn models (every codec) are clean, payloads in joblib's own zlib
framings are found, broken framing is reported, bombs stop at a limit.

Real files are *written* with joblib from trusted models built here; nothing is loaded.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from builders.pickles import PickleBuilder, reduce_call
from conftest import assert_fires, assert_silent, scan_bytes
from trojanguard.artifact import Limits
from trojanguard.model import Severity
from trojanguard.scanner import scan

EVIL = reduce_call("os", "system", "echo pwned", protocol=4)


def zf(payload: bytes, *, declared: int | None = None, extra_space: bool = False, level: int = 3) -> bytes:
    """joblib < 0.10 ``write_zfile``: 'ZF' + hex length padded to 19 + zlib stream."""
    length = hex(len(payload) if declared is None else declared).encode().ljust(19)
    return b"ZF" + length + (b" " if extra_space else b"") + zlib.compress(payload, level)


def _models() -> dict[str, object]:
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(0)
    x = rng.random((60, 4))
    y = (x[:, 0] > 0.5).astype(int)
    return {
        "logreg": LogisticRegression().fit(x, y),
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
        "tree": DecisionTreeRegressor(max_depth=3).fit(x, x[:, 1]),
        "arrays": {"weights": x, "labels": y, "names": np.array(["a", "b"], dtype=object)},
    }


CODECS = [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3), ("lz4", 3)]


def test_real_sklearn_models_are_clean(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    models = _models()
    for i, codec in enumerate(CODECS):
        if codec == ("lz4", 3):
            pytest.importorskip("lz4")
        for name, model in models.items():
            joblib.dump(model, tmp_path / f"{name}_{i}.joblib", compress=codec)
    report = scan([str(tmp_path)])
    assert not report.errors, report.errors
    assert len(report.scanned) == len(CODECS) * len(models)
    assert "joblib" in {s.format for s in report.scanned}
    assert_silent(report, "JBL001")
    bad = [f for f in report.findings if f.severity >= Severity.MEDIUM]
    assert not bad, [(f.rule.id, str(f.location), f.message) for f in bad]


def test_payload_in_bare_zlib_stream() -> None:
    result = scan_bytes(zlib.compress(EVIL, 3), "model.joblib")
    assert result[2][-1].format == "joblib"
    assert_silent(result, "JBL001")
    assert_fires(result, "PKL001", contains="os.system")


@pytest.mark.parametrize("extra_space", [False, True])
def test_payload_in_zf_framing(extra_space: bool) -> None:
    result = scan_bytes(zf(EVIL, extra_space=extra_space), "model.pkl")
    assert result[2][-1].format == "joblib"
    assert_silent(result, "JBL001")
    assert_fires(result, "PKL001")


def test_payload_in_second_concatenated_stream() -> None:
    benign = PickleBuilder(4).proto().value("ok").stop().bytes()
    data = zlib.compress(benign) + zlib.compress(EVIL)
    assert_fires(scan_bytes(data, "model.joblib"), "PKL001")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"ZF0xZZ" + b" " * 15 + zlib.compress(EVIL), "not a space-padded hex"),
        (b"ZF0x10", "truncated"),
        (b"ZF0x10" + b" " * 15 + b"not zlib at all", "no zlib stream"),
        (b"x\x9c" + b"\xff" * 40, "does not decompress"),
        (zlib.compress(EVIL)[:-12], "truncated"),
    ],
)
def test_malformed_framing(data: bytes, problem: str) -> None:
    result = scan_bytes(data, "model.joblib")
    assert result[2][-1].format == "joblib"
    assert_fires(result, "JBL001", contains=problem)
    assert not [e for e in result[1] if e.kind == "internal"]


def test_declared_length_disagrees() -> None:
    assert_fires(scan_bytes(zf(EVIL, declared=len(EVIL) + 100), "m.pkl"), "JBL001", contains="declares")
    assert_silent(scan_bytes(zf(EVIL), "m.pkl"), "JBL001")


def test_zlib_bomb_stops_at_limit() -> None:
    blob = PickleBuilder(4).proto().binbytes8(bytes(32 << 20)).stop().bytes()
    data = zlib.compress(blob, 9)
    limits = Limits(ratio_floor=1 << 20, max_ratio=50.0)
    result = scan_bytes(data, "model.joblib", limits=limits)
    assert_fires(result, "SCN002")


def test_text_starting_like_zlib_is_not_joblib() -> None:
    result = scan_bytes(b"x^2 + y^2 = z^2 is a famous equation\n", "notes.txt")
    assert result[2][-1].format == "text"
    assert_silent(result, "JBL001")


def test_large_first_stream_then_payload_stream() -> None:
    """Reads that stop at the output limit right at a stream's end still move on to the next stream."""
    from trojanguard.analyzers.joblib import ZlibStream
    from trojanguard.model import Location

    big = bytes(range(256)) * 10_000
    data = zlib.compress(big) + zlib.compress(b"xyz")
    for size in (4096, 1 << 20, -1):
        stream = ZlibStream(__import__("io").BytesIO(data), 0, Location("x"))
        parts = []
        while part := stream.read(size):
            parts.append(part)
            if size < 0:
                break
        assert b"".join(parts) == big + b"xyz"
    benign = PickleBuilder(4).proto().binbytes8(big).stop().bytes()
    assert_fires(scan_bytes(zlib.compress(benign) + zlib.compress(EVIL), "m.joblib"), "PKL001")
