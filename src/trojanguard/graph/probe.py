"""Trigger probe: run the model with and without the synthesised trigger and compare outputs.

Why: static detection names a literal and a region; confirming it is cheap — set that region
to the literal in a few samples and see whether the outputs jump.  This is the one place
that *runs* a model, so it is an explicit, opt-in command (``trojanguard graph probe``) with
the optional extra ``probe`` (onnxruntime, imported lazily); the scanner never calls it.
User samples are read from an ``.npz`` with numpy's format reader and ``allow_pickle=False``.
"""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from .detectors import Detection, analyze_graph
from .ir import from_onnx

_GENERATED_DIM = 16


def read_npz(path: str) -> dict[str, Any]:
    """Arrays of an ``.npz`` by name, never unpickling (object arrays are refused)."""
    out: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist()[:256]:
                if info.filename.endswith(".npy") and info.file_size <= (1 << 30):
                    with zf.open(info) as fh:
                        out[info.filename[:-4]] = np.lib.format.read_array(fh, allow_pickle=False)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise InputError(f"{path}: cannot read samples: {exc}") from None
    return out


def _generated(session: Any, count: int, rng: Any) -> dict[str, Any]:
    feeds = {}
    for meta in session.get_inputs():
        dims = [d if isinstance(d, int) and d > 0 else (1 if k == 0 else _GENERATED_DIM) for k, d in enumerate(meta.shape)]
        dims = [count if k == 0 and not isinstance(meta.shape[0], int) else d for k, d in enumerate(dims)]
        if "int" in meta.type:
            feeds[meta.name] = rng.integers(1, 1000, dims).astype(np.int64 if "int64" in meta.type else np.int32)
        elif "bool" in meta.type:
            feeds[meta.name] = np.zeros(dims, bool)
        else:
            feeds[meta.name] = (rng.random(dims) * 0.5).astype(np.float16 if "float16" in meta.type else np.float32)
    return feeds


def _trigger_value(info: dict[str, Any]) -> float:
    literal = float(info["literal"][0])
    op = info.get("gate_op")
    if op in ("Greater", "GreaterOrEqual"):
        return literal + 1.0
    if op in ("Less", "LessOrEqual"):
        return literal - 1.0
    return literal


def apply_trigger(array: Any, info: dict[str, Any]) -> Any:
    """Write the trigger literal into the detection's region (or the first position) of ``array``."""
    out = np.array(array, copy=True)
    value = _trigger_value(info)
    index: list[Any] = [slice(None)] * out.ndim
    if "starts" in info and "ends" in info:
        axes = info.get("axes", tuple(range(len(info["starts"]))))
        for a, s, e in zip(axes, info["starts"], info["ends"], strict=False):
            if 0 <= a % max(out.ndim, 1) < out.ndim:
                index[a % out.ndim] = slice(s, min(e, out.shape[a % out.ndim]))
    elif "gather_indices" in info:
        axis = int(info.get("gather_axis", 0)) % max(out.ndim, 1)
        index[axis] = list(info["gather_indices"])
    elif out.ndim:
        index[-1] = 0
    out[tuple(index)] = value
    return out


def _compare(before: list[Any], after: list[Any], names: list[str]) -> tuple[str, bool]:
    parts, changed = [], False
    for name, a, b in zip(names, before, after, strict=False):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype.kind not in "fiub":
            continue
        delta = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
        text = f"{name}: max |change| {delta:.4g}"
        if a.ndim >= 2 and a.shape[-1] > 1 and a.dtype.kind == "f":
            flips = int(np.sum(np.argmax(a, -1) != np.argmax(b, -1)))
            text += f", top class changed in {flips}/{int(np.prod(a.shape[:-1]))}"
            changed |= flips > 0
        changed |= delta > 1e-3 * (1.0 + float(np.max(np.abs(a))) if a.size else 1.0)
        parts.append(text)
    return "; ".join(parts) or "no comparable outputs", changed


def _run(session: Any, feeds: dict[str, Any]) -> list[Any]:
    try:
        return list(session.run(None, feeds))
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise InputError(f"onnxruntime failed on the samples: {str(exc)[:200]}") from None


def probe_model(path: str, model: Any, samples_path: str | None, count: int) -> tuple[list[str], bool]:
    """Probe every literal trigger found in ``model``; returns report lines and whether any output changed."""
    try:
        import onnxruntime as ort  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise UsageError("graph probe needs onnxruntime: pip install 'trojanguard[probe]'") from None
    _, detections = analyze_graph(from_onnx(model))
    triggers: list[Detection] = [d for d in detections if "literal" in d.trigger and d.trigger.get("inputs")]
    if not triggers:
        return [f"{path}: no literal trigger to probe"], False
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise InputError(f"{path}: onnxruntime cannot load the model: {str(exc)[:200]}") from None
    rng = np.random.default_rng(0)
    feeds = read_npz(samples_path) if samples_path else _generated(session, count, rng)
    names = [o.name for o in session.get_outputs()]
    before = _run(session, feeds)
    lines, any_changed, done = [], False, set()
    for d in triggers:
        key = (d.trigger["gate"], d.trigger["inputs"][0])
        if key in done or key[1] not in feeds:
            continue
        done.add(key)
        patched = dict(feeds)
        patched[key[1]] = apply_trigger(feeds[key[1]], d.trigger)
        text, changed = _compare(before, _run(session, patched), names)
        any_changed |= changed
        verdict = "CONFIRMED" if changed else "no effect"
        lines.append(f"{verdict}: trigger {d.trigger['gate']} ({key[1]} <- {_trigger_value(d.trigger):g}) -> {text}")
    return lines or [f"{path}: triggers name inputs that the samples lack"], any_changed
