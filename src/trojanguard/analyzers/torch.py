"""PLACEHOLDER: being written by a helper. Replace this whole file."""

from __future__ import annotations

from collections.abc import Iterator

from ..artifact import Artifact
from ..formats import Format
from .base import Context, Result


class TorchZipAnalyzer:
    name = "torch"
    formats = frozenset({Format.TORCH_ZIP, Format.TORCHSCRIPT})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        return iter(())


class TorchLegacyAnalyzer:
    name = "torch"
    formats = frozenset({Format.TORCH_LEGACY})

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        return iter(())
