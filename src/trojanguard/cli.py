"""The command line: the only module that reads argv and the environment, prints, and exits.

Everything else returns values; this module turns them into text on stdout (the report
and nothing else), one-line diagnostics and progress on stderr, and an exit code:

* 0 — scanned, nothing at or above ``--fail-on``;
* 1 — a finding at or above ``--fail-on`` (default ``medium``);
* 2 — usage error, unreadable input, incomplete scan, nothing scanned, or (``--strict``)
  an unrecognised file or member.  2 wins over 1: "could not look" is never "clean".

No traceback ever reaches the user (``TROJANGUARD_DEBUG=1`` shows it).

Sub-commands are plug-ins: a module defines ``register(subparsers)`` that adds its parser
and sets ``handler`` (a :data:`Handler`); adding a command is one line in
:data:`COMMANDS`.  ``register`` must stay cheap (import heavy things inside the handler),
and a command whose module cannot be imported (a missing optional extra) is still listed
and fails with a one-line error only when used.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn, TextIO, cast

from . import __version__
from .errors import Error, InputError, UsageError
from .model import Report, Severity

__all__ = ["COMMANDS", "Console", "Handler", "build_parser", "exit_code", "main", "write_atomic"]

PROG = "trojanguard"
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

#: ``module:function`` of every sub-command's ``register(subparsers)``, in ``--help`` order.
#: Add one line per command (graph, data, sign, verify, bom, env, convert ...).
COMMANDS: tuple[str, ...] = (
    "trojanguard.cli:register_scan",
    "trojanguard.cli:register_rules",
    "trojanguard.cli_supply:register_env",
    "trojanguard.cli_supply:register_convert",
    "trojanguard.integrity.cli_commands:register_sign",
    "trojanguard.integrity.cli_commands:register_verify",
    "trojanguard.integrity.cli_commands:register_bom",
    "trojanguard.graph.cli_commands:register_graph",
    "trojanguard.data.cli_commands:register_data",
)


@dataclass
class Console:
    """Where a command talks: stdout for its result, stderr for diagnostics and progress."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def error(self, message: str) -> None:
        """One diagnostic line (control characters escaped: messages quote file names)."""
        from .render.text import safe

        _write(self.err, f"{PROG}: error: {safe(message)}\n")

    def warning(self, message: str) -> None:
        from .render.text import safe

        _write(self.err, f"{PROG}: warning: {safe(message)}\n")

    def is_tty(self, stream: TextIO) -> bool:
        try:
            return stream.isatty()
        except (AttributeError, ValueError, OSError):
            return False


Handler = Callable[[argparse.Namespace, Console], int]
if TYPE_CHECKING:
    from typing import TypeAlias

    #: What ``register(subparsers)`` receives: call ``subparsers.add_parser(name, ...)`` on it.
    Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _write(stream: TextIO, text: str) -> None:
    """Write text that may not fit the stream's encoding (a C locale) without crashing."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding, "replace"))
    stream.flush()


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and calling ``sys.exit(2)``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------- scan


def positive_int(text: str) -> int:
    """argparse type for counts (``--jobs``): an integer >= 1, with a one-line error otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register_scan(subparsers: Subparsers) -> None:
    """``trojanguard scan``: scan model files, containers and directories statically."""
    from .render import FORMATS

    p = subparsers.add_parser("scan", help="scan files and directories for code hidden in models")
    p.description = "Scan model files, archives and directories statically (nothing is ever loaded or executed)."
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories (walked recursively)")
    p.add_argument("--format", "-f", choices=FORMATS, default="text", help="report format (default: text)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE (atomically) instead of stdout")
    p.add_argument(
        "--fail-on",
        choices=[s.label for s in Severity],
        default="medium",
        help="exit 1 when a finding is at least this severe (default: medium)",
    )
    p.add_argument("--strict", action="store_true", help="exit 2 when any file or member is unrecognised")
    p.add_argument("--jobs", "-j", type=positive_int, default=1, metavar="N", help="scan N files in parallel")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output on stderr")
    p.add_argument("--no-color", action="store_true", help="never colour the text report")
    p.set_defaults(handler=run_scan)


def exit_code(report: Report, fail_on: Severity, *, strict: bool = False) -> int:
    """The scan exit code; 2 (incomplete, nothing scanned, strict+unrecognised) wins over 1."""
    if not report.complete or (strict and report.unrecognised):
        return EXIT_ERROR
    return EXIT_FINDINGS if report.failed(fail_on) else EXIT_CLEAN


