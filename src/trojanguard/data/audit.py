"""``data audit``: load a data set, pick the detectors its columns allow, return one Report.

The data type decides the proxy and the trigger search: ``--text`` (TF-IDF proxy, n-gram
triggers), ``--features`` (gradient boosting, feature-value triggers), images (an image
folder, an ``.npz`` with an image array, or a table whose column names image files under
``--images DIR``: pixel proxy, patch/blend triggers, spectral signatures).  ``--source``
adds the per-source consensus test.  Findings use the scan's vocabulary, so the scan
renderers and exit codes apply unchanged.

:func:`audit_details` runs every detector once and keeps what they computed on the way (the
out-of-fold probabilities, spectral scores, the triggers, the rows themselves) in an
:class:`AuditResult`, because the HTML report plots exactly those; :func:`audit_dataset` and
:func:`audit` are thin views of it for callers that want findings or a Report only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..errors import UsageError
from ..model import EvidenceValue, Finding, Location, Report, ScannedFile, Verdict
from .loaders import Dataset, load_dataset, load_image_files

if TYPE_CHECKING:
    from .triggers import Trigger

__all__ = ["AuditOptions", "AuditResult", "ImageTrigger", "audit", "audit_dataset", "audit_details", "audit_report",
           "load_for_audit"]

IMAGE_COLUMN_SAMPLE = 20  # values checked per column when guessing which one names the image files


@dataclass(frozen=True)
class AuditOptions:
    """What the user told us about the columns (names as in the file).

    ``images`` says the input itself is an image folder / image ``.npz``; ``images_dir`` is a
    directory that the ``image_column`` (guessed when ``None``) of a table names files in.
    """

    label: str = "label"
    text: str | None = None
    features: Sequence[str] = ()
    source: str | None = None
    time: str | None = None
    model: str | None = None
    labels: bool = True
    triggers: bool = True
    images: bool = False
    images_dir: str | None = None
    image_column: str | None = None


@dataclass(frozen=True)
class ImageTrigger:
    """A DAT103 patch or DAT104 blend as the report draws it, read back from its findings.

    Built from the findings' evidence (the JSON contract) rather than from the detector's
    internals, so the picture always shows what was reported.  ``box`` is ``(row, col, height,
    width)`` of a patch, ``values`` its mean pixels row-major; ``peak`` a blend's strongest pixels.
    """

    kind: str
    label: str
    rows: tuple[int, ...]
    box: tuple[int, int, int, int] | None = None
    values: tuple[float, ...] = ()
    peak: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, eq=False)
class AuditResult:
    """Findings plus the per-row arrays and detector outputs behind them (for plots)."""

    path: str
    kind: str
    class_names: tuple[str, ...]
    codes: np.ndarray
    probs: np.ndarray
    findings: tuple[Finding, ...]
    spectral: np.ndarray | None = None
    triggers: tuple[Trigger, ...] = ()
    image_triggers: tuple[ImageTrigger, ...] = ()
    images: np.ndarray | None = None
    texts: tuple[str, ...] | None = None
    features: np.ndarray | None = None
    feature_names: tuple[str, ...] = ()
    sources: tuple[str, ...] | None = None
    times: np.ndarray | None = field(default=None)

    @property
    def rows(self) -> int:
        return int(self.codes.size)

    def label_issue_scores(self) -> np.ndarray:
        """1 - out-of-fold p(given label): high where the rest of the data disagrees with the label."""
        return np.asarray(1.0 - self.probs[np.arange(self.codes.size), self.codes], dtype=np.float64)


def _kind(ds: Dataset, opts: AuditOptions) -> str:
    if opts.images or opts.images_dir:
        if opts.text or opts.features:
            raise UsageError("--images cannot be combined with --text or --features")
        if ds.images is None:
            raise UsageError(f"{ds.path}: not an image folder or image .npz (for a column of file names: --images DIR)")
        return "images"
    if opts.text:
        return "text"
    if opts.features:
        return "tabular"
    if ds.images is not None:
        return "images"
    raise UsageError("say what the rows are: --text COLUMN, --features f1,f2,.., --images DIR or an image folder/.npz")


def load_for_audit(path: str, opts: AuditOptions) -> Dataset:
    """Load ``path``; with ``images_dir``, decode the images its file column names and attach them."""
    ds = load_dataset(path)
    if not opts.images_dir:
        return ds
    if ds.images is not None:
        raise UsageError(f"{path} already holds images; --images DIR is for a table naming image files")
    column = opts.image_column or _guess_image_column(ds, opts)
    images = load_image_files(opts.images_dir, ds.text(column), max_rows=ds.rows)
    return Dataset(ds.path, ds.columns, images)


def _names_files(values: Sequence[Any], root: Path) -> bool:
    """Every sampled value is a plain relative name of a file under ``root`` (no traversal)."""
    for v in values:
        name = "" if v is None else str(v)
        rel = Path(name)
        if not name or rel.is_absolute() or ".." in rel.parts:
            return False
        try:
            if not (root / rel).is_file():
                return False
        except (OSError, ValueError):
            return False
    return True


def _guess_image_column(ds: Dataset, opts: AuditOptions) -> str:
    """The one text column whose values are files under ``images_dir``; ambiguity is an error."""
    root = Path(str(opts.images_dir))
    if not root.is_dir():
        raise UsageError(f"--images {root}: not a directory")
    skip = {opts.label, opts.source, opts.time}
    found = [name for name, col in ds.columns.items()
             if name not in skip and col.dtype == object and _names_files(list(col[:IMAGE_COLUMN_SAMPLE]), root)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(f"{ds.path}: no column names image files under {root}; name it with --image-column")
    raise UsageError(f"{ds.path}: columns {', '.join(sorted(found))} all name files under {root}; pick one with --image-column")


#: Receives one line per finished stage (``data audit`` prints them on stderr unless ``--quiet``).
Progress = Callable[[str], None]


@contextmanager
def _stage(progress: Progress | None, what: str) -> Iterator[None]:
    """Time one stage and report it: long audits (minutes at 100k rows) are never silent.  The
    seconds go to the progress stream only, never into the report, which stays deterministic.
    The first line comes after the proxy, so input errors (columns, image options) found while
    loading stay the command's only stderr line."""
    start = time.perf_counter()
    yield
    if progress is not None:
        progress(f"{what}: {time.perf_counter() - start:.1f} s")


