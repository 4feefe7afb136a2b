"""One shuffled CIFAR-10-sized epoch (50,000 × 32×32×3 uint8 + label, batch 256) to numpy arrays and torch tensors.

dsreg on copies of the same rows — CIFAR-10 prepared by the shipped recipe from a generated vendor archive
(five shards, one per ``data_batch_N``, as ``dsreg prepare`` and ``dsreg demo`` make it), the single-shard best
case written with ``write_dataset``, and a copy cut into 49 shards of 1,024 rows (``Dataset.take`` only, to show
that a batch costs the same however many shards it touches) — with the numpy and torch adapters
(``dsreg.loading.load``), against
torchvision's ``CIFAR10`` + ``DataLoader`` (each image turned into a uint8 tensor, best of 0 and 2 workers),
Hugging Face ``datasets`` (``Array3D`` features from its own memory-mapped cache, ``with_format("torch")``, read a
batch of indices at a time — its fastest public path), and the limit: a numpy fancy-index gather from the same
arrays in RAM. All read the same rows (dsreg's fake CIFAR-10, written once in the vendor's pickle format for
torchvision). Targets: ≥ 20× torchvision, ≥ 5× HF datasets, ≤ 1.5× the gather limit on the recipe-prepared data
with both adapters.
"""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

import dsreg
from benchmarks.common import bench_dir, best_time, header, row, verdict
from benchmarks.storage_formats import source
from dsreg.loading import load
from dsreg.manifest import Manifest
from dsreg.preparation import Progress
from dsreg.testing.cifar import CIFAR10_LABELS, expected_cifar, make_cifar10_python

ROWS = 50_000
BATCH = 256
NAME = "bench-cifar10"
MANY = "bench-cifar10-many"


def write_dsreg(root: Path, rows: dict[str, np.ndarray], name: str = NAME, shard_size: str = "256MiB") -> None:
    """The rows written by ``write_dataset`` (once; reused when already there), in shards of `shard_size`."""
    if (root / name).is_dir():
        return
    features = dsreg.Features(
        {"image": dsreg.Image(shape=(32, 32, 3)), "label": dsreg.ClassLabel(names=CIFAR10_LABELS)}
    )
    examples = ({"image": im, "label": int(lab)} for im, lab in zip(rows["image"], rows["label"], strict=True))
    dsreg.write_dataset(
        name, {"train": examples}, features, root=root, supervised_keys=("image", "label"), shard_size=shard_size
    )


def write_torchvision(folder: Path) -> Path:
    """The vendor's ``cifar-10-batches-py`` folder with the same 50,000 rows (torchvision reads it, download=False)."""
    if not (folder / "cifar-10-batches-py" / "batches.meta").is_file():
        archive = make_cifar10_python(folder, train_rows=ROWS, test_rows=10)
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        archive.unlink()
    return folder


def torchvision_dataset(folder: Path) -> Any:
    """torchvision's CIFAR10 over the fake folder: the class as shipped, with the fake files' md5 sums."""
    from torchvision.datasets import CIFAR10
    from torchvision.transforms import PILToTensor

    def md5(name: str) -> str:
        return hashlib.md5((folder / "cifar-10-batches-py" / name).read_bytes()).hexdigest()

    fake = type(
        "FakeCIFAR10",
        (CIFAR10,),
        {
            "train_list": [[name, md5(name)] for name, _ in CIFAR10.train_list],
            "test_list": [[name, md5(name)] for name, _ in CIFAR10.test_list],
            "meta": {**CIFAR10.meta, "md5": md5(CIFAR10.meta["filename"])},
        },
    )
    return fake(str(folder), train=True, download=False, transform=PILToTensor())


def write_hf(folder: Path, rows: dict[str, np.ndarray]) -> Path:
    """The rows saved by ``datasets`` itself (``Array3D`` + ``ClassLabel``), as a user of HF would have them."""
    import datasets

    if not (folder / "dataset_info.json").is_file():
        features = datasets.Features(
            {"image": datasets.Array3D((32, 32, 3), "uint8"), "label": datasets.ClassLabel(names=list(CIFAR10_LABELS))}
        )
        datasets.Dataset.from_dict(dict(rows), features=features).save_to_disk(str(folder))
    return folder


