"""Scanning hostile input executes, unpickles and imports nothing (proved with an audit hook).

The scan runs in a fresh interpreter with ``sys.addaudithook`` installed before the first
byte of the corpus is read.  Any unpickling (``pickle.find_class``), unmarshalling, ``exec``,
process creation, network access or import of a module the payloads name fails the test;
so does the appearance of a canary file that the payloads would create if run.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

FORBIDDEN_EVENTS = (
    "pickle.find_class",
    "marshal.load",
    "marshal.loads",
    "exec",
    "os.system",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "subprocess.Popen",
    "socket.connect",
    "socket.getaddrinfo",
    "urllib.Request",
    "webbrowser.open",
    "ctypes.dlopen",
    "ctypes.cdata",
    "cpython.run_command",
    "code.__new__",
    "function.__new__",
)
#: Modules the payloads reach for that no part of trojanguard or its dependencies imports.
PAYLOAD_MODULES = (
    "webbrowser", "pty", "idlelib", "pdb", "timeit", "cProfile", "profile", "pydoc", "runpy", "code",
    "smtplib", "ftplib", "imaplib", "mailcap", "pip", "ensurepip", "venv", "trace", "doctest", "bdb",
    "turtle", "dill", "cloudpickle", "torch", "joblib",
)


class _Canary:
    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (self.func, self.args)


def _canary_corpus(out: Path, canary: Path) -> None:
    touch = f"touch {canary}"
    payloads = {
        "system.pkl": pickle.dumps(_Canary(os.system, touch), protocol=2),
        "exec.pt": pickle.dumps(_Canary(exec, f"open({str(canary)!r}, 'w').close()"), protocol=4),
        "popen.bin": pickle.dumps(_Canary(subprocess.Popen, ["touch", str(canary)]), protocol=0),
        "eval.safetensors": pickle.dumps(_Canary(eval, f"open({str(canary)!r}, 'w')"), protocol=5),
    }
    for name, data in payloads.items():
        (out / name).write_bytes(data)
        (out / (name + ".gz")).write_bytes(gzip.compress(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", payloads["system.pkl"])
        zf.writestr("archive/data/0", b"\0" * 64)
        zf.writestr("archive/version", "3\n")
    (out / "torch_like.pt").write_bytes(buf.getvalue())


def _builder_corpus(out: Path) -> int:
    sys.path.insert(0, str(HERE))
    try:
        from builders import payloads  # type: ignore[import-not-found]
    except ImportError:
        return 0
    finally:
        sys.path.pop(0)
    (out / "catalogue").mkdir()
    for i, (name, data) in enumerate(sorted(payloads.MALICIOUS.items())):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
        (out / "catalogue" / f"{i:03d}-{safe}.pkl").write_bytes(data)
    return len(payloads.MALICIOUS)


CHILD = textwrap.dedent(
    """
    import json, os, sys
    forbidden = tuple(json.loads(sys.argv[2]))
    watched = set(json.loads(sys.argv[3]))
    before = sorted(m for m in watched if m in sys.modules)
    trusted_dirs = tuple(os.path.realpath(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix} | set(sys.path) if p)
    events = []

    def from_import_system():
        frame = sys._getframe(2)
        while frame is not None:
            if "importlib._bootstrap" in frame.f_code.co_filename:
                return True
            frame = frame.f_back
        return False

    # the standard library generates code for dataclasses/namedtuples with exec/eval
    generators = (os.sep + "dataclasses.py", os.sep + "collections" + os.sep + "__init__.py", os.sep + "typing.py")

    def trusted_code(code):
        name = getattr(code, "co_filename", "")
        if name.startswith("<frozen "):
            return True
        if os.path.isfile(name) and os.path.realpath(name).startswith(trusted_dirs):
            return True  # a module being imported from the environment
        caller = sys._getframe(2).f_code.co_filename
        return caller.endswith(generators)

    def hook(event, args):
        if event == "exec":
            if not (args and trusted_code(args[0])):
                events.append([event, repr(args)[:200]])
        elif event.startswith("marshal.load"):
            if not from_import_system():
                events.append([event, repr(args)[:200]])
        elif event.startswith(forbidden):
            events.append([event, repr(args)[:200]])
        elif event == "import" and args and str(args[0]).split(".")[0] in watched:
            events.append([event, str(args[0])])

    sys.addaudithook(hook)
    from trojanguard.scanner import scan
    report = scan([sys.argv[1]])
    after = sorted(m for m in watched if m in sys.modules)
    print(json.dumps({"events": events, "before": before, "after": after,
                      "findings": len(report.findings), "files": len(report.scanned)}))
    """
)


@pytest.mark.slow
def test_scanning_hostile_corpus_executes_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    canary = tmp_path / "CANARY"
    _canary_corpus(corpus, canary)
    catalogue = _builder_corpus(corpus)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(corpus), json.dumps(FORBIDDEN_EVENTS), json.dumps(PAYLOAD_MODULES)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["events"] == [], result["events"][:20]
    assert result["after"] == result["before"], "a payload module was imported"
    assert not canary.exists(), "a payload ran"
    assert result["files"] >= 9 + catalogue
    assert result["findings"] >= 9, "the canaries themselves must be reported"


def test_audit_hook_would_catch_unpickling(tmp_path: Path) -> None:
    """The detector is live: real unpickling in the same harness raises the event we watch."""
    code = textwrap.dedent(
        """
        import sys, pickle
        seen = []
        sys.addaudithook(lambda e, a: seen.append(e) if e == "pickle.find_class" else None)
        pickle.loads(pickle.dumps(__import__("collections").OrderedDict()))  # noqa: S301 - trusted
        print(len(seen))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert int(out.stdout.strip()) >= 1
