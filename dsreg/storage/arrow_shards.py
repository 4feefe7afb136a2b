"""Arrow IPC shards: deterministic writing cut at a target size, memory-mapped zero-copy reading.

A shard is an uncompressed Arrow IPC *file* (random access, mmap-able) holding a handful of large
record batches, so opening costs time per batch rather than per row. The features schema travels in
the Arrow schema metadata, so a shard is self-describing for other Arrow tools.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Features

ROWS_PER_ENCODE = 1024
MAX_BATCH_BYTES = 256 << 20


def sha256_file(path: str | os.PathLike[str], chunk: int = 8 << 20) -> str:
    """Hex sha256 of a file, read in chunks so huge shards and archives stay out of memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class WrittenShard:
    """A finished shard file: where it is and what the manifest records about it."""

    path: Path
    rows: int
    bytes: int
    sha256: str


class ShardWriter:
    """Write example dicts into shards of about `target_bytes` each, named `<prefix>-NNNNN.arrow`.

    Output is a pure function of the examples, the features and `target_bytes`: batches are encoded
    in fixed-size row groups and a shard is cut at the first group that reaches the target, so the
    same input always gives byte-identical files. Each shard is written to a temporary name, synced
    and renamed, so a crash never leaves a half shard under a final name.
    """

    def __init__(self, directory: str | os.PathLike[str], prefix: str, features: Features, target_bytes: int):
        if target_bytes <= 0:
            raise DsregError(f"shard target size must be positive, got {target_bytes}")
        self.directory = Path(directory)
        self.prefix = prefix
        self.features = features
        self.target_bytes = target_bytes
        self.schema = features.arrow_schema().with_metadata(
            {"dsreg.features": json.dumps(features.to_json(), sort_keys=True)}
        )
        self._rows: list[Mapping[str, Any]] = []
        self._batches: list[pa.RecordBatch] = []
        self._pending_bytes = 0
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

    def close(self) -> list[WrittenShard]:
        """Flush what is buffered and return every shard written, in order."""
        self._encode_rows()
        if self._batches:
            self._flush()
        return self.shards

    def _encode_rows(self) -> None:
        if self._rows:
            rows, self._rows = self._rows, []
            self._add_batch(self.features.encode_batch(rows))

    def _add_batch(self, batch: pa.RecordBatch) -> None:
        self._batches.append(batch)
        self._pending_bytes += batch.nbytes
        if self._pending_bytes >= self.target_bytes:
            self._flush()

    def _flush(self) -> None:
        table = pa.Table.from_batches(self._batches, schema=self.schema).combine_chunks()
        self._batches, self._pending_bytes = [], 0
        path = self.directory / f"{self.prefix}-{len(self.shards):05d}.arrow"
        tmp = path.with_name(path.name + ".tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, self.schema) as writer:
            writer.write_table(table, max_chunksize=_rows_per_record_batch(table))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.shards.append(WrittenShard(path, table.num_rows, path.stat().st_size, sha256_file(path)))


def _rows_per_record_batch(table: pa.Table) -> int:
    """Rows per record batch so that each stays under MAX_BATCH_BYTES (few, large batches)."""
    if table.num_rows == 0 or table.nbytes <= MAX_BATCH_BYTES:
        return max(table.num_rows, 1)
    per_row = table.nbytes / table.num_rows
    return max(1, int(MAX_BATCH_BYTES // per_row))


class ShardReader:
    """A memory-mapped shard: record batches, their row offsets and numpy views of their columns."""

    def __init__(self, path: str | os.PathLike[str], features: Features | None = None):
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                # Python's mmap (not pa.memory_map) so that release_pages() can madvise the mapping.
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            self._reader = pa.ipc.open_file(pa.BufferReader(pa.py_buffer(self._map)))
        except FileNotFoundError:
            raise DsregError(
                "shard file is missing", path=self.path, fix="run `dsreg verify` and re-prepare the dataset"
            ) from None
        except (pa.ArrowInvalid, OSError, ValueError) as err:
            raise DsregError(
                f"not a readable Arrow IPC shard ({err})",
                path=self.path,
                fix="run `dsreg verify --deep` and re-prepare the dataset",
            ) from None
        if features is None:
            meta = self._reader.schema.metadata or {}
            raw = meta.get(b"dsreg.features")
            if raw is None:
                raise DsregError("shard carries no dsreg features metadata", path=self.path)
            features = Features.from_json(json.loads(raw))
        self.features = features
        self.batches = [self._reader.get_batch(i) for i in range(self._reader.num_record_batches)]
        sizes = np.fromiter((b.num_rows for b in self.batches), dtype=np.int64, count=len(self.batches))
        self.batch_offsets = np.zeros(len(self.batches) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self.batch_offsets[1:])
        self._numpy: dict[tuple[str, int], np.ndarray] = {}

    @property
    def num_rows(self) -> int:
        return int(self.batch_offsets[-1])

    def column(self, name: str, batch_index: int) -> np.ndarray:
        """The numpy form of one column of one record batch (cached; a view for fixed-shape features)."""
        key = (name, batch_index)
        arr = self._numpy.get(key)
        if arr is None:
            arr = self.features[name].to_numpy(self.batches[batch_index].column(name))
            self._numpy[key] = arr
        return arr

    def release_pages(self) -> None:
        """Drop this process's mapped pages of the shard (they stay in the page cache; views stay valid).

        Mapped file pages count toward a process's RSS; a loader streaming through a dataset larger than
        RAM calls this now and then so its resident set stays bounded.
        """
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def arrow_column(self, name: str, batch_index: int) -> pa.Array:
        return self.batches[batch_index].column(name)
