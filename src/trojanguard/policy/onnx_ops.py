"""ONNX operator policy: which (domain, op) pairs a stock runtime provides, and which custom ops run code.

Standard ops (domains ``""``/``ai.onnx``, ``ai.onnx.ml``, ``ai.onnx.preview*``) are read
from ``onnx.defs`` on first use (not at import: the scanner core must not import an ML
library until a model of that format is scanned), so the list follows the installed onnx release.  The
``com.microsoft`` contrib ops ship inside onnxruntime itself (native, reviewed kernels) and
are listed by hand below.  Any other domain needs a custom-op library the loading
application registers — native code from somewhere — and some of those libraries run
*Python* (onnxruntime-extensions' ``PyOp`` / ``PythonOp`` execute a Python function named by
the model).
"""

from __future__ import annotations

import functools
import re

from trojanguard.model import Severity


@functools.cache
def standard_ops() -> frozenset[tuple[str, str]]:
    """(domain, op_type) of every op the installed onnx release defines (empty domain -> "ai.onnx")."""
    try:
        from onnx import defs
    except ImportError:  # the onnx extra is missing: no op is "known", every domain is checked by name
        return frozenset()
    return frozenset((s.domain or "ai.onnx", s.name) for s in defs.get_all_schemas_with_history())

STANDARD_DOMAINS = frozenset({"ai.onnx", "ai.onnx.ml", "ai.onnx.preview", "ai.onnx.preview.training",
                              "ai.onnx.training"})

#: onnxruntime contrib ops (com.microsoft): kernels compiled into onnxruntime itself, so they
#: load no third-party code.  Listed from onnxruntime's docs/ContribOperators.md.
MICROSOFT_OPS = frozenset({
    "Attention", "AttnLSTM", "BeamSearch", "BiasAdd", "BiasDropout", "BiasGelu", "BiasSoftmax", "BiasSplitGelu",
    "BifurcationDetector", "BitmaskBiasDropout", "BitmaskDropout", "CDist", "ComplexMul", "ComplexMulConj",
    "ConvTransposeWithDynamicPads", "CropAndResize", "DecoderAttention", "DecoderMaskedMultiHeadAttention",
    "DecoderMaskedSelfAttention", "DequantizeBFP", "DequantizeLinear", "DequantizeWithOrder", "DynamicQuantizeLSTM",
    "DynamicQuantizeMatMul", "DynamicTimeWarping", "EmbedLayerNormalization", "ExpandDims", "FastGelu", "FusedConv",
    "FusedGemm", "FusedMatMul", "FusedMatMulActivation", "GatedRelativePositionBias", "GatherBlockQuantized",
    "GatherND", "Gelu", "GemmFastGelu", "GemmFloat8", "GemmaRotaryEmbedding", "GreedySearch", "GridSample",
    "GroupNorm", "GroupQueryAttention", "Inverse", "Irfft", "LayerNormalization", "LongformerAttention",
    "MatMulBnb4", "MatMulFpQ4", "MatMulInteger16", "MatMulIntegerToFloat", "MatMulNBits", "MaxpoolWithMask",
    "MoE", "MulInteger", "MultiHeadAttention", "MurmurHash3", "NGramRepeatBlock", "NhwcConv", "NhwcFusedConv",
    "NhwcMaxPool", "PackedAttention", "PackedMultiHeadAttention", "Pad", "QAttention", "QEmbedLayerNormalization",
    "QGemm", "QLinearAdd", "QLinearAveragePool", "QLinearConcat", "QLinearConv", "QLinearGlobalAveragePool",
    "QLinearLeakyRelu", "QLinearMul", "QLinearReduceMean", "QLinearSigmoid", "QLinearSoftmax", "QLinearWhere",
    "QMoE", "QOrderedAttention", "QOrderedGelu", "QOrderedLayerNormalization", "QOrderedLongformerAttention",
    "QOrderedMatMul", "QuantizeBFP", "QuantizeLinear", "QuantizeWithOrder", "QuickGelu", "Range", "ReduceSumInteger",
    "RelativePositionBias", "RemovePadding", "RestorePadding", "Rfft", "RotaryEmbedding", "SampleOp", "Sampling",
    "SkipGroupNorm", "SkipLayerNormalization", "SkipSimplifiedLayerNormalization", "SimplifiedLayerNormalization",
    "Snpe", "SparseAttention", "SparseToDenseMatMul", "Tokenizer", "TorchEmbedding", "TransposeMatMul", "Trilu",
    "UnfoldTensor", "Unique", "WhisperBeamSearch", "WordConvEmbedding", "NchwcConv", "ReorderInput",
    "ReorderOutput", "NchwcMaxPool", "NchwcGlobalMaxPool", "NchwcAveragePool", "NchwcGlobalAveragePool",
    "NchwcUpsample", "SoftmaxCrossEntropyLoss",
})
MICROSOFT_DOMAINS = frozenset({"com.microsoft", "com.microsoft.nchwc", "com.microsoft.internal.nhwc"})

#: Custom op names (any domain) that run Python or reach files, processes or the network.
CODE_OPS: dict[str, tuple[Severity, str]] = {
    "PyOp": (Severity.CRITICAL, "onnxruntime-extensions PyOp calls a Python function registered by name"),
    "PythonOp": (Severity.CRITICAL, "runs a Python callable (torch.onnx PythonOp / autograd.Function export)"),
    "PyFunc": (Severity.CRITICAL, "calls a Python function"),
    "PythonFunction": (Severity.CRITICAL, "calls a Python function"),
    "Eval": (Severity.CRITICAL, "evaluates code"),
    "Exec": (Severity.CRITICAL, "executes code"),
    "LoadLibrary": (Severity.CRITICAL, "loads a native library"),
}

#: Op-name fragments suggesting file/process/network/Python access (case-insensitive).
CODE_HINTS = re.compile(r"py(thon)?|exec|eval|shell|system|popen|process|subprocess|file|read|write|open|"
                        r"socket|http|url|download|load|dlopen|library|command|script", re.IGNORECASE)

#: Custom domains of well-known, reviewed op libraries (still custom native code: medium).
KNOWN_CUSTOM_DOMAINS = frozenset({"ai.onnx.contrib", "com.microsoft.extensions", "org.pytorch.aten",
                                  "com.microsoft.dml", "org.openvinotoolkit", "ai.onnx.converters.tensorflow"})
PYTHON_DOMAINS = frozenset({"ai.onnx.contrib"})  # onnxruntime-extensions: where PyOp lives


def is_standard(domain: str, op_type: str) -> bool:
    """True for ops a stock onnxruntime executes with its own kernels."""
    dom = domain or "ai.onnx"
    if dom in STANDARD_DOMAINS:
        known = standard_ops()
        return (dom, op_type) in known or not known
    if dom in MICROSOFT_DOMAINS:
        return op_type in MICROSOFT_OPS or ("ai.onnx", op_type) in standard_ops()
    return False
