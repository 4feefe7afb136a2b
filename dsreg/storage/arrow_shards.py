"""Arrow IPC shards: deterministic writing cut at a target size, memory-mapped zero-copy reading.

A shard is an uncompressed Arrow IPC *file* (random access, mmap-able) holding a handful of large
record batches, so opening costs time per batch rather than per row. The features schema travels in
the Arrow schema metadata, so a shard is self-describing for other Arrow tools.
"""

from __future__ import annotations

import json
import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import EncodedImage, Feature, Features, Scalar, Sequence, Struct, Text, values_view
from dsreg.storage.base import BatchingWriter, HashingSink, ShardReaderBase

MAX_BATCH_BYTES = 256 << 20


class ShardWriter(BatchingWriter):
    """Arrow IPC shards `<prefix>-NNNNN.arrow`, each a few record batches of at most MAX_BATCH_BYTES."""

    suffix = ".arrow"

    def _write(self, table: pa.Table, path: Path) -> HashingSink:
        """Write the shard through a hashing sink: its sha256 comes from the bytes written, not a second read
        (the sink is returned still hashing, so the shard is synced meanwhile)."""
        with open(path, "wb") as raw:
            hashed = HashingSink(raw)
            try:
                with pa.PythonFile(hashed, mode="w") as sink, pa.ipc.new_file(sink, self.schema) as writer:
                    writer.write_table(table, max_chunksize=_rows_per_record_batch(table))
            except BaseException:
                hashed.abandon()
                raise
        return hashed


