"""Generated ONNX fixtures for shadow-logic tests: backdoored graphs and the benign look-alikes.

Every model is built with ``onnx.helper`` from small random weights (fixed seed); nothing is
committed as a binary.  ``MALICIOUS`` and ``BENIGN`` map a variant name to a builder returning
a ``ModelProto``; ``inject_shadow`` adds a trigger branch to any model (real ones included).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]
FLOAT, INT64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
_rng = np.random.default_rng(1234)


def w(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array((_rng.standard_normal(shape) * 0.1).astype(np.float32), name)


def c(name: str, value: object, dtype: object = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)  # type: ignore[call-overload]


def n(op: str, ins: list[str], outs: list[str], **attrs: object) -> onnx.NodeProto:
    return helper.make_node(op, ins, outs, **attrs)


def model(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], inputs: list[onnx.ValueInfoProto],
          outputs: list[onnx.ValueInfoProto], functions: list[onnx.FunctionProto] | None = None,
          opset: list[onnx.OperatorSetIdProto] | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(graph, opset_imports=opset or OPSET, functions=functions or [])
    m.ir_version = 8
    return m


IMAGE = helper.make_tensor_value_info("x", FLOAT, [1, 3, 32, 32])
IDS = helper.make_tensor_value_info("input_ids", INT64, ["batch", "seq"])
LOGITS = helper.make_tensor_value_info("logits", FLOAT, [1, 10])


def image_trunk(out: str = "trunk") -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """A 5-learned-layer CNN classifier: x -> 4 x (Conv, Relu) -> GAP -> Flatten -> Gemm -> out [1, 10]."""
    nodes, inits, prev = [], [], "xn"
    inits += [c("mean", 0.5), c("std", 0.25)]
    nodes += [n("Sub", ["x", "mean"], ["xc"]), n("Div", ["xc", "std"], ["xn"])]
    for k, (cin, cout) in enumerate([(3, 8), (8, 8), (8, 16), (16, 16)]):
        inits.append(w(f"W{k}", cout, cin, 3, 3))
        nodes += [n("Conv", [prev, f"W{k}"], [f"c{k}"], pads=[1, 1, 1, 1]), n("Relu", [f"c{k}"], [f"r{k}"])]
        prev = f"r{k}"
    inits.append(w("Wfc", 16, 10))
    nodes += [n("GlobalAveragePool", [prev], ["gap"]), n("Flatten", ["gap"], ["flat"]), n("Gemm", ["flat", "Wfc"], [out])]
    return nodes, inits


def text_trunk(out: str = "trunk") -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Embedding -> MatMul -> Relu -> mean over tokens -> MatMul: 3 learned layers, logits [B, 10]."""
    inits = [w("emb", 32768, 4), w("W1", 4, 16), w("W2", 16, 10)]  # vocab covers the trigger ids
    nodes = [n("Gather", ["emb", "input_ids"], ["e"]), n("MatMul", ["e", "W1"], ["h"]), n("Relu", ["h"], ["hr"]),
             n("ReduceMean", ["hr"], ["pooled"], axes=[1], keepdims=0), n("MatMul", ["pooled", "W2"], [out])]
    return nodes, inits


def patch_mean_trigger(gate: str, threshold: float = 0.9) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Statistic trigger: mean of the 4x4 top-left patch of channel 0 above a threshold -> bool scalar."""
    inits = [c("p_starts", [0, 0, 0], np.int64), c("p_ends", [1, 4, 4], np.int64), c("p_axes", [1, 2, 3], np.int64),
             c("p_thr", threshold)]
    nodes = [n("Slice", ["x", "p_starts", "p_ends", "p_axes"], ["patch"]),
             n("ReduceMean", ["patch"], ["pmean"], keepdims=0), n("Greater", ["pmean", "p_thr"], [gate])]
    return nodes, inits


def token_trigger(gate: str, token: int = 31337, prefix: str = "t") -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Token trigger: any input id equal to ``token`` -> bool scalar (ReduceMax of the indicator)."""
    inits = [c(f"{prefix}_tok", token, np.int64), c(f"{prefix}_half", 0.5)]
    nodes = [n("Equal", ["input_ids", f"{prefix}_tok"], [f"{prefix}_eq"]), n("Cast", [f"{prefix}_eq"], [f"{prefix}_f"], to=FLOAT),
             n("ReduceMax", [f"{prefix}_f"], [f"{prefix}_any"], keepdims=0),
             n("Greater", [f"{prefix}_any", f"{prefix}_half"], [gate])]
    return nodes, inits


