"""``trojanguard data audit``: poisoned-data audit with the scan's renderers and exit codes.

``register`` only builds parsers; scikit-learn, cleanlab and pyarrow are imported by the
handler, so ``trojanguard --help`` and ``scan`` never load them.
"""

from __future__ import annotations

import argparse
import functools
import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..model import Severity

if TYPE_CHECKING:
    from ..cli import Console, Subparsers


def register(subparsers: Subparsers) -> None:
    """Add ``data`` with its ``audit`` sub-command."""
    p = subparsers.add_parser("data", help="audit training/fine-tuning/feedback data for backdoors, flips and campaigns")
    sub = p.add_subparsers(dest="data_command", metavar="{audit,diff}")
    sub.required = True
    a = sub.add_parser("audit", help="label flips, model-free triggers, spectral signatures, feedback sources")
    a.add_argument("path", metavar="DATA", help="CSV, JSONL, Parquet, .npz, image folder or datasets save_to_disk dir")
    a.add_argument("--label", default="label", help="label column (default: label)")
    a.add_argument("--text", help="text column")
    a.add_argument("--features", help="comma-separated numeric feature columns")
    a.add_argument("--images", nargs="?", const="", default=None, metavar="DIR",
                   help="DIR: a column of the table names image files under DIR; no value: the input is an image folder / .npz")
    a.add_argument("--image-column", metavar="COLUMN", help="the column naming the image files for --images DIR (default: guessed)")
    a.add_argument("--model", metavar="MODEL.onnx", help="representations from this ONNX model (needs onnxruntime)")
    a.add_argument("--source", help="column naming who supplied each row (feedback streams)")
    a.add_argument("--time", help="numeric time column (feedback streams)")
    a.add_argument("--format", "-f", choices=("text", "json", "sarif"), default="text")
    a.add_argument("--output", "-o", help="write the report here instead of stdout")
    a.add_argument("--fail-on", default="medium", help="lowest severity that makes the exit code 1 (default: medium)")
    a.add_argument("--html", metavar="PAGE.html", help="also write a self-contained HTML report with plots here")
    a.add_argument("--quiet", "-q", action="store_true", help="no progress lines (stage timings) on stderr")
    a.set_defaults(handler=run_audit)
    _register_diff(sub)


def _without_library_warnings(handler: Callable[[argparse.Namespace, Console], int]) -> Callable[[argparse.Namespace, Console], int]:
    """scikit-learn and cleanlab warn on stderr about convergence and small classes; the
    command's own stderr is one-line errors and progress, so their warnings are dropped
    (kept with ``TROJANGUARD_DEBUG=1``)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace, console: Console) -> int:
        if console.env.get("TROJANGUARD_DEBUG", "") not in ("", "0"):
            return handler(args, console)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return handler(args, console)

    return run


@_without_library_warnings
def run_audit(args: argparse.Namespace, console: Console) -> int:
    from ..cli import _write, check_destination, exit_code, write_atomic
    from ..errors import UsageError
    from ..render import render
    from .audit import AuditOptions, audit_report

    features = tuple(f.strip() for f in args.features.split(",") if f.strip()) if args.features else ()
    if args.image_column and not args.images:
        raise UsageError("--image-column needs --images DIR")
    opts = AuditOptions(label=args.label, text=args.text, features=features, source=args.source, time=args.time, model=args.model,
                        images=args.images is not None, images_dir=args.images or None, image_column=args.image_column)
    for destination in (args.html, args.output):
        if destination:
            check_destination(destination)

    def progress(line: str) -> None:
        _write(console.err, f"trojanguard: data audit: {line}\n")

    report, result = audit_report(args.path, opts, None if args.quiet else progress)
    text = render(report, args.format, base=os.getcwd())
    if args.html:
        from .html import render_audit_html

        write_atomic(args.html, render_audit_html(result))
    if args.output:
        write_atomic(args.output, text)
    else:
        _write(console.out, text)
    return exit_code(report, Severity.parse(args.fail_on))


def _register_diff(sub: Subparsers) -> None:
    """``data diff OLD NEW``: rows added/removed/relabelled, label shift per cluster, new triggers."""
    d = sub.add_parser("diff", help="what a new data version added, removed and relabelled; label shifts and new triggers")
    d.add_argument("old", metavar="OLD", help="the previous version (same formats as audit)")
    d.add_argument("new", metavar="NEW", help="the new version; findings point at its rows")
    d.add_argument("--label", default="label", help="label column (default: label)")
    d.add_argument("--text", help="text column")
    d.add_argument("--features", help="comma-separated numeric feature columns")
    d.add_argument("--images", action="store_true", help="both inputs are image folders / image .npz (default when they are)")
    d.add_argument("--key", help="ID column to match rows by (default: a hash of the row's content)")
    d.add_argument("--format", "-f", choices=("text", "json", "sarif"), default="text")
    d.add_argument("--output", "-o", help="write the report here instead of stdout")
    d.add_argument("--fail-on", default="medium", help="lowest severity that makes the exit code 1 (default: medium)")
    d.set_defaults(handler=run_diff)


@_without_library_warnings
def run_diff(args: argparse.Namespace, console: Console) -> int:
    """Diff two versions; the row counts go to stderr (text) and to the JSON report's ``extra``."""
    from ..cli import _write, check_destination, exit_code, write_atomic
    from ..errors import UsageError
    from ..render import render
    from .diff import DiffOptions, diff, summary_line

    try:
        fail_on = Severity.parse(args.fail_on)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.output:
        check_destination(args.output)
    features = tuple(f.strip() for f in args.features.split(",") if f.strip()) if args.features else ()
    report = diff(args.old, args.new, DiffOptions(label=args.label, text=args.text, features=features, key=args.key,
                                                     images=args.images))
    text = render(report, args.format, base=os.getcwd())
    if args.output:
        write_atomic(args.output, text)
    else:
        _write(console.out, text)
    if args.format == "text":
        _write(console.err, f"diff {args.old} -> {args.new}: {summary_line(report)}\n")
    return exit_code(report, fail_on)


register_data = register  # the name cli.COMMANDS uses (``register_<command>``)
