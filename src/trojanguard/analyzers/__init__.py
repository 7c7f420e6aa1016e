"""The explicit analyzer registry.

Each module holds one format family: its rules at the top, then its Analyzer class(es).
``BUILTIN`` is the ordered tuple the scanner uses; the first analyzer that declares a
format handles it.  Importing this package defines every rule (see ``rule_catalogue``).
"""

from __future__ import annotations

from .base import Analyzer, Context, Result
from .containers import CompressedAnalyzer, SevenZipAnalyzer, TarAnalyzer, ZipAnalyzer
from .joblib import JoblibAnalyzer
from .numpy import NumpyAnalyzer
from .pickle import PickleAnalyzer
from .torch import TorchLegacyAnalyzer, TorchZipAnalyzer

BUILTIN: tuple[Analyzer, ...] = (
    PickleAnalyzer(),
    TorchZipAnalyzer(),
    TorchLegacyAnalyzer(),
    NumpyAnalyzer(),
    JoblibAnalyzer(),
    ZipAnalyzer(),
    TarAnalyzer(),
    CompressedAnalyzer(),
    SevenZipAnalyzer(),
)

__all__ = ["BUILTIN", "Analyzer", "Context", "Result"]
