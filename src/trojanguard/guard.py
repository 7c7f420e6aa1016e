"""The load guard: scan every model file before a library deserialises it.

Why: scanning in CI protects the files you know about; a process that calls
``torch.load`` on a path chosen at run time (a downloaded checkpoint, a user upload) needs
the check at the moment of loading.  :func:`install` wraps the loaders that are present —
``pickle.load``/``loads``, ``torch.load`` (and ``torch.serialization.load``),
``joblib.load``, ``numpy.load``, ``keras.models.load_model`` and transformers'
``PreTrainedModel.from_pretrained`` — so the file is scanned with
:mod:`trojanguard.scanner` first and refused with :class:`UnsafeModelError` when a
finding reaches the threshold (default ``high``).  Libraries imported later are patched
by an import hook the moment they finish importing.  :func:`uninstall` restores the
originals.

Results are cached by the sha256 of the content in SQLite (``~/.cache/trojanguard/
guard.sqlite``, or ``$TROJANGUARD_GUARD_CACHE``), so loading the same file again costs
one hash.

Whole-process use::

    python -m trojanguard.guard enable    # once per environment: then TROJANGUARD_GUARD=1 guards any process
    TROJANGUARD_GUARD=1 python train.py
    python -m trojanguard.guard disable   # removes the hook again
    # without touching site-packages:
    python -m trojanguard.guard run script.py [args...]     # or: run -m package.module
    # or, in your own sitecustomize.py:
    import trojanguard.guard; trojanguard.guard.install_from_env()   # acts when TROJANGUARD_GUARD=1

``enable`` writes one ``.pth`` file (:data:`PTH_NAME`, content :data:`PTH_LINE`) into the
interpreter's site-packages: Python executes its import line at every start, and the line
does nothing but read the environment variable unless it is set.  ``trojanguard env verify``
reports any unrecorded ``.pth`` with code, except this exact file.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .errors import Error
from .model import Severity

__all__ = ["UnsafeModelError", "GuardCache", "check_bytes", "check_path", "install", "install_from_env", "installed", "uninstall"]

#: (module, attribute path, kind of first argument): what install() wraps when present.
TARGETS: tuple[tuple[str, str], ...] = (
    ("pickle", "load"),
    ("pickle", "loads"),
    ("torch", "load"),
    ("torch.serialization", "load"),
    ("joblib", "load"),
    ("numpy", "load"),
    ("keras.models", "load_model"),
    ("keras.saving", "load_model"),
    ("transformers", "PreTrainedModel.from_pretrained"),
    ("transformers.modeling_utils", "PreTrainedModel.from_pretrained"),
)
_ARG_NAMES = ("f", "file", "filename", "filepath", "fp", "data", "pretrained_model_name_or_path")


class UnsafeModelError(Error):
    """A file was refused before loading: a finding at or above the guard's threshold."""

    def __init__(self, target: str, rule_id: str, severity: str, message: str) -> None:
        super().__init__(f"trojanguard refused to load {target}: {rule_id} ({severity}) {message}")
        self.target, self.rule_id, self.severity, self.finding_message = target, rule_id, severity, message


@dataclass(frozen=True)
class Verdict:
    """The worst finding of a scan (None when clean), as cached."""

    rule_id: str | None
    severity: int
    message: str


def _default_cache_path() -> str:
    env = os.environ.get("TROJANGUARD_GUARD_CACHE")
    if env:
        return env
    return os.path.join(os.path.expanduser("~"), ".cache", "trojanguard", "guard.sqlite")


class GuardCache:
    """sha256 of content -> worst finding, per trojanguard version, in SQLite (thread-safe)."""

    def __init__(self, path: str | None = None) -> None:
        from . import __version__

        self.path = path or _default_cache_path()
        self.version = __version__
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            self._db.execute("CREATE TABLE IF NOT EXISTS scans (sha256 TEXT, version TEXT, verdict TEXT, PRIMARY KEY (sha256, version))")
        return self._db

    def get(self, digest: str) -> Verdict | None:
        with self._lock:
            try:
                row = self._conn().execute("SELECT verdict FROM scans WHERE sha256=? AND version=?", (digest, self.version)).fetchone()
            except sqlite3.Error:
                return None
        if row is None:
            return None
        data = json.loads(row[0])
        return Verdict(data["rule_id"], int(data["severity"]), str(data["message"]))

    def put(self, digest: str, verdict: Verdict) -> None:
        payload = json.dumps({"rule_id": verdict.rule_id, "severity": verdict.severity, "message": verdict.message})
        with self._lock:
            try:
                db = self._conn()
                db.execute("INSERT OR REPLACE INTO scans VALUES (?, ?, ?)", (digest, self.version, payload))
                db.commit()
            except sqlite3.Error:
                pass  # a cache that cannot be written only costs speed

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


@dataclass
class _State:
    threshold: Severity
    cache: GuardCache | None
    originals: dict[tuple[str, str], tuple[Any, str, Any]]
    finder: _PatchFinder | None = None


