"""PyTorch checkpoint fixtures built WITHOUT torch: byte-level imitations of ``torch.save``.

Why: torch is an optional, heavy dependency, and attacks live in the bytes (a payload in
``data.pkl``, a second ``data.pkl``, TorchScript code calling ``os.system``), so the tests
assemble the layouts themselves:

* ``state_dict_pickle`` - the pickle ``torch.save`` writes for a state dict: tensors are
  ``torch._utils._rebuild_tensor_v2`` calls whose storages are persistent ids
  ``('storage', torch.FloatStorage, key, 'cpu', numel)``;
* ``torch_zip`` - the zip layout (``archive/data.pkl``, ``archive/data/<key>``,
  ``archive/version``, ``archive/byteorder``, ``archive/.data/serialization_id``), stored
  members, written by a tiny zip writer that can also write duplicates and sparse storages
  (a 2 GB checkpoint costs no disk blocks);
* ``torchscript_zip`` - the same plus ``code/__torch__/*.py`` and ``constants.pkl``;
* ``legacy_file`` - the non-zip format: five pickles back to back, then per storage an
  8-byte element count and the raw bytes.

Nothing here loads a pickle.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Union

from builders.pickles import PickleBuilder

ITEMSIZE = {"FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8, "ByteStorage": 1, "DoubleStorage": 8}

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class Tensor:
    """One tensor of a state dict: ``numel`` elements of ``storage`` in storage ``key``."""

    name: str
    key: str
    numel: int
    storage: str = "FloatStorage"

    @property
    def nbytes(self) -> int:
        return self.numel * ITEMSIZE[self.storage]


def tensors(n: int, numel: int = 6, storage: str = "FloatStorage") -> list[Tensor]:
    return [Tensor(f"layer{i}.weight", str(i), numel, storage) for i in range(n)]


Payload = tuple[str, str, str]
"""``(module, name, argument)``: a call the pickle makes on load."""


def _payload(p: PickleBuilder, payload: Payload) -> None:
    p.global_(payload[0], payload[1]).value(payload[2]).tuple1().reduce()


def state_dict_pickle(items: Sequence[Tensor], *, payload: Payload | None = None, legacy: bool = False) -> bytes:
    """The protocol-2 pickle ``torch.save`` writes for ``OrderedDict(name -> tensor)``."""
    p = PickleBuilder(2).proto()
    p.global_("collections", "OrderedDict").empty_tuple().reduce()
    p.mark()
    for t in items:
        p.value(t.name)
        p.global_("torch._utils", "_rebuild_tensor_v2")
        p.mark()
        p.mark().value("storage").global_("torch", t.storage).value(t.key).value("cpu").value(t.numel)
        if legacy:
            p.none()
        p.tuple_().binpersid()
        p.value(0).args(t.numel).args(1).newfalse()
        p.global_("collections", "OrderedDict").empty_tuple().reduce()
        p.tuple_().reduce()
    if payload is not None:
        p.value("__payload__")
        _payload(p, payload)
    p.setitems().stop()
    return p.bytes()


def payload_pickle(payload: Payload) -> bytes:
    p = PickleBuilder(2).proto()
    _payload(p, payload)
    return p.stop().bytes()


# --------------------------------------------------------------------------- zip writer

Data = Union[bytes, int]
"""Member content: the bytes, or an int = that many zero bytes written sparsely."""


def _zero_crc(size: int) -> int:
    crc, chunk = 0, bytes(1 << 24)
    while size > 0:
        n = min(size, len(chunk))
        crc = zlib.crc32(chunk[:n] if n < len(chunk) else chunk, crc)
        size -= n
    return crc


def write_zip(out: BinaryIO, members: Sequence[tuple[str, Data]]) -> None:
    """A stored-only zip (duplicates allowed; int data written as a sparse hole)."""
    central = b""
    for name, data in members:
        raw = name.encode()
        size = data if isinstance(data, int) else len(data)
        crc = _zero_crc(data) if isinstance(data, int) else zlib.crc32(data)
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, size, size, len(raw), 0) + raw)
        if isinstance(data, int):
            out.seek(size, 1)
        else:
            out.write(data)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, size, size,
                               len(raw), 0, 0, 0, 0, 0, offset) + raw
    start = out.tell()
    out.write(central)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0))
    out.truncate()


def zip_bytes(members: Sequence[tuple[str, Data]]) -> bytes:
    import io

    buf = io.BytesIO()
    write_zip(buf, members)
    return buf.getvalue()


def torch_members(items: Sequence[Tensor], *, prefix: str = "archive", pickle: bytes | None = None,
                  sparse: bool = False, records: dict[str, bytes] | None = None,
                  extra: Sequence[tuple[str, Data]] = ()) -> list[tuple[str, Data]]:
    """The member list ``torch.save`` (2.x) writes, in its order."""
    base = f"{prefix}/" if prefix else ""
    recs = {"byteorder": b"little", "version": b"3\n", ".data/serialization_id": b"1234567890123456789012345678901234567890"}
    recs.update(records or {})
    members: list[tuple[str, Data]] = [(f"{base}data.pkl", pickle if pickle is not None else state_dict_pickle(items))]
    members.append((f"{base}byteorder", recs.pop("byteorder")))
    seen: set[str] = set()
    for t in items:
        if t.key not in seen:
            seen.add(t.key)
            members.append((f"{base}data/{t.key}", t.nbytes if sparse else bytes(t.nbytes)))
    members += [(f"{base}{k}", v) for k, v in recs.items()]
    members += [(f"{base}{k}" if not k.startswith("/") else k[1:], v) for k, v in extra]
    return members


def torch_zip(items: Sequence[Tensor] | None = None, **kwargs: object) -> bytes:
    return zip_bytes(torch_members(tensors(2) if items is None else items, **kwargs))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- TorchScript

BENIGN_CODE = '''class Net(Module):
  __parameters__ = ["weight", ]
  __buffers__ = []
  weight : Tensor
  training : bool
  def forward(self: __torch__.Net,
    input: Tensor) -> Tensor:
    _0 = __torch__.torch.nn.functional.relu(torch.matmul(input, self.weight), False, )
    _1 = ops.prim.device(_0)
    if torch.eq(torch.dim(_0), 2):
      ops.prim.RaiseException("bad", "builtins.ValueError")
    else:
      pass
    return torch.add(_0, CONSTANTS.c0)
'''

FUNCTIONAL_CODE = '''def relu(input: Tensor,
    inplace: bool=False) -> Tensor:
  if inplace:
    result = torch.relu_(input)
  else:
    result = torch.relu(input)
  return result
'''


def torchscript_zip(code: str = BENIGN_CODE, *, extra_code: dict[str, str] | None = None,
                    data_pickle: bytes | None = None, constants_pickle: bytes | None = None) -> bytes:
    """A TorchScript archive: ``code/__torch__.py`` defines class ``Net``."""
    p = PickleBuilder(2).proto().global_("__torch__", "Net").empty_tuple().newobj()
    p.empty_dict().value("training").newfalse().setitem().build().stop()
    members: list[tuple[str, Data]] = [
        ("archive/data.pkl", data_pickle if data_pickle is not None else p.bytes()),
        ("archive/code/__torch__.py", code.encode()),
        ("archive/code/__torch__/torch/nn/functional.py", FUNCTIONAL_CODE.encode()),
    ]
    for path, text in (extra_code or {}).items():
        members.append((f"archive/code/{path}", text.encode()))
    members += [
        ("archive/constants.pkl", constants_pickle if constants_pickle is not None
         else PickleBuilder(2).proto().empty_tuple().stop().bytes()),
        ("archive/version", b"3"),
        ("archive/byteorder", b"little"),
        ("archive/.data/serialization_id", b"0998480494732869699705955742556209573241"),
    ]
    return zip_bytes(members)


# --------------------------------------------------------------------------- legacy format


def legacy_sections(items: Sequence[Tensor], *, payload_in: int | None = None,
                    payload: Payload = ("os", "system", "echo pwned")) -> list[bytes]:
    """The five pickles of the legacy format; ``payload_in`` replaces one with a payload call."""
    magic = PickleBuilder(2).proto().long1(LEGACY_MAGIC).stop().bytes()
    protocol = PickleBuilder(2).proto().value(1001).stop().bytes()
    info = PickleBuilder(2).proto().empty_dict().mark()
    info.value("protocol_version").value(1001).value("little_endian").newtrue()
    info.value("type_sizes").empty_dict().mark().value("short").value(2).value("int").value(4)
    info.value("long").value(4).setitems().setitems().stop()
    main = state_dict_pickle(items, legacy=True)
    keys = PickleBuilder(2).proto().empty_list().mark()
    for t in items:
        keys.value(t.key)
    sections = [magic, protocol, info.bytes(), main, keys.appends().stop().bytes()]
    if payload_in is not None:
        at = len(magic) - 1 if payload_in == 0 else 2  # keep the magic prefix torch files are known by
        sections[payload_in] = inject(sections[payload_in], payload, at)
    return sections


def inject(section: bytes, payload: Payload, at: int = 2) -> bytes:
    """The same protocol-2 pickle with a payload call run (and POPped) at byte ``at``
    (after PROTO by default): the section still returns its original value, so torch
    would carry on loading."""
    p = PickleBuilder(2)
    _payload(p, payload)
    return section[:at] + p.pop().bytes() + section[at:]


def legacy_file(items: Sequence[Tensor] | None = None, *, payload_in: int | None = None,
                storage_fill: bytes = b"\x00", trailer: bytes = b"", numel_override: int | None = None) -> bytes:
    """A complete legacy checkpoint; ``storage_fill`` lets a test put pickle-looking bytes in storages."""
    items = tensors(2) if items is None else items
    out = b"".join(legacy_sections(items, payload_in=payload_in))
    for t in items:
        numel = t.numel if numel_override is None else numel_override
        out += struct.pack("<q", numel) + (storage_fill * t.nbytes)[: t.nbytes]
    return out + trailer


# --------------------------------------------------------------------------- legacy tar (torch < 0.4)


def _record(*values: object, storage_global: tuple[str, str] | None = None) -> bytes:
    p = PickleBuilder(2).proto().mark()
    for v in values:
        p.value(v)
    if storage_global is not None:
        p.global_(*storage_global)
    return p.tuple_().stop().bytes()


def legacy_tar_members(items: Sequence[Tensor] | None = None, *, payload_in: str | None = None,
                       payload: Payload = ("os", "system", "echo pwned")) -> dict[str, bytes]:
    """The four members of a torch < 0.4 tar checkpoint; ``payload_in`` names the member
    whose *last* pickle gets a payload (for storages/tensors: a record after raw bytes)."""
    items = tensors(2) if items is None else items
    count = lambda n: PickleBuilder(2).proto().value(n).stop().bytes()  # noqa: E731
    storages = count(len(items))
    tensors_ = count(len(items))
    for i, t in enumerate(items):
        rec = _record(t.key, "cpu", storage_global=("torch", t.storage))
        if payload_in == "storages" and i == len(items) - 1:
            rec = inject(rec, payload)
        storages += rec + struct.pack("<q", t.numel) + bytes(t.nbytes)
        rec = _record(100 + i, t.key, storage_global=("torch", "FloatTensor"))  # torch keyed tensors by id(): an int
        if payload_in == "tensors" and i == len(items) - 1:
            rec = inject(rec, payload)
        tensors_ += rec + struct.pack("<ii", 1, 0) + struct.pack("<qqq", t.numel, 1, 0)
    storages += PickleBuilder(2).proto().empty_list().stop().bytes()
    main = PickleBuilder(2).proto().empty_dict().mark()
    for i, t in enumerate(items):
        main.value(t.name).binunicode(str(100 + i)).binpersid()  # looked up as int(saved_id)
    members = {
        "sys_info": legacy_sections(items)[2],
        "pickle": main.setitems().stop().bytes(),
        "storages": storages,
        "tensors": tensors_,
    }
    if payload_in in ("sys_info", "pickle"):
        members[payload_in] = inject(members[payload_in], payload)
    return members


def legacy_tar(items: Sequence[Tensor] | None = None, **kwargs: object) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in legacy_tar_members(items, **kwargs).items():  # type: ignore[arg-type]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
