"""Random access to the rows of a split expression, read batch-first from memory-mapped shards.

A `Dataset` maps its row numbers to stored rows (the concatenation of the shards of the splits involved) and
gathers each column of a batch in as few numpy calls as its storage allows, the same few however many shards
the batch touches:

- small fixed-shape columns (labels, ids: at most SMALL_COLUMN_BYTES over all shards): read into RAM once
  and gathered in one call;
- other fixed-shape columns of Arrow shards: one fancy index over every record batch of every shard at once
  (`JoinedColumn`, over zero-copy views of the mapped columns — never `pyarrow.Table.take` on chunked
  columns, two orders of magnitude slower), straight into a fresh array in the request's order;
- text, encoded images and sequences of numbers (token ids) of Arrow shards: the same for their offsets
  (`JoinedRagged`), then each row cut from its record batch's values;
- the rest (nested sequences, structs, audio; zarr and HDF5 shards, gathered by their readers in
  `dsreg.storage`): grouped by (shard, record batch) in one pass — one argsort of the stored row numbers
  makes each group a contiguous run, found with `searchsorted` — each run gathered into its slice of a
  reused buffer, then one scatter puts the rows back in the request's order.

A dataset of one shard of one record batch gathers every column from that batch directly. Shards are opened
on first use (the first batch of a dataset of several opens them all, to join or cache its columns), so
opening ten million rows costs what reading the manifest costs.

Mapped pages count toward the process's RSS, and one random row can map far more than itself (fault-around,
large page-cache folios: up to 2 MiB here). When the mapped shards are larger than `max_resident_bytes`, the
dataset watches the process's resident file-backed pages after each read (`/proc/self/statm`, Linux) and,
past that budget, drops its mapped pages (`madvise`; they stay in the page cache), so streaming a dataset many
times larger than RAM keeps RSS bounded.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Feature, Features
from dsreg.loading import arguments
from dsreg.loading.joined import JoinedColumn, JoinedRagged
from dsreg.loading.splits import parse_split
from dsreg.manifest import MANIFEST_NAME, Manifest, ShardInfo, read_manifest
from dsreg.roots import expand_path
from dsreg.storage import ShardReaderBase, get_format
from dsreg.urls import is_url, local_path

Batch = dict[str, np.ndarray]
_ITER_CHUNK = 1024
DEFAULT_MAX_RESIDENT = 512 << 20
SMALL_COLUMN_BYTES = 16 << 20
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _shared_resident() -> int | None:
    """Resident file-backed and shared bytes of this process (Linux), or None where that is not known."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[2]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


class RowIndexError(DsregError, IndexError):
    """A row number outside the dataset (an IndexError too, so ``for row in ds`` stops cleanly)."""


def _fixed_shape(feature: Feature) -> tuple[int, ...]:
    """The per-row shape of a fixed-shape feature; ``()`` for ragged ones (stored in object arrays)."""
    return tuple(int(d or 0) for d in feature.example_shape()) if feature.fixed_shape else ()


def _lengths(feature: Feature, column: pa.Array) -> np.ndarray:
    """Per-row lengths of a ragged column: elements of a sequence, characters of a text, bytes of a blob."""
    return feature.lengths(column)


