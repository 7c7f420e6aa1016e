"""Fake site-packages trees with wheel-style RECORDs, for environment-integrity tests.

Why: checking the real interpreter's environment is slow and its content varies; these trees
are small, exact, and let a test tamper with one file at a time.  Nothing here is imported.
"""

from __future__ import annotations

import base64
import hashlib
import py_compile
from pathlib import Path


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def add_distribution(site: Path, name: str, files: dict[str, bytes], *, record: bool = True, version: str = "1.0") -> Path:
    """Install ``files`` (relative to ``site``) plus a ``<name>-<version>.dist-info`` with METADATA and RECORD."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    rows = []
    for rel, data in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows.append(f"{rel},{record_hash(data)},{len(data)}")
    rows.append(f"{info.name}/METADATA,,")
    if record:
        rows.append(f"{info.name}/RECORD,,")
        (info / "RECORD").write_text("\n".join(rows) + "\n")
    return info


def compile_pyc(source: Path) -> Path:
    """The timestamp-based pyc CPython would write for ``source`` (compiling is not running)."""
    return Path(py_compile.compile(str(source), doraise=True))


def site_tree(root: Path, packages: int = 3) -> Path:
    site = root / "lib" / "python3.x" / "site-packages"
    site.mkdir(parents=True)
    for i in range(packages):
        add_distribution(site, f"pkg{i}", {f"pkg{i}/__init__.py": f"VALUE = {i}\n".encode(), f"pkg{i}/data.txt": b"x" * 100})
    return site
