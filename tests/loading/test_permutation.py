from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from dsreg.loading import Permutation


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
    start = time.perf_counter()
    perm = Permutation(n, key=123)
    out = np.concatenate([perm(np.arange(s, s + 1000)) for s in (0, 5_000_000, n - 3000, n - 2000, n - 1000)])
    elapsed = time.perf_counter() - start
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
