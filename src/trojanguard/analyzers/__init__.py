"""The explicit analyzer registry.

Each module holds one format family: its rules at the top, then its Analyzer class(es).
``BUILTIN`` is the ordered tuple the scanner uses; the first analyzer that declares a
format handles it (so the Keras analyzer, listed before the zip analyzer, owns ``.keras``
zips and walks their members itself).  Importing this package defines every rule
(see ``model.rule_catalogue``).
"""

from __future__ import annotations

from .base import Analyzer, Context, Result
from .containers import CompressedAnalyzer, SevenZipAnalyzer, TarAnalyzer, ZipAnalyzer
from .gguf import GgufAnalyzer
from .joblib import JoblibAnalyzer
from .keras import KerasAnalyzer
from .numpy import NumpyAnalyzer
from .onnx import OnnxAnalyzer
from .pickle import PickleAnalyzer
from .repo import RepoCodeAnalyzer
from .safetensors import SafetensorsAnalyzer
from .tensorflow import TensorflowAnalyzer
from .tflite import TfliteAnalyzer
from .torch import TorchLegacyAnalyzer, TorchZipAnalyzer

BUILTIN: tuple[Analyzer, ...] = (
    PickleAnalyzer(),
    TorchZipAnalyzer(),
    TorchLegacyAnalyzer(),
    NumpyAnalyzer(),
    JoblibAnalyzer(),
    KerasAnalyzer(),
    TensorflowAnalyzer(),
    TfliteAnalyzer(),
    OnnxAnalyzer(),
    GgufAnalyzer(),
    SafetensorsAnalyzer(),
    RepoCodeAnalyzer(),
    ZipAnalyzer(),
    TarAnalyzer(),
    CompressedAnalyzer(),
    SevenZipAnalyzer(),
)

__all__ = ["BUILTIN", "Analyzer", "Context", "Result"]