class Dataset:
    """The rows of a split expression of a prepared dataset: ``len``, ``ds[i]``, ``ds[i:j]``, ``ds.take(idx)``."""

    def __init__(
        self,
        manifest: Manifest,
        split: str = "train",
        columns: Sequence[str] | Mapping[str, str] | None = None,
        *,
        max_resident_bytes: int | None = DEFAULT_MAX_RESIDENT,
    ):
        if not isinstance(split, str):
            raise DsregError(f"split must be a split expression (a string), got {split!r}", fix="e.g. split='train'")
        self.manifest = manifest
        self.max_resident_bytes = arguments.optional_integer("max_resident_bytes", max_resident_bytes, minimum=0)
        self.split = split
        all_names = manifest.features.names()
        # output name → stored column: a list selects columns, a mapping also renames them
        self.column_map = arguments.column_map(columns, all_names)
        self.column_names = list(self.column_map)
        unknown = [c for c in self.column_map.values() if c not in manifest.features]
        if unknown or not self.column_names:
            raise DsregError(
                f"{manifest.full_name} has no column(s) {unknown}" if unknown else "no columns selected",
                fix=f"columns are: {', '.join(all_names)}",
            )
        self.features = Features({out: manifest.features[c] for out, c in self.column_map.items()})
        segments = [s for s in parse_split(split, {n: s.rows for n, s in manifest.splits.items()}) if s.rows]
        base: dict[str, int] = {}
        self._shards: list[ShardInfo] = []
        self._formats: list[str] = []
        offsets = [0]
        for name in dict.fromkeys(s.split for s in segments):
            base[name] = offsets[-1]
            for shard in manifest.splits[name].shards:
                self._shards.append(shard)
                self._formats.append(manifest.splits[name].format)
                offsets.append(offsets[-1] + shard.rows)
        self._shard_offsets = np.asarray(offsets, dtype=np.int64)
        self._seg_start = np.asarray([base[s.split] + s.start for s in segments], dtype=np.int64)
        self._seg_rows = np.asarray([s.rows for s in segments], dtype=np.int64)
        self._seg_offsets = np.concatenate([[0], np.cumsum(self._seg_rows)]).astype(np.int64)
        self._readers: dict[int, ShardReaderBase] = {}
        self._views: dict[tuple[int, int, str], np.ndarray | None] = {}
        self._local = threading.local()
        self._small: dict[str, np.ndarray | None] = {}
        self._joins: dict[str, JoinedColumn | None] = {}
        self._ragged_joins: dict[str, JoinedRagged | None] = {}
        self._length_cache: dict[str, np.ndarray] = {}
        self._mapped_bytes = sum(s.bytes for s in self._shards)
        self._resident_base = _shared_resident()

    def __len__(self) -> int:
        return int(self._seg_offsets[-1])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.manifest.full_name}, split={self.split!r}, rows={len(self)}, columns={self.column_names})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_readers"] = {}  # memory maps do not pickle; worker processes reopen shards lazily
        state["_views"], state["_small"], state["_joins"], state["_ragged_joins"] = {}, {}, {}, {}
        del state["_local"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def __getitem__(self, key: int | np.integer | slice | Sequence[int] | np.ndarray) -> dict[str, Any]:
        if isinstance(key, (int, np.integer)):
            return {name: values[0] for name, values in self.take([int(key)]).items()}
        if isinstance(key, slice):
            return self.take(np.arange(*key.indices(len(self)), dtype=np.int64))
        return self.take(key)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for start in range(0, len(self), _ITER_CHUNK):
            stop = min(start + _ITER_CHUNK, len(self))
            batch = self.take(np.arange(start, stop, dtype=np.int64))
            for i in range(stop - start):
                yield {name: values[i] for name, values in batch.items()}

    def take(self, indices: Sequence[int] | np.ndarray) -> Batch:
        """The rows at `indices` (negative counts from the end) as a dict of column arrays, one gather per record batch.

        Fixed-shape columns come back as fresh ``(n, *shape)`` arrays of the feature's dtype; text and bytes as
        object arrays of str/bytes; sequences as object arrays of 1-D arrays (see `pad_sequences`).
        """
        idx = self._check(indices)
        self._bound_resident()
        stored = self._to_stored(idx)
        if self._one_record_batch():  # every row in the request's order from one view: the cheapest gather
            return {name: self._gather(0, 0, self.column_map[name], stored) for name in self.column_names}
        out: Batch = {}
        grouping: tuple[np.ndarray, list[tuple[int, int, int, int, np.ndarray]]] | None = None
        for name in self.column_names:
            column = self.column_map[name]
            small = self._small_column(column)
            if small is not None:  # one gather in the request's order, from RAM
                out[name] = np.take(small, stored, axis=0)
                continue
            joined = self._joined(column)
            if joined is not None:  # one gather in the request's order, from every mapped record batch at once
                out[name] = joined.take(stored)
                continue
            ragged = self._joined_ragged(column)
            if ragged is not None:  # the same for the offsets of text, bytes, token ids; then a cut per row
                out[name] = ragged.take(stored)
                continue
            if grouping is None:
                grouping = self._pieces(stored)
            out[name] = self._grouped_gather(name, idx.size, *grouping)
        return out

    def _grouped_gather(
        self, name: str, rows: int, order: np.ndarray, pieces: list[tuple[int, int, int, int, np.ndarray]]
    ) -> np.ndarray:
        """One column of a batch gathered run by run (`_pieces`) into a reused buffer, then put back in the
        request's order: the path of ragged columns and of formats without views of their stored rows."""
        column = self.column_map[name]
        grouped = self._scratch(name, rows, self.features[name])
        for start, stop, shard, batch, local in pieces:
            view = self._view(shard, batch, column)
            if view is None:
                grouped[start:stop] = self._gather(shard, batch, column, local)
            else:  # rows were checked against the shard (mode="clip" only skips numpy's own buffering)
                np.take(view, local, axis=0, out=grouped[start:stop], mode="clip")
        result = np.empty_like(grouped)
        result[order] = grouped
        return result

    def lengths(self, column: str) -> np.ndarray:
        """Per-row lengths of a sequence/audio (elements), text (characters) or encoded image (bytes) column."""
        column = self.column_map.get(column, column)
        if column not in self._length_cache:
            feature = self.manifest.features[column]
            parts = [
                _lengths(feature, self._reader(s).arrow(column, b, lo, hi)) for s, b, lo, hi in self._ordered_pieces()
            ]
            self._length_cache[column] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return self._length_cache[column]

    def read_column(self, column: str) -> np.ndarray:
        """Every row of one fixed-shape column (selected or not) in dataset order, e.g. the labels to balance."""
        column = self.column_map.get(column, column)
        feature = self.manifest.features[column]
        if not feature.fixed_shape:
            raise DsregError(f"column {column!r} is not fixed-shape", fix="read ragged columns with take()")
        parts = [self._reader(s).column(column, b)[lo:hi] for s, b, lo, hi in self._ordered_pieces()]
        if not parts:
            return np.zeros((0, *_fixed_shape(feature)), dtype=feature.numpy_dtype())
        return np.concatenate(parts)

    def arrow_tables(self) -> list[pa.Table]:
        """The selected columns as Arrow tables, in dataset order: zero-copy slices of the memory-mapped record
        batches for Arrow shards, rebuilt from the stored arrays for zarr and HDF5 shards."""
        schema = self.features.arrow_schema()
        return [
            pa.Table.from_arrays([self._reader(s).arrow(n, b, lo, hi) for n in self.column_map.values()], schema=schema)
            for s, b, lo, hi in self._ordered_pieces()
        ]

    def shard_paths(self) -> list[Path]:
        """The shard files this dataset reads, in dataset order, each once."""
        paths = [self.manifest.shard_path(self._shards[s]) for s, _, _, _ in self._ordered_pieces()]
        return list(dict.fromkeys(paths))

    def _check(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.size == 0:
            return np.zeros(0, dtype=np.int64)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise DsregError(f"indices must be a 1-D sequence of integers, got {idx.dtype} of shape {idx.shape}")
        if idx.dtype.kind == "u" and int(idx.max()) > np.iinfo(np.int64).max:  # would wrap to a negative row
            raise RowIndexError(
                f"row {int(idx.max())} is out of range for {self!r}", fix=f"use indices below {len(self)}"
            )
        idx = idx.astype(np.int64, copy=False)
        n = len(self)
        lo, hi = int(idx.min()), int(idx.max())
        if lo < -n or hi >= n:
            bad = lo if lo < -n else hi
            raise RowIndexError(f"row {bad} is out of range for {self!r}", fix=f"use indices in [-{n}, {n})")
        return np.where(idx < 0, idx + n, idx) if lo < 0 else idx

    def _to_stored(self, idx: np.ndarray) -> np.ndarray:
        """Dataset row numbers → row numbers in the concatenation of the shards of the splits involved."""
        if self._seg_start.size == 1:
            return idx + self._seg_start[0]
        seg = np.searchsorted(self._seg_offsets, idx, side="right") - 1
        return idx - self._seg_offsets[seg] + self._seg_start[seg]

    def _one_record_batch(self) -> bool:
        """Whether the dataset's rows all lie in one record batch of one shard (stored row = row in it)."""
        return len(self._shards) == 1 and self._reader(0).batch_offsets.size == 2

    def _pieces(self, stored: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int, np.ndarray]]]:
        """Group rows by (shard, record batch) in one pass: one argsort of the stored row numbers makes every
        group a contiguous run, found by `searchsorted`. Returns the sort order and ``(start, stop, shard,
        record batch, rows in that batch)`` per run, so a gather fills ``[start:stop]`` of a preallocated output
        in sorted order and one scatter by the order puts the rows back."""
        if stored.size == 0:
            return np.zeros(0, dtype=np.int64), []
        order = np.argsort(stored, kind="stable")
        ordered = stored[order]
        cuts = np.searchsorted(ordered, self._shard_offsets).tolist()
        pieces: list[tuple[int, int, int, int, np.ndarray]] = []
        for shard, (a, e) in enumerate(itertools.pairwise(cuts)):
            if a == e:
                continue
            local = ordered[a:e] - self._shard_offsets[shard]
            offsets = self._reader(shard).batch_offsets
            if offsets.size == 2:
                pieces.append((a, e, shard, 0, local))
                continue
            bounds = np.searchsorted(local, offsets).tolist()
            for batch, (b0, b1) in enumerate(itertools.pairwise(bounds)):
                if b0 < b1:
                    pieces.append((a + b0, a + b1, shard, batch, local[b0:b1] - offsets[batch]))
        return order, pieces

    def _gather(self, shard: int, batch: int, name: str, rows: np.ndarray) -> np.ndarray:
        return self._reader(shard).take(name, batch, rows)

    def _small_column(self, name: str) -> np.ndarray | None:
        """A fixed-shape column of at most SMALL_COLUMN_BYTES over all the shards this dataset reads (labels,
        ids, scores), concatenated into RAM on first use so a batch of it is one gather whatever the shards;
        None for larger or ragged columns."""
        if name not in self._small:
            feature = self.manifest.features[name]
            total = int(self._shard_offsets[-1]) * feature.numpy_dtype().itemsize
            total *= math.prod(_fixed_shape(feature))
            small = None
            if feature.fixed_shape and total <= SMALL_COLUMN_BYTES and self._shards:
                parts = [
                    self._reader(s).column(name, b)
                    for s in range(len(self._shards))
                    for b in range(len(self._reader(s).batch_offsets) - 1)
                ]
                small = np.concatenate(parts)
            self._small[name] = small
        return self._small[name]

    def _joined(self, name: str) -> JoinedColumn | None:
        """A fixed-shape column over every record batch of every shard as one gather source (`JoinedColumn`),
        built on first use; None for ragged columns and formats without views of their stored rows."""
        if name not in self._joins:
            joined = None
            if self.manifest.features[name].fixed_shape and self._shards:
                views, starts = [], []
                for shard in range(len(self._shards)):
                    offsets = self._reader(shard).batch_offsets
                    for batch in range(offsets.size - 1):
                        views.append(self._view(shard, batch, name))
                        starts.append(int(self._shard_offsets[shard] + offsets[batch]))
                if all(view is not None for view in views):
                    joined = JoinedColumn.join([v for v in views if v is not None], starts)
            self._joins[name] = joined
        return self._joins[name]

    def _joined_ragged(self, name: str) -> JoinedRagged | None:
        """A column of text, encoded images or sequences of numbers over every record batch of every shard as
        one gather source (`JoinedRagged`), built on first use; None for other columns and formats without
        views of them."""
        if name not in self._ragged_joins:
            feature, joined = self.manifest.features[name], None
            kind = {"text": "text", "encoded_image": "bytes", "sequence": "elements"}.get(feature.kind)
            if self._shards and kind is not None:
                parts = [
                    (self._reader(shard).ragged_views(name, batch), int(self._shard_offsets[shard] + first))
                    for shard in range(len(self._shards))
                    for batch, first in enumerate(self._reader(shard).batch_offsets[:-1].tolist())
                ]
                pairs = [(views, start) for views, start in parts if views is not None]
                if len(pairs) == len(parts):
                    offsets, values = zip(*(views for views, _ in pairs), strict=True)
                    joined = JoinedRagged.join(kind, offsets, values, [start for _, start in pairs])
            self._ragged_joins[name] = joined
        return self._ragged_joins[name]

    def _scratch(self, name: str, rows: int, feature: Feature) -> np.ndarray:
        """A per-thread buffer for a column's rows in grouped order, reused across batches: the rows are copied
        out of it into the fresh result, and a reused buffer's pages are already mapped (a fresh one of 0.8 MB
        costs more in page faults than the copy)."""
        shape, dtype = (rows, *_fixed_shape(feature)), feature.numpy_dtype()
        if not feature.fixed_shape:
            return np.empty(shape, dtype=dtype)  # object arrays: small, and a kept one would hold rows alive
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            buffers = self._local.buffers = {}
        buffer = buffers.get(name)
        if buffer is None or len(buffer) < rows:
            buffer = buffers[name] = np.empty(shape, dtype=dtype)
        grouped: np.ndarray = buffer[:rows]
        return grouped

    def _view(self, shard: int, batch: int, name: str) -> np.ndarray | None:
        """A fixed-shape column of one record batch as an in-place numpy view (None: gather through the reader)."""
        key = (shard, batch, name)
        if key not in self._views:
            self._views[key] = self._reader(shard).view(name, batch)
        return self._views[key]

    def _ordered_pieces(self) -> Iterator[tuple[int, int, int, int]]:
        """``(shard, record batch, first row, end row)`` covering the dataset's rows in order."""
        for start, rows in zip(self._seg_start.tolist(), self._seg_rows.tolist(), strict=True):
            stop = start + rows
            first = int(np.searchsorted(self._shard_offsets, start, side="right")) - 1
            for shard in range(first, len(self._shards)):
                offset = int(self._shard_offsets[shard])
                if offset >= stop:
                    break
                reader = self._reader(shard)
                lo, hi = max(start - offset, 0), min(stop - offset, reader.num_rows)
                for b, (b0, b1) in enumerate(itertools.pairwise(reader.batch_offsets.tolist())):
                    if max(lo, b0) < min(hi, b1):
                        yield shard, b, max(lo, b0) - b0, min(hi, b1) - b0

    def _bound_resident(self) -> None:
        """Past the resident budget, unmap every shard's pages before reading on (no-op for small datasets)."""
        limit = self.max_resident_bytes
        if limit is None or self._mapped_bytes <= limit or self._resident_base is None:
            return
        now = _shared_resident()
        if now is not None and now - self._resident_base > limit:
            for reader in self._readers.values():
                reader.release_pages()

    def _reader(self, shard: int) -> ShardReaderBase:
        reader = self._readers.get(shard)
        if reader is None:
            info = self._shards[shard]
            location = self.manifest.shard_location(info)
            reader = get_format(self._formats[shard]).reader(location, self.manifest.features)
            problems = reader.problems(self.manifest.features, info.rows, info.bytes)
            if problems:
                raise DsregError(
                    "shard does not match the manifest: " + "; ".join(problems),
                    path=location,
                    fix="copy the version to this URL again (an upload stopped early leaves files out)"
                    if self.manifest.url is not None
                    else "run `dsreg verify --deep`; restore the version from a good copy or re-prepare it",
                )
            self._readers[shard] = reader
        return reader


