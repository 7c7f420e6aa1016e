"""Superseded: the text, flips and feedback scenarios now run in ``run_all.py`` with every method side by side.

Kept so the command in older notes still works; it forwards to ``run_all.py`` (``--wheel`` and
``--only`` keep their meaning there, ``--only`` as substrings of scenario names).
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    print("bench/poison/run.py is superseded by bench/poison/run_all.py; forwarding", file=sys.stderr)
    runpy.run_path(str(Path(__file__).with_name("run_all.py")), run_name="__main__")
