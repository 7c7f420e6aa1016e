"""Fixtures for safe conversion: torch-format checkpoints with views, ties and many dtypes.

Why: tests/builders/torchfiles.py imitates ``torch.save`` for contiguous float tensors;
conversion also has to get strided views, tied (memo-shared) tensors, shared storages,
bf16/fp16/int8/bool and nested containers right, and must do so without torch installed.
Everything is assembled opcode by opcode; nothing is ever loaded.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from builders.pickles import PickleBuilder
from builders.torchfiles import LEGACY_MAGIC, zip_bytes

ITEMSIZE = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "CharStorage": 1, "BoolStorage": 1,
            "LongStorage": 8, "DoubleStorage": 8, "IntStorage": 4, "ByteStorage": 1, "ShortStorage": 2}


@dataclass(frozen=True)
class View:
    """A named tensor: ``shape``/``stride``/``offset`` over storage ``key`` (``tie`` = same object as another name)."""

    name: str
    key: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int = 0
    storage: str = "FloatStorage"
    tie: str | None = None
    parameter: bool = False


def _tensor(p: PickleBuilder, v: View, numel: dict[str, int], legacy: bool) -> None:
    if v.parameter:
        p.global_("torch._utils", "_rebuild_parameter")
        p.mark()
    p.global_("torch._utils", "_rebuild_tensor_v2")
    p.mark()
    p.mark().value("storage").global_("torch", v.storage).value(v.key).value("cpu").value(numel[v.key])
    if legacy:
        p.none()
    p.tuple_().binpersid()
    p.value(v.offset)
    p.mark()
    for s in v.shape:
        p.value(s)
    p.tuple_()
    p.mark()
    for s in v.stride:
        p.value(s)
    p.tuple_()
    p.newfalse()
    p.global_("collections", "OrderedDict").empty_tuple().reduce()
    p.tuple_().reduce()
    if v.parameter:
        p.newtrue()
        p.global_("collections", "OrderedDict").empty_tuple().reduce()
        p.tuple_().reduce()


def state_pickle(views: Sequence[View], numel: dict[str, int], *, legacy: bool = False,
                 metadata: dict[str, object] | None = None) -> bytes:
    """``{"state_dict": OrderedDict(views), "meta": {...}}`` as torch.save would pickle it."""
    p = PickleBuilder(2).proto()
    p.empty_dict().mark()
    p.value("state_dict")
    p.global_("collections", "OrderedDict").empty_tuple().reduce()
    p.mark()
    memo: dict[str, int] = {}
    for v in views:
        p.value(v.name)
        if v.tie is not None:
            p.binget(memo[v.tie])
            continue
        _tensor(p, v, numel, legacy)
        memo[v.name] = len(memo)
        p.binput(memo[v.name])
    p.setitems()
    for key, value in (metadata or {}).items():
        p.value(key).value(value)
    p.setitems().stop()
    return p.bytes()


def torch_zip_with(views: Sequence[View], storages: dict[str, bytes], **meta: object) -> bytes:
    numel = {k: len(b) // _itemsize(views, k) for k, b in storages.items()}
    members: list[tuple[str, bytes | int]] = [("archive/data.pkl", state_pickle(views, numel, metadata=meta)),
                                              ("archive/byteorder", b"little")]
    members += [(f"archive/data/{k}", b) for k, b in storages.items()]
    members.append(("archive/version", b"3\n"))
    return zip_bytes(members)


def legacy_with(views: Sequence[View], storages: dict[str, bytes]) -> bytes:
    numel = {k: len(b) // _itemsize(views, k) for k, b in storages.items()}
    magic = PickleBuilder(2).proto().long1(LEGACY_MAGIC).stop().bytes()
    proto = PickleBuilder(2).proto().value(1001).stop().bytes()
    info = PickleBuilder(2).proto().empty_dict().stop().bytes()
    keys = PickleBuilder(2).proto().empty_list().mark()
    for k in storages:
        keys.value(k)
    out = magic + proto + info + state_pickle(views, numel, legacy=True) + keys.appends().stop().bytes()
    for k, b in storages.items():
        out += struct.pack("<q", numel[k]) + b
    return out


def _itemsize(views: Sequence[View], key: str) -> int:
    return next(ITEMSIZE[v.storage] for v in views if v.key == key)


def object_npy(payload: bytes) -> bytes:
    """A .npy whose dtype is object: the body is a pickle (``payload``)."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload
