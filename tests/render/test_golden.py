"""Golden files: the JSON, SARIF and text renderings of a fixed Report, byte for byte.

A renderer change that alters output must update the golden files on purpose::

    TROJANGUARD_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/render/test_golden.py -p no:cacheprovider
    # or: .venv/bin/python tests/render/test_golden.py --update

then review the diff of tests/golden/ like any other code change.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ (for `builders`) when run as a script

from builders.reports import sample_report  # noqa: E402
from trojanguard.model import Report  # noqa: E402
from trojanguard.render.json import render_json  # noqa: E402
from trojanguard.render.sarif import render_sarif  # noqa: E402
from trojanguard.render.text import render_text  # noqa: E402

GOLDEN = Path(__file__).resolve().parent.parent / "golden"

RENDERERS: dict[str, Callable[[Report], str]] = {
    "report.json": render_json,
    "report.sarif": render_sarif,
    "report.txt": render_text,
}


def _update() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, renderer in RENDERERS.items():
        (GOLDEN / name).write_bytes(renderer(sample_report()).encode("utf-8"))


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_matches_golden_file(name: str) -> None:
    if os.environ.get("TROJANGUARD_UPDATE_GOLDEN") == "1":
        _update()
    expected = (GOLDEN / name).read_bytes()
    assert RENDERERS[name](sample_report()).encode("utf-8") == expected, (
        f"{name} differs from tests/golden/{name}; if intended, regenerate (see module docstring)"
    )


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_double_run_is_byte_identical(name: str) -> None:
    first = RENDERERS[name](sample_report())
    second = RENDERERS[name](sample_report())
    assert first.encode("utf-8") == second.encode("utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        _update()
        print(f"updated {', '.join(sorted(RENDERERS))} in {GOLDEN}")
    else:
        print("usage: python tests/render/test_golden.py --update", file=sys.stderr)
        raise SystemExit(2)
