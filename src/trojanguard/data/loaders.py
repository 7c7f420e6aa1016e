"""Read training/feedback data into columns without executing anything in it.

Every format a data set is shipped in ends up as a :class:`Dataset`: named 1-D columns
(numbers as ``float64``, anything else as ``object`` strings) plus, for image sets, an
``(n, h, w)`` grey-level array.  The readers are bounded: rows stop at ``max_rows``
(:class:`~trojanguard.errors.LimitExceeded`), CSV/JSONL are streamed line by line, Parquet and
Arrow by record batch, and ``.npz`` goes through ``numpy.load(allow_pickle=False)`` so an object
array is refused instead of unpickled.  Broken input (missing column, mixed types, empty data)
raises :class:`~trojanguard.errors.MalformedInput` or :class:`~trojanguard.errors.InputError`
with the column and row named, because the user has to fix the file, not read a traceback.
"""

from __future__ import annotations

import csv
import json
import os
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, LimitExceeded, MalformedInput

__all__ = ["DEFAULT_MAX_ROWS", "Dataset", "load_dataset", "load_image_files"]

DEFAULT_MAX_ROWS = 2_000_000
MAX_FIELD = 1 << 20  # one CSV/JSON field
MAX_COLUMNS = 4096  # distinct keys over a JSONL file: each new key costs a column as long as the file so far
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_NPZ_BYTES = 8 << 30  # declared uncompressed size of all .npz members (numpy inflates each member in memory)
MAX_NPZ_MEMBERS = 4096
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass
class Dataset:
    """Columns of one data set; ``images`` is set for image folders and image ``.npz`` arrays."""

    path: str
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    images: np.ndarray | None = None

    @property
    def rows(self) -> int:
        if self.images is not None:
            return int(self.images.shape[0])
        return int(next(iter(self.columns.values())).shape[0]) if self.columns else 0

    def column(self, name: str) -> np.ndarray:
        """The column ``name``; a clear error listing what exists when it is missing."""
        if name not in self.columns:
            have = ", ".join(sorted(self.columns)) or "none"
            raise InputError(f"{self.path}: no column {name!r} (columns: {have})")
        return self.columns[name]

    def numeric(self, name: str) -> np.ndarray:
        """Column ``name`` as float64, refusing text mixed into a numeric column."""
        col = self.column(name)
        if col.dtype.kind in "fiub":
            return col.astype(np.float64)
        values = np.empty(col.shape[0], dtype=np.float64)
        for i, item in enumerate(col):
            try:
                values[i] = float(item)
            except (TypeError, ValueError):
                raise MalformedInput(f"{self.path}: column {name!r} has mixed types: {str(item)[:40]!r} at row {i}") from None
        return values

    def text(self, name: str) -> list[str]:
        """Column ``name`` as strings (numbers are formatted, missing values become '')."""
        return ["" if v is None else str(v) for v in self.column(name)]

    def labels(self, name: str) -> np.ndarray:
        """Labels as strings so ``1``, ``1.0`` and ``"1"`` mean one class; refuses empty labels."""
        col = self.column(name)
        out = np.array([_label_text(v) for v in col], dtype=object)
        empty = np.flatnonzero(out == "")
        if empty.size:
            raise MalformedInput(f"{self.path}: column {name!r} has an empty label at row {int(empty[0])}")
        return out


