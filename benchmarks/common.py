"""What the benchmarks share: where their data lives, how they write it, time it and print it."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa

from dsreg.features import Features
from dsreg.manifest import Manifest, ShardInfo, SplitInfo, read_manifest
from dsreg.publish import created_stamp
from dsreg.storage import ShardWriter
from dsreg.version import __version__

REPO = Path(__file__).resolve().parent.parent


def bench_dir() -> Path:
    """Where benchmark data is cached between runs: ``$DSREG_BENCH_DIR``, else ``.bench/`` in the repository."""
    path = Path(os.environ.get("DSREG_BENCH_DIR", REPO / ".bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def machine() -> str:
    """The CPU model and core count, for the record."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return f"{model}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"


def best_time(run: Callable[[], object], repeat: int) -> float:
    """The fastest of `repeat` runs, in seconds (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def header(title: str) -> None:
    print(f"\n== {title}\n   {machine()}", flush=True)


def row(label: str, value: str, note: str = "") -> None:
    print(f"   {label:<52} {value:>14}  {note}", flush=True)


def verdict(ok: bool, target: str) -> None:
    print(f"   target {target}: {'MET' if ok else 'MISSED'}", flush=True)


def write_arrays(
    directory: Path, name: str, features: Features, batches: Iterable[pa.RecordBatch], shard_size: int = 256 << 20
) -> Manifest:
    """Write record batches straight into a prepared-dataset directory (shards + manifest), for data too big for
    the per-example writer: the same shard writer and manifest as ``write_dataset``, minus the publication lock.
    Returns the existing manifest if the directory is already complete."""
    if (directory / "manifest.json").is_file():
        return read_manifest(directory)
    writer = ShardWriter(directory / "train", "part", features, shard_size)
    for batch in batches:
        writer.write_batch(batch)
    written = writer.close()
    shards = []
    for i, s in enumerate(written):  # the published names a manifest requires: train/<k>-of-<n>.arrow
        final = s.path.with_name(f"{i:05d}-of-{len(written):05d}{s.path.suffix}")
        s.path.rename(final)
        shards.append(ShardInfo(str(final.relative_to(directory)), s.rows, s.bytes, s.sha256))
    digest = hashlib.sha256(f"{name}:{features.to_json()}".encode()).hexdigest()
    manifest = Manifest(
        name=name,
        config="default",
        version="1.0.0",
        features=features,
        splits={"train": SplitInfo("train", tuple(shards))},
        recipe_digest=digest,
        dsreg_version=__version__,
        created=created_stamp(),
    )
    manifest.write(directory)
    return read_manifest(directory)


def drop_page_cache(paths: Iterable[Path]) -> None:
    """Ask the kernel to forget the files' clean cached pages (no root needed), so the next read is cold."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def fixed_batch(features: Features, columns: dict[str, np.ndarray]) -> pa.RecordBatch:
    """A record batch of fixed-shape columns from numpy arrays, without per-row Python."""
    arrays = []
    for name, feature in features.items():
        values = np.ascontiguousarray(columns[name])
        if feature.example_shape():
            flat = values.reshape(-1)
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(flat), flat.size // len(values)))
        else:
            arrays.append(pa.array(values))
    return pa.RecordBatch.from_arrays(arrays, schema=features.arrow_schema())