def audit_details(ds: Dataset, opts: AuditOptions, progress: Progress | None = None) -> AuditResult:
    """Every applicable detector on a loaded data set, once, with what the plots need."""
    from .labels import encode_labels, label_findings, oof_probabilities, proxy_features

    codes, names = encode_labels(list(ds.labels(opts.label)))
    kind = _kind(ds, opts)
    data: Any
    if kind == "text":
        data = ds.text(str(opts.text))
    elif kind == "tabular":
        data = np.column_stack([ds.numeric(f) for f in opts.features])
    else:
        data = ds.images
    findings: list[Finding] = []
    with _stage(progress, f"{len(codes)} {kind} rows, {len(names)} labels: out-of-fold proxy"):
        probs = oof_probabilities(kind, proxy_features(kind, data), codes)
    if opts.labels:
        with _stage(progress, "label issues (DAT001)"):
            findings += label_findings(ds.path, codes, names, probs)
    parts: dict[str, Any] = {}
    if opts.triggers:
        with _stage(progress, "trigger search" + (" and representations (DAT101-DAT104)" if kind == "images" else " (DAT010)")):
            found, parts = _triggers(ds, kind, data, codes, names, opts)
        findings += found
    sources: list[str] | None = None
    times: list[float] | None = None
    if opts.source:
        from .feedback import feedback_findings

        sources = ds.text(opts.source)
        times = ds.numeric(opts.time).tolist() if opts.time else None
        with _stage(progress, "feedback sources (DAT201-DAT203)"):
            findings += feedback_findings(ds.path, sources, codes, probs, names, times,
                                          texts=data if kind == "text" else None,
                                          features=data if kind == "tabular" else None)
    return AuditResult(
        ds.path, kind, tuple(names), codes, probs, tuple(findings),
        images=data if kind == "images" else None,
        texts=tuple(data) if kind == "text" else None,
        features=data if kind == "tabular" else None,
        feature_names=tuple(opts.features),
        sources=tuple(sources) if sources is not None else None,
        times=np.asarray(times, dtype=np.float64) if times is not None else None,
        **parts,
    )