def _label_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def load_dataset(path: str | os.PathLike[str], *, max_rows: int = DEFAULT_MAX_ROWS) -> Dataset:
    """Read ``path`` by its suffix or layout (directory: image classes or HF ``save_to_disk``)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    if p.is_dir():
        ds = _load_dir(p, max_rows)
    else:
        suffix = p.suffix.lower()
        reader = {".csv": _load_csv, ".tsv": _load_csv, ".jsonl": _load_jsonl, ".ndjson": _load_jsonl,
                  ".json": _load_jsonl, ".parquet": _load_parquet, ".pq": _load_parquet, ".npz": _load_npz,
                  ".arrow": _load_arrow_file}.get(suffix)
        if reader is None:
            raise InputError(f"{p}: unsupported data format {suffix or '(no suffix)'} (csv, jsonl, parquet, npz, arrow, image folder)")
        ds = reader(p, max_rows)
    if ds.rows == 0:
        raise MalformedInput(f"{p}: empty data set (no rows)")
    return ds


def _too_many(path: Path, max_rows: int) -> LimitExceeded:
    return LimitExceeded(f"{path}: more than {max_rows} rows", limit="max_rows")


def _columns_from_records(path: Path, records: Iterable[dict[str, Any]], max_rows: int) -> Dataset:
    """Collect dict rows into columns; a key missing in some rows becomes None there."""
    cols: dict[str, list[Any]] = {}
    n = 0
    for record in records:
        if n >= max_rows:
            raise _too_many(path, max_rows)
        new_keys = record.keys() - cols.keys()
        if len(cols) + len(new_keys) > MAX_COLUMNS:  # a key per line would cost rows x keys memory
            raise LimitExceeded(f"{path}: more than {MAX_COLUMNS} distinct columns (row {n})", limit="columns")
        for key in new_keys:
            cols[key] = [None] * n
        for key, values in cols.items():
            values.append(record.get(key))
        n += 1  # noqa: SIM113 - checked against max_rows before the row is kept
    return Dataset(str(path), {k: _infer(path, k, v) for k, v in cols.items()})


def _infer(path: Path, name: str, values: Sequence[Any]) -> np.ndarray:
    """float64 when every present value is a number (or a numeric string), else object strings."""
    kinds = {type(v) for v in values if v is not None and v != ""}
    if kinds & {dict, list}:
        if kinds - {dict, list}:
            raise MalformedInput(f"{path}: column {name!r} has mixed types ({', '.join(sorted(t.__name__ for t in kinds))})")
        return np.array([json.dumps(v, sort_keys=True) if v is not None else None for v in values], dtype=object)
    if kinds and kinds <= {int, float, bool}:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if kinds <= {str}:
        try:
            return np.array([np.nan if v in (None, "") else float(v) for v in values], dtype=np.float64)
        except ValueError:
            pass
    elif str in kinds and kinds & {int, float}:
        raise MalformedInput(f"{path}: column {name!r} has mixed types (numbers and strings)")
    return np.array([None if v is None else str(v) for v in values], dtype=object)


def _load_csv(path: Path, max_rows: int) -> Dataset:
    csv.field_size_limit(MAX_FIELD)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            if not header:
                raise MalformedInput(f"{path}: empty data set (no header)")
            if len(set(header)) != len(header):
                raise MalformedInput(f"{path}: duplicate column names in the header")
            return _columns_from_records(path, _csv_rows(path, header, reader), max_rows)
    except csv.Error as exc:
        raise MalformedInput(f"{path}: malformed CSV: {exc}") from None
    except UnicodeError as exc:  # pragma: no cover - errors="replace"
        raise MalformedInput(f"{path}: {exc}") from None


def _csv_rows(path: Path, header: list[str], reader: Iterator[list[str]]) -> Iterator[dict[str, Any]]:
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise MalformedInput(f"{path}: line {line} has {len(row)} fields, the header has {len(header)}")
        yield dict(zip(header, row, strict=True))


def _load_jsonl(path: Path, max_rows: int) -> Dataset:
    def records() -> Iterator[dict[str, Any]]:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                if len(line) > MAX_FIELD * 4:
                    raise LimitExceeded(f"{path}: line {number} longer than {MAX_FIELD * 4} characters", limit="line")
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    raise MalformedInput(f"{path}: line {number} is not JSON: {str(exc)[:80]}") from None
                if not isinstance(obj, dict):
                    raise MalformedInput(f"{path}: line {number} is a JSON {type(obj).__name__}, not an object")
                yield obj

    return _columns_from_records(path, records(), max_rows)


def _arrow_batches(path: Path, batches: Iterable[Any], max_rows: int) -> Dataset:
    """Record batches to columns, checking the row count before each batch is kept.

    Every batch is fully validated first: pyarrow's IPC reader trusts the offsets and lengths
    in the file, and a hostile batch then made ``to_pylist`` raise SystemError or read outside
    its buffers (a bus error that killed the process; found by tests/data/test_loader_fuzz.py).
    """
    records: dict[str, list[Any]] = {}
    n = 0
    for batch in batches:
        n += batch.num_rows
        if n > max_rows:
            raise _too_many(path, max_rows)
        batch.validate(full=True)
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            records.setdefault(name, []).extend(col.to_pylist())
    return Dataset(str(path), {k: _infer(path, k, v) for k, v in records.items()})


def _load_parquet(path: Path, max_rows: int) -> Dataset:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the extra is missing
        raise InputError("reading Parquet needs pyarrow: pip install 'trojanguard[data]'") from None
    try:
        pf = pq.ParquetFile(path)
        if pf.metadata.num_rows > max_rows:
            raise _too_many(path, max_rows)
        return _arrow_batches(path, pf.iter_batches(batch_size=65536), max_rows)
    except (OSError, ValueError, SystemError) as exc:  # pyarrow.ArrowInvalid derives from ValueError
        raise MalformedInput(f"{path}: malformed Parquet: {str(exc)[:120]}") from None


def _load_arrow_file(path: Path, max_rows: int) -> Dataset:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.ipc as ipc  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover
        raise InputError("reading Arrow needs pyarrow: pip install 'trojanguard[data]'") from None
    try:
        # Read, not memory-mapped: a mapping of a file that lies about its buffers (or is
        # truncated while it is read) faults with SIGBUS, which no Python code can catch.
        with pa.OSFile(str(path)) as source:
            try:
                reader: Any = ipc.open_stream(source)
                return _arrow_batches(path, reader, max_rows)
            except pa.ArrowInvalid:
                source.seek(0)
                f = ipc.open_file(source)
                return _arrow_batches(path, (f.get_batch(i) for i in range(f.num_record_batches)), max_rows)
    except (OSError, ValueError, pa.ArrowException, SystemError) as exc:  # SystemError: belt and braces behind validate()
        raise MalformedInput(f"{path}: malformed Arrow: {str(exc)[:120]}") from None


def _load_dir(path: Path, max_rows: int) -> Dataset:
    arrows = sorted(path.glob("*.arrow"))
    if arrows or (path / "dataset_info.json").exists() or (path / "state.json").exists():
        return _load_hf(path, arrows, max_rows)
    return _load_images(path, max_rows)


def _load_hf(path: Path, arrows: list[Path], max_rows: int) -> Dataset:
    """``datasets.save_to_disk`` layout: ``state.json`` names the ``data-*.arrow`` shards."""
    files = arrows
    state = path / "state.json"
    if state.exists():
        try:
            meta = json.loads(state.read_text(encoding="utf-8")[:MAX_FIELD])
            files = [path / str(f["filename"]) for f in meta.get("_data_files", [])] or arrows
        except (ValueError, TypeError, KeyError, AttributeError):
            raise MalformedInput(f"{path}/state.json: malformed") from None
    if not files:
        raise MalformedInput(f"{path}: a datasets directory without .arrow shards")
    merged: dict[str, list[np.ndarray]] = {}
    rows = 0
    for f in files:
        if not f.resolve().is_relative_to(path.resolve()) or not f.is_file():
            raise MalformedInput(f"{path}: shard {f.name} missing or outside the directory")
        part = _load_arrow_file(f, max_rows - rows)
        rows += part.rows
        for k, v in part.columns.items():
            merged.setdefault(k, []).append(v)
    cols = {k: np.concatenate(v) if len(v) > 1 else v[0] for k, v in merged.items()}
    if len({c.shape[0] for c in cols.values()}) > 1:
        raise MalformedInput(f"{path}: shards disagree on their columns")
    return Dataset(str(path), cols)


def _load_images(path: Path, max_rows: int) -> Dataset:
    """``class_name/xxx.png``: grey levels resized to the most common size, label = folder."""
    entries = [(c.name, f) for c in sorted(path.iterdir()) if c.is_dir() and not c.is_symlink()
               for f in sorted(c.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
    if not entries:
        raise MalformedInput(f"{path}: no class/xxx.png images and no .arrow shards")
    if len(entries) > max_rows:
        raise _too_many(path, max_rows)
    images = _decode_images([f for _, f in entries])
    cols = {"label": np.array([c for c, _ in entries], dtype=object),
            "file": np.array([str(f.relative_to(path)) for _, f in entries], dtype=object)}
    return Dataset(str(path), cols, images)


def _decode_images(files: Sequence[Path]) -> np.ndarray:
    """Grey levels of ``files`` stacked ``(n, h, w)``; other sizes are resized to the most common one."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        raise InputError("reading images needs pillow: pip install 'trojanguard[data]'") from None
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    pixels: list[np.ndarray] = []
    for f in files:
        try:
            with Image.open(f) as im:
                if im.width * im.height > MAX_IMAGE_PIXELS:
                    raise LimitExceeded(f"{f}: {im.width}x{im.height} image", limit="pixels")
                pixels.append(np.asarray(im.convert("L"), dtype=np.float64))
        # PIL reports broken files as OSError, ValueError, SyntaxError ("broken PNG file"), EOFError, struct.error
        except (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error, Image.DecompressionBombError) as exc:
            raise MalformedInput(f"{f}: unreadable image: {str(exc)[:80]}") from None
    shapes = [a.shape for a in pixels]
    common = max(set(shapes), key=shapes.count)
    if any(s != common for s in shapes):
        pixels = [a if a.shape == common else np.asarray(Image.fromarray(a.astype(np.uint8)).resize(common[::-1]), dtype=np.float64) for a in pixels]
    return np.stack(pixels)


