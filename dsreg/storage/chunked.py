"""The shared reader of the chunked formats (zarr, HDF5): columns stored as leaves (see `columns`), one
batch per shard, gathers rebuilt into each feature's Arrow type and numpy form.

Fixed-shape features (scalars, class labels, tensors, images) take a fast path: one indexed read of their
leaf, already in the numpy batch form. Everything else is rebuilt as Arrow and converted by the feature, so
any feature reads back exactly as from an Arrow shard.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.storage.base import ShardReaderBase
from dsreg.storage.columns import Leaf, is_fixed, node_name, take, take_ranges

BLOCK_CACHE_BYTES = 512 << 20


class ArrayLeaf:
    """A leaf held as a numpy array (a view of a mapped file, or read into memory)."""

    def __init__(self, array: np.ndarray):
        self.array = array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def take(self, idx: np.ndarray) -> np.ndarray:
        return np.take(self.array, idx, axis=0)

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop]


class _Dense:
    """A leaf's whole array, filled block by block as its blocks are first needed."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, blocks: int):
        self.array = np.empty(shape, dtype=dtype)  # pages are committed only where blocks are written
        self.loaded = np.zeros(blocks, dtype=bool)

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)


class BlockCache:
    """Least-recently-used blocks (and whole small leaves being filled) of any number of leaves, bounded in bytes.

    Thread-safe (a loader's fetch threads share it): blocks load outside the lock, and when two threads load the
    same block at once, the first one stored is kept and counted once."""

    def __init__(self, budget: int = BLOCK_CACHE_BYTES):
        self.budget = budget
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, int], np.ndarray | _Dense] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int], load: Callable[[], np.ndarray | _Dense]) -> np.ndarray | _Dense:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
        loaded = load()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:  # another thread stored it meanwhile
                self._entries.move_to_end(key)
                return entry
            self._entries[key] = loaded
            self.bytes += loaded.nbytes
            while self.bytes > self.budget and len(self._entries) > 1:
                _, old = self._entries.popitem(last=False)
                self.bytes -= old.nbytes
        return loaded

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0


