"""The command line: exit codes, stdout carries only the report, one-line errors, no tracebacks.

Most tests run ``cli.main(argv)`` in-process; ``test_subprocess_never_shows_a_traceback``
runs ``python -m trojanguard`` for the hostile-input cases, because only a real process
shows what a user would see.  Tests run as root, so "unreadable" inputs are FIFOs (never
opened: opening one would hang) rather than chmod 000 files.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trojanguard import __version__, cli
from trojanguard.cli import Console, Progress, exit_code, main
from trojanguard.model import Location, Report, ScanError, ScannedFile, Severity, Verdict
from trojanguard.scanner import EXTENSION_MISMATCH

PROTO2_PICKLE = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."  # {'a': 1}: harmless, but a pickle


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    return tmp_path


@pytest.fixture
def flagged(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"  # a pickle pretending to be safetensors: SCN001 critical
    path.write_bytes(PROTO2_PICKLE)
    return path


def test_clean_scan_exits_0(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["scan", str(clean), "--quiet"], capsys)
    assert code == 0, err
    assert "No findings." in out and err == ""


def test_finding_at_threshold_exits_1(flagged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["scan", str(flagged), "-q"], capsys)
    assert code == 1
    assert "SCN001" in out and "docs/rules/SCN001.md" in out


def test_fail_on_raises_the_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "weights.h5"  # a pickle behind an HDF5 name: SCN001 high
    path.write_bytes(PROTO2_PICKLE)
    code, out, _ = _run(["scan", str(path), "-q", "--format", "json"], capsys)
    assert code == 1
    assert [f["severity"] for f in json.loads(out)["findings"]] == ["high"]
    code, _, _ = _run(["scan", str(path), "-q", "--fail-on", "critical"], capsys)
    assert code == 0
    code, _, _ = _run(["scan", str(path), "-q", "--fail-on", "high"], capsys)
    assert code == 1


def test_missing_path_reports_error_but_scans_the_rest(flagged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(flagged.parent / "nope.pt")
    code, out, err = _run(["scan", missing, str(flagged), "-q", "-f", "json"], capsys)
    assert code == 2  # exit 2 wins over the finding's 1
    doc = json.loads(out)
    assert [f["rule_id"] for f in doc["findings"]] == ["SCN001"]
    assert doc["errors"][0]["path"] == missing
    assert err == f"trojanguard: error: {missing}: cannot read: No such file or directory\n"


def test_empty_directory_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["scan", str(tmp_path), "-q"], capsys)
    assert code == 2
    assert "nothing scanned" in out and "nothing scanned" in err


def test_fifo_is_reported_not_opened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    code, _, err = _run(["scan", str(fifo), "-q"], capsys)
    assert code == 2
    assert err.startswith("trojanguard: error: ") and "not a regular file" in err


def test_strict_fails_on_unrecognised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "blob.dat").write_bytes(b"\x00\x01\x02\xffgarbage\x00")
    code, out, _ = _run(["scan", str(tmp_path), "-q"], capsys)
    assert code == 0 and "blob.dat" in out and "1 unrecognised" in out
    code, _, err = _run(["scan", str(tmp_path), "-q", "--strict"], capsys)
    assert code == 2 and "--strict: 1 unrecognised" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", ".", "--fail-on", "bogus"],
        ["scan", ".", "--format", "html"],
        ["scan", ".", "--jobs", "0"],
        ["scan"],
        [],
        ["frobnicate"],
    ],
    ids=["bad-fail-on", "bad-format", "jobs-0", "no-path", "no-command", "unknown-command"],
)
def test_usage_errors_are_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("trojanguard: error: ") and err.count("\n") == 1, err


def test_output_file_written_atomically(flagged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "report.sarif"
    target.parent.mkdir()
    target.write_text("old")
    code, out, _ = _run(["scan", str(flagged), "-q", "-f", "sarif", "-o", str(target)], capsys)
    assert code == 1 and out == ""
    assert json.loads(target.read_text())["version"] == "2.1.0"
    assert os.listdir(target.parent) == ["report.sarif"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask, "permissions like any file the user creates"
    code, _, err = _run(["scan", str(flagged), "-q", "-o", str(target.parent)], capsys)
    assert code == 2 and "is a directory" in err


def test_output_into_missing_directory_fails_before_scanning(
    flagged: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import trojanguard.scanner

    monkeypatch.setattr(trojanguard.scanner, "scan", lambda *a, **k: pytest.fail("scanned anyway"))
    code, _, err = _run(["scan", str(flagged), "-o", str(flagged.parent / "no" / "r.json")], capsys)
    assert code == 2 and "does not exist" in err and err.count("\n") == 1


def test_stdout_carries_only_the_report(flagged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["scan", str(flagged), "--format", "json"], capsys)  # progress allowed, on stderr
    assert code == 1
    assert json.loads(out)["summary"]["findings"] >= 1


def test_parallel_scan_gives_the_same_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a.safetensors", "b.h5", "c.json"):
        (tmp_path / name).write_bytes(PROTO2_PICKLE if name != "c.json" else b"{}")
    code1, serial, _ = _run(["scan", str(tmp_path), "-q", "-f", "json"], capsys)
    code2, parallel, _ = _run(["scan", str(tmp_path), "-q", "-f", "json", "--jobs", "2"], capsys)
    assert code1 == code2 == 1
    assert serial == parallel


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--version"], capsys)
    assert code == 0 and out == f"trojanguard {__version__}\n"
    code, out, _ = _run(["scan", "--help"], capsys)
    assert code == 0 and "--fail-on" in out and "--strict" in out


def test_rules_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["rules"], capsys)
    assert code == 0 and "SCN001  medium    CWE-646  extension-content-mismatch" in out
    code, out, _ = _run(["rules", "--format", "json"], capsys)
    rules = {r["id"]: r for r in json.loads(out)["rules"]}
    assert code == 0 and rules["SCN002"]["severity"] == "high" and rules["SCN002"]["cwe"] == 409


def test_colour_only_on_a_tty_without_no_color(flagged: Path) -> None:
    def run(env: dict[str, str], *extra: str) -> str:
        out = _Tty()
        main(["scan", str(flagged), "-q", *extra], Console(out=out, err=io.StringIO(), env=env))
        return out.getvalue()

    assert "\x1b[" in run({})
    assert "\x1b[" not in run({"NO_COLOR": "1"})
    assert "\x1b[" not in run({}, "--no-color")
    assert "\x1b[" not in run({}, "-f", "json")
    plain = io.StringIO()
    main(["scan", str(flagged), "-q"], Console(out=plain, err=io.StringIO(), env={}))
    assert "\x1b[" not in plain.getvalue()


def test_progress_plain_lines_are_throttled() -> None:
    now = [0.0]
    err = io.StringIO()
    progress = Progress(err, tty=False, clock=lambda: now[0])
    for i in range(1, 11):
        now[0] = i * 0.5  # a file every half second
        progress(i, 10, f"f{i}")
    progress.close()
    lines = err.getvalue().splitlines()
    assert lines == [
        "trojanguard: scanned 4/10 files (2s): f4",
        "trojanguard: scanned 8/10 files (4s): f8",
    ]


def test_progress_bar_on_a_tty() -> None:
    err = _Tty()
    progress = Progress(err, tty=True, clock=lambda: 100.0)
    progress(1, 2, "a\x1b]evil")
    progress(2, 2, "b")
    progress.close()
    text = err.getvalue()
    assert "\r\x1b[K[############............] 1/2" in text and "2/2 b" in text
    assert "\x1b]" not in text  # file names are escaped
    assert text.endswith("\r\x1b[K")  # the bar is cleared before the report


def test_quiet_means_no_progress(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"c{i}.json").write_text("{}")
    err = _Tty()
    assert main(["scan", str(tmp_path), "--quiet"], Console(out=io.StringIO(), err=err, env={})) == 0
    assert err.getvalue() == ""
    err = _Tty()
    main(["scan", str(tmp_path)], Console(out=io.StringIO(), err=err, env={}))
    assert "3/3" in err.getvalue()


def test_internal_error_is_one_line_unless_debug(
    flagged: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import trojanguard.scanner

    def boom(*args: object, **kwargs: object) -> Report:
        raise RuntimeError("kaput")

    monkeypatch.setattr(trojanguard.scanner, "scan", boom)
    code, _, err = _run(["scan", str(flagged)], capsys)
    assert code == 2 and err.startswith("trojanguard: error: internal error: RuntimeError: kaput")
    assert "Traceback" not in err and err.count("\n") == 1
    monkeypatch.setenv("TROJANGUARD_DEBUG", "1")
    code, _, err = _run(["scan", str(flagged)], capsys)
    assert code == 2 and "Traceback" in err and "kaput" in err


def test_unavailable_plugin_command_fails_only_when_used(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "trojanguard.no_such_module:register_phantom"))
    code, out, _ = _run(["--help"], capsys)
    assert code == 0 and "phantom" in out
    code, _, err = _run(["phantom", "model.onnx"], capsys)
    assert code == 2 and "the 'phantom' command is unavailable" in err
    code, _, _ = _run(["rules"], capsys)
    assert code == 0


def test_exit_code_precedence() -> None:
    finding = EXTENSION_MISMATCH.at(Location("a"), "m", severity=Severity.HIGH)
    ok = [ScannedFile(Location("a"), "pickle", 1, Verdict.FLAGGED, Severity.HIGH)]
    unknown = [ScannedFile(Location("b"), "unknown", 1, Verdict.UNRECOGNISED)]
    assert exit_code(Report.build([finding], [], ok), Severity.MEDIUM) == 1
    assert exit_code(Report.build([finding], [], ok), Severity.CRITICAL) == 0
    assert exit_code(Report.build([finding], [ScanError(Location("c"), "x")], ok), Severity.MEDIUM) == 2
    assert exit_code(Report.build([], [], []), Severity.MEDIUM) == 2  # nothing scanned
    assert exit_code(Report.build([], [], unknown), Severity.MEDIUM) == 0
    assert exit_code(Report.build([], [], unknown), Severity.MEDIUM, strict=True) == 2


def _hostile_cases(tmp_path: Path) -> dict[str, list[str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    fifo = tmp_path / "fifo.pkl"
    os.mkfifo(fifo)
    return {
        "nonexistent": ["scan", str(tmp_path / "missing.pt")],
        "empty-dir": ["scan", str(empty)],
        "fifo": ["scan", str(fifo)],
        "bad-fail-on": ["scan", str(empty), "--fail-on", "severe"],
        "output-missing-dir": ["scan", str(empty), "-o", str(tmp_path / "nodir" / "r.json")],
    }


def test_subprocess_never_shows_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TROJANGUARD_DEBUG"}
    for name, argv in _hostile_cases(tmp_path).items():
        proc = subprocess.run(
            [sys.executable, "-m", "trojanguard", *argv], capture_output=True, text=True, timeout=60, env=env
        )
        assert proc.returncode == 2, (name, proc.stderr)
        assert "Traceback" not in proc.stderr, (name, proc.stderr)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("trojanguard: error: ")]
        assert errors and len(errors) == len(proc.stderr.splitlines()), (name, proc.stderr)
