"""Stand-in for ``trojanguard scan PATH --format json`` while the CLI does not exist yet.

Why: the benchmark must measure trojanguard the way a user runs it (a separate process,
its own start-up cost), and must not depend on the CLI landing first.  Once
``.venv/bin/trojanguard scan --format json`` works, ``bench/peers.py`` uses it instead.
The JSON written here follows the documented schema (findings[].path/severity, errors[],
scanned[]).
"""

from __future__ import annotations

import argparse
import json
import sys

from trojanguard.scanner import scan


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    report = scan(args.paths, jobs=args.jobs)
    out = {
        "schema_version": "bench-fallback",
        "findings": [
            {
                "path": f.location.path,
                "member": f.location.member,
                "rule_id": f.rule.id,
                "severity": f.severity.label,
                "message": f.message,
            }
            for f in report.findings
        ],
        "errors": [
            {"path": e.location.path, "member": e.location.member, "kind": e.kind, "message": e.message}
            for e in report.errors
        ],
        "scanned": [{"path": s.location.path, "format": s.format, "verdict": s.verdict.value} for s in report.scanned],
    }
    json.dump(out, sys.stdout)
    return 1 if report.failed(report.worst or 0) and report.findings else 0  # type: ignore[arg-type]


if __name__ == "__main__":
    raise SystemExit(main())