def audit_dataset(ds: Dataset, opts: AuditOptions) -> list[Finding]:
    """Every applicable detector on a loaded data set (the findings of :func:`audit_details`)."""
    return list(audit_details(ds, opts).findings)


def _triggers(ds: Dataset, kind: str, data: Any, codes: np.ndarray, names: list[str],
              opts: AuditOptions) -> tuple[list[Finding], dict[str, Any]]:
    """Trigger findings and, for the report, the detector outputs behind them."""
    if kind == "images":
        from .images import image_trigger_findings
        from .spectral import onnx_representations, proxy_representations, representation_findings, spectral_scores

        labels = np.asarray(names, dtype=object)[codes]
        out = image_trigger_findings(data, labels, ds.path)
        reps = onnx_representations(opts.model, data) if opts.model else proxy_representations(data, labels, kind="pixels")
        flat = np.asarray(data).reshape(len(labels), -1)  # the neighbour test wants one row per image
        out += representation_findings(reps, labels, ds.path, inputs=flat)
        return out, {"spectral": spectral_scores(reps, labels), "image_triggers": _image_triggers(out)}
    from .triggers import find_triggers, trigger_findings

    triggers = find_triggers(kind, data, codes, names, feature_names=list(opts.features))
    return trigger_findings(ds.path, triggers), {"triggers": tuple(triggers)}


def _image_triggers(findings: Sequence[Finding]) -> tuple[ImageTrigger, ...]:
    """Group DAT103/DAT104 row findings back into one ImageTrigger per patch / blend."""
    groups: dict[tuple[str, ...], tuple[dict[str, EvidenceValue], list[int]]] = {}
    for f in findings:
        if f.rule.id not in ("DAT103", "DAT104") or f.location.row is None:
            continue
        ev = dict(f.evidence)
        key = (f.rule.id, str(ev.get("label")), repr(ev.get("patch_row")), repr(ev.get("patch_col")),
               repr(ev.get("patch_size")), repr(ev.get("pattern_peak_pixels")))
        groups.setdefault(key, (ev, []))[1].append(f.location.row)
    return tuple(_image_trigger(key[0], ev, rows) for key, (ev, rows) in groups.items())


def _image_trigger(rule_id: str, ev: dict[str, EvidenceValue], rows: list[int]) -> ImageTrigger:
    label = str(ev.get("label"))
    if rule_id == "DAT103":
        size = str(ev.get("patch_size", "0x0")).split("x")
        height, width = (int(size[0]), int(size[1])) if len(size) == 2 and all(s.isdigit() for s in size) else (0, 0)
        box = (_int(ev.get("patch_row")), _int(ev.get("patch_col")), height, width)
        values = ev.get("patch_values", ())
        vals = tuple(float(v) for v in values if isinstance(v, (int, float))) if isinstance(values, tuple) else ()
        return ImageTrigger("patch", label, tuple(sorted(rows)), box=box, values=vals)
    peak_ev = ev.get("pattern_peak_pixels", ())
    peak = tuple((_int(p[0]), _int(p[1])) for p in peak_ev if isinstance(p, tuple) and len(p) == 2) if isinstance(peak_ev, tuple) else ()
    return ImageTrigger("blend", label, tuple(sorted(rows)), peak=peak)


def _int(value: EvidenceValue | None) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def audit_report(path: str, opts: AuditOptions, progress: Progress | None = None) -> tuple[Report, AuditResult]:
    """Load ``path`` and audit it: the Report (file scanned, flagged or clean) and the details behind it."""
    result = audit_details(load_for_audit(path, opts), opts, progress)
    findings = result.findings
    worst = max((f.severity for f in findings), default=None)
    verdict = Verdict.FLAGGED if findings else Verdict.CLEAN
    scanned = ScannedFile(Location(path), "dataset", os.path.getsize(path) if os.path.isfile(path) else 0, verdict, worst)
    return Report.build(findings, (), (scanned,), tool_version=__version__), result


def audit(path: str, opts: AuditOptions) -> Report:
    """Load ``path`` and audit it; the Report lists the file as scanned, flagged or clean."""
    return audit_report(path, opts)[0]
