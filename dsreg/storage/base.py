"""What every storage format shares: the written-shard record, hashing of file and directory shards, the
size-cut batching writer, and the random-access reader interface the loader gathers through.

A shard is one file (Arrow IPC, HDF5) or one directory (a zarr group). A directory's sha256 is the sha256 of
its canonical listing: for every file under it, sorted by relative POSIX path, the line
``<relative path>\\0<hex sha256 of the file>\\n``; its byte size is the sum of its files' sizes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsreg.errors import DsregError, os_error
from dsreg.features import ClassLabel, Feature, Features, Sequence, Struct
from dsreg.hashing import Digests

ROWS_PER_ENCODE = 1024


def sha256_file(path: str | os.PathLike[str], chunk: int = 8 << 20) -> str:
    """Hex sha256 of a file, read in chunks so huge shards and archives stay out of memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class HashingSink:
    """A binary file that hashes (sha256, on a background thread) every byte written through it: a format that
    writes a shard as one stream gets its digest without reading the shard back. Closing it leaves the
    underlying file open. What is written must not change afterwards (bytes, or Arrow buffers)."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._digests = Digests(threaded=True, algorithms=("sha256",))
        self.closed = False

    def write(self, data: Any) -> int:
        self._digests.update(data)
        return self._raw.write(data)

    def sha256(self) -> str:
        """The hex sha256 of everything written (waits for the hashing thread)."""
        return self._digests.hexdigests()["sha256"]

    def tell(self) -> int:
        return self._raw.tell()

    def flush(self) -> None:
        self._raw.flush()

    def close(self) -> None:
        self.closed = True

    def abandon(self) -> None:
        """Stop hashing (the write failed)."""
        self._digests.close()


def shard_files(path: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """The files of a directory shard as ``(relative POSIX path, path)``, in canonical (sorted) order."""
    top = Path(path)
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath, name)
            found.append((full.relative_to(top).as_posix(), full))
    return sorted(found)


def sha256_shard(path: str | os.PathLike[str]) -> str:
    """The sha256 a manifest records for a shard: of the file, or of a directory's canonical listing."""
    if not os.path.isdir(path):
        return sha256_file(path)
    digest = hashlib.sha256()
    for rel, full in shard_files(path):
        digest.update(f"{rel}\0{sha256_file(full)}\n".encode())
    return digest.hexdigest()


def shard_bytes(path: str | os.PathLike[str]) -> int:
    """The byte size of a shard: the file's, or the sum of a directory's files."""
    if not os.path.isdir(path):
        return os.stat(path).st_size
    return sum(full.stat().st_size for _, full in shard_files(path))