def load_image_files(root: str | os.PathLike[str], names: Sequence[str], *, max_rows: int = DEFAULT_MAX_ROWS) -> np.ndarray:
    """Decode the images ``names`` (relative to ``root``, e.g. a CSV's file column) like an image folder.

    Security: the names come from the data file, so each must stay inside ``root``: absolute
    names, ``..`` components and symlinks that resolve outside ``root`` are refused
    (:class:`MalformedInput` naming the row), as are missing files.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"{base}: not a directory of images")
    if not names:
        raise MalformedInput(f"{base}: no image names")
    if len(names) > max_rows:
        raise _too_many(base, max_rows)
    top = base.resolve()
    files: list[Path] = []
    for i, name in enumerate(names):
        rel = Path(str(name))
        if not str(name) or rel.is_absolute() or rel.drive or ".." in rel.parts:
            raise MalformedInput(f"{base}: image name {str(name)[:80]!r} at row {i} must be a relative path inside the directory")
        target = base / rel
        try:
            inside = target.resolve().is_relative_to(top)
        except (OSError, RuntimeError, ValueError):  # symlink loop, NUL byte
            inside = False
        if not inside:
            raise MalformedInput(f"{base}: image {str(name)[:80]!r} at row {i} resolves outside the directory (symlink)")
        if not target.is_file():
            raise MalformedInput(f"{base}: image {str(name)[:80]!r} at row {i} is missing")
        files.append(target)
    return _decode_images(files)


def _load_npz(path: Path, max_rows: int) -> Dataset:
    """``numpy.load(allow_pickle=False)``: object arrays are refused, never unpickled.

    The zip directory is checked first: numpy inflates each member whole, so a small file
    declaring gigabytes (a decompression bomb) must be refused before it is read.
    """
    import zipfile
    import zlib

    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
        if len(infos) > MAX_NPZ_MEMBERS:
            raise LimitExceeded(f"{path}: {len(infos)} .npz members (limit {MAX_NPZ_MEMBERS})", limit="max_members")
        declared = sum(i.file_size for i in infos)
        if declared > MAX_NPZ_BYTES:
            raise LimitExceeded(f"{path}: .npz members declare {declared} bytes uncompressed (limit {MAX_NPZ_BYTES})",
                                limit="max_in_memory")
        with np.load(path, allow_pickle=False) as archive:  # noqa: TID251 - object arrays raise, never unpickled
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as exc:
        raise MalformedInput(f"{path}: refused .npz member ({str(exc)[:100]})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise MalformedInput(f"{path}: malformed .npz: {str(exc)[:100]}") from None
    if not arrays:
        raise MalformedInput(f"{path}: empty data set (no arrays)")
    lengths = {a.shape[0] if a.ndim else 0 for a in arrays.values()}
    if len(lengths) != 1:
        raise MalformedInput(f"{path}: arrays disagree on the number of rows ({sorted(lengths)})")
    if lengths.pop() > max_rows:
        raise _too_many(path, max_rows)
    ds = Dataset(str(path))
    for name, arr in arrays.items():
        if arr.ndim == 1:
            ds.columns[name] = arr.astype(np.float64) if arr.dtype.kind in "fiub" else arr.astype(str).astype(object)
        elif arr.ndim == 2:
            for j in range(arr.shape[1]):
                ds.columns[f"{name}{j}"] = arr[:, j].astype(np.float64)
        elif arr.ndim in (3, 4) and ds.images is None:
            ds.images = arr.astype(np.float64) if arr.ndim == 3 else arr.astype(np.float64).mean(axis=3)
        else:
            raise MalformedInput(f"{path}: array {name!r} has unsupported shape {arr.shape}")
    return ds