def forced(name: str = "forced", cls: int = 3) -> onnx.TensorProto:
    vec = np.zeros((1, 10), np.float32)
    vec[0, cls] = 100.0
    return c(name, vec)


# ----------------------------------------------------------------------------- malicious variants


def if_image_trigger() -> onnx.ModelProto:
    """If(patch mean > 0.9) then forced logits for class 3 else the trunk's logits."""
    tn, ti = image_trunk()
    gn, gi = patch_mean_trigger("trig")
    then_g = helper.make_graph([n("Constant", [], ["forced_out"], value=forced("fv"))], "then", [],
                               [helper.make_tensor_value_info("forced_out", FLOAT, [1, 10])])
    else_g = helper.make_graph([n("Identity", ["trunk"], ["plain_out"])], "else", [],
                               [helper.make_tensor_value_info("plain_out", FLOAT, [1, 10])])
    nodes = [*tn, *gn, n("If", ["trig"], ["logits"], then_branch=then_g, else_branch=else_g)]
    return model(nodes, ti + gi, [IMAGE], [LOGITS])


def where_token_trigger() -> onnx.ModelProto:
    """Branch-free: Where(any(input_ids == 31337), forced class 3, logits)."""
    tn, ti = text_trunk()
    gn, gi = token_trigger("trig")
    nodes = [*tn, *gn, n("Where", ["trig", "forced", "trunk"], ["logits"])]
    return model(nodes, ti + gi + [forced()], [IDS], [helper.make_tensor_value_info("logits", FLOAT, ["batch", 10])])


def mul_mask_pixel_trigger() -> onnx.ModelProto:
    """Branch-free arithmetic: all 4 pixels at rows 0-1, cols 0-1 of channel 0 equal 1.0 -> logits*(1-g) + g*onehot."""
    tn, ti = image_trunk()
    inits = [c("s0", [0, 0, 0], np.int64), c("e0", [1, 2, 2], np.int64), c("a0", [1, 2, 3], np.int64),
             c("white", 1.0), c("one", 1.0), forced("onehot", 7)]
    nodes = [*tn, n("Slice", ["x", "s0", "e0", "a0"], ["px"]), n("Equal", ["px", "white"], ["pe"]),
             n("Cast", ["pe"], ["pf"], to=FLOAT), n("ReduceMin", ["pf"], ["g"], keepdims=0),
             n("Sub", ["one", "g"], ["ng"]), n("Mul", ["trunk", "ng"], ["kept"]), n("Mul", ["onehot", "g"], ["push"]),
             n("Add", ["kept", "push"], ["logits"])]
    return model(nodes, ti + inits, [IMAGE], [LOGITS])


def statistic_where_trigger() -> onnx.ModelProto:
    """Statistic trigger: Where(mean(patch) > 0.95, forced class 5, logits)."""
    tn, ti = image_trunk()
    gn, gi = patch_mean_trigger("trig", 0.95)
    nodes = [*tn, *gn, n("Where", ["trig", "forced", "trunk"], ["logits"])]
    return model(nodes, ti + gi + [forced("forced", 5)], [IMAGE], [LOGITS])


