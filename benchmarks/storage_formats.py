"""The three storage formats (arrow, zarr, hdf5) side by side, on CIFAR-10 prepared the way `dsreg prepare`
makes it: the shipped cifar10 recipe over a generated copy of the vendor's python archive (50,000 + 10,000
rows), once per format (`storage=`).

Measured in one run: a shuffled epoch of the train split, batch 256, to torch tensors (`load(..., "torch")`,
best of 5, and a first epoch of a freshly opened dataset), and random single-row reads (`ds[i]` for 2,000
random rows, best of 3), as ratios to the in-RAM gather limit and to Arrow.
"""

from __future__ import annotations

import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import dsreg
from benchmarks.common import bench_dir, best_time, header, row
from dsreg.loading import load
from dsreg.manifest import Manifest
from dsreg.preparation import Progress
from dsreg.storage import FORMATS
from dsreg.testing.cifar import expected_cifar, make_cifar10_python

ROWS = 50_000
BATCH = 256
SINGLE = 2_000


def source(base: Path) -> Path:
    """The vendor's cifar-10-batches-py layout, unpacked (generated once)."""
    unpacked = base / "unpacked"
    if not (unpacked / "cifar-10-batches-py" / "batches.meta").is_file():
        archive = make_cifar10_python(base, train_rows=ROWS, test_rows=10_000)
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        archive.unlink()
    return unpacked


def prepare_all(base: Path) -> dict[str, Manifest]:
    """cifar10 prepared in every format (reused when already there; the preparation time is printed otherwise)."""
    raw = source(base)
    manifests = {}
    for fmt in FORMATS:
        start = time.perf_counter()
        report = Progress()
        manifests[fmt] = dsreg.prepare("cifar10", source=raw, root=base / fmt, storage=fmt, report=report)
        if not report.reused:
            print(f"   prepared cifar10 as {fmt} in {time.perf_counter() - start:.1f} s", flush=True)
    return manifests


def run() -> dict[str, Any]:
    import torch

    base = bench_dir() / "storage"
    manifests = prepare_all(base)
    rows = expected_cifar("cifar10", "train", ROWS)

    def epoch(batches: Any) -> None:
        seen = sum(len(batch["image"]) for batch in batches)
        assert seen == ROWS, seen

    def gather() -> None:
        order = np.random.permutation(ROWS)
        parts = (order[start : start + BATCH] for start in range(0, ROWS, BATCH))
        epoch({"image": torch.from_numpy(rows["image"][i]), "label": torch.from_numpy(rows["label"][i])} for i in parts)

    limit = best_time(gather, 5)
    picks = np.random.default_rng(0).integers(0, ROWS, SINGLE)
    results: dict[str, dict[str, float]] = {}
    for fmt, manifest in manifests.items():
        assert manifest.splits["train"].format == fmt
        first = best_time(
            lambda m=manifest: epoch(load(m.directory, "train", "torch", batch_size=BATCH, shuffle=True)), 1
        )
        loader = load(manifest.directory, "train", "torch", batch_size=BATCH, shuffle=True)
        warm = best_time(lambda loader=loader: epoch(loader), 5)
        ds = dsreg.open(manifest.directory, "train")
        image = ds[int(picks[0])]["image"]
        assert np.array_equal(image, rows["image"][picks[0]])
        single = best_time(lambda ds=ds: [ds[int(i)] for i in picks], 3) / SINGLE
        results[fmt] = {"epoch": warm, "first_epoch": first, "single_row": single}
    arrow = results["arrow"]
    header(f"Storage formats: cifar10 prepared by the recipe ({ROWS} train rows), torch epochs of batch {BATCH}")
    row("numpy fancy-index gather from RAM (the limit)", f"{limit:.3f} s")
    for fmt, r in results.items():
        row(
            f"{fmt}: shuffled epoch (best of 5)",
            f"{r['epoch']:.3f} s",
            f"{r['epoch'] / limit:.2f}× the limit, {r['epoch'] / arrow['epoch']:.2f}× arrow",
        )
        row(
            f"{fmt}: first epoch of a fresh open",
            f"{r['first_epoch']:.3f} s",
            f"{r['first_epoch'] / arrow['first_epoch']:.2f}× arrow",
        )
        row(
            f"{fmt}: random single-row read ds[i]",
            f"{r['single_row'] * 1e6:.0f} µs",
            f"{r['single_row'] / arrow['single_row']:.2f}× arrow",
        )
    for fmt in results:
        row(f"{fmt}: bytes on disk, train+test", f"{manifests[fmt].bytes / 2**20:.1f} MiB")
    fastest = min(results, key=lambda f: (results[f]["epoch"], results[f]["single_row"]))
    row("fastest on the epoch", fastest, "(the recipe default follows it: arrow)" if fastest == "arrow" else "")
    return {"limit": limit, **results}


if __name__ == "__main__":
    run()
