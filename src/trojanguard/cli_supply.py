"""CLI glue for ``trojanguard env verify`` and ``trojanguard convert``.

Kept apart from :mod:`trojanguard.cli` so the commands are plug-ins (one line each in
``cli.COMMANDS``); the heavy modules are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from .model import Severity

if TYPE_CHECKING:
    from .cli import Console, Subparsers

__all__ = ["register_convert", "register_env", "run_convert", "run_env_verify"]


def register_env(subparsers: Subparsers) -> None:
    """``trojanguard env verify``: check installed packages against their RECORD hashes."""
    from .render import FORMATS

    p = subparsers.add_parser("env", help="verify the integrity of a Python environment")
    sub = p.add_subparsers(dest="env_command", metavar="ACTION")
    sub.required = True
    v = sub.add_parser("verify", help="check every installed file against its RECORD; find startup hooks and stale .pyc")
    v.add_argument("--python", metavar="PATH", help="the interpreter whose environment to check (default: this one)")
    v.add_argument("--format", "-f", choices=FORMATS, default="text", help="report format (default: text)")
    v.add_argument(
        "--fail-on", choices=[s.label for s in Severity], default="medium", help="exit 1 at this severity (default: medium)"
    )
    v.add_argument("--jobs", "-j", type=int, default=8, metavar="N", help="hashing threads (default: 8)")
    v.add_argument("--no-bytecode", action="store_true", help="skip the .pyc header checks")
    v.set_defaults(handler=run_env_verify)


def run_env_verify(args: argparse.Namespace, console: Console) -> int:
    from .cli import _write, exit_code
    from .integrity.environment import verify_environment
    from .render import render

    result = verify_environment(python=args.python, jobs=max(1, args.jobs), check_bytecode=not args.no_bytecode)
    _write(console.out, render(result.report, args.format, base=os.getcwd()))
    _write(console.err, f"checked {result.files_checked} files of {result.distributions} distributions in {result.seconds:.1f}s\n")
    return exit_code(result.report, Severity.parse(args.fail_on))


def register_convert(subparsers: Subparsers) -> None:
    """``trojanguard convert``: torch checkpoint / .npz to safetensors, sklearn pickle to skops, without unpickling."""
    p = subparsers.add_parser("convert", help="convert a torch checkpoint or .npz to safetensors, an sklearn/joblib pickle "
                                              "to .skops (nothing is executed)")
    p.add_argument("source", metavar="MODEL", help="a torch .pt/.pth/.bin checkpoint (zip, legacy or legacy tar), a .npz, "
                                                   "or a scikit-learn pickle / joblib file")
    p.add_argument("--output", "-o", required=True, metavar="FILE",
                   help="the .safetensors file to write (.skops for a scikit-learn model)")
    p.set_defaults(handler=run_convert)


def run_convert(args: argparse.Namespace, console: Console) -> int:
    from .cli import _write
    from .convert import convert

    result = convert(args.source, args.output)
    line = f"wrote {result.output}: {result.tensors} tensors, {result.data_bytes} bytes, verified"
    if result.aliases:
        line += f"; {len(result.aliases)} tied tensor(s) stored as copies"
    _write(console.out, line + "\n")
    return 0
