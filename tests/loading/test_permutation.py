from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from dsreg.loading import Permutation
from dsreg.loading.permutation import mix64


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 97, 1000, 4097])
def test_every_size_gives_a_permutation(n: int) -> None:
    out = Permutation(n, key=5)(np.arange(n))
    assert sorted(out.tolist()) == list(range(n))


def test_the_order_is_a_function_of_the_key_only() -> None:
    a, b, c = (Permutation(1000, k)(np.arange(1000)) for k in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.9
    assert (a != np.arange(1000)).mean() > 0.9  # actually shuffled
    np.testing.assert_array_equal(Permutation(1000, 1)(np.array([7, 3])), a[[7, 3]])  # evaluated per position


def test_ten_million_rows_without_allocating_them() -> None:
    n = 10_000_000
    tracemalloc.start()
    start = time.thread_time()  # CPU seconds of this thread: a loaded machine stretches wall time, not these
    perm = Permutation(n, key=123)
    out = np.concatenate([perm(np.arange(s, s + 1000)) for s in (0, 5_000_000, n - 3000, n - 2000, n - 1000)])
    elapsed = time.thread_time() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.unique(out).size == 5000 and out.min() >= 0 and out.max() < n
    assert elapsed < 0.5
    assert peak < 2_000_000  # far below the 80 MB of a materialised int64 permutation
    assert np.abs(np.diff(out)).mean() > n / 10  # neighbours land far apart: a global shuffle


def test_importing_the_load_side_imports_no_framework() -> None:
    frameworks = "{'torch', 'tensorflow', 'keras', 'datasets'}"
    code = f"import sys, dsreg.loading, dsreg.frameworks; print(sorted({frameworks} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


M64 = (1 << 64) - 1


def reference_mix(x: int, key: int) -> int:
    """splitmix64's finaliser of ``x + key`` in Python integers."""
    z = (x + key + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def reference_permutation(n: int, key: int, position: int) -> int:
    """FE1 with cycle-walking, written out in Python integers: what the vectorized rounds must equal."""
    perm = Permutation(n, key)
    x = position
    while True:
        for k in perm.keys:
            left, right = divmod(x, perm.b)
            x = perm.a * right + (left + reference_mix(right, k) % perm.a) % perm.a
        if x < n:
            return x


@pytest.mark.parametrize("n", [1, 2, 5, 97, 1000, 65_537, 10_000_019])
def test_the_vectorized_rounds_equal_the_written_out_construction(n: int) -> None:
    positions = np.unique(np.random.default_rng(n).integers(0, n, 300))
    for key in (0, 3, M64):
        got = Permutation(n, key)(positions).tolist()
        assert got == [reference_permutation(n, key, int(p)) for p in positions]


def test_orders_are_those_of_earlier_releases() -> None:
    # pinned: saved loader positions and published epoch orders must not change under an optimisation
    assert Permutation(1000, 7)(np.arange(12)).tolist() == [834, 382, 102, 215, 203, 810, 646, 943, 358, 366, 417, 39]
    big = Permutation(10_000_019, M64)(np.array([0, 1, 5_000_000, 10_000_018]))
    assert big.tolist() == [3317553, 3148294, 8088136, 250007]
    assert mix64(np.array([0, 1, 2**40]), 99).tolist() == [
        4824385676517010403,
        2532601429470541124,
        3578574360648284580,
    ]
    assert [int(v) for v in mix64(np.arange(5, dtype=np.uint64), 2**63)] == [reference_mix(i, 2**63) for i in range(5)]
