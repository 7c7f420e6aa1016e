"""The analyzer plug-point: one small interface every format module implements.

An analyzer receives an :class:`Artifact` whose format was identified by content and
yields what it found: :class:`Finding` values, :class:`ScanError` values for parts it
could not read (non-fatal), and child :class:`Artifact` values (container members) that
the scanner identifies and analyses in turn.  It raises ``MalformedInput`` /
``LimitExceeded`` when it must stop; whatever it yielded before that is kept.

Analyzers never print, never exit, and never execute, import or unpickle the artifact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, Union

from ..artifact import Artifact, Budget, Limits
from ..formats import Format
from ..model import Finding, ScanError

Result = Union[Finding, ScanError, Artifact]


@dataclass
class Context:
    """What an analyzer may know about the scan it runs in."""

    limits: Limits
    budget: Budget


class Analyzer(Protocol):
    """Analyse one artifact of the formats in ``formats``."""

    name: str
    formats: frozenset[Format]

    def analyze(self, artifact: Artifact, ctx: Context) -> Iterator[Result]:
        ...