def fsync_tree(path: Path) -> None:
    """Flush a shard (file, or every file and directory of a directory shard) to stable storage."""
    targets = [full for _, full in shard_files(path)] if path.is_dir() else [path]
    for full in targets:
        with open(full, "rb") as f:
            os.fsync(f.fileno())
    if path.is_dir():
        for dirpath, _, _ in os.walk(path):
            fd = os.open(dirpath, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def remove_shard(path: Path) -> None:
    """Remove a file or directory shard left by an interrupted write (no error if absent)."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def class_labels(feature: Feature, fields: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], ClassLabel]]:
    """Every class label a feature holds, at any depth of sequences and structs, with the struct fields that
    lead to it (``()`` for the feature itself or its sequences' elements)."""
    if isinstance(feature, ClassLabel):
        yield fields, feature
    elif isinstance(feature, Struct):
        for field_name, child in feature.fields.items():
            yield from class_labels(child, (*fields, field_name))
    elif isinstance(feature, Sequence):
        yield from class_labels(feature.feature, fields)


def nested_values(array: pa.Array, fields: tuple[str, ...]) -> pa.Array:
    """The leaf values of `array` below its lists and along the struct `fields` (offsets and slices honoured)."""
    while True:
        if pa.types.is_struct(array.type) and fields:
            array = array.flatten()[array.type.get_field_index(fields[0])]
            fields = fields[1:]
        elif pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
            array = array.flatten()
        else:
            return array


def _normalised(stored: Any) -> Any:
    """Stored features JSON normalised through `Features` (so formatting differences don't count), or why not."""
    if stored is None:
        return "(none)"
    try:
        return Features.from_json(stored).to_json()
    except (ValueError, TypeError, KeyError, AttributeError, DsregError) as err:
        return f"(unreadable: {err})"


def features_json(features: Features) -> str:
    """The features as JSON, as every format stores them in its shard metadata: in their own order (never with
    sorted keys, which would reorder a struct's fields, whose order is part of its Arrow type)."""
    return json.dumps(features.to_json())


@dataclass(frozen=True)
class WrittenShard:
    """A finished shard (file or directory): where it is and what the manifest records about it."""

    path: Path
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class _Unsynced:
    """A shard written under its temporary name, not yet synced nor renamed into place."""

    tmp: Path
    path: Path
    rows: int
    written: str | HashingSink | None  # what the format's `_write` returned


class BatchingWriter(ABC):
    """Write example dicts into shards of about `target_bytes` each, named `<prefix>-NNNNN<suffix>`.

    Output is a pure function of the examples, the features and `target_bytes`: batches are encoded in
    fixed-size row groups and a shard is cut at the first group that reaches the target, so the same input
    always gives byte-identical shards. Each shard is written under a temporary name, synced and renamed, so
    a crash never leaves a half shard under a final name. With `defer_sync`, the syncing and renaming (and
    the wait for a shard's digest) are left to `close`, which may then run on another thread while the
    caller goes on with other work: `flush` writes out what is buffered first. A format implements `suffix`
    and `_write`.
    """

    suffix: str = ""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        prefix: str,
        features: Features,
        target_bytes: int,
        *,
        defer_sync: bool = False,
    ):
        if target_bytes <= 0:
            raise DsregError(f"shard target size must be positive, got {target_bytes}")
        self.directory = Path(directory)
        self.prefix = prefix
        self.features = features
        self.target_bytes = target_bytes
        self.defer_sync = defer_sync
        self.schema = features.arrow_schema().with_metadata({"dsreg.features": features_json(features)})
        self._rows: list[Mapping[str, Any]] = []
        self._batches: list[pa.RecordBatch] = []
        self._pending_bytes = 0
        self._rows_added = 0  # rows handed to shards so far: an encoding error names the row in the split
        self._cut = 0  # shards written so far, synced or not
        self._unsynced: list[_Unsynced] = []
        self.shards: list[WrittenShard] = []
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, example: Mapping[str, Any]) -> None:
        self._rows.append(example)
        if len(self._rows) >= ROWS_PER_ENCODE:
            self._encode_rows()

    def write_batch(self, batch: pa.RecordBatch) -> None:
        """Append an already-encoded record batch (the fast path for readers that parse whole arrays)."""
        self._encode_rows()
        if batch.schema.remove_metadata() != self.schema.remove_metadata():
            raise DsregError(
                f"record batch schema {batch.schema} does not match the features schema {self.schema}",
                fix="encode batches with Features.encode_batch",
            )
        for start in range(0, batch.num_rows, ROWS_PER_ENCODE):
            self._add_batch(batch.slice(start, ROWS_PER_ENCODE))

    def flush(self) -> None:
        """Write what is buffered as the last shard (synced now, or by `close` with `defer_sync`)."""
        self._encode_rows()
        if self._batches:
            self._flush()

    def close(self) -> list[WrittenShard]:
        """Flush what is buffered, sync and rename every shard still under its temporary name, and return every
        shard written, in order."""
        self.flush()
        self._sync()
        return self.shards

    def abandon(self) -> None:
        """Stop the hashing of shards never synced (the task failed; its directory is removed by whoever reruns it)."""
        for unsynced in self._unsynced:
            if isinstance(unsynced.written, HashingSink):
                unsynced.written.abandon()
        self._unsynced = []

    def _encode_rows(self) -> None:
        if self._rows:
            rows, self._rows = self._rows, []
            self._add_batch(self.features.encode_batch(rows, first_row=self._rows_added))

    def _add_batch(self, batch: pa.RecordBatch) -> None:
        self._batches.append(batch)
        self._rows_added += batch.num_rows
        self._pending_bytes += batch.nbytes
        if self._pending_bytes >= self.target_bytes:
            self._flush()

    def _flush(self) -> None:
        table = pa.Table.from_batches(self._batches, schema=self.schema).combine_chunks()
        self._batches, self._pending_bytes = [], 0
        path = self.directory / f"{self.prefix}-{self._cut:05d}{self.suffix}"
        tmp = path.with_name(path.name + ".tmp")
        self._cut += 1
        written: str | HashingSink | None = None
        try:
            remove_shard(tmp)
            written = self._write(table, tmp)
        except BaseException as err:
            if isinstance(written, HashingSink):
                written.abandon()
            remove_shard(tmp)
            if isinstance(err, OSError):  # disk full, file-size limit...: say so, and free what the half took
                raise os_error(err, "cannot write shard", path=tmp) from None
            raise
        self._unsynced.append(_Unsynced(tmp, path, table.num_rows, written))
        if not self.defer_sync:
            self._sync()

    def _sync(self) -> None:
        """Sync each shard still under its temporary name, then rename it into place (in order)."""
        try:
            while self._unsynced:
                shard = self._unsynced[0]
                try:
                    fsync_tree(shard.tmp)  # meanwhile a sink's thread finishes hashing what was written
                    written = shard.written
                    digest = written.sha256() if isinstance(written, HashingSink) else written
                    remove_shard(shard.path)
                    os.replace(shard.tmp, shard.path)
                except OSError as err:  # disk full (a delayed write fails at fsync)...: free what the half took
                    remove_shard(shard.tmp)
                    raise os_error(err, "cannot write shard", path=shard.tmp) from None
                self._unsynced.pop(0)
                self.shards.append(
                    WrittenShard(shard.path, shard.rows, shard_bytes(shard.path), digest or sha256_shard(shard.path))
                )
        except BaseException:
            self.abandon()
            raise

    @abstractmethod
    def _write(self, table: pa.Table, path: Path) -> str | HashingSink | None:
        """Write `table` (one chunk per column) as one shard at `path`, byte-for-byte deterministically; return
        the shard's sha256 if it was computed from the bytes as they were written, or the `HashingSink` still
        computing it (its digest is awaited after the shard is synced); None to have the shard read back."""


