"""Export a prepared split for other tools: one Parquet file, one HDF5 file or one zarr v3 group.

Tables stream through one at a time (an Arrow record batch, or one zarr/HDF5 shard), so a split larger than
memory exports in bounded memory. HDF5 and zarr use the shard layout of `dsreg.storage.columns` over the
whole split (offsets rebased as pieces append), with the same `dsreg` metadata, so plain h5py/zarr and dsreg's
own shard readers read the result; Parquet keeps the Arrow types and carries the features in its schema
metadata. The output appears under its final name only when complete.
"""

from __future__ import annotations

import errno
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.storage.base import features_json, fsync_tree, remove_shard
from dsreg.storage.hdf5_shards import CHUNK_BYTES, chunk_rows, create_file, h5py_module, make_groups, table_leaves
from dsreg.storage.zarr_shards import open_store, zarr_module

EXPORT_FORMATS = ("parquet", "hdf5", "zarr")
CHUNKS_PER_ZARR_SHARD = 64


class _Sink(ABC):
    """Receives a split's tables in order and writes them to one container at `path`."""

    def __init__(self, path: Path, features: Features):
        self.path, self.features, self.rows = path, features, 0

    @abstractmethod
    def append(self, table: pa.Table) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


class _ParquetSink(_Sink):
    def __init__(self, path: Path, features: Features):
        import pyarrow.parquet as pq

        super().__init__(path, features)
        schema = features.arrow_schema().with_metadata({"dsreg.features": features_json(features)})
        self._writer = pq.ParquetWriter(str(path), schema)

    def append(self, table: pa.Table) -> None:
        self._writer.write_table(table.replace_schema_metadata(self._writer.schema.metadata))
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()


class _LeafSink(_Sink):
    """Appends each table's stored arrays; offsets continue from the previous table's last value."""

    def __init__(self, path: Path, features: Features):
        super().__init__(path, features)
        self._last: dict[str, int] = {}
        self._lengths: dict[str, int] = {}
        self.append(features.arrow_schema().empty_table())  # every array exists, even for an empty split

    def append(self, table: pa.Table) -> None:
        offsets: set[str] = set()
        for key, values in table_leaves(table, self.features, offsets).items():
            if key in offsets:
                if key in self._last:
                    values = values[1:] + self._last[key]
                self._last[key] = int(values[-1]) if len(values) else self._last[key]
            if key in self._lengths:
                if len(values):
                    self._extend(key, self._lengths[key], values)
            else:
                # the array grows, and the first table (which sizes the chunks) may be empty: a first dimension of
                # CHUNK_BYTES rows never caps the chunk, since a row is at least one byte
                rows = chunk_rows((CHUNK_BYTES, *values.shape[1:]), values.dtype.itemsize)
                self._create(key, values, rows)
            self._lengths[key] = self._lengths.get(key, 0) + len(values)
        self.rows += table.num_rows

    @abstractmethod
    def _create(self, key: str, values: np.ndarray, chunk: int) -> None: ...

    @abstractmethod
    def _extend(self, key: str, start: int, values: np.ndarray) -> None: ...


class _Hdf5Sink(_LeafSink):
    def __init__(self, path: Path, features: Features):
        self._h5py = h5py_module()
        self._file = create_file(self._h5py, path)
        super().__init__(path, features)

    def _create(self, key: str, values: np.ndarray, chunk: int) -> None:
        make_groups(self._h5py, self._file, key)
        shape = values.shape[1:]
        self._file.create_dataset(key, data=values, maxshape=(None, *shape), chunks=(chunk, *shape), track_times=False)

    def _extend(self, key: str, start: int, values: np.ndarray) -> None:
        dataset = self._file[key]
        dataset.resize(start + len(values), axis=0)
        dataset[start:] = values

    def close(self) -> None:
        self._file.attrs["dsreg.features"] = features_json(self.features)
        self._file.attrs["dsreg.rows"] = self.rows
        self._file.close()


class _ZarrSink(_LeafSink):
    def __init__(self, path: Path, features: Features):
        self._group = zarr_module().create_group(open_store(path, write=True), zarr_format=3)
        self._arrays: dict[str, Any] = {}
        super().__init__(path, features)

    def _create(self, key: str, values: np.ndarray, chunk: int) -> None:
        shape = values.shape[1:]
        array = self._group.create_array(
            key,
            shape=values.shape,
            dtype=values.dtype,
            chunks=(chunk, *shape),
            shards=(chunk * CHUNKS_PER_ZARR_SHARD, *shape),
            compressors=None,
            filters=None,
            fill_value=np.zeros((), dtype=values.dtype)[()],
        )
        if len(values):
            array[...] = values
        self._arrays[key] = array

    def _extend(self, key: str, start: int, values: np.ndarray) -> None:
        array = self._arrays[key]
        array.resize((start + len(values), *array.shape[1:]))
        array[start:] = values

    def close(self) -> None:
        self._group.attrs["dsreg"] = {"features": self.features.to_json(), "rows": self.rows}


_SINKS: dict[str, type[_Sink]] = {"parquet": _ParquetSink, "hdf5": _Hdf5Sink, "zarr": _ZarrSink}


def export_tables(tables: Iterable[pa.Table], features: Features, fmt: str, out: str | os.PathLike[str]) -> int:
    """Write `tables` (a split, in order) to `out` as `fmt`; returns the rows written. Nothing appears at `out`
    unless the export completes; an existing `out` is never overwritten."""
    sink_type = _SINKS.get(fmt)
    if sink_type is None:
        raise DsregError(f"unknown export format {fmt!r}", fix=f"use one of: {', '.join(EXPORT_FORMATS)}")
    path = Path(out)
    if path.exists():
        raise DsregError("the export target already exists", path=path, fix="remove it, or choose another --out")
    if not path.parent.is_dir():
        raise DsregError("the export target's directory does not exist", path=path.parent, fix="create it first")
    tmp = path.with_name(f".{path.name}.exporting-{uuid.uuid4().hex[:12]}")  # its own: exports may run at once
    try:
        sink = sink_type(tmp, features)
        for table in tables:
            sink.append(table)
        sink.close()
        fsync_tree(tmp)
        _place(tmp, path)
    except BaseException:
        remove_shard(tmp)
        raise
    return sink.rows


def _place(tmp: Path, path: Path) -> None:
    """Give the finished export its name, never over a path that appeared meanwhile (another export's)."""
    taken = DsregError(
        "the export target already exists: it appeared while this export ran",
        path=path,
        fix="remove it, or choose another --out",
    )
    if tmp.is_dir():
        if path.exists():
            raise taken
        try:
            os.rename(tmp, path)  # refused onto a non-empty directory
        except OSError as err:
            if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise taken from None
            raise
        return
    try:
        os.link(tmp, path)  # refused when `path` exists, atomically
    except FileExistsError:
        raise taken from None
    except OSError:  # a filesystem without hard links
        if path.exists():
            raise taken from None
        os.replace(tmp, path)
        return
    tmp.unlink()
