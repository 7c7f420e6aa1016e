"""Hostile (and benign) archives built in memory, struct by struct.

Why: ``zipfile``/``tarfile`` only write well-formed archives.  The attacks live in the
places where readers disagree -- a CRC that lies, a local name that differs from the
central one, a member missing from the central directory, duplicate names, data before
the first entry, overlapping entries -- so the zip writer here builds each header field by
hand.  Nothing in this module ever loads or extracts what it builds.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zlib
from dataclasses import dataclass

#: The classic protocol-0 pickle that runs ``os.system('id')`` when loaded (never loaded here).
PAYLOAD = b"cos\nsystem\n(S'id'\ntR."

STORED, DEFLATED, BZIP2 = 0, 8, 12


@dataclass
class ZipMember:
    """One zip entry and every field an attacker may make lie."""

    name: str
    data: bytes
    method: int = STORED
    crc: int | None = None  # None: the true CRC
    local_name: str | None = None  # None: same as name
    flags: int = 0
    local_flags: int | None = None
    in_central: bool = True


def _compress(data: bytes, method: int) -> bytes:
    if method == DEFLATED:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush()
    if method == BZIP2:
        return bz2.compress(data)
    return data


def build_zip(members: list[ZipMember], *, prefix: bytes = b"", suffix: bytes = b"", fix_offsets: bool = True,
              zip64: bool = False) -> bytes:
    """A zip whose headers say exactly what ``members`` say (true or not)."""
    out = io.BytesIO()
    out.write(prefix)
    base = 0 if fix_offsets else len(prefix)
    central = io.BytesIO()
    count = 0
    for m in members:
        body = _compress(m.data, m.method)
        crc = zlib.crc32(m.data) if m.crc is None else m.crc
        lname = (m.local_name if m.local_name is not None else m.name).encode()
        offset = out.tell() - base
        lflags = m.flags if m.local_flags is None else m.local_flags
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, lflags, m.method, 0, 0x21, crc, len(body), len(m.data), len(lname), 0))
        out.write(lname + body)
        if not m.in_central:
            continue
        cname = m.name.encode()
        central.write(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, m.flags, m.method, 0, 0x21, crc, len(body),
                                  len(m.data), len(cname), 0, 0, 0, 0, 0, offset))
        central.write(cname)
        count += 1
    cd_offset = out.tell() - base
    cd = central.getvalue()
    out.write(cd)
    if zip64:
        rec_offset = out.tell() - base
        out.write(struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(cd), cd_offset))
        out.write(struct.pack("<4sIQI", b"PK\x06\x07", 0, rec_offset, 1))
        out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    else:
        out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(cd), cd_offset, 0))
    out.write(suffix)
    return out.getvalue()


def benign_zip() -> bytes:
    return build_zip([
        ZipMember("README.txt", b"hello\n" * 50, DEFLATED),
        ZipMember("config.json", b'{"hidden_size": 16}', STORED),
        ZipMember("notes/more.txt", b"plain text", BZIP2),
    ])


#: A pickle member name that does not make the zip look like a torch checkpoint (the
#: torch analyzer owns those layouts); ``archive/data.pkl`` is used where torch matters.
PKL_NAME = "model/weights.pkl"


def crc_mismatch_zip(name: str = PKL_NAME) -> bytes:
    return build_zip([ZipMember(name, PAYLOAD, DEFLATED, crc=0xDEADBEEF)])


def duplicate_zip(name: str = PKL_NAME) -> bytes:
    """torch reads the first data.pkl (the payload); a by-name reader sees the benign last one."""
    return build_zip([
        ZipMember(name, PAYLOAD),
        ZipMember(name, b"\x80\x02}q\x00."),
    ])


def name_mismatch_zip() -> bytes:
    return build_zip([ZipMember("archive/notes.txt", PAYLOAD, local_name="archive/data.pkl")])


def hidden_entry_zip() -> bytes:
    return build_zip([
        ZipMember("archive/version", b"3\n"),
        ZipMember("archive/evil.pkl", PAYLOAD, in_central=False),
        ZipMember("archive/readme.txt", b"nothing to see"),
    ])


def prefix_zip(prefix: bytes = PAYLOAD, *, fix_offsets: bool = True) -> bytes:
    return build_zip([ZipMember("readme.txt", b"plain")], prefix=prefix, fix_offsets=fix_offsets)


def corrupted_first_header_zip() -> bytes:
    data = bytearray(build_zip([ZipMember(PKL_NAME, PAYLOAD), ZipMember("b.txt", b"x")]))
    data[0:4] = b"XX\x03\x04"
    return bytes(data)


def fake_encrypted_zip() -> bytes:
    """The encryption bit is set but the data is plain: zipfile refuses it, a raw reader does not."""
    return build_zip([ZipMember(PKL_NAME, PAYLOAD, DEFLATED, flags=0x0001)])


def encrypted_zip() -> bytes:
    return build_zip([ZipMember("secret.bin", bytes(range(200)), STORED, crc=0x12345678, flags=0x0001)])


def odd_flags_zip() -> bytes:
    return build_zip([ZipMember("a.txt", b"abc", STORED, flags=0x0008 | 0x2000)])


def overlapping_zip(count: int = 2, size: int = 1000) -> bytes:
    """``count`` central entries pointing at one local header and its data (an overlap bomb
    when ``size`` is large: the same compressed kernel is counted ``count`` times)."""
    single = build_zip([ZipMember("m0.bin", b"\x00" * size, DEFLATED)])
    cd_start = single.index(b"PK\x01\x02")
    eocd_start = single.index(b"PK\x05\x06")
    entry = single[cd_start:eocd_start]
    cd = b"".join(entry.replace(b"m0.bin", f"m{i}.bin".encode()[:6].ljust(6, b"_")) for i in range(count))
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(cd), cd_start, 0)
    return single[:cd_start] + cd + eocd


def zip_bomb(size: int = 8 << 20, members: int = 1) -> bytes:
    return build_zip([ZipMember(f"zeros{i}.bin", b"\x00" * size, DEFLATED) for i in range(members)])


def many_entries_zip(n: int = 10_001) -> bytes:
    return build_zip([ZipMember(f"f{i}.txt", b"") for i in range(n)])


def truncated_zip() -> bytes:
    data = build_zip([ZipMember(PKL_NAME, PAYLOAD, DEFLATED), ZipMember("b.txt", b"x" * 100, DEFLATED)])
    return data[: data.index(b"PK\x01\x02") - 20]


# --------------------------------------------------------------------------- tar


def build_tar(files: dict[str, bytes] | list[tuple[str, bytes]], *, links: dict[str, tuple[bytes, str]] | None = None,
              fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    """A tar of regular ``files`` plus ``links`` name -> (tar type, target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        for name, data in (files.items() if isinstance(files, dict) else files):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            tf.addfile(info)
    return out.getvalue()


def torch_legacy_tar() -> bytes:
    """PyTorch's legacy tar layout with the payload in the 'pickle' member."""
    return build_tar({"sys_info": b"\x80\x02}q\x00.", "pickle": PAYLOAD, "storages": b"\x80\x02K\x00.",
                      "tensors": b"\x80\x02K\x00."})


def traversal_tar() -> bytes:
    return build_tar(
        {"../../etc/cron.d/evil": b"* * * * * root id\n", "/abs/path.txt": b"x", "ok.txt": b"fine"},
        links={"link": (tarfile.SYMTYPE, "/etc/passwd"), "hard": (tarfile.LNKTYPE, "ok.txt")},
    )


# --------------------------------------------------------------------------- compressed streams


def compress(data: bytes, kind: str) -> bytes:
    """``kind`` in gzip, bzip2, xz, lzma, zstd, lz4."""
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "bzip2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ)
    if kind == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE)
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    if kind == "lz4":
        import lz4.frame

        return lz4.frame.compress(data)
    raise ValueError(kind)


def multi_member_gzip(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(p, mtime=0) for p in parts)


def nested_zip_in_tar_in_gzip() -> bytes:
    inner = build_zip([ZipMember(PKL_NAME, PAYLOAD, DEFLATED)])
    return gzip.compress(build_tar({"bundle/model.zip": inner}), mtime=0)


# --------------------------------------------------------------------------- 7z


def build_7z(files: dict[str, bytes], password: str | None = None, header_encryption: bool = False) -> bytes:
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", password=password, header_encryption=header_encryption) as archive:
        for name, data in files.items():
            archive.writestr(data, name)
    return out.getvalue()