_STATE: _State | None = None
_LOCAL = threading.local()
_MUTEX = threading.RLock()


def _verdict_of(findings: Sequence[Any]) -> Verdict:
    worst = max(findings, key=lambda f: (f.severity, f.confidence), default=None)
    if worst is None:
        return Verdict(None, -1, "")
    return Verdict(worst.rule.id, int(worst.severity), worst.message)


def _decide(target: str, verdict: Verdict, threshold: Severity) -> None:
    if verdict.rule_id is not None and verdict.severity >= threshold:
        raise UnsafeModelError(target, verdict.rule_id, Severity(verdict.severity).label, verdict.message)


def check_bytes(data: bytes, name: str = "<bytes>", *, threshold: Severity = Severity.HIGH, cache: GuardCache | None = None) -> None:
    """Scan in-memory content; raise UnsafeModelError when a finding reaches ``threshold``."""
    digest = hashlib.sha256(data).hexdigest()
    verdict = cache.get(digest) if cache else None
    if verdict is None:
        from .analyzers import BUILTIN
        from .artifact import Artifact
        from .model import Location
        from .scanner import scan_artifact

        findings, _, _ = scan_artifact(Artifact.from_bytes(data, Location(name), name), BUILTIN)
        verdict = _verdict_of(findings)
        if cache:
            cache.put(digest, verdict)
    _decide(name, verdict, threshold)


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def check_path(path: str, *, threshold: Severity = Severity.HIGH, cache: GuardCache | None = None) -> None:
    """Scan a file or directory; raise UnsafeModelError when a finding reaches ``threshold``."""
    from .scanner import scan

    if os.path.isdir(path):
        _decide(path, _verdict_of(scan([path]).findings), threshold)
        return
    digest = _file_sha256(path)
    verdict = cache.get(digest) if cache else None
    if verdict is None:
        verdict = _verdict_of(scan([path]).findings)
        if cache:
            cache.put(digest, verdict)
    _decide(path, verdict, threshold)


def _first_arg(
    args: tuple[Any, ...], kwargs: dict[str, Any], skip: int
) -> tuple[Any, Callable[[Any], tuple[tuple[Any, ...], dict[str, Any]]]]:
    """The loaded thing (after ``skip`` leading args: ``cls``) and a function that puts a replacement back."""
    if len(args) > skip:
        return args[skip], lambda new: ((*args[:skip], new, *args[skip + 1 :]), kwargs)
    for key in _ARG_NAMES:
        if key in kwargs:
            return kwargs[key], lambda new, key=key: (args, {**kwargs, key: new})
    return None, lambda new: (args, kwargs)