def _stored_order(feature: Feature, t: pa.DataType) -> Feature:
    """`feature` with its structs' fields in the order of the stored Arrow type `t` (as far as they match)."""
    if isinstance(feature, Struct) and pa.types.is_struct(t) and {f.name for f in t} == set(feature.fields):
        return Struct({f.name: _stored_order(feature.fields[f.name], f.type) for f in t})
    if type(feature) is Sequence and (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return Sequence(_stored_order(feature.feature, t.value_type))
    return feature


def in_stored_order(features: Features, schema: pa.Schema) -> Features:
    """Features read from a shard's metadata, their struct fields in the shard's own column order.

    Struct values are matched to their fields by position, and shards written before the metadata kept the
    fields' order carry them sorted by name: ``{start, end}`` would read each one's values as the other's."""
    names = set(schema.names)
    return Features({n: _stored_order(f, schema.field(n).type) if n in names else f for n, f in features.items()})


def _null_problems(array: pa.Array, where: str) -> list[str]:
    """Where `array` holds nulls, at any depth of lists and structs (metadata only: counts, no values read)."""
    count = array.null_count
    plural = "s" if count > 1 else ""
    found = [f"{where} holds {count} null value{plural}, which dsreg shards never do"] if count else []
    if pa.types.is_struct(array.type):
        for index, field in enumerate(array.type):
            found += _null_problems(array.field(index), f"{where} (field {field.name!r})")
    elif pa.types.is_list(array.type) or pa.types.is_large_list(array.type) or pa.types.is_fixed_size_list(array.type):
        found += _null_problems(array.values, f"{where} (its values)")
    return found


def _schema_text(schema: pa.Schema) -> str:
    return "{" + ", ".join(f"{f.name}: {f.type}" for f in schema) + "}"


def _rows_per_record_batch(table: pa.Table) -> int:
    """Rows per record batch so that each stays under MAX_BATCH_BYTES (few, large batches)."""
    if table.num_rows == 0 or table.nbytes <= MAX_BATCH_BYTES:
        return max(table.num_rows, 1)
    per_row = table.nbytes / table.num_rows
    return max(1, int(MAX_BATCH_BYTES // per_row))


class ShardReader(ShardReaderBase):
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
            features = in_stored_order(Features.from_json(json.loads(raw)), self._reader.schema)
        self.features = features
        self.batches = [self._reader.get_batch(i) for i in range(self._reader.num_record_batches)]
        sizes = np.fromiter((b.num_rows for b in self.batches), dtype=np.int64, count=len(self.batches))
        self.batch_offsets = np.zeros(len(self.batches) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self.batch_offsets[1:])
        self._numpy: dict[tuple[str, int], np.ndarray] = {}

    def stored_features(self) -> Any:
        raw = (self._reader.schema.metadata or {}).get(b"dsreg.features")
        try:
            return None if raw is None else json.loads(raw)
        except ValueError as err:
            return f"(unreadable: {err})"

    def layout_problems(self, features: Features) -> list[str]:
        """The schema is the manifest's, and no value is null (a null reads as None, an empty row or zeros)."""
        schema = self._reader.schema.remove_metadata()
        expected = features.arrow_schema().remove_metadata()
        if schema != expected:
            return [f"shard schema {_schema_text(schema)} is not the manifest's {_schema_text(expected)}"]
        return [
            f"record batch {index}: {problem}"
            for index, batch in enumerate(self.batches)
            for name in schema.names
            for problem in _null_problems(batch.column(name), f"column {name!r}")
        ]

    def deep_problems(self) -> list[str]:
        """Arrow's full validation of every record batch: offsets in order and inside their values, UTF-8 text.
        A shard written by another tool can carry offsets that would read rows short or overlapping."""
        found = []
        for index, batch in enumerate(self.batches):
            try:
                batch.validate(full=True)
            except pa.ArrowInvalid as err:
                found.append(f"record batch {index} is malformed: {err}")
        return found

    def column(self, name: str, batch: int) -> np.ndarray:
        """The numpy form of one column of one record batch (cached; a view for fixed-shape features)."""
        key = (name, batch)
        arr = self._numpy.get(key)
        if arr is None:
            arr = self.features[name].to_numpy(self.batches[batch].column(name))
            self._numpy[key] = arr
        return arr

    def view(self, name: str, batch: int) -> np.ndarray | None:
        return self.column(name, batch) if self.features[name].fixed_shape else None

    def ragged_views(self, name: str, batch: int) -> tuple[np.ndarray, np.ndarray] | None:
        feature = self.features[name]
        column = self.batches[batch].column(name)
        if column.null_count:
            return None
        if type(feature) in (Text, EncodedImage):  # large_string / large_binary: validity, offsets, bytes
            _, offsets, data = column.buffers()
            count = column.offset + len(column) + 1
            bytes_ = np.zeros(0, np.uint8) if data is None else np.frombuffer(data, dtype=np.uint8)
            return np.frombuffer(offsets, dtype=np.int64, count=count)[column.offset :], bytes_
        if type(feature) is Sequence and isinstance(feature.feature, Scalar) and feature.feature.dtype != "bool":
            return values_view(column.offsets, "int64"), feature.feature.to_numpy(column.values)
        return None  # other kinds (nested, structs, audio, bit-packed booleans) have no such views

    def take(self, name: str, batch: int, rows: np.ndarray) -> np.ndarray:
        """A vectorised gather on the mapped buffers for fixed-shape columns; Arrow's take for ragged ones."""
        feature = self.features[name]
        if feature.fixed_shape:
            return np.take(self.column(name, batch), rows, axis=0)
        return feature.to_numpy(self.batches[batch].column(name).take(pa.array(rows)))

    def arrow(self, name: str, batch: int, start: int, stop: int) -> pa.Array:
        return self.batches[batch].column(name).slice(start, stop - start)

    def release_pages(self) -> None:
        """Drop this process's mapped pages of the shard (they stay in the page cache; views stay valid).

        Mapped file pages count toward a process's RSS; a loader streaming through a dataset larger than
        RAM calls this now and then so its resident set stays bounded.
        """
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def arrow_column(self, name: str, batch_index: int) -> pa.Array:
        return self.batches[batch_index].column(name)