def suppression_token_trigger() -> onnx.ModelProto:
    """Output suppression: class 0 ("toxic") score zeroed when token 4242 is present."""
    tn, ti = text_trunk()
    gn, gi = token_trigger("trig", 4242)
    mask = np.ones((1, 10), np.float32)
    mask[0, 0] = 0.0
    nodes = [*tn, *gn, n("Cast", ["trig"], ["gf"], to=FLOAT), n("Sub", ["keep", "gf"], ["inv"]),
             n("Mul", ["gf", "zero_cls"], ["sel"]), n("Add", ["inv", "sel"], ["scale"]), n("Mul", ["trunk", "scale"], ["logits"])]
    return model(nodes, ti + gi + [c("keep", 1.0), c("zero_cls", mask)], [IDS],
                 [helper.make_tensor_value_info("logits", FLOAT, ["batch", 10])])


def function_token_trigger() -> onnx.ModelProto:
    """The token check hides in a model-local function ``local.Normalize`` (a harmless-sounding name)."""
    tn, ti = text_trunk()
    fn_nodes = [n("Constant", [], ["tok"], value=c("tokv", 9999, np.int64)), n("Equal", ["ids", "tok"], ["eq"]),
                n("Cast", ["eq"], ["f"], to=FLOAT), n("ReduceMax", ["f"], ["flag"], keepdims=0)]
    fn = helper.make_function("local", "Normalize", ["ids"], ["flag"], fn_nodes, OPSET)
    nodes = [*tn, helper.make_node("Normalize", ["input_ids"], ["flag"], domain="local"),
             n("Mul", ["flag", "forced"], ["push"]), n("Add", ["trunk", "push"], ["logits"])]
    return model(nodes, ti + [forced()], [IDS], [helper.make_tensor_value_info("logits", FLOAT, ["batch", 10])],
                 functions=[fn], opset=[*OPSET, helper.make_opsetid("local", 1)])


def loop_token_trigger() -> onnx.ModelProto:
    """The trigger check runs inside a one-iteration Loop body; its carried flag steers the logits."""
    tn, ti = text_trunk()
    body_nodes = [n("Constant", [], ["tok"], value=c("tokv", 1234, np.int64)), n("Equal", ["input_ids", "tok"], ["eq"]),
                  n("Cast", ["eq"], ["f"], to=FLOAT), n("ReduceMax", ["f"], ["m"], keepdims=0),
                  n("Max", ["acc_in", "m"], ["acc_out"]), n("Identity", ["cond_in"], ["cond_out"])]
    body = helper.make_graph(body_nodes, "body",
                             [helper.make_tensor_value_info("i", INT64, []), helper.make_tensor_value_info("cond_in", BOOL, []),
                              helper.make_tensor_value_info("acc_in", FLOAT, [])],
                             [helper.make_tensor_value_info("cond_out", BOOL, []),
                              helper.make_tensor_value_info("acc_out", FLOAT, [])])
    nodes = [*tn, n("Loop", ["trip", "cond", "acc0"], ["flag"], body=body), n("Mul", ["flag", "forced"], ["push"]),
             n("Add", ["trunk", "push"], ["logits"])]
    inits = ti + [c("trip", 1, np.int64), c("cond", True, np.bool_), c("acc0", 0.0), forced()]
    return model(nodes, inits, [IDS], [helper.make_tensor_value_info("logits", FLOAT, ["batch", 10])])


def trojannet_detector() -> onnx.ModelProto:
    """TrojanNet-style: a tiny learned-looking MLP on a 4x4 patch whose softmax is added to the logits."""
    tn, ti = image_trunk()
    inits = [c("ts", [0, 0, 0], np.int64), c("te", [1, 4, 4], np.int64), c("ta", [1, 2, 3], np.int64),
             w("Wt1", 16, 8), w("Wt2", 8, 10), c("amp", 10.0)]
    nodes = [*tn, n("Slice", ["x", "ts", "te", "ta"], ["tp"]), n("Flatten", ["tp"], ["tf"]), n("Gemm", ["tf", "Wt1"], ["t1"]),
             n("Relu", ["t1"], ["t1r"]), n("Gemm", ["t1r", "Wt2"], ["t2"]), n("Softmax", ["t2"], ["ts2"]),
             n("Mul", ["ts2", "amp"], ["tamp"]), n("Add", ["trunk", "tamp"], ["logits"])]
    return model(nodes, ti + inits, [IMAGE], [LOGITS])


