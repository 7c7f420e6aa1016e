"""safetensors fixtures: real files from the ``safetensors`` library and hand-built hostile headers."""

from __future__ import annotations

import json
import struct

import numpy as np
from safetensors.numpy import save


def real_file(metadata: dict[str, str] | None = None) -> bytes:
    """A valid file written by the reference implementation."""
    tensors = {
        "embed.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
        "bias": np.zeros(5, dtype=np.float16),
        "ids": np.arange(3, dtype=np.int64),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    return save(tensors, metadata=metadata)


def raw(header_text: str | bytes, data: bytes = b"", length: int | None = None) -> bytes:
    """A file with exactly this header text (no validation) and data section."""
    blob = header_text.encode() if isinstance(header_text, str) else header_text
    n = len(blob) if length is None else length
    return struct.pack("<Q", n) + blob + data


def hand_built(entries: dict[str, object], data: bytes, metadata: object = None) -> bytes:
    header: dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    header.update(entries)
    return raw(json.dumps(header), data)


def tensor(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, object]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}
