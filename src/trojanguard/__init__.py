"""trojanguard: find undeclared functionality in ML systems before it runs.

Public API (everything else is private and may change)::

    from trojanguard import scan, Report, Finding, Rule, Severity
    report = scan(["model.pt"])
"""

from __future__ import annotations

__version__ = "0.1.0"

from .model import Confidence, Finding, Location, Report, Rule, ScanError, Severity  # noqa: E402


def scan(paths: list[str] | tuple[str, ...], **kwargs: object) -> Report:
    """Scan files/directories statically and return a Report (see ``scanner.scan``)."""
    from .scanner import scan as _scan

    return _scan(paths, **kwargs)  # type: ignore[arg-type]


__all__ = ["Confidence", "Finding", "Location", "Report", "Rule", "ScanError", "Severity", "__version__", "scan"]
