"""The parallel manifest equals hashlib's and model_signing's digests, file and shard mode."""

from __future__ import annotations

import hashlib
import mmap
import os
from pathlib import Path

import pytest

from trojanguard.errors import InputError
from trojanguard.integrity.digest import hash_file, hash_manifest, list_files
from trojanguard.integrity.manifest import diff, parse_statement


def make_tree(root: Path) -> Path:
    (root / "a" / "b").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: x")
    (root / "empty").write_bytes(b"")
    (root / "small.txt").write_text("hello\n")
    (root / "a" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (root / "a" / "b" / "c.json").write_text("{}")
    return root


def test_file_manifest_matches_hashlib(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    m = hash_manifest(str(root), chunk_size=1 << 20, workers=3)
    names = [r.name for r in m.resources]
    assert names == ["a/b/c.json", "a/big.bin", "empty", "small.txt"]  # .git ignored, sorted
    for r in m.resources:
        assert r.sha256 == hashlib.sha256((root / r.name).read_bytes()).hexdigest()
    assert m.total_bytes == sum((root / n).stat().st_size for n in names)
    assert hash_file(str(root / "a" / "big.bin")) == m.digests()["a/big.bin"]


def test_shard_manifest_matches_model_signing(tmp_path: Path) -> None:
    pytest.importorskip("model_signing")
    from model_signing import hashing

    root = make_tree(tmp_path)
    shard = 1 << 20
    ours = hash_manifest(str(root), shard_size=shard, chunk_size=300_000).digests()
    theirs = hashing.Config().use_shard_serialization(shard_size=shard).hash(root)
    assert ours == {str(rd.identifier): rd.digest.digest_hex for rd in theirs.resource_descriptors()}
    files = hashing.Config().use_file_serialization().hash(root)
    assert hash_manifest(str(root)).digests() == {str(rd.identifier): rd.digest.digest_hex for rd in files.resource_descriptors()}


def test_symlink_and_fifo_rejected(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    os.symlink("/etc/passwd", root / "link")
    with pytest.raises(InputError, match="symbolic link"):
        list_files(str(root))
    assert "link" in {f.name for f in list_files(str(root), allow_symlinks=True)}
    os.unlink(root / "link")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "fifo")
        with pytest.raises(InputError, match="not a regular file"):
            hash_manifest(str(root))


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        hash_manifest(str(tmp_path / "missing"))


def test_diff_of_shards_names_files(tmp_path: Path) -> None:
    import json

    root = make_tree(tmp_path)
    before = hash_manifest(str(root), shard_size=1 << 20)
    statement = {
        "predicate": {
            "serialization": {"method": "shards", "hash_type": "sha256", "shard_size": float(1 << 20), "allow_symlinks": False},
            "resources": [{"name": r.name, "digest": r.sha256, "algorithm": "x"} for r in before.resources],
        }
    }
    signed = parse_statement(json.dumps(statement).encode())
    with open(root / "a" / "big.bin", "ab") as fh:
        fh.write(b"more")
    (root / "small.txt").unlink()
    files = list_files(str(root))
    changes = diff(signed, hash_manifest(str(root), shard_size=signed.shard_size, files=files), frozenset(f.name for f in files))
    assert changes.modified == ("a/big.bin",)
    assert changes.removed == ("small.txt",)
    assert changes.added == ("empty",)  # empty files have no shard: never silently covered


def test_mapped_windows_unaligned_shards_and_read_fallback_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small mmap windows (many per file), a shard size that cannot be mapped (not page-aligned) and
    a file system that refuses mappings all give hashlib's digests."""
    from trojanguard.integrity import digest

    root = make_tree(tmp_path)
    data = (root / "a" / "big.bin").read_bytes()
    monkeypatch.setattr(digest, "MMAP_WINDOW", 1 << 16)
    assert hash_file(str(root / "a" / "big.bin")) == hashlib.sha256(data).hexdigest()
    odd = 1_000_003  # not a multiple of the allocation granularity: shards 2.. are read, not mapped
    shards = hash_manifest(str(root), shard_size=odd).digests()
    for start in range(0, len(data), odd):
        end = min(start + odd, len(data))
        assert shards[f"a/big.bin:{start}:{end}"] == hashlib.sha256(data[start:end]).hexdigest()

    def refuse(*_a: object, **_k: object) -> object:
        raise OSError("mmap not supported here")

    monkeypatch.setattr(mmap, "mmap", refuse)
    assert hash_file(str(root / "a" / "big.bin"), chunk_size=70_000) == hashlib.sha256(data).hexdigest()


def test_file_truncated_between_windows_is_an_error_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trojanguard.integrity import digest

    path = tmp_path / "w.bin"
    path.write_bytes(os.urandom(4 << 16))
    monkeypatch.setattr(digest, "MMAP_WINDOW", 1 << 16)
    real_mmap = mmap.mmap
    calls = []

    def map_then_truncate(fd: int, n: int, **kw: object) -> object:
        window = real_mmap(fd, n, **kw)  # type: ignore[arg-type]
        calls.append(n)
        if len(calls) == 2:  # another process truncates the file after the second window
            os.truncate(path, (3 << 16) - 100)  # window 2 stays whole: no SIGBUS
        return window

    monkeypatch.setattr(mmap, "mmap", map_then_truncate)
    with pytest.raises(InputError, match="shrank while hashing"):
        hash_file(str(path))