def _manifest(name: str | os.PathLike[str], version: str | None, root: str | os.PathLike[str] | None) -> Manifest:
    """The manifest a name or a prepared directory means."""
    if not isinstance(name, (str, os.PathLike)):
        raise DsregError(f"name must be a dataset reference or a path, got {name!r}", fix="e.g. 'cifar10'")
    if version is not None and not isinstance(version, str):
        raise DsregError(f"version must be a string like '1.0.0', got {version!r}")
    name = local_path(name)  # a file:// URL is the directory it names
    text = os.fspath(name)
    if is_url(text):
        manifest = read_manifest(text)
        if version is not None and version != manifest.version:
            raise DsregError(
                f"{text} holds version {manifest.version}, not {version}", fix="drop version= or open that version"
            )
        return manifest
    path = expand_path(text, "the dataset path")
    if isinstance(name, os.PathLike) or (path / MANIFEST_NAME).is_file() or text.startswith(("/", ".", "~")):
        manifest = read_manifest(path)
        if version is not None and version != manifest.version:
            raise DsregError(
                f"{path} holds version {manifest.version}, not {version}", fix="drop version= or open that version"
            )
        return manifest
    from dsreg.registry import Ref, find_prepared, parse_ref

    ref = parse_ref(text)
    if version is not None and ref.version not in (None, version):
        raise DsregError(f"{text!r} names version {ref.version} but version={version!r}", fix="give the version once")
    return find_prepared(Ref(ref.name, ref.config, version or ref.version), root)


def open_dataset(
    name: str | os.PathLike[str],
    split: str = "train",
    *,
    version: str | None = None,
    root: str | os.PathLike[str] | None = None,
    columns: Sequence[str] | Mapping[str, str] | None = None,
    max_resident_bytes: int | None = DEFAULT_MAX_RESIDENT,
) -> Dataset:
    """Open `split` of a prepared dataset: ``name``, ``name/config``, ``name/config:version``, or the path of a
    prepared version directory (one holding manifest.json). Needs no recipe and no network.

    `max_resident_bytes` bounds the mapped shard pages kept in this process's RSS (None: no bound)."""
    return Dataset(_manifest(name, version, root), split, columns, max_resident_bytes=max_resident_bytes)
