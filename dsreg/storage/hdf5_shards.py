"""HDF5 shards (h5py): one file per shard, one chunked, uncompressed dataset per stored array.

Columns are laid out as in `dsreg.storage.columns` (a fixed-shape feature is one dataset of shape
``(rows, *shape)``; variable-length columns are flat values plus int64 offsets), so a lab script reads
``f["image"][i]`` or ``f["text/data"][f["text/offsets"][i]:f["text/offsets"][i+1]]`` with plain h5py.
The root attributes `dsreg.features` (JSON) and `dsreg.rows` describe the shard.

Bytes are deterministic: a fixed library version bound, no object timestamps, datasets written whole in a
fixed order. Reading maps the file and views each dataset's chunks in place when they are unfiltered and
contiguous in row order (how this writer lays them out), so a gather costs what it costs on an Arrow shard;
any other layout is read through h5py.
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
from dsreg.features import Features
from dsreg.storage.base import BatchingWriter
from dsreg.storage.chunked import ArrayLeaf, LeafShardReader
from dsreg.storage.columns import Leaf, check_type, decompose, node_name

CHUNK_BYTES = 1 << 20


def h5py_module() -> Any:
    try:
        import h5py
    except ImportError:
        raise DsregError("the hdf5 storage format needs h5py", fix="pip install 'dsreg[storage]'") from None
    return h5py


def chunk_rows(shape: tuple[int, ...], itemsize: int, target: int = CHUNK_BYTES) -> int:
    """Rows per chunk: about `target` bytes, at least one row, at most the array."""
    row = max(int(np.prod(shape[1:])) * itemsize, 1)
    return max(1, min(shape[0], target // row))


def table_leaves(table: pa.Table, features: Features, offsets: set[str] | None = None) -> dict[str, np.ndarray]:
    """Every stored array of a table, in a fixed order (columns in schema order, then depth first); the keys
    of offsets arrays are added to `offsets` when given."""
    leaves: dict[str, np.ndarray] = {}
    for name in features.names():
        feature = features[name]
        check_type(feature.arrow_type(), name)
        shape = tuple(int(d or 0) for d in feature.example_shape()) if feature.fixed_shape else ()
        decompose(table.column(name).combine_chunks(), node_name(name), leaves, shape, offsets)
    return leaves


class Hdf5ShardWriter(BatchingWriter):
    """HDF5 shards `<prefix>-NNNNN.h5`."""

    suffix = ".h5"

    def _write(self, table: pa.Table, path: Path) -> None:
        h5py = h5py_module()
        leaves = table_leaves(table, self.features)
        with create_file(h5py, path) as f:
            f.attrs["dsreg.features"] = self.schema.metadata[b"dsreg.features"].decode()
            f.attrs["dsreg.rows"] = table.num_rows
            for key, values in leaves.items():
                make_groups(h5py, f, key)
                # an empty array (a text column of empty strings) has no chunk: HDF5 refuses one larger than it
                chunks = (chunk_rows(values.shape, values.dtype.itemsize), *values.shape[1:]) if len(values) else None
                f.create_dataset(key, data=values, chunks=chunks, track_times=False)


def create_file(h5py: Any, path: Path) -> Any:
    """A new HDF5 file whose root group carries no times and whose format is pinned to HDF5 1.10."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_V110)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    return h5py.File(h5py.h5f.create(os.fsencode(path), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl))


def make_groups(h5py: Any, f: Any, key: str) -> None:
    """Create the groups above `key` without modification times (h5py would stamp them)."""
    parts = key.split("/")[:-1]
    where = f
    for part in parts:
        if part not in where:
            gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
            gcpl.set_obj_track_times(False)
            h5py.h5g.create(where.id, part.encode(), gcpl=gcpl)
        where = where[part]


