"""NumPy fixtures: real ``.npy``/``.npz`` files from numpy and hand-built hostile headers.

Why: attacks live in the header (a dict literal numpy parses) and in what follows it (a
pickle for object arrays, appended bytes), so tests need both numpy's own output and raw
control over every byte.  Object arrays are *saved* from trusted test objects; nothing
here loads a pickle.
"""

from __future__ import annotations

import io
import struct

import numpy as np

MAGIC = b"\x93NUMPY"


def npy(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    """``numpy.save`` output for a trusted array (object arrays pickled by numpy itself)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version, allow_pickle=True)
    return buf.getvalue()


def npz(arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def raw_npy(header: str | bytes, data: bytes = b"", *, version: tuple[int, int] = (1, 0),
            length: int | None = None) -> bytes:
    """A .npy with exactly this header text (padded like numpy) and data; ``length`` may lie."""
    text = header.encode("latin-1") if isinstance(header, str) else header
    width = 2 if version[0] == 1 else 4
    pad = (-(len(MAGIC) + 2 + width + len(text) + 1)) % 64
    text = text + b" " * pad + b"\n"
    n = len(text) if length is None else length
    size = struct.pack("<H" if width == 2 else "<I", n)
    return MAGIC + bytes(version) + size + text + data


def header(descr: str, shape: tuple[int, ...], fortran: bool = False) -> str:
    return f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape!r}, }}"


def sparse_npy(path: str, numel: int, descr: str = "<f4", itemsize: int = 4) -> None:
    """A large float array written as a sparse file (costs no disk blocks)."""
    head = raw_npy(header(descr, (numel,)))
    with open(path, "wb") as out:
        out.write(head)
        out.truncate(len(head) + numel * itemsize)
