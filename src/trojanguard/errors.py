"""One error root that explains itself.

Everything trojanguard raises on purpose derives from :class:`Error`; ``diagnostics()``
is the one line the CLI prints before exiting with code 2.  Analyzers raise
:class:`MalformedInput` / :class:`LimitExceeded` for hostile or broken input; the
scanner turns those into ``ScanError`` values, never tracebacks.
"""

from __future__ import annotations


class Error(Exception):
    """Root of every error trojanguard raises deliberately."""

    def diagnostics(self) -> str:
        return str(self) or type(self).__name__


class UsageError(Error):
    """The command line or API was used wrongly (bad option, missing path)."""


class InputError(Error):
    """An input could not be read at all (missing, unreadable, not a file)."""


class VerificationError(Error):
    """A signature, manifest or BOM did not verify; the message says which part and why."""


class MalformedInput(Error):
    """An artifact is broken or hostile in a way that stops its analysis.

    ``offset`` is the byte offset where the analyzer gave up, when known.
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class LimitExceeded(MalformedInput):
    """A resource limit (size, ratio, depth, count, operations) was hit."""

    def __init__(self, message: str, *, limit: str, offset: int | None = None) -> None:
        super().__init__(message, offset=offset)
        self.limit = limit