class Hdf5ShardReader(LeafShardReader):
    """An HDF5 shard, memory-mapped; datasets in the writer's layout are numpy views of the mapping."""

    def __init__(self, path: str | os.PathLike[str], features: Features | None = None):
        h5py = h5py_module()
        path = Path(path)
        self._views: dict[str, tuple[int, np.dtype, tuple[int, ...]] | None] = {}
        self._outside: list[str] = []  # datasets whose values lie in other files (external storage, virtual)
        try:
            with h5py.File(path, "r") as f:
                raw = f.attrs.get("dsreg.features")
                self._stored = None if raw is None else json.loads(raw)
                stored = features or Features.from_json(self._stored or {})
                rows = int(f.attrs["dsreg.rows"])
                f.visititems(lambda name, obj: self._index(h5py, name, obj))
            with open(path, "rb") as fh:
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            raise DsregError(
                "shard file is missing", path=path, fix="run `dsreg verify` and re-prepare the dataset"
            ) from None
        except (OSError, KeyError, ValueError) as err:
            raise DsregError(
                f"not a readable dsreg HDF5 shard ({err})",
                path=path,
                fix="run `dsreg verify --deep` and re-prepare the dataset",
            ) from None
        super().__init__(path, stored, rows)

    def stored_features(self) -> Any:
        return self._stored

    def layout_problems(self, features: Features) -> list[str]:
        """The chunked formats' checks, and no dataset keeping its values in another file."""
        outside = [
            f"dataset {name!r} keeps its values outside the shard file, where its sha256 does not cover them"
            for name in self._outside
        ]
        return outside + super().layout_problems(features)

    def _index(self, h5py: Any, name: str, obj: Any) -> None:
        """Record where a dataset's bytes lie in the file, or None when they cannot be viewed in place."""
        if isinstance(obj, h5py.Dataset):
            plist = obj.id.get_create_plist()
            if plist.get_layout() == h5py.h5d.VIRTUAL or plist.get_external_count():
                self._outside.append(name)
            self._views[name] = _contiguous_offset(obj)

    def _open_leaf(self, key: str) -> Leaf:
        if key not in self._views:
            raise DsregError(f"shard has no dataset {key!r}", path=self.path, fix="re-prepare the dataset")
        view = self._views[key]
        if view is None:
            with h5py_module().File(self.path, "r") as f:
                return ArrayLeaf(f[key][()])
        offset, dtype, shape = view
        count = int(np.prod(shape))
        if count == 0:
            return ArrayLeaf(np.empty(shape, dtype=dtype))
        return ArrayLeaf(np.frombuffer(self._map, dtype=dtype, count=count, offset=offset).reshape(shape))

    def release_pages(self) -> None:
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)


def _contiguous_offset(ds: Any) -> tuple[int, np.dtype, tuple[int, ...]] | None:
    """(file offset, dtype, shape) when the dataset's rows lie unfiltered and in order in one byte range."""
    shape = tuple(int(d) for d in ds.shape)
    dtype = np.dtype(ds.dtype)
    if ds.id.get_create_plist().get_nfilters() or ds.dtype.kind not in "biuf":
        return None  # any filter (compression, byte shuffle...) changes the bytes: read through h5py
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes == 0:
        return (0, dtype, shape)
    if ds.chunks is None:
        offset = ds.id.get_offset()
        return None if offset is None else (int(offset), dtype, shape)
    if any(c != s for c, s in zip(ds.chunks[1:], shape[1:], strict=True)):
        return None
    chunk_bytes = int(np.prod(ds.chunks)) * dtype.itemsize
    expected = -(-shape[0] // ds.chunks[0])
    if ds.id.get_num_chunks() != expected:
        return None
    first = None
    for i in range(expected):
        info = ds.id.get_chunk_info(i)
        if info.filter_mask or info.size != chunk_bytes or info.chunk_offset[0] != i * ds.chunks[0]:
            return None
        if first is None:
            first = info.byte_offset
        elif info.byte_offset != first + i * chunk_bytes:
            return None
    return (int(first or 0), dtype, shape)
