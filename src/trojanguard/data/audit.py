"""``data audit``: load a data set, pick the detectors its columns allow, return one Report.

The data type decides the proxy and the trigger search: ``--text`` (TF-IDF proxy, n-gram
triggers), ``--features`` (gradient boosting, feature-value triggers), images (an image
folder or an ``.npz`` with an image array: pixel proxy, patch/blend triggers, spectral
signatures).  ``--source`` adds the per-source consensus test.  Findings use the scan's
vocabulary, so the scan renderers and exit codes apply unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import __version__
from ..errors import UsageError
from ..model import Finding, Location, Report, ScannedFile, Verdict
from .loaders import Dataset, load_dataset

__all__ = ["AuditOptions", "audit", "audit_dataset"]


@dataclass(frozen=True)
class AuditOptions:
    """What the user told us about the columns (names as in the file)."""

    label: str = "label"
    text: str | None = None
    features: Sequence[str] = ()
    source: str | None = None
    time: str | None = None
    model: str | None = None
    labels: bool = True
    triggers: bool = True


def _kind(ds: Dataset, opts: AuditOptions) -> str:
    if opts.text:
        return "text"
    if opts.features:
        return "tabular"
    if ds.images is not None:
        return "images"
    raise UsageError("say what the rows are: --text COLUMN, --features f1,f2,.. or an image folder/.npz")


def audit_dataset(ds: Dataset, opts: AuditOptions) -> list[Finding]:
    """Every applicable detector on a loaded data set."""
    from .labels import encode_labels, label_findings, oof_probabilities, proxy_features

    codes, names = encode_labels(list(ds.labels(opts.label)))
    kind = _kind(ds, opts)
    data: object
    if kind == "text":
        data = ds.text(str(opts.text))
    elif kind == "tabular":
        data = np.column_stack([ds.numeric(f) for f in opts.features])
    else:
        data = ds.images
    findings: list[Finding] = []
    probs = oof_probabilities(kind, proxy_features(kind, data), codes)
    if opts.labels:
        findings += label_findings(ds.path, codes, names, probs)
    if opts.triggers:
        findings += _triggers(ds, kind, data, codes, names, opts)
    if opts.source:
        from .feedback import feedback_findings

        times = ds.numeric(opts.time).tolist() if opts.time else None
        findings += feedback_findings(ds.path, ds.text(opts.source), codes, probs, names, times)
    return findings


def _triggers(ds: Dataset, kind: str, data: object, codes: np.ndarray, names: list[str], opts: AuditOptions) -> list[Finding]:
    if kind == "images":
        from .images import image_trigger_findings
        from .spectral import onnx_representations, proxy_representations, representation_findings

        labels = np.asarray(names, dtype=object)[codes]
        out = image_trigger_findings(data, labels, ds.path)
        reps = onnx_representations(opts.model, data) if opts.model else proxy_representations(data, labels, kind="images")
        return out + representation_findings(reps, labels, ds.path, inputs=data)
    from .triggers import find_triggers, trigger_findings

    return trigger_findings(ds.path, find_triggers(kind, data, codes, names, feature_names=list(opts.features)))


def audit(path: str, opts: AuditOptions) -> Report:
    """Load ``path`` and audit it; the Report lists the file as scanned, flagged or clean."""
    ds = load_dataset(path)
    findings = audit_dataset(ds, opts)
    worst = max((f.severity for f in findings), default=None)
    verdict = Verdict.FLAGGED if findings else Verdict.CLEAN
    import os

    scanned = ScannedFile(Location(path), "dataset", os.path.getsize(path) if os.path.isfile(path) else 0, verdict, worst)
    return Report.build(findings, (), (scanned,), tool_version=__version__)
