"""Artifacts: something to analyse (a file or a container member) and how to read it.

An :class:`Artifact` never holds a whole file in memory.  It knows how to open a fresh
binary stream (``open()``), its size when known, its place (:class:`Location`) and how deep
it sits inside containers.  Containers hand members back to the scanner as new artifacts;
a member stored without compression is a *window* onto its parent stream (zero copy), a
compressed member is a decompressing stream whose output is charged to the scan's
:class:`Budget`, so a zip bomb stops at a limit instead of filling memory.

Security assumption: nothing in this module interprets the bytes it serves.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import BinaryIO, cast

from .errors import LimitExceeded
from .model import Location

HEAD_SIZE = 4096
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Resource limits for one top-level input; exceeding one is a finding, not a crash."""

    max_total_bytes: int = 16 << 30
    """Bytes produced by decompression across one top-level file (members stored
    without compression are windows and cost nothing)."""
    max_ratio: float = 250.0
    """Decompressed/compressed ratio of one member beyond which it is treated as a bomb
    (only enforced once a member has produced more than ``ratio_floor`` bytes)."""
    ratio_floor: int = 64 << 20
    max_depth: int = 10
    """Container nesting depth (a file on disk is depth 0)."""
    max_members: int = 100_000
    """Members one container may list before the rest are skipped."""
    max_member_size: int = 8 << 30
    """Declared or produced size of one member."""
    max_in_memory: int = 256 << 20
    """Largest blob an analyzer may read whole into memory (JSON headers, configs)."""
    max_pickle_ops: int = 50_000_000
    """Opcodes one pickle stream may execute symbolically."""


@dataclass
class Budget:
    """Mutable per-top-level-file counters shared by every stream of that file."""

    limits: Limits
    expanded: int = 0

    def charge(self, n: int, where: Location) -> None:
        self.expanded += n
        if self.expanded > self.limits.max_total_bytes:
            raise LimitExceeded(
                f"decompressed data exceeds {self.limits.max_total_bytes} bytes in total at {where}",
                limit="max_total_bytes",
            )


Opener = Callable[[], BinaryIO]


@dataclass
class Artifact:
    """One thing to analyse.

    ``name`` is the last path component (an extension *hint*, never trusted);
    ``fs_path`` is set when the artifact is a real file on disk (for libraries that need a
    path and for formats that refer to sibling files); ``size`` is None when unknown
    (a compressed stream without a declared size).
    """

    location: Location
    name: str
    opener: Opener
    size: int | None
    depth: int = 0
    fs_path: str | None = None
    hint: str | None = None
    """An optional format hint set by the container that produced the member
    (e.g. the torch analyzer marking ``data.pkl`` as a pickle)."""
    _head: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_path(cls, path: str, display: str | None = None) -> Artifact:
        size = os.stat(path).st_size
        return cls(
            location=Location(display or path),
            name=os.path.basename(path),
            opener=lambda: open(path, "rb"),  # noqa: SIM115 - the caller closes
            size=size,
            fs_path=path,
        )

    @classmethod
    def from_bytes(cls, data: bytes, location: Location, name: str, depth: int = 0) -> Artifact:
        return cls(location=location, name=name, opener=lambda: io.BytesIO(data), size=len(data), depth=depth)

    def member(
        self,
        name: str,
        opener: Opener,
        size: int | None,
        *,
        hint: str | None = None,
    ) -> Artifact:
        """A child artifact one container level deeper."""
        return Artifact(
            location=self.location.child(name),
            name=PurePosixPath(name.replace("\\", "/")).name or name,
            opener=opener,
            size=size,
            depth=self.depth + 1,
            hint=hint,
        )

    def window(self, name: str, start: int, length: int, *, hint: str | None = None) -> Artifact:
        """A child that is a byte range of this artifact (zero copy)."""
        parent = self.opener

        def opener() -> BinaryIO:
            return cast(BinaryIO, SliceReader(parent(), start, length))

        return self.member(name, opener, length, hint=hint)

    def open(self) -> BinaryIO:
        return self.opener()

    @property
    def extension(self) -> str:
        """Lower-case suffix chain hint, e.g. ``.pkl.gz`` -> ``.gz`` (last suffix only)."""
        return PurePosixPath(self.name).suffix.lower()

    def head(self, n: int = HEAD_SIZE) -> bytes:
        """The first ``n`` bytes (cached up to HEAD_SIZE)."""
        if self._head is None or (len(self._head) < n and n > HEAD_SIZE):
            with self.open() as stream:
                data = stream.read(max(n, HEAD_SIZE))
            self._head = data
        return self._head[:n]

    def read_all(self, limit: int) -> bytes:
        """The whole content, refusing (LimitExceeded) anything larger than ``limit``."""
        if self.size is not None and self.size > limit:
            raise LimitExceeded(
                f"{self.location} is {self.size} bytes; refusing to read more than {limit} into memory",
                limit="max_in_memory",
            )
        with self.open() as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise LimitExceeded(
                f"{self.location} is larger than {limit} bytes; refusing to read it into memory",
                limit="max_in_memory",
            )
        return data


