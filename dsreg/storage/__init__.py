"""Shard storage formats behind one small interface, registered by name.

A format is a writer (`BatchingWriter`: deterministic shards cut at a target size, published by rename) and a
random-access reader (`ShardReaderBase`: row count, gathers in numpy form, Arrow slices). The manifest records
each split's format; loading picks the reader from it. Modules are imported on first use, so zarr and h5py
stay out of `import dsreg`.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.storage.arrow_shards import ShardReader, ShardWriter
from dsreg.storage.base import (
    BatchingWriter,
    ShardReaderBase,
    WrittenShard,
    sha256_file,
    sha256_shard,
    shard_bytes,
)

DEFAULT_FORMAT = "arrow"


@dataclass(frozen=True)
class StorageFormat:
    """One registered format: its name, its shards' suffix, and where its writer and reader live."""

    name: str
    suffix: str
    module: str
    writer_name: str
    reader_name: str
    directory: bool = False
    remote: bool = False

    def writer(
        self,
        directory: str | os.PathLike[str],
        prefix: str,
        features: Features,
        target_bytes: int,
        *,
        defer_sync: bool = False,
    ) -> BatchingWriter:
        cls = getattr(importlib.import_module(self.module), self.writer_name)
        writer: BatchingWriter = cls(directory, prefix, features, target_bytes, defer_sync=defer_sync)
        return writer

    def reader(self, path: str | os.PathLike[str], features: Features | None = None) -> ShardReaderBase:
        """A reader of the shard at `path` (an fsspec URL only for formats read `remote`ly)."""
        text = os.fspath(path)
        if not self.remote and "://" in text and not text.startswith("file://"):
            raise DsregError(
                f"{self.name} shards are memory-mapped, so they are read from a local filesystem, not a URL",
                path=text,
                fix="copy the dataset to a local or shared filesystem (or stage it), or prepare it with storage: zarr",
            )
        cls = getattr(importlib.import_module(self.module), self.reader_name)
        reader: ShardReaderBase = cls(path, features)
        return reader


FORMATS: dict[str, StorageFormat] = {
    f.name: f
    for f in (
        StorageFormat("arrow", ".arrow", "dsreg.storage.arrow_shards", "ShardWriter", "ShardReader"),
        StorageFormat("zarr", ".zarr", "dsreg.storage.zarr_shards", "ZarrShardWriter", "ZarrShardReader", True, True),
        StorageFormat("hdf5", ".h5", "dsreg.storage.hdf5_shards", "Hdf5ShardWriter", "Hdf5ShardReader"),
    )
}


def get_format(name: str) -> StorageFormat:
    """The registered format called `name` (arrow, zarr, hdf5)."""
    try:
        return FORMATS[name]
    except KeyError:
        raise DsregError(f"unknown storage format {name!r}", fix=f"use one of: {', '.join(FORMATS)}") from None


__all__ = [
    "DEFAULT_FORMAT",
    "FORMATS",
    "BatchingWriter",
    "ShardReader",
    "ShardReaderBase",
    "ShardWriter",
    "StorageFormat",
    "WrittenShard",
    "get_format",
    "sha256_file",
    "sha256_shard",
    "shard_bytes",
]
