"""`dsreg demo`: the whole pipeline on a generated CIFAR-10, with no network.

Generates the vendor's `cifar-10-python.tar.gz` layout (full size by default, fake pixels), prepares
it from a local unpacked copy, verifies every shard, and reads a shuffled epoch back through
`dsreg.load`, checking values against what was generated.

The result is published as `demo-cifar10`, never under the real corpus's name, and its manifest records
its provenance as `generated`: a later `dsreg prepare cifar10` on the same root prepares the real data.
"""

from __future__ import annotations

import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.manifest import verify_manifest
from dsreg.preparation import Progress, prepare
from dsreg.recipe import Recipe, RecipeConfig
from dsreg.registry import get_recipe
from dsreg.roots import writable_root
from dsreg.testing.cifar import expected_cifar, make_cifar10_python

OFFICIAL_TRAIN, OFFICIAL_TEST = 50_000, 10_000
DEMO_NAME = "demo-cifar10"


def demo_config() -> RecipeConfig:
    """The CIFAR-10 recipe's `python` config under the demo's own name, so generated data never takes the
    real corpus's place."""
    recipe = get_recipe("cifar10")
    description = f"Generated stand-in for CIFAR-10 made by `dsreg demo` (fake pixels). {recipe.description}"
    return Recipe(recipe.path, {**recipe.data, "name": DEMO_NAME, "description": description}).config("python")


def _raw_copy(raw: Path, train_rows: int, test_rows: int) -> Path:
    """The generated archive, unpacked the way a cluster keeps a raw copy (generated once, then reused)."""
    unpacked = raw / f"cifar-10-python-{train_rows}"
    if not (unpacked / "cifar-10-batches-py" / "test_batch").exists():
        archive = make_cifar10_python(raw, train_rows=train_rows, test_rows=test_rows)
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
    return unpacked


def _torch_epoch(dataset: str, base: Path, say: Callable[[str], None]) -> float | None:
    """One shuffled epoch as torch tensors, when PyTorch is installed (the `torch` extra)."""
    from dsreg.loading import load

    try:
        loader = load(dataset, "train", "torch", root=base, batch_size=256, shuffle=True)
    except DsregError as err:
        say(f"   (skipping the PyTorch epoch: {err.problem})")
        return None
    start = time.perf_counter()
    seen = sum(int(batch["label"].shape[0]) for batch in loader)
    seconds = time.perf_counter() - start
    say(f"   dsreg.load(..., 'torch'): {seen:,} images as torch tensors in {seconds * 1000:.0f} ms")
    return seconds


def run_demo(
    root: str | os.PathLike[str] | None = None,
    *,
    rows: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the demo under `root` (default: the first writable DSREG_ROOT) and return what it measured."""
    from dsreg.loading import load, open_dataset

    say = log or (lambda _msg: None)
    base = writable_root(root)
    train_rows = rows or OFFICIAL_TRAIN
    test_rows = OFFICIAL_TEST if rows is None else max(1, rows // 5)
    t0 = time.perf_counter()
    say(f"1. generating the vendor layout of cifar-10-python.tar.gz ({train_rows:,} + {test_rows:,} fake images)")
    source = _raw_copy(base / "raw", train_rows, test_rows)
    say(f"   unpacked copy at {source} ({time.perf_counter() - t0:.1f} s)")

    t1 = time.perf_counter()
    say(f"2. preparing {DEMO_NAME}/python from that copy: the cifar10 recipe under the demo's own name, recorded")
    say("   as generated, so it never stands in for the real cifar10")
    report = Progress()
    manifest = prepare(
        demo_config(),
        source=source,
        root=base,
        check_counts=rows is None,
        report=report,
        log=lambda m: say("   " + m),
        generated=True,
    )
    prepare_s = time.perf_counter() - t1
    for split in manifest.splits.values():
        say(f"   {split.name}: {split.rows:,} rows in {len(split.shards)} shard(s)")

    t2 = time.perf_counter()
    problems = verify_manifest(manifest, deep=True)
    say(f"3. dsreg verify --deep: {problems or 'OK'} ({time.perf_counter() - t2:.2f} s)")

    say(f"4. dsreg.load({DEMO_NAME!r}, 'train', 'numpy', batch_size=256, shuffle=True): one epoch")
    loader = load(manifest.full_name, "train", "numpy", root=base, batch_size=256, shuffle=True)
    t3 = time.perf_counter()
    seen = sum(len(batch["label"]) for batch in loader)
    epoch_s = time.perf_counter() - t3
    say(f"   {seen:,} images in {epoch_s * 1000:.0f} ms ({seen / max(epoch_s, 1e-9):,.0f} images/s)")

    torch_s = _torch_epoch(manifest.full_name, base, say)

    ds = open_dataset(manifest.full_name, "test", root=base)
    expected = expected_cifar("cifar10", "test", test_rows)
    picks = np.arange(0, len(ds), max(1, len(ds) // 50))
    got = ds.take(picks)
    matches = bool(
        np.array_equal(got["image"], expected["image"][picks])
        and np.array_equal(got["label"], expected["label"][picks])
    )
    say(f"5. {len(picks)} test images read back, compared with the generated pixels: {'OK' if matches else 'MISMATCH'}")
    names = manifest.features["label"].to_json()["names"]
    say(f"   first test image: label {names[int(got['label'][0])]!r}; dataset at {manifest.directory}")
    return {
        "dataset": manifest.full_name,
        "path": str(manifest.directory),
        "provenance": manifest.provenance,
        "rows": {s.name: s.rows for s in manifest.splits.values()},
        "reused": report.reused,
        "prepare_seconds": round(prepare_s, 3),
        "epoch_seconds": round(epoch_s, 4),
        "torch_epoch_seconds": None if torch_s is None else round(torch_s, 4),
        "verified": not problems and matches and seen == train_rows,
    }