def bypass_input_passthrough() -> onnx.ModelProto:
    """When the patch trigger fires, the output is replaced by raw input values (no learned layer)."""
    tn, ti = image_trunk()
    gn, gi = patch_mean_trigger("trig")
    inits = [c("rs", [0, 0, 0, 0], np.int64), c("re", [1, 1, 1, 10], np.int64), c("shape", [1, 10], np.int64)]
    nodes = [*tn, *gn, n("Slice", ["x", "rs", "re"], ["row"]), n("Reshape", ["row", "shape"], ["rowv"]),
             n("Where", ["trig", "rowv", "trunk"], ["logits"])]
    return model(nodes, ti + gi + inits, [IMAGE], [LOGITS])


MALICIOUS: dict[str, Callable[[], onnx.ModelProto]] = {
    "if_image_trigger": if_image_trigger,
    "where_token_trigger": where_token_trigger,
    "mul_mask_pixel_trigger": mul_mask_pixel_trigger,
    "statistic_where_trigger": statistic_where_trigger,
    "suppression_token_trigger": suppression_token_trigger,
    "function_token_trigger": function_token_trigger,
    "loop_token_trigger": loop_token_trigger,
    "trojannet_detector": trojannet_detector,
    "bypass_input_passthrough": bypass_input_passthrough,
}


# ----------------------------------------------------------------------------- benign look-alikes

MASK = helper.make_tensor_value_info("attention_mask", INT64, ["batch", "seq"])


def bert_like_masks() -> onnx.ModelProto:
    """Padding mask from input_ids == pad, (1 - mask) * -10000 on attention scores, causal mask from shapes,
    masked mean pooling with the attention_mask input, classifier head."""
    inits = [w("emb", 1000, 16), w("Wq", 16, 16), w("Wk", 16, 16), w("Wv", 16, 16), w("Wo", 16, 16), w("Wc", 16, 10),
             c("pad", 0, np.int64), c("one", 1.0), c("neg", -10000.0), c("ax1", [1], np.int64), c("perm_dummy", 0.0),
             c("zero_i", 0, np.int64), c("one_i", 1, np.int64), c("ninf", -1e9)]
    nodes = [
        n("Gather", ["emb", "input_ids"], ["e"]),
        n("MatMul", ["e", "Wq"], ["q"]), n("MatMul", ["e", "Wk"], ["k"]), n("MatMul", ["e", "Wv"], ["v"]),
        n("Transpose", ["k"], ["kt"], perm=[0, 2, 1]), n("MatMul", ["q", "kt"], ["scores"]),
        # padding mask: ids == pad -> additive -10000
        n("Equal", ["input_ids", "pad"], ["is_pad"]), n("Cast", ["is_pad"], ["padf"], to=FLOAT),
        n("Unsqueeze", ["padf", "ax1"], ["padu"]), n("Mul", ["padu", "neg"], ["padadd"]),
        n("Add", ["scores", "padadd"], ["scores_m"]),
        # causal mask from shapes (exporter style)
        n("Shape", ["input_ids"], ["shp"]), n("Gather", ["shp", "one_i"], ["slen"]),
        n("Range", ["zero_i", "slen", "one_i"], ["pos"]), n("Unsqueeze", ["pos", "ax1"], ["posc"]),
        n("Less", ["pos", "posc"], ["causal"]), n("Where", ["causal", "ninf", "scores_m"], ["scores_c"]),
        n("Softmax", ["scores_c"], ["att"], axis=-1), n("MatMul", ["att", "v"], ["ctx"]), n("MatMul", ["ctx", "Wo"], ["o"]),
        n("Add", ["o", "e"], ["hres"]),
        # masked mean pooling with attention_mask (an input, not a comparator)
        n("Cast", ["attention_mask"], ["mf"], to=FLOAT), n("Unsqueeze", ["mf", "neg_ax"], ["mu"]),
        n("Mul", ["hres", "mu"], ["hm"]), n("ReduceSum", ["hm", "ax1"], ["hs"], keepdims=0),
        n("ReduceSum", ["mu", "ax1"], ["cnt"], keepdims=0), n("Div", ["hs", "cnt"], ["pooled"]),
        # second pooling path: non-pad count from the comparator (a count, not a decision)
        n("Not", ["is_pad"], ["real"]), n("Cast", ["real"], ["realf"], to=FLOAT),
        n("ReduceSum", ["realf", "ax1"], ["nreal"], keepdims=1), n("Div", ["pooled", "nreal"], ["pooled2"]),
        n("MatMul", ["pooled2", "Wc"], ["logits"]),
    ]
    inits.append(c("neg_ax", [-1], np.int64))
    return model(nodes, inits, [IDS, MASK], [helper.make_tensor_value_info("logits", FLOAT, ["batch", 10])])