def _screen(
    target: str, args: tuple[Any, ...], kwargs: dict[str, Any], state: _State, skip: int
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Scan what a loader is about to read; return the (possibly re-wrapped) call arguments."""
    thing, put_back = _first_arg(args, kwargs, skip)
    kw = {"threshold": state.threshold, "cache": state.cache}
    if isinstance(thing, (bytes, bytearray, memoryview)):
        check_bytes(bytes(thing), f"<{target} argument>", **kw)  # type: ignore[arg-type]
    elif isinstance(thing, (str, os.PathLike)):
        path = os.fspath(thing)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if os.path.exists(path):
            check_path(path, **kw)  # type: ignore[arg-type]
        # not a local path (a hub ID): the inner torch.load/pickle.load of the download is guarded
    elif hasattr(thing, "read"):
        name = str(getattr(thing, "name", f"<{target} stream>"))
        if getattr(thing, "seekable", lambda: False)():
            pos = thing.tell()
            data = thing.read()
            thing.seek(pos)
            check_bytes(data, name, **kw)  # type: ignore[arg-type]
        else:
            data = thing.read()
            check_bytes(data, name, **kw)  # type: ignore[arg-type]
            return put_back(io.BytesIO(data))
    return args, kwargs


def _wrap(target: str, original: Callable[..., Any], skip: int = 0) -> Callable[..., Any]:
    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        state = _STATE
        if state is None or getattr(_LOCAL, "active", False):
            return original(*args, **kwargs)  # not installed, or nested inside a guarded load
        _LOCAL.active = True
        try:
            args, kwargs = _screen(target, args, dict(kwargs), state, skip)
            return original(*args, **kwargs)
        finally:
            _LOCAL.active = False

    guarded.__trojanguard_original__ = original  # type: ignore[attr-defined]
    return guarded


def _patch_module(module: ModuleType, module_name: str, state: _State) -> None:
    for mod_name, attr in TARGETS:
        if mod_name != module_name or (mod_name, attr) in state.originals:
            continue
        owner: Any = module
        *parents, name = attr.split(".")
        try:
            for part in parents:
                owner = getattr(owner, part)
        except AttributeError:
            continue
        raw = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        if raw is None:
            continue
        target = f"{mod_name}.{attr}"
        inner = getattr(raw.__func__ if isinstance(raw, classmethod) else raw, "__trojanguard_raw__", None)
        if inner is not None:  # already guarded through another module (torch.load, transformers.modeling_utils)
            state.originals[(mod_name, attr)] = (owner, name, inner)
            continue
        if isinstance(raw, classmethod):
            wrapper = _wrap(target, raw.__func__, skip=1)
            patched: Any = classmethod(wrapper)
        elif callable(raw):
            wrapper = patched = _wrap(target, raw)
        else:
            continue
        wrapper.__trojanguard_raw__ = raw  # type: ignore[attr-defined]
        state.originals[(mod_name, attr)] = (owner, name, raw)
        setattr(owner, name, patched)


class _PatchFinder(importlib.abc.MetaPathFinder):
    """Patches a target library right after it is imported (nothing is imported eagerly)."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names or getattr(_LOCAL, "finding", False):
            return None
        _LOCAL.finding = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            _LOCAL.finding = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            with _MUTEX:
                if _STATE is not None:
                    _patch_module(module, fullname, _STATE)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install(*, threshold: Severity | str = Severity.HIGH, cache_path: str | None = None, use_cache: bool = True) -> None:
    """Wrap every present loader (now) and every target library imported later (by hook)."""
    global _STATE
    level = Severity.parse(threshold) if isinstance(threshold, str) else threshold
    with _MUTEX:
        if _STATE is not None:
            uninstall()
        state = _State(level, GuardCache(cache_path) if use_cache else None, {})
        _STATE = state
        for mod_name in {m for m, _ in TARGETS}:
            module = sys.modules.get(mod_name)
            if module is not None:
                _patch_module(module, mod_name, state)
        state.finder = _PatchFinder({m for m, _ in TARGETS if m not in sys.modules})
        sys.meta_path.insert(0, state.finder)


def uninstall() -> None:
    """Restore every original loader and remove the import hook."""
    global _STATE
    with _MUTEX:
        state = _STATE
        if state is None:
            return
        for owner, name, raw in state.originals.values():
            setattr(owner, name, raw)
        if state.finder in sys.meta_path:
            sys.meta_path.remove(state.finder)
        if state.cache is not None:
            state.cache.close()
        _STATE = None


def installed() -> bool:
    return _STATE is not None


def install_from_env(environ: dict[str, str] | None = None) -> bool:
    """Install when ``TROJANGUARD_GUARD=1`` (threshold from ``TROJANGUARD_GUARD_THRESHOLD``)."""
    env = os.environ if environ is None else environ
    if env.get("TROJANGUARD_GUARD", "") not in ("1", "true", "yes"):
        return False
    install(threshold=env.get("TROJANGUARD_GUARD_THRESHOLD", "high"))
    return True


#: The start-up hook ``enable`` installs; ``env verify`` accepts exactly this content, nothing else.
PTH_NAME = "trojanguard-guard.pth"
PTH_LINE = (
    "import os; os.environ.get('TROJANGUARD_GUARD', '') in ('1', 'true', 'yes') "
    "and __import__('trojanguard.guard').guard.install_from_env()\n"
)


def _site_packages(site: str | None) -> str:
    import sysconfig

    return site or sysconfig.get_paths()["purelib"]


def enable(site: str | None = None) -> str:
    """Write the start-up hook into ``site`` (default: this interpreter's site-packages); returns its path."""
    path = os.path.join(_site_packages(site), PTH_NAME)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(PTH_LINE)
    os.replace(tmp, path)
    return path


def disable(site: str | None = None) -> bool:
    """Remove the start-up hook; False when it was not there."""
    try:
        os.unlink(os.path.join(_site_packages(site), PTH_NAME))
    except FileNotFoundError:
        return False
    return True


_USAGE = (
    "usage: python -m trojanguard.guard enable | disable | run SCRIPT [ARGS...] | run -m MODULE [ARGS...]\n"
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trojanguard.guard enable|disable`` or ``run script.py [args]`` / ``run -m module [args]``."""
    import runpy

    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["enable"], ["disable"]):
        try:
            if args[0] == "enable":
                sys.stdout.write(f"load guard hook written to {enable()}: set TROJANGUARD_GUARD=1 to guard a process\n")
            else:
                sys.stdout.write("load guard hook removed\n" if disable() else "load guard hook was not installed\n")
        except OSError as exc:
            sys.stderr.write(f"trojanguard: cannot {args[0]} the load guard hook: {exc.strerror or exc}\n")
            return 2
        return 0
    if len(args) < 2 or args[0] != "run":
        sys.stderr.write(_USAGE)
        return 2
    os.environ["TROJANGUARD_GUARD"] = "1"
    install(threshold=os.environ.get("TROJANGUARD_GUARD_THRESHOLD", "high"))
    if args[1] == "-m" and len(args) > 2:
        sys.argv = args[2:]
        runpy.run_module(args[2], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args[1:]
        runpy.run_path(args[1], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
