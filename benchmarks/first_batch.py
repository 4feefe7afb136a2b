"""Time to the first shuffled batch for 10 thousand vs 10 million rows: flat, and under 0.2 s.

Each dataset holds an int64 id and an 8-byte tensor per row (written once, with pyarrow record batches, into
the prepared-dataset layout). Each measurement runs in a fresh process (no reader or page of the process is
warm; the files are in the page cache), from ``dsreg.loading.load(...)`` to the first batch of 256 in hand,
with dsreg and torch imported before the clock starts. pyarrow imports pandas the first time an array becomes
numpy (~140 ms here), so each size is timed twice: as a fresh script sees it, and with pandas already imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks.common import bench_dir, fixed_batch, header, row, verdict, write_arrays
from dsreg.features import Features, Scalar, Tensor

SIZES = (10_000, 10_000_000)
FEATURES = Features({"id": Scalar(dtype="int64"), "x": Tensor(shape=(8,), dtype="uint8")})
CHUNK = 1 << 20

PROBE = """
import json, sys, time
if sys.argv[2] == "torch":
    import torch
if sys.argv[3] == "pandas":
    import pandas
from dsreg.loading import load
start = time.perf_counter()
batches = load(sys.argv[1], "train", sys.argv[2], batch_size=256, shuffle=True, seed=1)
first = next(iter(batches))
print(json.dumps({"seconds": time.perf_counter() - start, "rows": len(first["id"])}))
"""


def batches(rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, rows, CHUNK):
        ids = np.arange(start, min(start + CHUNK, rows), dtype=np.int64)
        x = (ids[:, None] + np.arange(8)).astype(np.uint8)
        yield fixed_batch(FEATURES, {"id": ids, "x": x})


def dataset(rows: int) -> Path:
    directory = bench_dir() / f"first-batch-{rows}"
    write_arrays(directory, f"first-batch-{rows}", FEATURES, batches(rows))
    return directory


def first_batch(directory: Path, framework: str, preload: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(directory), framework, preload], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] == 256
    return float(result["seconds"])


def run() -> dict[str, float]:
    paths = {rows: dataset(rows) for rows in SIZES}
    cases = [(f, p) for f in ("numpy", "torch") for p in ("-", "pandas")]
    times = {
        f"{framework}/{preload}/{rows}": min(first_batch(paths[rows], framework, preload) for _ in range(2))
        for framework, preload in cases
        for rows in SIZES
    }
    header("Time to the first shuffled batch of 256 (fresh process, best of 2)")
    for framework, preload in cases:
        small, large = (times[f"{framework}/{preload}/{rows}"] for rows in SIZES)
        how = f"{framework}, {'pandas imported before' if preload == 'pandas' else 'fresh script'}"
        row(f"{how}: {SIZES[0]:,} rows", f"{small * 1000:.1f} ms")
        row(f"{how}: {SIZES[1]:,} rows", f"{large * 1000:.1f} ms", f"{(large - small) * 1000:+.1f} ms")
    worst = max(times.values())
    growth = max(times[f"{f}/{p}/{SIZES[1]}"] - times[f"{f}/{p}/{SIZES[0]}"] for f, p in cases)
    verdict(worst < 0.2 and growth < 0.05, "flat (10M rows add < 50 ms to 10k) and under 0.2 s")
    return times


if __name__ == "__main__":
    run()
