"""The scan loop: inputs -> artifacts -> analyzers -> Report.

This module is the one place where exceptions from analyzers are caught (the
"except-boundary"): a malformed or hostile file becomes a ScanError (and, for resource
limits, a finding); an analyzer bug becomes an ``internal`` ScanError.  Neither hides the
results for any other file.  Containers yield their members back here, so every
format is reached at any nesting depth without analyzers knowing about each other.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from . import __version__
from .analyzers import BUILTIN
from .analyzers.base import Analyzer, Context
from .artifact import Artifact, Budget, Limits
from .errors import LimitExceeded, MalformedInput
from .formats import (
    CODE_CARRYING,
    POLYGLOT_HINT,
    SAFE_PROMISES,
    Format,
    extension_mismatch,
    identify,
    other_formats,
)
from .model import (
    Confidence,
    Finding,
    Location,
    Report,
    Rule,
    ScanError,
    ScannedFile,
    Severity,
    Verdict,
)

EXTENSION_MISMATCH = Rule(
    "SCN001",
    "extension-content-mismatch",
    Severity.MEDIUM,
    "The file name promises one format but the content is another (renamed to evade name-based scanners).",
    cwe=646,
)
LIMIT_EXCEEDED = Rule(
    "SCN002",
    "resource-limit-exceeded",
    Severity.HIGH,
    "Analysing the input would exceed a resource limit (decompression bomb, huge member, too many members).",
    cwe=409,
)
SYMLINK_OUTSIDE = Rule(
    "SCN003",
    "symlink-outside-tree",
    Severity.MEDIUM,
    "A symbolic link in the scanned tree points outside it (or nowhere); it was not followed.",
    cwe=59,
)
NESTING_TOO_DEEP = Rule(
    "SCN004",
    "nesting-too-deep",
    Severity.HIGH,
    "Containers are nested deeper than the limit; the inner members were not analysed.",
    cwe=674,
)

#: Formats that carry no code and need no analyzer: recognised, clean.
PLAIN_FORMATS = frozenset({Format.TEXT, Format.JSON, Format.IMAGE, Format.EMPTY, Format.PROTOBUF})

ProgressFn = Callable[[int, int, str], None]


@dataclass
class _Outcome:
    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    scanned: list[ScannedFile] = field(default_factory=list)


def _registry(analyzers: Sequence[Analyzer]) -> dict[Format, Analyzer]:
    table: dict[Format, Analyzer] = {}
    for analyzer in analyzers:
        for fmt in analyzer.formats:
            table.setdefault(fmt, analyzer)
    return table


def _identify(artifact: Artifact) -> Format:
    if artifact.hint is not None and artifact.hint.startswith(POLYGLOT_HINT):
        return Format(artifact.hint[len(POLYGLOT_HINT):])
    fmt = identify(artifact)
    # a legacy torch tar's storages/tensors members start with a pickle but interleave raw
    # bytes: the tar walker's hint hands them to the torch analyzer instead of the pickle one
    legacy_member = fmt is Format.PICKLE and artifact.hint == Format.TORCH_LEGACY.value
    if artifact.hint and (fmt in (Format.UNKNOWN, Format.TEXT) or legacy_member):
        try:
            return Format(artifact.hint)
        except ValueError:
            return fmt
    return fmt


def _mismatch_finding(artifact: Artifact, fmt: Format) -> Finding | None:
    if not extension_mismatch(artifact, fmt):
        return None
    ext = artifact.extension
    severity = Severity.MEDIUM
    if fmt in CODE_CARRYING:
        severity = Severity.CRITICAL if ext in SAFE_PROMISES else Severity.HIGH
    return EXTENSION_MISMATCH.at(
        artifact.location,
        f"named '{artifact.name}' ({ext}) but the content is {fmt.value}",
        evidence={"extension": ext, "content_format": fmt.value},
        severity=severity,
    )


def scan_artifact(
    root: Artifact,
    analyzers: Sequence[Analyzer] = BUILTIN,
    limits: Limits | None = None,
) -> tuple[list[Finding], list[ScanError], list[ScannedFile]]:
    """Analyse one top-level artifact and everything nested inside it."""
    limits = limits or Limits()
    table = _registry(analyzers)
    ctx = Context(limits=limits, budget=Budget(limits))
    out = _Outcome()
    root_format: Format | None = None
    stack: list[Artifact] = [root]
    while stack:
        artifact = stack.pop()
        try:
            fmt = _identify(artifact)
        except (OSError, MalformedInput) as exc:
            out.errors.append(ScanError(artifact.location, f"cannot read: {exc}", "input"))
            continue
        if root_format is None:
            root_format = fmt
        for also in other_formats(artifact, fmt):  # a polyglot: analyse it as the other formats too
            stack.append(replace(artifact, hint=POLYGLOT_HINT + also.value))
        mismatch = _mismatch_finding(artifact, fmt)
        if mismatch is not None:
            out.findings.append(mismatch)
        analyzer = table.get(fmt)
        if analyzer is None:
            if fmt not in PLAIN_FORMATS:
                label = fmt.value if fmt is Format.UNKNOWN else f"{fmt.value} (no analyzer)"
                out.scanned.append(ScannedFile(artifact.location, label, artifact.size or 0, Verdict.UNRECOGNISED))
            continue
        children: list[Artifact] = []
        try:
            for result in analyzer.analyze(artifact, ctx):
                if isinstance(result, Finding):
                    out.findings.append(result)
                elif isinstance(result, ScanError):
                    out.errors.append(result)
                else:
                    if result.depth > limits.max_depth:
                        out.findings.append(
                            NESTING_TOO_DEEP.at(
                                result.location,
                                f"nested {result.depth} containers deep (limit {limits.max_depth}); not analysed",
                                evidence={"depth": result.depth, "limit": limits.max_depth},
                            )
                        )
                        out.errors.append(ScanError(result.location, "nesting too deep; not analysed", "limit"))
                        continue
                    children.append(result)
                    if len(children) > limits.max_members:
                        raise LimitExceeded(
                            f"more than {limits.max_members} members; the rest were not analysed",
                            limit="max_members",
                        )
        except LimitExceeded as exc:
            out.findings.append(
                LIMIT_EXCEEDED.at(
                    artifact.location.at_offset(exc.offset),
                    str(exc),
                    evidence={"limit": exc.limit},
                )
            )
            out.errors.append(ScanError(artifact.location, f"incomplete: {exc}", "limit"))
        except MalformedInput as exc:
            out.errors.append(ScanError(artifact.location.at_offset(exc.offset), f"malformed {fmt.value}: {exc}", "malformed"))
        except OSError as exc:
            out.errors.append(ScanError(artifact.location, f"cannot read: {exc.strerror or exc}", "input"))
        except RecursionError:
            out.errors.append(ScanError(artifact.location, f"{analyzer.name}: structure nested too deeply", "limit"))
        except MemoryError:
            out.errors.append(ScanError(artifact.location, f"{analyzer.name}: out of memory", "limit"))
        except Exception as exc:  # noqa: BLE001 - the one except-boundary: an analyzer bug must not hide other files
            out.errors.append(
                ScanError(artifact.location, f"internal error in {analyzer.name} analyzer: {type(exc).__name__}: {exc}", "internal")
            )
        # depth-first, members in container order
        stack.extend(reversed(children))

    worst = max((f.severity for f in out.findings), default=None)
    if root_format is not None and root_format not in PLAIN_FORMATS and root_format not in table:
        verdict = Verdict.UNRECOGNISED
    elif out.errors:
        verdict = Verdict.ERROR
    elif worst is not None and worst >= Severity.LOW:
        verdict = Verdict.FLAGGED
    else:
        verdict = Verdict.CLEAN
    top = ScannedFile(root.location, (root_format or Format.UNKNOWN).value, root.size or 0, verdict, worst)
    # the top-level entry replaces an UNRECOGNISED member entry for the root itself
    out.scanned = [s for s in out.scanned if s.location != root.location]
    out.scanned.append(top)
    return out.findings, out.errors, out.scanned


def _scan_path(path: str, display: str, limits: Limits) -> tuple[list[Finding], list[ScanError], list[ScannedFile]]:
    try:
        artifact = Artifact.from_path(path, display)
    except OSError as exc:
        return [], [ScanError(Location(display), f"cannot read: {exc.strerror or exc}", "input")], []
    return scan_artifact(artifact, BUILTIN, limits)


def _within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def iter_inputs(paths: Iterable[str]) -> Iterator[tuple[str, str] | Finding | ScanError]:
    """Expand paths into regular files ``(real path, display path)``.

    Directories are walked recursively in sorted order.  Symbolic links inside a walked
    tree are followed only when they stay inside it (and then skipped, because their
    target is scanned under its own name); links that leave the tree or dangle are
    reported and not followed.  Non-regular files (FIFOs, devices, sockets) are errors:
    opening a FIFO would hang the scan.
    """
    for raw in paths:
        path = os.fspath(raw)
        try:
            st = os.stat(path)
        except OSError as exc:
            yield ScanError(Location(path), f"cannot read: {exc.strerror or exc}", "input")
            continue
        if stat.S_ISREG(st.st_mode):
            yield (path, path)
        elif stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(path)
        else:
            yield ScanError(Location(path), "not a regular file or directory", "input")


def _walk_dir(top: str) -> Iterator[tuple[str, str] | Finding | ScanError]:
    root = os.path.realpath(top)

    def onerror(exc: OSError) -> None:
        errors.append(ScanError(Location(exc.filename or top), f"cannot list: {exc.strerror or exc}", "input"))

    errors: list[ScanError] = []
    for dirpath, dirnames, filenames in os.walk(top, onerror=onerror, followlinks=False):
        yield from errors
        errors.clear()
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                target = os.path.realpath(full)
                if not os.path.exists(target) or not _within(target, root):
                    yield SYMLINK_OUTSIDE.at(
                        Location(full),
                        f"symbolic link to {os.readlink(full)!r} leaves the scanned tree or dangles; not followed",
                        evidence={"target": os.readlink(full)},
                    )
                continue
            if name in dirnames:
                continue
            try:
                st = os.lstat(full)
            except OSError as exc:
                yield ScanError(Location(full), f"cannot read: {exc.strerror or exc}", "input")
                continue
            if stat.S_ISREG(st.st_mode):
                yield (full, full)
            else:
                yield ScanError(Location(full), "not a regular file (FIFO, device or socket); not opened", "input")
    yield from errors


def scan(
    paths: Iterable[str],
    *,
    limits: Limits | None = None,
    jobs: int = 1,
    progress: ProgressFn | None = None,
) -> Report:
    """Scan files and directories; never raises for bad input (it ends up in the Report)."""
    limits = limits or Limits()
    findings: list[Finding] = []
    errors: list[ScanError] = []
    scanned: list[ScannedFile] = []
    files: list[tuple[str, str]] = []
    for item in iter_inputs(paths):
        if isinstance(item, Finding):
            findings.append(item)
        elif isinstance(item, ScanError):
            errors.append(item)
        else:
            files.append(item)

    total = len(files)

    def collect(i: int, display: str, result: tuple[list[Finding], list[ScanError], list[ScannedFile]]) -> None:
        findings.extend(result[0])
        errors.extend(result[1])
        scanned.extend(result[2])
        if progress is not None:
            progress(i, total, display)

    if jobs > 1 and total > 1:
        from concurrent.futures import ProcessPoolExecutor  # multiprocessing costs ~30 ms of start-up

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_scan_path, real, display, limits) for real, display in files]
            for i, ((_, display), future) in enumerate(zip(files, futures, strict=True), 1):
                try:
                    collect(i, display, future.result())
                except Exception as exc:  # noqa: BLE001 - a dead worker loses one file, not the scan
                    errors.append(ScanError(Location(display), f"worker failed: {type(exc).__name__}: {exc}", "internal"))
    else:
        for i, (real, display) in enumerate(files, 1):
            collect(i, display, _scan_path(real, display, limits))

    if not scanned and not errors:
        errors.append(ScanError(Location("."), "nothing scanned: no files found in the given paths", "input"))
    return Report.build(findings, errors, scanned, tool_version=__version__)


__all__ = ["Confidence", "scan", "scan_artifact", "iter_inputs"]