def interleaved_best(runs: dict[str, Any], rounds: int) -> dict[str, float]:
    """Each run's fastest time over `rounds` rounds that run every one once, in turn: on a shared machine,
    load bursts then hit every contender alike instead of whichever was measured at the time."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run_once in runs.items():
            best[name] = min(best[name], best_time(run_once, 1))
    return best


def prepare_recipe(base: Path) -> Manifest:
    """cifar10 prepared by its recipe from the generated python archive (the storage benchmark's unpacked copy)."""
    return dsreg.prepare("cifar10", source=source(bench_dir() / "storage"), root=base / "recipe", report=Progress())


def run() -> dict[str, float]:
    import datasets
    import torch
    from torch.utils.data import DataLoader

    datasets.disable_progress_bars()
    base = bench_dir() / "cifar"
    rows = expected_cifar("cifar10", "train", ROWS)
    write_dsreg(base / "root", rows)
    write_dsreg(base / "root", rows, MANY, shard_size="3MB")  # the writer cuts after each 1,024-row chunk
    single = dsreg.open(NAME, "train", root=base / "root").manifest
    many = dsreg.open(MANY, "train", root=base / "root").manifest
    recipe = prepare_recipe(base)
    copies = {"single": single, "recipe": recipe, "many": many}
    shards = {copy: len(m.splits["train"].shards) for copy, m in copies.items()}
    tv = torchvision_dataset(write_torchvision(base / "torchvision"))
    hf = datasets.load_from_disk(str(write_hf(base / "hf", rows))).with_format("torch")
    hf_over_dsreg = load(NAME, framework="hf", root=base / "root", flat_tensors=True).with_format("torch")
    hf_arrays = load(NAME, framework="hf", root=base / "root").with_format("torch")  # Array3D over the shards
    loaders = {
        (copy, fw): load(m.directory, "train", fw, batch_size=BATCH, shuffle=True)
        for copy, m in (("single", single), ("recipe", recipe))
        for fw in ("numpy", "torch")
    }
    assert len(tv) == len(hf) == ROWS
    first = next(iter(load(recipe.directory, "train", "numpy", batch_size=BATCH)))
    assert first["image"].dtype == np.uint8 and first["image"].shape == (BATCH, 32, 32, 3)

    def epoch(batches: Any) -> None:
        seen = sum(len(batch["image"] if isinstance(batch, dict) else batch[0]) for batch in batches)
        assert seen == ROWS, seen

    def gather(to_torch: bool) -> None:
        images, labels = rows["image"], rows["label"]
        order = np.random.permutation(ROWS)
        batches = (order[start : start + BATCH] for start in range(0, ROWS, BATCH))
        if to_torch:
            epoch({"image": torch.from_numpy(images[i]), "label": torch.from_numpy(labels[i])} for i in batches)
        else:
            epoch({"image": images[i], "label": labels[i]} for i in batches)

    def take_epoch(ds: Any) -> None:
        order = np.random.permutation(ROWS)
        epoch({"image": ds.take(order[start : start + BATCH])["image"]} for start in range(0, ROWS, BATCH))

    def by_batches(table: Any) -> None:
        order = torch.randperm(ROWS)
        epoch(table[order[start : start + BATCH]] for start in range(0, ROWS, BATCH))

    def torchvision_epoch(workers: int) -> None:
        epoch(DataLoader(tv, BATCH, shuffle=True, num_workers=workers))

    runs: dict[str, Any] = {"limit numpy": lambda: gather(False), "limit torch": lambda: gather(True)}
    for (copy, fw), loader in loaders.items():
        runs[f"{copy} {fw}"] = lambda loader=loader: epoch(loader)
    opened = {copy: dsreg.open(m.directory, "train") for copy, m in copies.items()}
    for copy, ds in opened.items():
        runs[f"{copy} take"] = lambda ds=ds: take_epoch(ds)
    times = interleaved_best(runs, 7)
    times["torchvision"] = min(best_time(lambda: torchvision_epoch(0), 2), best_time(lambda: torchvision_epoch(2), 2))
    times["hf"] = best_time(lambda: by_batches(hf), 1)
    times["hf_over_dsreg"] = best_time(lambda: by_batches(hf_over_dsreg), 1)
    times["hf_arrays"] = best_time(lambda: by_batches(hf_arrays), 1)
    header(f"CIFAR-10-sized shuffled epoch: {ROWS} rows, batch {BATCH} (seconds; best of runs)")
    for copy in ("single", "recipe", "many"):
        t, limit = times[f"{copy} take"], times["limit numpy"]
        row(f"Dataset.take, {shards[copy]} shard(s) ({copy})", f"{t:.3f} s", f"{t / limit:.2f}× the limit")
    for fw in ("numpy", "torch"):
        limit = times[f"limit {fw}"]
        row(f"numpy fancy-index gather from RAM (the limit), to {fw}", f"{limit:.3f} s")
        for copy in ("recipe", "single"):
            t = times[f"{copy} {fw}"]
            what = f"{copy}-prepared, {shards[copy]} shard(s)" if copy == "recipe" else "write_dataset, 1 shard"
            row(f"dsreg.load(..., {fw!r}), {what}", f"{t:.3f} s", f"{t / limit:.2f}× the limit")
    row("torchvision CIFAR10 + DataLoader (best of 0/2 workers)", f"{times['torchvision']:.3f} s")
    row("HF datasets Array3D, with_format('torch'), batched", f"{times['hf']:.3f} s")
    row("HF datasets over dsreg shards (flat_tensors), batched", f"{times['hf_over_dsreg']:.3f} s")
    row("HF datasets over dsreg shards (Array3D, default), batched", f"{times['hf_arrays']:.3f} s")
    row("dsreg (recipe, torch) speed-up over torchvision", f"{times['torchvision'] / times['recipe torch']:.1f}×")
    row("dsreg (recipe, torch) speed-up over HF datasets", f"{times['hf'] / times['recipe torch']:.1f}×")
    verdict(times["torchvision"] / times["recipe torch"] >= 20, "≥ 20× torchvision")
    verdict(times["hf"] / times["recipe torch"] >= 5, "≥ 5× HF datasets")
    for fw in ("numpy", "torch"):
        verdict(times[f"recipe {fw}"] / times[f"limit {fw}"] <= 1.5, f"recipe-prepared {fw} within 1.5× of the limit")
    return times


if __name__ == "__main__":
    run()