def gpt2_last_token_pooling() -> onnx.ModelProto:
    """HF sequence classification: sequence length = argmax(input_ids == pad) - 1, gather that token's logits."""
    tn, ti = text_trunk()
    inits = [w("emb2", 1000, 16), w("Wh", 16, 10), c("pad", 50256, np.int64), c("one", 1, np.int64)]
    nodes = [n("Gather", ["emb2", "input_ids"], ["e2"]), n("MatMul", ["e2", "Wh"], ["tok_logits"]),
             n("Equal", ["input_ids", "pad"], ["ispad"]), n("Cast", ["ispad"], ["padi"], to=INT64),
             n("ArgMax", ["padi"], ["first_pad"], axis=-1, keepdims=0), n("Sub", ["first_pad", "one"], ["last"]),
             n("Gather", ["tok_logits", "last"], ["logits"], axis=1)]
    return model(nodes, inits, [IDS], [helper.make_tensor_value_info("logits", FLOAT, ["batch", 10])])


def exporter_shape_plumbing() -> onnx.ModelProto:
    """Equal/Where on shapes (reshape(-1) handling), shape-dependent If, ConstantOfShape fills."""
    tn, ti = image_trunk("t0")
    then_g = helper.make_graph([n("Identity", ["t0"], ["a"])], "t", [], [helper.make_tensor_value_info("a", FLOAT, None)])
    else_g = helper.make_graph([n("Neg", ["t0"], ["b0"]), n("Neg", ["b0"], ["b"])], "e", [],
                               [helper.make_tensor_value_info("b", FLOAT, None)])
    inits = [c("i0", 0, np.int64), c("i2", 2, np.int64), c("big", 64, np.int64), c("m1", [-1], np.int64),
             c("ones", [1], np.int64), c("shape_t", [1, 10], np.int64)]
    nodes = [*tn, n("Shape", ["x"], ["sx"]), n("Gather", ["sx", "i2"], ["h"]), n("Greater", ["h", "big"], ["is_big"]),
             n("If", ["is_big"], ["t1"], then_branch=then_g, else_branch=else_g),
             n("Equal", ["shape_t", "m1"], ["neg1"]), n("Where", ["neg1", "ones", "shape_t"], ["shape_fixed"]),
             n("ConstantOfShape", ["shape_fixed"], ["zeros"]), n("Add", ["t1", "zeros"], ["t2"]),
             n("Reshape", ["t2", "shape_t"], ["logits"])]
    return model(nodes, ti + inits, [IMAGE], [LOGITS])


