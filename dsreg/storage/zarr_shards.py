"""zarr v3 shards: one zarr group (a directory) per shard, one sharded, uncompressed array per stored array.

Columns are laid out as in `dsreg.storage.columns` (a fixed-shape feature is one array of shape
``(rows, *shape)``; variable-length columns are flat values plus int64 offsets). Each array is written as a
single zarr shard file of inner chunks of about `CHUNK_BYTES`, so a random row costs one ranged read of one
inner chunk, locally or from an object store. The group attribute `dsreg` holds the features and row count.
Chunks read are kept in one least-recently-used cache per process (`BLOCK_CACHE_BYTES`).

Bytes are deterministic (zarr metadata carries no times; arrays are written whole, in a fixed order). The
shard's sha256 is that of its canonical file listing (see `dsreg.storage.base`). Reading works from a local
path or any fsspec URL (``s3://…``).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.storage.base import BatchingWriter
from dsreg.storage.chunked import BlockCache, BlockLeaf, LeafShardReader
from dsreg.storage.columns import Leaf
from dsreg.storage.hdf5_shards import chunk_rows, table_leaves
from dsreg.urls import is_url, local_path

CHUNK_BYTES = 256 << 10
_CACHE = BlockCache()  # one per process, shared by every zarr shard: the bound holds however many are open
_OPENED = itertools.count()  # numbers each reader's cache keys: a shard replaced at its path is never read stale


def zarr_module() -> Any:
    try:
        import zarr
    except ImportError:
        raise DsregError("the zarr storage format needs zarr>=3", fix="pip install 'dsreg[storage]'") from None
    return zarr


def open_store(location: str | os.PathLike[str], *, write: bool = False) -> Any:
    """A zarr store for a local directory or an fsspec URL."""
    zarr = zarr_module()
    if is_url(location):
        return zarr.storage.FsspecStore.from_url(os.fspath(location), read_only=not write)
    return zarr.storage.LocalStore(os.fspath(local_path(location)), read_only=not write)


class ZarrShardWriter(BatchingWriter):
    """zarr v3 shards `<prefix>-NNNNN.zarr/` (directories)."""

    suffix = ".zarr"

    def _write(self, table: pa.Table, path: Path) -> None:
        zarr = zarr_module()
        leaves = table_leaves(table, self.features)
        meta = {"features": self.features.to_json(), "rows": table.num_rows}
        group = zarr.create_group(open_store(path, write=True), zarr_format=3, attributes={"dsreg": meta})
        for key, values in leaves.items():
            rows = chunk_rows(values.shape, values.dtype.itemsize, CHUNK_BYTES)
            chunks = (rows, *values.shape[1:])
            outer = (max(rows, -(-values.shape[0] // rows) * rows), *values.shape[1:])
            array = group.create_array(
                key,
                shape=values.shape,
                dtype=values.dtype,
                chunks=chunks,
                shards=outer,
                compressors=None,
                filters=None,
                fill_value=np.zeros((), dtype=values.dtype)[()],
            )
            if values.size:
                array[...] = values


class ZarrShardReader(LeafShardReader):
    """A zarr shard at a local path or an fsspec URL; leaves read chunk by chunk through a bounded cache."""

    def __init__(self, location: str | os.PathLike[str], features: Features | None = None):
        zarr = zarr_module()
        self.location = os.fspath(local_path(location))  # a file:// URL is the directory it names, %xx decoded
        try:
            self._group = zarr.open_group(store=open_store(self.location), mode="r", zarr_format=3)
            meta = self._group.attrs["dsreg"]
            rows = int(meta["rows"])
            self._stored = meta.get("features")
            stored = features or Features.from_json(meta["features"])
        except (FileNotFoundError, KeyError, ValueError, TypeError, OSError) as err:
            raise DsregError(
                f"not a readable dsreg zarr shard ({type(err).__name__}: {err})",
                path=self.location,
                fix="run `dsreg verify --deep` and re-prepare the dataset",
            ) from None
        super().__init__(Path(self.location), stored, rows)
        self._cache_key = f"{next(_OPENED)}:{self.location}"

    def stored_features(self) -> Any:
        return self._stored

    def stored_bytes(self) -> int:
        """The sum of the shard's files, listed through fsspec at a URL: zarr reads a missing chunk file as the
        fill value (0), so a copy whose upload stopped early must be caught by its size."""
        if not is_url(self.location):
            return super().stored_bytes()
        import fsspec

        try:
            fs, where = fsspec.core.url_to_fs(self.location)
            return int(fs.du(where, total=True))
        except (OSError, ValueError) as err:
            raise DsregError(
                f"cannot list the shard's files ({type(err).__name__}: {err})",
                path=self.location,
                fix="check the URL and the credentials",
            ) from None

    def _open_leaf(self, key: str) -> Leaf:
        try:
            array = self._group[key]
        except KeyError:
            raise DsregError(f"shard has no array {key!r}", path=self.location, fix="re-prepare the dataset") from None
        shape = tuple(int(d) for d in array.shape)
        return BlockLeaf(
            f"{self._cache_key}::{key}",
            shape,
            np.dtype(array.dtype),
            array.chunks[0],
            lambda lo, hi: np.asarray(array[lo:hi]),
            _CACHE,
        )

    def release_pages(self) -> None:
        """Drop every cached zarr chunk of this process (they are re-read on demand)."""
        _CACHE.clear()
