"""Environment integrity: do the installed packages still match what was installed?

Why: a trojan does not have to live in the model file; it can sit in the interpreter that
loads it.  A modified ``torch/serialization.py``, an extra ``*.pth`` file whose ``import``
line runs at every interpreter start, a ``sitecustomize.py`` or a tampered ``.pyc`` all run
before any model scanner is consulted.  Every wheel installs a RECORD with the sha256 of
each file, so the installed tree can be checked against it without importing anything.

Nothing found here is imported or executed.  For ``--python PATH`` the target interpreter
runs one fixed command with ``-S`` (so its ``.pth`` files are *not* processed) to report
its ``sys.path``; the virtual environment's site-packages is derived from ``pyvenv.cfg``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import io
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata

from ..errors import InputError
from ..guard import PTH_LINE, PTH_NAME
from ..model import Finding, Location, Report, Rule, ScanError, ScannedFile, Severity, Verdict

__all__ = [
    "EnvironmentResult",
    "interpreter_paths",
    "site_dirs",
    "verify_environment",
]

MODIFIED = Rule(
    "ENV001",
    "installed-file-modified",
    Severity.HIGH,
    "An installed file's sha256 differs from the hash recorded in its distribution's RECORD.",
    cwe=494,
)
STARTUP_HOOK = Rule(
    "ENV002",
    "unrecorded-startup-hook",
    Severity.CRITICAL,
    "A .pth file with import lines or a sitecustomize/usercustomize module, recorded by no distribution, runs code at every interpreter start.",
    cwe=506,
)
UNRECORDED = Rule(
    "ENV003",
    "unrecorded-file",
    Severity.MEDIUM,
    "A file in site-packages is recorded by no installed distribution.",
    cwe=506,
)
STALE_BYTECODE = Rule(
    "ENV004",
    "bytecode-mismatch",
    Severity.HIGH,
    "A cached .pyc does not match its source (header mtime/size or hash differ) or has no source at all.",
    cwe=494,
)
NO_RECORD = Rule(
    "ENV005",
    "distribution-without-record",
    Severity.MEDIUM,
    "An installed distribution has no RECORD, so its files cannot be verified.",
    cwe=353,
)
MISSING = Rule(
    "ENV006",
    "recorded-file-missing",
    Severity.LOW,
    "A file listed in a distribution's RECORD is not present.",
    cwe=353,
)

_HOOK_MODULES = ("sitecustomize.py", "usercustomize.py")
#: Files CPython itself puts into an empty site-packages.
_EXPECTED = frozenset({"README.txt", "README"})
_PROBE = (
    "import sys,json,site;"
    "print(json.dumps({'path':sys.path,'site':site.getsitepackages(),"
    "'version':'%d.%d'%sys.version_info[:2]}))"
)


@dataclass(frozen=True)
class EnvironmentResult:
    """The report plus counts for the CLI and benchmarks."""

    report: Report
    distributions: int
    files_checked: int
    seconds: float


def interpreter_paths(python: str | None = None, timeout: float = 30.0) -> list[str]:
    """``sys.path`` of the target interpreter (this one when ``python`` is None).

    The target runs with ``-S`` so that a hostile ``.pth`` in the environment being checked
    does not execute; a virtual environment's site-packages is then added from its
    ``pyvenv.cfg`` layout.
    """
    if python is None:
        return list(sys.path)
    try:
        proc = subprocess.run(  # noqa: S603 - a fixed command of the user's chosen interpreter
            [python, "-S", "-c", _PROBE], capture_output=True, timeout=timeout, check=False, text=True
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"cannot run {python}: {exc}") from exc
    if proc.returncode != 0:
        raise InputError(f"{python} failed to report sys.path: {proc.stderr.strip()[-200:]}")
    try:
        info = json.loads(proc.stdout)
        paths = [p for p in info["path"] + info["site"] if isinstance(p, str)]
        version = str(info["version"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{python} printed something other than its sys.path") from exc
    venv = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    cfg = os.path.join(venv, "pyvenv.cfg")
    if os.path.isfile(cfg):
        if not _system_site_packages(cfg):
            paths = [p for p in info["path"] if isinstance(p, str)]
        paths.append(os.path.join(venv, "lib", f"python{version}", "site-packages"))
        paths.append(os.path.join(venv, "Lib", "site-packages"))
    return list(dict.fromkeys(p for p in paths if p))


def _system_site_packages(cfg: str) -> bool:
    """Whether a virtual environment also sees the base interpreter's site-packages."""
    try:
        with open(cfg, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition("=")
                if key.strip().lower() == "include-system-site-packages":
                    return value.strip().lower() == "true"
    except OSError:
        pass
    return False


def site_dirs(paths: Iterable[str]) -> list[str]:
    """The site-packages / dist-packages directories among ``paths`` (existing, real, unique)."""
    out = []
    for p in paths:
        if os.path.basename(p.rstrip("/\\")) in ("site-packages", "dist-packages") and os.path.isdir(p):
            out.append(os.path.realpath(p))
    return list(dict.fromkeys(out))


def _b64_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii")


@dataclass
class _DistResult:
    findings: list[Finding]
    errors: list[ScanError]
    recorded: set[str]
    files: int
    scanned: ScannedFile | None


def _check_distribution(dist: metadata.Distribution) -> _DistResult:
    """Hash every recorded file of one distribution against its RECORD."""
    base = str(dist.locate_file(""))
    name = dist.metadata["Name"] or "?"
    dist_path = getattr(dist, "_path", None)
    where = Location(str(dist_path) if dist_path else base)
    text = dist.read_text("RECORD")
    if text is None:
        finding = NO_RECORD.at(where, f"distribution {name} has no RECORD; its files cannot be verified", evidence={"distribution": name})
        return _DistResult([finding], [], set(), 0, ScannedFile(where, "distribution", 0, Verdict.FLAGGED, finding.severity))
    findings: list[Finding] = []
    errors: list[ScanError] = []
    recorded: set[str] = set()
    checked = 0
    for row in csv.reader(io.StringIO(text)):
        if not row or not row[0]:
            continue
        full = os.path.realpath(os.path.join(base, row[0]))
        recorded.add(full)
        digest = row[1] if len(row) > 1 else ""
        if not digest.startswith("sha256="):
            continue
        try:
            actual = _b64_sha256(full)
        except FileNotFoundError:
            findings.append(MISSING.at(Location(full), f"{row[0]} recorded by {name} is missing", evidence={"distribution": name}))
            continue
        except OSError as exc:
            errors.append(ScanError(Location(full), f"cannot read: {exc.strerror or exc}", "input"))
            continue
        checked += 1
        if actual != digest[7:]:
            findings.append(
                MODIFIED.at(
                    Location(full),
                    f"{row[0]} of {name} differs from its RECORD hash",
                    evidence={"distribution": name, "expected": digest, "actual": "sha256=" + actual},
                )
            )
    worst = max((f.severity for f in findings), default=None)
    verdict = Verdict.FLAGGED if worst is not None and worst >= Severity.LOW else Verdict.CLEAN
    return _DistResult(findings, errors, recorded, checked, ScannedFile(where, "distribution", checked, verdict, worst))


def _pth_has_code(path: str) -> str | None:
    """The first line of a .pth file that Python would execute (lines starting with import)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)
    except OSError:
        return None
    for raw in data.decode("utf-8", "replace").splitlines():
        if raw.startswith(("import ", "import\t")):
            return raw.strip()[:200]
    return None


def _is_guard_hook(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4096) == PTH_LINE.encode()
    except OSError:
        return False


def _unrecorded(site: str, recorded: set[str]) -> Iterator[Finding]:
    """Files under ``site`` that no RECORD lists (bytecode caches are left to _pyc_findings)."""
    for dirpath, dirnames, filenames in os.walk(site):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        top = os.path.realpath(dirpath) == site
        for fn in sorted(filenames):
            full = os.path.realpath(os.path.join(dirpath, fn))
            if full in recorded or (top and fn in _EXPECTED):
                continue
            if top and fn == PTH_NAME and _is_guard_hook(full):
                continue  # ``python -m trojanguard.guard enable``: this exact line and nothing else
            if top and (fn.endswith(".pth") or fn in _HOOK_MODULES):
                code = _pth_has_code(full) if fn.endswith(".pth") else fn
                if code is not None:
                    yield STARTUP_HOOK.at(
                        Location(full),
                        f"{fn} runs at interpreter start and no distribution records it: {code}",
                        evidence={"file": fn, "code": code},
                    )
                    continue
            if fn in _HOOK_MODULES:
                yield STARTUP_HOOK.at(Location(full), f"{fn} is recorded by no distribution", evidence={"file": fn}, severity=Severity.HIGH)
                continue
            severity = Severity.HIGH if fn.endswith((".pyc", ".so", ".pyd")) else None
            yield UNRECORDED.at(Location(full), f"{fn} is recorded by no installed distribution", evidence={"file": fn}, severity=severity)


def _pyc_findings(pyc: str, magic: bytes | None) -> Finding | None:
    """Compare one ``__pycache__/name.tag.pyc`` header with its source ``name.py``."""
    cache_dir = os.path.dirname(pyc)
    stem = os.path.basename(pyc).split(".", 1)[0]
    source = os.path.join(os.path.dirname(cache_dir), stem + ".py")
    try:
        with open(pyc, "rb") as fh:
            head = fh.read(16)
        st = os.stat(source)
    except FileNotFoundError:
        return STALE_BYTECODE.at(Location(pyc), f"{os.path.basename(pyc)} has no source {stem}.py", evidence={"source": source}, severity=Severity.MEDIUM)
    except OSError:
        return None
    if len(head) < 16:
        return STALE_BYTECODE.at(Location(pyc), f"{os.path.basename(pyc)} has a truncated header", evidence={"source": source})
    flags = struct.unpack("<I", head[4:8])[0]
    if flags & 1:
        if magic is None or head[:4] != magic:
            return None  # another interpreter's hash key; cannot recompute
        with open(source, "rb") as fh:
            expected = importlib.util.source_hash(fh.read())
        if head[8:16] != expected:
            checked = bool(flags & 2)
            return STALE_BYTECODE.at(
                Location(pyc),
                f"{os.path.basename(pyc)} hash differs from {stem}.py" + ("" if checked else " and is unchecked (Python will run it)"),
                evidence={"source": source, "check_source": checked},
                severity=Severity.MEDIUM if checked else Severity.HIGH,
            )
        return None
    mtime, size = struct.unpack("<II", head[8:16])
    if mtime != int(st.st_mtime) & 0xFFFFFFFF or size != st.st_size & 0xFFFFFFFF:
        return STALE_BYTECODE.at(
            Location(pyc),
            f"{os.path.basename(pyc)} header (mtime {mtime}, size {size}) does not match {stem}.py",
            evidence={"source": source, "pyc_mtime": mtime, "pyc_size": size, "py_size": st.st_size},
            severity=Severity.MEDIUM,
        )
    return None


def _iter_pycs(site: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(site):
        dirnames.sort()
        if os.path.basename(dirpath) == "__pycache__":
            yield from (os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".pyc"))


def verify_environment(
    paths: Sequence[str] | None = None,
    *,
    python: str | None = None,
    jobs: int = 8,
    check_bytecode: bool = True,
) -> EnvironmentResult:
    """Check every distribution found on ``paths`` (or the target interpreter's sys.path)."""
    start = time.monotonic()
    search = list(paths) if paths is not None else interpreter_paths(python)
    sites = site_dirs(search)
    dists = list(metadata.distributions(path=sites))
    magic = importlib.util.MAGIC_NUMBER if python is None else None
    findings: list[Finding] = []
    errors: list[ScanError] = []
    scanned: list[ScannedFile] = []
    recorded: set[str] = set()
    files = 0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for res in pool.map(_check_distribution, dists):
            findings += res.findings
            errors += res.errors
            recorded |= res.recorded
            files += res.files
            if res.scanned is not None:
                scanned.append(res.scanned)
        for site in sites:
            findings.extend(_unrecorded(site, recorded))
            if check_bytecode:
                for f in pool.map(lambda p: _pyc_findings(p, magic), _iter_pycs(site)):
                    if f is not None:
                        findings.append(f)
    if not sites:
        errors.append(ScanError(Location("."), "no site-packages directory found on the interpreter's path", "input"))
    from .. import __version__

    report = Report.build(findings, errors, scanned, tool_version=__version__)
    return EnvironmentResult(report, len(dists), files, time.monotonic() - start)
