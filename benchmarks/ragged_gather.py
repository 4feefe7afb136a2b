"""A shuffled epoch of ragged rows (token ids and text) from one shard vs from a hundred: ``Dataset.take`` of
batches of 256 over 100,000 rows of int32 token sequences (1–97 ids, as the loading tests' `token_length`) and
short strings, written once as one shard and once as 100 shards of 1,000 rows, timed interleaved round by round.
Target: the hundred shards within 1.5× of the one (a batch costs the same however many shards it touches).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import dsreg
from benchmarks.common import bench_dir, best_time, header, row, verdict, write_arrays
from dsreg.features import Features, Scalar, Sequence, Text

ROWS = 100_000
PER_BATCH = 1_000
BATCH = 256
FEATURES = Features({"tokens": Sequence(dtype="int32"), "text": Text(), "id": Scalar()})


def record_batches() -> Iterator[pa.RecordBatch]:
    """The rows in record batches of PER_BATCH: row i has 1 + (i·7919 mod 97) token ids counting up from i."""
    for first in range(0, ROWS, PER_BATCH):
        ids = np.arange(first, first + PER_BATCH, dtype=np.int64)
        lengths = 1 + (ids * 7919) % 97
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        values = (np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths) + np.repeat(ids, lengths)).astype(np.int32)
        tokens = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values))
        text = pa.array([f"sentence {i} " * int(i % 7) for i in ids.tolist()], type=pa.large_string())
        yield pa.RecordBatch.from_arrays([tokens, text, pa.array(ids)], schema=FEATURES.arrow_schema())


def write(base: Path) -> dict[str, Path]:
    """The rows as one shard and as 100 (the shard writer cuts after every batch once past one byte)."""
    copies = {"one": (base / "one", 256 << 20), "many": (base / "many", 1)}
    for name, (directory, shard_size) in copies.items():
        write_arrays(directory, f"ragged-{name}", FEATURES, record_batches(), shard_size=shard_size)
    return {name: directory for name, (directory, _) in copies.items()}


def run() -> dict[str, Any]:
    datasets = {name: dsreg.open(path, "train") for name, path in write(bench_dir() / "ragged").items()}
    shards = {name: len(ds._shards) for name, ds in datasets.items()}
    check = np.random.default_rng(0).integers(0, ROWS, BATCH)
    one, many = (datasets[name].take(check) for name in ("one", "many"))
    assert one["id"].tolist() == many["id"].tolist() == check.tolist()
    assert all(np.array_equal(a, b) for a, b in zip(one["tokens"], many["tokens"], strict=True))
    assert one["text"].tolist() == many["text"].tolist()

    def epoch(ds: Any) -> None:
        order = np.random.permutation(ROWS)
        for start in range(0, ROWS, BATCH):
            ds.take(order[start : start + BATCH])

    best = dict.fromkeys(datasets, float("inf"))
    for _ in range(7):  # interleaved: load bursts hit both copies alike
        for name, ds in datasets.items():
            best[name] = min(best[name], best_time(lambda ds=ds: epoch(ds), 1))
    header(f"Ragged rows (token ids + text), shuffled epoch of {ROWS} rows, batch {BATCH} (seconds; best of 7)")
    for name in datasets:
        row(f"Dataset.take, {shards[name]} shard(s)", f"{best[name]:.3f} s", f"{best[name] / best['one']:.2f}× one")
    verdict(best["many"] / best["one"] <= 1.5, f"{shards['many']} shards within 1.5× of one")
    return best


if __name__ == "__main__":
    run()