class Progress:
    """Progress on stderr: a ``\\r`` bar on a TTY, else a plain line at most every ``interval``.

    Plain lines start only after ``interval`` seconds, so short scans print nothing and
    logs of CI runs are not flooded.
    """

    def __init__(self, stream: TextIO, *, tty: bool, interval: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.stream, self.tty, self.interval, self.clock = stream, tty, interval, clock
        self.start = self.last = clock()
        self.drawn = False

    def __call__(self, done: int, total: int, current: str) -> None:
        from .render.text import safe

        now = self.clock()
        if self.tty:
            if self.drawn and done < total and now - self.last < 0.1:
                return
            width = 24
            filled = width * done // max(total, 1)
            name = safe(current)[-50:]
            _write(self.stream, f"\r\x1b[K[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name}")
            self.drawn = True
        elif now - self.last >= self.interval:
            _write(self.stream, f"{PROG}: scanned {done}/{total} files ({now - self.start:.0f}s): {safe(current)}\n")
        else:
            return
        self.last = now

    def close(self) -> None:
        if self.drawn:
            _write(self.stream, "\r\x1b[K")


def check_destination(path: str) -> str:
    """The directory ``path`` would be written into; an :class:`InputError` when it does not exist
    (commands that work for minutes check before they start, not when they finish)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"cannot write {path}: directory {directory} does not exist")
    return directory


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename: readers never see half a report."""
    directory = check_destination(path)
    fd, tmp = tempfile.mkstemp(prefix=".trojanguard-", suffix=".tmp", dir=directory)
    try:
        if hasattr(os, "fchmod"):  # POSIX: mkstemp's 0600 would hide the report from the rest of CI
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _check_output(path: str) -> None:
    """Fail before scanning, not after, when the report could not be written."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"cannot write {path}: directory {directory} does not exist")
    if os.path.isdir(path):
        raise InputError(f"cannot write {path}: it is a directory")


def _report_errors(report: Report, console: Console) -> None:
    """Unreadable inputs one line each; other incomplete analyses as one summary line."""
    other = 0
    for error in report.errors:
        if error.kind == "input" and not error.location.members:
            console.error(f"{error.location.path}: {error.message}")
        else:
            other += 1
    if other:
        console.error(f"scan incomplete: {other} file(s)/member(s) could not be fully analysed (listed in the report)")


def run_scan(args: argparse.Namespace, console: Console) -> int:
    """Scan, render, write, and pick the exit code."""
    from .render import render
    from .scanner import scan

    if args.output:
        _check_output(args.output)
    progress = None
    if not args.quiet:
        progress = Progress(console.err, tty=console.is_tty(console.err))
    try:
        report = scan(args.paths, jobs=args.jobs, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    color = (
        args.format == "text"
        and not args.output
        and not args.no_color
        and not console.env.get("NO_COLOR")
        and console.is_tty(console.out)
    )
    text = render(report, args.format, color=color, base=os.getcwd())
    if args.output:
        try:
            write_atomic(args.output, text)
        except OSError as exc:
            raise InputError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        _write(console.out, text)
    _report_errors(report, console)
    if args.strict and report.unrecognised:
        console.error(f"--strict: {len(report.unrecognised)} unrecognised file(s)/member(s)")
    return exit_code(report, Severity.parse(args.fail_on), strict=args.strict)


# --------------------------------------------------------------------------- rules


def register_rules(subparsers: Subparsers) -> None:
    """``trojanguard rules``: list the rule catalogue."""
    p = subparsers.add_parser("rules", help="list every rule: id, severity, CWE, summary")
    p.add_argument("--format", "-f", choices=("text", "json"), default="text")
    p.set_defaults(handler=run_rules)


def run_rules(args: argparse.Namespace, console: Console) -> int:
    import trojanguard.analyzers  # noqa: F401 - defining the analyzers defines their rules
    import trojanguard.integrity.environment  # noqa: F401 - the ENV rules
    import trojanguard.scanner  # noqa: F401 - the scanner's own SCN rules

    from .model import rule_catalogue
    from .render.json import render_rules_json
    from .render.text import render_rules_text

    rules = rule_catalogue()
    _write(console.out, render_rules_json(rules) if args.format == "json" else render_rules_text(rules))
    return EXIT_CLEAN


# --------------------------------------------------------------------------- main


def _unavailable(name: str, reason: str) -> Callable[[Subparsers], None]:
    def register(subparsers: Subparsers) -> None:
        p = subparsers.add_parser(name, help=f"(unavailable: {reason})", add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)

        def handler(args: argparse.Namespace, console: Console) -> int:
            raise UsageError(f"the '{name}' command is unavailable: {reason}")

        p.set_defaults(handler=handler)

    return register


def _load(spec: str) -> Callable[[Subparsers], None]:
    module_name, _, func = spec.partition(":")
    try:
        register = getattr(importlib.import_module(module_name), func)
    except (ImportError, AttributeError) as exc:
        name = func.removeprefix("register_") or module_name.rsplit(".", 1)[-1]
        return _unavailable(name, f"{type(exc).__name__}: {exc}")
    return register  # type: ignore[no-any-return]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command in :data:`COMMANDS`."""
    parser = _Parser(
        prog=PROG,
        description="Find undeclared functionality in ML model files without executing them.",
        epilog="Exit codes: 0 clean, 1 findings at/above --fail-on, 2 error or incomplete scan.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = cast("Subparsers", parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser))
    subparsers.required = True
    for spec in COMMANDS:
        _load(spec)(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """Run the CLI and return the exit code (``python -m trojanguard`` exits with it)."""
    console = console or Console()
    try:
        args = build_parser().parse_args(argv)
        handler: Handler = args.handler
        return handler(args, console)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR if exc.code else EXIT_CLEAN
    except Error as exc:
        _debug(console)
        console.error(exc.diagnostics())
        return EXIT_ERROR
    except KeyboardInterrupt:
        console.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the CLI's boundary: one line, never a traceback
        _debug(console)
        console.error(f"internal error: {type(exc).__name__}: {exc} (set TROJANGUARD_DEBUG=1 for the traceback)")
        return EXIT_ERROR


def _debug(console: Console) -> None:
    if console.env.get("TROJANGUARD_DEBUG", "") not in ("", "0"):
        _write(console.err, traceback.format_exc())


def _silence_stdout() -> None:
    """After EPIPE (``trojanguard scan . | head``) stop Python's exit-time flush from failing too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