class ShardReaderBase(ABC):
    """Random access to one shard: its rows in one or more batches (Arrow record batches; one for chunked formats).

    `batch_offsets[b]` is the first row of batch `b`; `take` gathers rows of one batch in each column's numpy
    form (`Feature.to_numpy`), `column` is a whole batch of a fixed-shape column, `arrow` a contiguous slice
    of a column as an Arrow array of the feature's Arrow type.
    """

    path: Path
    features: Features
    batch_offsets: np.ndarray

    @property
    def num_rows(self) -> int:
        return int(self.batch_offsets[-1])

    @abstractmethod
    def stored_features(self) -> Any:
        """The features JSON the shard itself carries (as parsed from its metadata; None if it has none)."""

    def stored_bytes(self) -> int:
        """The shard's size as stored: of its file, or the sum of its directory's files."""
        return shard_bytes(self.path)

    def layout_problems(self, features: Features) -> list[str]:
        """How the shard's own column layout disagrees with `features` (a format with a schema checks it)."""
        return []

    def problems(self, features: Features, rows: int, size: int | None = None) -> list[str]:
        """How this shard disagrees with what a manifest records for it (empty when it agrees).

        Cheap enough for every shard open: the byte size, the embedded features, the format's own layout
        (Arrow: the schema) and row count equal the manifest's, and every class label is a valid index
        (a vectorized min/max per batch of each class-label column).
        """
        found = []
        if size is not None:
            actual = self.stored_bytes()
            if actual != size:
                found.append(f"shard is {actual} bytes, the manifest says {size}")
        embedded = _normalised(self.stored_features())
        if embedded != features.to_json():
            found.append(f"shard's embedded features {embedded} are not the manifest's {features.to_json()}")
        found += self.layout_problems(features)
        if self.num_rows != rows:
            found.append(f"shard has {self.num_rows} rows, the manifest says {rows}")
        if not found:
            found += self._label_problems(features)
        return found

    def deep_problems(self) -> list[str]:
        """Checks of every stored value, too slow for every open, made by `verify --deep` (none by default)."""
        return []

    def _label_problems(self, features: Features) -> list[str]:
        found = []
        for name, feature in features.items():
            for fields, label in class_labels(feature):
                if not label.names:
                    continue
                for batch in range(len(self.batch_offsets) - 1):
                    low, high = self._label_range(name, batch, fields, nested=feature is not label)
                    # -1 marks an unlabelled row (ClassLabel's encoding, as in HF): the ImageNet test split has only -1
                    if low is not None and high is not None and (low < -1 or high >= label.num_classes):
                        where = f"column {name!r}" + (f" (field {'.'.join(fields)})" if fields else "")
                        bad = low if low < -1 else high
                        found.append(f"label {bad} in {where} is outside its {label.num_classes} class names")
                        break
        return found

    def _label_range(
        self, name: str, batch: int, fields: tuple[str, ...], *, nested: bool
    ) -> tuple[int | None, int | None]:
        """The smallest and largest class index of one batch of a label column, or of the labels nested in a
        column's sequences and struct `fields` (None, None when there are none)."""
        if not nested:
            labels = self.column(name, batch)
            return (int(labels.min()), int(labels.max())) if labels.size else (None, None)
        values = nested_values(
            self.arrow(name, batch, 0, int(self.batch_offsets[batch + 1] - self.batch_offsets[batch])), fields
        )
        if len(values) == 0:
            return None, None
        bounds = pc.min_max(values)
        return bounds["min"].as_py(), bounds["max"].as_py()

    @abstractmethod
    def take(self, name: str, batch: int, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (numbers within `batch`) of column `name`, in the feature's numpy form."""

    def view(self, name: str, batch: int) -> np.ndarray | None:
        """A fixed-shape column of one batch as a numpy view of the stored bytes, for gathers straight into a
        caller's preallocated output; None where the format has no such view (then `take` gathers)."""
        return None

    def ragged_views(self, name: str, batch: int) -> tuple[np.ndarray, np.ndarray] | None:
        """A column of text, encoded images or sequences of numbers of one batch as numpy views of the stored
        bytes: its int64 offsets (rows + 1) and the values they index (UTF-8 or image bytes as uint8, or the
        numbers); None for other columns and where the format has no such views."""
        return None

    @abstractmethod
    def column(self, name: str, batch: int) -> np.ndarray:
        """The numpy form of one whole batch of a column (a view where the format allows)."""

    @abstractmethod
    def arrow(self, name: str, batch: int, start: int, stop: int) -> pa.Array:
        """Rows ``start:stop`` of `batch` of column `name` as an Arrow array of the feature's Arrow type."""

    @abstractmethod
    def release_pages(self) -> None:
        """Drop this process's resident pages or cached blocks of the shard (views taken earlier stay valid)."""