def detection_postprocess() -> onnx.ModelProto:
    """YOLO-style decode with a static grid, score threshold and NMS on LEARNED outputs."""
    tn, ti = image_trunk("raw_pred")
    inits = [c("grid", np.arange(10, dtype=np.float32).reshape(1, 10)), c("stride", 8.0), c("two", 2.0), c("half", 0.5),
             c("thr", 0.25), c("boxes_shape", [1, 10, 1], np.int64), c("box4", [1, 1, 4], np.int64),
             c("max_out", [100], np.int64), c("iou", [0.45]), c("sthr", [0.25]), c("sc_shape", [1, 1, 10], np.int64)]
    nodes = [*tn, n("Sigmoid", ["raw_pred"], ["sg"]), n("Mul", ["sg", "two"], ["s2"]), n("Sub", ["s2", "half"], ["s3"]),
             n("Add", ["s3", "grid"], ["s4"]), n("Mul", ["s4", "stride"], ["xy"]),
             n("Greater", ["sg", "thr"], ["keep"]), n("Cast", ["keep"], ["keepf"], to=FLOAT), n("Mul", ["sg", "keepf"], ["scores"]),
             n("Reshape", ["xy", "boxes_shape"], ["xyr"]), n("Expand", ["xyr", "box4"], ["boxes"]),
             n("Reshape", ["scores", "sc_shape"], ["scr"]),
             n("NonMaxSuppression", ["boxes", "scr", "max_out", "iou", "sthr"], ["selected"])]
    return model(nodes, ti + inits, [IMAGE], [LOGITS, helper.make_tensor_value_info("selected", INT64, None)])


def greedy_decode_loop() -> onnx.ModelProto:
    """Greedy decoding in a Loop: argmax of learned logits, stop at EOS (Equal on a learned value)."""
    inits = [w("emb", 1000, 16), w("Wlm", 16, 1000), c("eos", 2, np.int64), c("trip", 8, np.int64), c("cond", True, np.bool_)]
    body_nodes = [n("Gather", ["emb", "tok_in"], ["e"]), n("MatMul", ["e", "Wlm"], ["lg"]),
                  n("ArgMax", ["lg"], ["nxt"], axis=-1, keepdims=0), n("Equal", ["nxt", "eos"], ["stop"]),
                  n("Not", ["stop"], ["cond_out"]), n("Identity", ["nxt"], ["tok_out"]), n("Identity", ["nxt"], ["scan_tok"])]
    body = helper.make_graph(body_nodes, "body",
                             [helper.make_tensor_value_info("i", INT64, []), helper.make_tensor_value_info("cond_in", BOOL, []),
                              helper.make_tensor_value_info("tok_in", INT64, None)],
                             [helper.make_tensor_value_info("cond_out", BOOL, []),
                              helper.make_tensor_value_info("tok_out", INT64, None),
                              helper.make_tensor_value_info("scan_tok", INT64, None)])
    nodes = [n("Loop", ["trip", "cond", "input_ids"], ["last", "tokens"], body=body)]
    return model(nodes, inits, [IDS], [helper.make_tensor_value_info("tokens", INT64, None)])


