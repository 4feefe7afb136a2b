"""Block-read leaves (zarr's path): whole small leaves filled as blocks arrive, large ones block by block,
both bounded by one cache; reads count what the store is asked for."""

from __future__ import annotations

import numpy as np
import pytest

from dsreg.storage.chunked import BlockCache, BlockLeaf


def _leaf(budget: int, reads: list[tuple[int, int]], rows: int = 1000) -> tuple[BlockLeaf, np.ndarray]:
    data = np.arange(rows * 3, dtype=np.int32).reshape(rows, 3)

    def read_block(lo: int, hi: int) -> np.ndarray:
        reads.append((lo, hi))
        return data[lo:hi].copy()

    return BlockLeaf("k", data.shape, data.dtype, 64, read_block, BlockCache(budget)), data


@pytest.mark.parametrize("budget", [1 << 20, 4_000])  # whole leaf held (12 KB ≤ half) / block by block
def test_gathers_and_slices_match_the_array_and_read_only_needed_blocks(budget: int) -> None:
    reads: list[tuple[int, int]] = []
    leaf, data = _leaf(budget, reads)
    idx = np.asarray([999, 0, 5, 5, 640, 63, 64])
    assert np.array_equal(leaf.take(idx), data[idx])
    assert sorted(set(reads)) == [(0, 64), (64, 128), (640, 704), (960, 1000)]
    assert np.array_equal(leaf.read(60, 130), data[60:130])
    assert np.array_equal(leaf.read(5, 5), data[5:5]) and leaf.take(np.zeros(0, dtype=np.int64)).shape == (0, 3)
    if budget > 4_000:
        assert len(reads) == 5  # every block once: (128, 192) is the only new one
    else:
        assert leaf._cache.bytes <= budget  # block by block, older blocks evicted


def test_clearing_the_cache_rereads_on_demand() -> None:
    reads: list[tuple[int, int]] = []
    leaf, data = _leaf(1 << 20, reads)
    leaf.take(np.asarray([3]))
    leaf._cache.clear()
    assert np.array_equal(leaf.take(np.asarray([3, 700])), data[[3, 700]])
    assert reads == [(0, 64), (0, 64), (640, 704)]


def test_two_threads_loading_one_block_count_its_bytes_once() -> None:
    # the loader's fetch threads share the cache: both missed, both inserted, and the block's bytes were counted
    # twice for one entry, so the cache's budget shrank a little with every such race until it held one block
    import threading

    cache = BlockCache(1 << 20)
    both_loading = threading.Barrier(2, timeout=60)
    got: list[np.ndarray] = []

    def load() -> np.ndarray:
        both_loading.wait()  # the second thread misses while the first still loads
        return np.zeros(100, dtype=np.int64)

    threads = [threading.Thread(target=lambda: got.append(cache.get(("k", 0), load))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(got) == 2 and got[0] is got[1]  # one block, whichever thread loaded it
    assert cache.bytes == 800
