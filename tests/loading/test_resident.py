"""Mapped shard pages stay within the dataset's resident budget while it streams through more data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import dsreg
from dsreg import Features, Image, Scalar
from dsreg.loading import open_dataset


def _rss_file_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssFile in /proc/self/status")


def _epoch_peak(ds, order: np.ndarray) -> float:
    base, peak = _rss_file_mb(), 0.0
    for start in range(0, order.size, 8):  # small reads: one random row can map up to a 2 MiB folio
        batch = ds.take(order[start : start + 8])
        assert batch["image"].shape[1:] == (64, 64, 3)
        peak = max(peak, _rss_file_mb() - base)
    return peak


def test_streaming_more_than_the_budget_keeps_mapped_pages_bounded(tmp_path: Path) -> None:
    features = Features({"image": Image(shape=(64, 64, 3)), "idx": Scalar()})
    rows = 6000  # 12 KiB per row: about 70 MiB of shards
    examples = ({"image": np.full((64, 64, 3), i % 251, np.uint8), "idx": i} for i in range(rows))
    manifest = dsreg.write_dataset("big", {"train": examples}, features, root=tmp_path, shard_size="16MiB")
    order = np.random.default_rng(0).permutation(rows)

    unbounded = _epoch_peak(open_dataset(manifest.directory, "train", max_resident_bytes=None), order)
    bounded_ds = open_dataset(manifest.directory, "train", max_resident_bytes=16 << 20)
    bounded = _epoch_peak(bounded_ds, order)
    assert unbounded > 50, unbounded  # every page of the epoch stayed mapped
    assert bounded < 16 + 24, bounded  # the budget plus what one read of 8 rows may map
    again = bounded_ds.take(order[:5])
    assert again["idx"].tolist() == order[:5].tolist()  # released pages read back correctly
    assert (again["image"][:, 0, 0, 0] == order[:5] % 251).all()