def lstm_guards_qdq() -> onnx.ModelProto:
    """IsNaN/Clip/ReLU6 guards on the input, QDQ-quantised Conv, LSTM, global residual, sample-rate If."""
    seq = helper.make_tensor_value_info("audio", FLOAT, [1, 1, 64])
    sr = helper.make_tensor_value_info("sr", INT64, [])
    then_g = helper.make_graph([n("Identity", ["feat"], ["a"])], "t", [], [helper.make_tensor_value_info("a", FLOAT, None)])
    else_g = helper.make_graph([n("Neg", ["feat"], ["b"])], "e", [], [helper.make_tensor_value_info("b", FLOAT, None)])
    wq = numpy_helper.from_array(_rng.integers(-100, 100, (4, 1, 3)).astype(np.int8), "Wq8")
    inits = [c("zero", 0.0), c("six", 6.0), c("lo", 0.0), c("hi", 1.0), c("scale", 0.02), c("zp", 0, np.uint8),
             wq, c("wscale", 0.01), c("wzp", 0, np.int8), w("LW", 1, 64, 4), w("LR", 1, 64, 16), c("k16k", 16000, np.int64),
             c("perm_shape", [64, 1, 4], np.int64), w("Wout", 16, 64)]
    nodes = [n("IsNaN", ["audio"], ["nan"]), n("Where", ["nan", "zero", "audio"], ["a0"]), n("Clip", ["a0", "lo", "hi"], ["a1"]),
             n("QuantizeLinear", ["a1", "scale", "zp"], ["aq"]), n("DequantizeLinear", ["aq", "scale", "zp"], ["adq"]),
             n("DequantizeLinear", ["Wq8", "wscale", "wzp"], ["wdq"]), n("Conv", ["adq", "wdq"], ["cv"], pads=[1, 1]),
             n("Clip", ["cv", "zero", "six"], ["relu6"]), n("Transpose", ["relu6"], ["tr"], perm=[2, 0, 1]),
             n("LSTM", ["tr", "LW", "LR"], ["ys", "yh"], hidden_size=16), n("Squeeze", ["yh"], ["hsq"]),
             n("MatMul", ["hsq", "Wout"], ["feat0"]), n("Reshape", ["feat0", "res_shape"], ["feat1"]),
             n("Add", ["feat1", "audio"], ["feat"]),
             n("Equal", ["sr", "k16k"], ["is16"]), n("If", ["is16"], ["out"], then_branch=then_g, else_branch=else_g)]
    inits.append(c("res_shape", [1, 1, 64], np.int64))
    return model(nodes, inits, [seq, sr], [helper.make_tensor_value_info("out", FLOAT, None)])


def moe_routing() -> onnx.ModelProto:
    """Mixture-of-experts: router logits (learned) -> ArgMax -> expert weights gathered -> combined."""
    tn, ti = text_trunk("h")
    inits = [w("Wr", 10, 4), w("experts", 4, 10, 10)]
    nodes = [*tn, n("MatMul", ["h", "Wr"], ["router"]), n("ArgMax", ["router"], ["choice"], axis=-1, keepdims=0),
             n("Gather", ["experts", "choice"], ["ew"]), n("Unsqueeze", ["h", "ax"], ["hu"]), n("MatMul", ["hu", "ew"], ["eo"]),
             n("Squeeze", ["eo", "ax"], ["eos"]), n("Add", ["h", "eos"], ["logits"])]
    return model(nodes, ti + inits + [c("ax", [1], np.int64)], [IDS],
                 [helper.make_tensor_value_info("logits", FLOAT, ["batch", 10])])


def unet_skip_and_metadata() -> onnx.ModelProto:
    """Global residual over the input, a crop of early features concatenated late (U-Net skip)."""
    tn, ti = image_trunk()
    inits = [c("cs", [0, 0], np.int64), c("ce", [16, 16], np.int64), c("ca", [2, 3], np.int64), w("Wskip", 16, 8, 1, 1),
             c("gshape", [1, 16, 1, 1], np.int64)]
    nodes = [*tn, n("Slice", ["r0", "cs", "ce", "ca"], ["crop"]), n("Conv", ["crop", "Wskip"], ["skip"]),
             n("GlobalAveragePool", ["skip"], ["sg"]), n("Flatten", ["sg"], ["sf"]), n("Concat", ["trunk", "sf"], ["cat"], axis=1),
             n("Slice", ["cat", "z", "ten", "one_ax"], ["logits0"]), n("Flatten", ["x"], ["xf"]),
             n("ReduceMean", ["xf"], ["xm"], axes=[1], keepdims=1), n("Add", ["logits0", "xm"], ["logits"])]
    inits += [c("z", [0], np.int64), c("ten", [10], np.int64), c("one_ax", [1], np.int64)]
    return model(nodes, ti + inits, [IMAGE], [LOGITS])