class WrappedReader(io.RawIOBase):
    """A read-only stream over another one: subclasses write ``read``; this class supplies
    ``readable``, ``readinto`` (through ``read``) and ``close`` (which closes the inner stream)."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class SliceReader(WrappedReader):
    """A read-only seekable window ``[start, start+length)`` of another seekable stream."""

    def __init__(self, raw: BinaryIO, start: int, length: int) -> None:
        super().__init__(raw)
        self._start = start
        self._length = max(0, length)
        self._pos = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        else:
            pos = self._length + offset
        self._pos = max(0, pos)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        remaining = self._length - self._pos
        if size is None or size < 0 or size > remaining:
            size = max(0, remaining)
        if size == 0:
            return b""
        self._inner.seek(self._start + self._pos)
        data = self._inner.read(size)
        self._pos += len(data)
        return data


class BoundedReader(WrappedReader):
    """Wraps a decompressing stream and charges every produced byte to the budget.

    Raises LimitExceeded when the member grows beyond ``max_member_size``, when its
    expansion ratio is bomb-like, or when the file's total budget is spent.  Forward
    seeks are implemented by reading (decompressors cannot jump); backward seeks reopen.
    """

    def __init__(
        self,
        opener: Opener,
        budget: Budget,
        where: Location,
        compressed_size: int | None,
    ) -> None:
        super().__init__(opener())
        self._opener = opener
        self._budget = budget
        self._where = where
        self._compressed = compressed_size
        self._pos = 0
        self._high = 0  # bytes already charged (re-reads after a rewind are free)

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def _account(self, n: int) -> None:
        self._pos += n
        if self._pos <= self._high:
            return
        new = self._pos - self._high
        self._high = self._pos
        limits = self._budget.limits
        if self._high > limits.max_member_size:
            raise LimitExceeded(
                f"{self._where} decompresses to more than {limits.max_member_size} bytes",
                limit="max_member_size",
            )
        if (
            self._compressed is not None
            and self._high > limits.ratio_floor
            and self._high > limits.max_ratio * max(1, self._compressed)
        ):
            raise LimitExceeded(
                f"{self._where} expands more than {limits.max_ratio:g}x ({self._compressed} bytes compressed)",
                limit="max_ratio",
            )
        self._budget.charge(new, self._where)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts: list[bytes] = []
            while True:
                chunk = self.read(_CHUNK)
                if not chunk:
                    return b"".join(parts)
                parts.append(chunk)
        data = self._inner.read(size)
        self._account(len(data))
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_SET:
            target = offset
        else:
            # size unknown without decompressing everything: read to the end
            while self.read(_CHUNK):
                pass
            target = self._pos + offset
        target = max(0, target)
        if target < self._pos:
            self._inner.close()
            self._inner = self._opener()
            self._pos = 0
        while self._pos < target:
            if not self.read(min(_CHUNK, target - self._pos)):
                break
        return self._pos
