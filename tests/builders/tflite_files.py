"""Write minimal TFLite flatbuffers by hand (Model.version + Model.operator_codes + a fake buffer).

Layout: root offset, ``TFL3`` identifier, the Model vtable and table, the operator_codes
vector, each OperatorCode's vtable+table, the custom_code strings, then ``weight_bytes`` of
padding that stands for weights (the analyzer must never read it).
"""

from __future__ import annotations

import struct

CUSTOM = 32


class _Buf:
    def __init__(self) -> None:
        self.data = bytearray()

    def align(self) -> None:
        while len(self.data) % 4:
            self.data.append(0)

    def put(self, fmt: str, *values: int) -> int:
        pos = len(self.data)
        self.data += struct.pack(fmt, *values)
        return pos

    def patch_uoffset(self, at: int, target: int) -> None:
        self.data[at:at + 4] = struct.pack("<I", target - at)


def tflite_model(ops: list[tuple[int, str | None]], weight_bytes: int = 0) -> bytes:
    """A model whose operator_codes are ``(builtin_code, custom_code)`` pairs."""
    b = _Buf()
    root_at = b.put("<I", 0)
    b.data += b"TFL3"
    model_vt = b.put("<HHHH", 8, 12, 4, 8)
    b.align()
    model = b.put("<i", 0)
    b.data[model:model + 4] = struct.pack("<i", model - model_vt)
    b.put("<I", 3)  # version
    codes_field = b.put("<I", 0)
    b.patch_uoffset(root_at, model)
    b.align()
    vec = b.put("<I", len(ops))
    b.patch_uoffset(codes_field, vec)
    slots = [b.put("<I", 0) for _ in ops]
    strings: list[tuple[int, str]] = []
    for slot, (builtin, custom) in zip(slots, ops, strict=True):
        vt = b.put("<HHHHHH", 12, 20, 16, 12 if custom is not None else 0, 4, 8)
        b.align()
        table = b.put("<i", 0)
        b.data[table:table + 4] = struct.pack("<i", table - vt)
        b.put("<iiI", 1, builtin, 0)  # version, builtin_code, custom_code offset (patched)
        b.put("<b3x", min(builtin, 127))  # deprecated_builtin_code
        b.patch_uoffset(slot, table)
        if custom is not None:
            strings.append((table + 12, custom))
    for at, text in strings:
        b.align()
        pos = b.put("<I", len(text))
        b.data += text.encode() + b"\x00"
        b.patch_uoffset(at, pos)
    b.align()
    b.data += b"\x00" * weight_bytes
    return bytes(b.data)
