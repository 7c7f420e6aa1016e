"""Red-team payloads in realistic carriers (generated; nothing here is ever loaded).

Each function returns the bytes of one file an attacker could publish; the regression
tests in ``tests/regressions/test_redteam_*.py`` scan them through the full scanner.
"""

from __future__ import annotations

from builders import archives
from builders.pickles import PickleBuilder

__all__ = ["compressed_then_junk", "headerless_modern_pickle", "system_call"]

CMD = "id > /tmp/trojanguard-canary"


def system_call(protocol: int = 4, *, header: bool = True) -> bytes:
    """``os.system(CMD)`` with STACK_GLOBAL; ``header=False`` drops the PROTO opcode."""
    p = PickleBuilder(protocol)
    if header:
        p.proto()
    p.short_binunicode("os").short_binunicode("system").stack_global_op()
    return p.short_binunicode(CMD).tuple1().reduce().stop().bytes()


def headerless_modern_pickle(first: bytes = b"") -> bytes:
    """Protocol 2-5 opcodes without ``\\x80 PROTO``: CPython runs them all the same.

    ``first`` is prepended (e.g. ``b"\\x88" + POP`` or a FRAME header) to vary the first
    opcode a sniffer sees.
    """
    return first + system_call(header=False)


def framed_headerless() -> bytes:
    """A FRAME opcode first, no PROTO."""
    return PickleBuilder(4).framed(system_call(header=False)).bytes()


def compressed_then_junk(kind: str, junk: bytes = b"JUNKJUNK") -> bytes:
    """A compressed payload followed by junk: the loader runs the payload before it
    reaches the junk, while the decompressor library raises on the whole read."""
    return archives.compress(system_call(), kind) + junk


def truncated_gzip_payload() -> bytes:
    """A gzip stream cut inside its deflate data, after the payload's bytes."""
    data = archives.compress(system_call() + bytes(5000), "gzip")
    return data[:-20]