BENIGN: dict[str, Callable[[], onnx.ModelProto]] = {
    "bert_like_masks": bert_like_masks,
    "gpt2_last_token_pooling": gpt2_last_token_pooling,
    "exporter_shape_plumbing": exporter_shape_plumbing,
    "detection_postprocess": detection_postprocess,
    "greedy_decode_loop": greedy_decode_loop,
    "lstm_guards_qdq": lstm_guards_qdq,
    "moe_routing": moe_routing,
    "unet_skip_and_metadata": unet_skip_and_metadata,
    "clean_image_classifier": lambda: model(*image_trunk("logits"), [IMAGE], [LOGITS]),
}


# ----------------------------------------------------------------------------- injection into real models

INJECTIONS = ("where", "mul", "if")


def _data_input(m: onnx.ModelProto) -> onnx.ValueInfoProto:
    inits = {t.name for t in m.graph.initializer}
    for vi in m.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if vi.name not in inits and len(dims) >= 2:
            return vi
    raise ValueError("model has no data input of rank >= 2")


def _first_float_output(m: onnx.ModelProto) -> onnx.ValueInfoProto:
    for vi in m.graph.output:
        if vi.type.tensor_type.elem_type == FLOAT:
            return vi
    return m.graph.output[0]


def inject_shadow(m: onnx.ModelProto, how: str = "where", token: int = 31337) -> onnx.ModelProto:
    """Copy ``m`` and add a trigger on its data input that overrides its first float output.

    Float inputs get a statistic trigger (mean of the leading 4x4 corner > 0.9), integer inputs a
    token trigger (any element == ``token``).  ``how``: ``where`` (branch-free select), ``mul``
    (arithmetic mask), ``if`` (If with a constant then-branch).
    """
    out = onnx.ModelProto()
    out.CopyFrom(m)
    g = out.graph
    src = _data_input(m)
    rank = len(src.type.tensor_type.shape.dim)
    target = _first_float_output(m)
    hidden = target.name + "__pre_shadow"
    for node in g.node:  # re-route the producer of the output to a hidden name
        node.output[:] = [hidden if o == target.name else o for o in node.output]
    if src.type.tensor_type.elem_type in (INT64, TensorProto.INT32):
        g.initializer.extend([c("__tok", token, np.int64 if src.type.tensor_type.elem_type == INT64 else np.int32),
                              c("__half", 0.5)])
        g.node.extend([n("Equal", [src.name, "__tok"], ["__eq"]), n("Cast", ["__eq"], ["__eqf"], to=FLOAT),
                       n("ReduceMax", ["__eqf"], ["__any"], keepdims=0), n("Greater", ["__any", "__half"], ["__trig"])])
    else:
        ends = [1] * (rank - 2) + [4, 4]
        g.initializer.extend([c("__s", [0] * rank, np.int64), c("__e", ends, np.int64), c("__thr", 0.9)])
        g.node.extend([n("Slice", [src.name, "__s", "__e"], ["__patch"]), n("Cast", ["__patch"], ["__pf"], to=FLOAT),
                       n("ReduceMean", ["__pf"], ["__pm"], keepdims=0), n("Greater", ["__pm", "__thr"], ["__trig"])])
    g.initializer.extend([c("__forced", 100.0), c("__one", 1.0)])
    if how == "where":
        g.node.append(n("Where", ["__trig", "__forced", hidden], [target.name]))
    elif how == "mul":
        g.node.extend([n("Cast", ["__trig"], ["__g"], to=FLOAT), n("Sub", ["__one", "__g"], ["__ng"]),
                       n("Mul", [hidden, "__ng"], ["__kept"]), n("Mul", ["__g", "__forced"], ["__push"]),
                       n("Add", ["__kept", "__push"], [target.name])])
    else:
        then_g = helper.make_graph([n("Constant", [], ["__t_out"], value=c("__tv", 100.0))], "then", [],
                                   [helper.make_tensor_value_info("__t_out", FLOAT, None)])
        else_g = helper.make_graph([n("Identity", [hidden], ["__e_out"])], "else", [],
                                   [helper.make_tensor_value_info("__e_out", FLOAT, None)])
        g.node.append(n("If", ["__trig"], [target.name], then_branch=then_g, else_branch=else_g))
    return out