class BlockLeaf:
    """A leaf read block by block (`block` rows at a time, e.g. one zarr chunk) through a bounded cache.

    A leaf up to half the cache's budget is assembled in one array as its blocks arrive, so gathers on it are
    single vectorised `np.take`s however many blocks a batch touches; a larger one is cached block by block.
    """

    def __init__(
        self,
        key: str,
        shape: tuple[int, ...],
        dtype: np.dtype,
        block: int,
        read_block: Callable[[int, int], np.ndarray],
        cache: BlockCache,
    ):
        self.key, self._shape, self.dtype, self.block = key, shape, dtype, max(int(block), 1)
        self._read_block, self._cache = read_block, cache
        self._blocks = -(-shape[0] // self.block)
        self._dense_ok = int(np.prod(shape)) * dtype.itemsize <= cache.budget // 2

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    def _bounds(self, b: int) -> tuple[int, int]:
        lo = b * self.block
        return lo, min(lo + self.block, self._shape[0])

    def _get(self, b: int) -> np.ndarray:
        block = self._cache.get((self.key, b), lambda: self._read_block(*self._bounds(b)))
        assert isinstance(block, np.ndarray)
        return block

    def _dense(self, blocks: np.ndarray) -> np.ndarray | None:
        """The whole leaf with `blocks` filled in, or None for a leaf too large to hold whole."""
        if not self._dense_ok:
            return None
        dense = self._cache.get((self.key, -1), lambda: _Dense(self._shape, self.dtype, self._blocks))
        assert isinstance(dense, _Dense)
        for b in blocks[~dense.loaded[blocks]].tolist():
            lo, hi = self._bounds(b)
            dense.array[lo:hi] = self._read_block(lo, hi)
            dense.loaded[b] = True
        return dense.array

    def take(self, idx: np.ndarray) -> np.ndarray:
        blocks = idx // self.block
        dense = self._dense(np.unique(blocks))
        if dense is not None:
            return np.take(dense, idx, axis=0)
        out = np.empty((len(idx), *self._shape[1:]), dtype=self.dtype)
        if len(idx) == 0:
            return out
        order = np.argsort(blocks, kind="stable")
        cuts = np.flatnonzero(np.diff(blocks[order])) + 1
        for part in np.split(order, cuts):
            b = int(blocks[part[0]])
            out[part] = self._get(b)[idx[part] - b * self.block]
        return out

    def read(self, start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return np.empty((0, *self._shape[1:]), dtype=self.dtype)
        first, last = start // self.block, (stop - 1) // self.block
        dense = self._dense(np.arange(first, last + 1))
        if dense is not None:
            return dense[start:stop]
        parts = [self._get(b) for b in range(first, last + 1)]
        joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
        base = first * self.block
        return joined[start - base : stop - base]


class LeafShardReader(ShardReaderBase):
    """A shard of a chunked format: one batch of `rows` rows whose columns are leaves opened on demand."""

    def __init__(self, path: Path, features: Features, rows: int):
        self.path = path
        self.features = features
        self.batch_offsets = np.asarray([0, rows], dtype=np.int64)
        self._leaves: dict[str, Leaf] = {}
        self._types = {name: features[name].arrow_type() for name in features.names()}

    @abstractmethod
    def _open_leaf(self, key: str) -> Leaf:
        """The stored array `key` (a path such as ``image`` or ``text/offsets``)."""

    def _leaf(self, key: str) -> Leaf:
        leaf = self._leaves.get(key)
        if leaf is None:
            leaf = self._open_leaf(key)
            self._leaves[key] = leaf
        return leaf

    def _fast(self, name: str) -> bool:
        feature = self.features[name]
        return feature.fixed_shape and is_fixed(self._types[name])

    def layout_problems(self, features: Features) -> list[str]:
        """Each fixed-shape column's stored array has the manifest's dtype and values per row."""
        found = []
        for name in features.names():
            feature = features[name]
            if not (feature.fixed_shape and is_fixed(feature.arrow_type())):
                continue
            try:
                stored = self._leaf(node_name(name)).read(0, 0)
            except DsregError as err:
                found.append(err.problem)
                continue
            shape = tuple(int(d or 0) for d in feature.example_shape())
            dtype = np.dtype(feature.numpy_dtype())
            if stored.dtype != dtype or int(np.prod(stored.shape[1:])) != int(np.prod(shape)):
                found.append(
                    f"column {name!r} is stored as {stored.dtype} with {stored.shape[1:]} per row, "
                    f"the manifest says {dtype} with {shape}"
                )
        return found

    def _batch(self, batch: int) -> None:
        if batch != 0:
            raise DsregError(f"a {type(self).__name__} shard has one batch, not {batch + 1}", path=self.path)

    def take(self, name: str, batch: int, rows: np.ndarray) -> np.ndarray:
        self._batch(batch)
        rows = np.asarray(rows, dtype=np.int64)
        feature = self.features[name]
        with self._damage(name):
            if self._fast(name):
                shape = tuple(int(d or 0) for d in feature.example_shape())
                return self._leaf(node_name(name)).take(rows).reshape((len(rows), *shape))
            return feature.to_numpy(take(self._types[name], self._leaf, node_name(name), rows))

    def column(self, name: str, batch: int) -> np.ndarray:
        self._batch(batch)
        feature = self.features[name]
        if self._fast(name):
            shape = tuple(int(d or 0) for d in feature.example_shape())
            with self._damage(name):
                return self._leaf(node_name(name)).read(0, self.num_rows).reshape((self.num_rows, *shape))
        return feature.to_numpy(self.arrow(name, batch, 0, self.num_rows))

    def arrow(self, name: str, batch: int, start: int, stop: int) -> pa.Array:
        self._batch(batch)
        one = np.asarray([start]), np.asarray([stop])
        with self._damage(name):
            return take_ranges(self._types[name], self._leaf, node_name(name), *one)

    @contextmanager
    def _damage(self, name: str) -> Iterator[None]:
        """Stored arrays that disagree with each other (offsets past their values, short arrays) mean a damaged
        shard: say so, never a bare IndexError from deep in a gather."""
        try:
            yield
        except (IndexError, ValueError, pa.ArrowInvalid) as err:
            raise DsregError(
                f"column {name!r} cannot be read: its stored arrays are inconsistent ({err})",
                path=self.path,
                fix="run `dsreg verify --deep` and re-prepare the dataset",
            ) from None
