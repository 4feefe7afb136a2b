"""Peak memory while reading a shuffled epoch of a dataset far larger than the memory a job should take.

An 8 GB dataset (64×64×3 uint8 images + int64 labels; less if the disk is short) is written, evicted from the
page cache, and read for one shuffled epoch (batch 256) by a fresh child process, which reports:

- ``VmHWM``, the kernel's peak resident set — it counts the *file-backed* pages of the memory-mapped shards that
  the process has touched, which stay mapped (and counted) until unmapped or reclaimed under memory pressure;
- the peak of ``RssAnon`` (sampled every few batches): the memory the loader itself allocates, which no page
  cache can give back.

Target: bounded, under 1 GB. The dataset bounds its mapped pages with `max_resident_bytes` (512 MiB by default:
past it, it drops its mapped pages with ``madvise``); a second run with ``max_resident_bytes=None`` shows what
the mapping alone would cost. The data is deleted afterwards (``--keep`` keeps it for the next run).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from benchmarks.common import bench_dir, drop_page_cache, fixed_batch, header, row, verdict, write_arrays
from dsreg.features import ClassLabel, Features, Image
from dsreg.loading.dataset import DEFAULT_MAX_RESIDENT

FEATURES = Features({"image": Image(shape=(64, 64, 3)), "label": ClassLabel(names=tuple("0123456789"))})
ROW_BYTES = 64 * 64 * 3 + 8
TARGET_BYTES = 8 << 30
CHUNK = 4096
LIMIT = 1 << 30
UNBOUNDED = "none"

PROBE = """
import json, sys, time
from dsreg.loading import Loader, open_dataset

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) << 10 for k in ("VmHWM", "VmRSS", "RssAnon", "RssFile")}

before = status()
start = time.perf_counter()
peak_anon, peak_file, rows = 0, 0, 0
limit = None if sys.argv[2] == "none" else int(sys.argv[2])
dataset = open_dataset(sys.argv[1], max_resident_bytes=limit)
for i, batch in enumerate(Loader(dataset, 256, shuffle=True, seed=0)):
    rows += len(batch["label"])
    if i % 16 == 0:
        now = status()
        peak_anon, peak_file = max(peak_anon, now["RssAnon"]), max(peak_file, now["RssFile"])
after = status()
print(json.dumps({"before": before, "after": after, "peak_anon": max(peak_anon, after["RssAnon"]),
                  "peak_file": max(peak_file, after["RssFile"]), "rows": rows,
                  "seconds": time.perf_counter() - start}))
"""


def batches(rows: int) -> Iterator[pa.RecordBatch]:
    pattern = (np.arange(64 * 64 * 3, dtype=np.uint16) % 251).astype(np.uint8)
    for start in range(0, rows, CHUNK):
        ids = np.arange(start, min(start + CHUNK, rows), dtype=np.int64)
        images = pattern[None, :] + ids[:, None].astype(np.uint8)  # distinct rows, cheap to make
        yield fixed_batch(FEATURES, {"image": images.reshape(-1, 64, 64, 3), "label": ids % 10})


def run(keep: bool = False) -> dict[str, float]:
    directory = bench_dir() / "peak-rss"
    free = shutil.disk_usage(bench_dir()).free + sum(f.stat().st_size for f in directory.rglob("*.arrow"))
    size = min(TARGET_BYTES, (free - (4 << 30)) // 2)
    if size < 2 << 30:
        print(f"\n== Peak RSS: skipped, only {free >> 30} GB free on {bench_dir()}")
        return {}
    rows = size // ROW_BYTES
    manifest = write_arrays(directory, "peak-rss", FEATURES, batches(rows))
    shards = [manifest.shard_path(s) for s in manifest.split("train").shards]
    total = sum(p.stat().st_size for p in shards)
    results = {}
    try:
        for limit in (str(DEFAULT_MAX_RESIDENT), UNBOUNDED):
            drop_page_cache(shards)
            command = [sys.executable, "-c", PROBE, str(directory), limit]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results[limit] = json.loads(done.stdout.strip().splitlines()[-1])
            assert results[limit]["rows"] == manifest.split("train").rows
    finally:
        if not keep:
            shutil.rmtree(directory)
    mb = 1 << 20
    header(f"Peak RSS over one shuffled epoch of {total / (1 << 30):.1f} GiB ({rows:,} rows of 12 KB, batch 256)")
    for limit, result in results.items():
        how = (
            "unbounded (max_resident_bytes=None)" if limit == UNBOUNDED else f"as shipped (max_resident_bytes={limit})"
        )
        print(f"   -- {how}")
        row("epoch time (cold page cache)", f"{result['seconds']:.1f} s", f"{total / mb / result['seconds']:.0f} MB/s")
        row("RSS after imports, before the first batch", f"{result['before']['VmRSS'] / mb:.0f} MB")
        row("peak RSS (VmHWM, counts mapped shard pages)", f"{result['after']['VmHWM'] / mb:.0f} MB")
        row("  of which file-backed at its peak (RssFile)", f"{result['peak_file'] / mb:.0f} MB")
        row("peak anonymous RSS (the loader's own memory)", f"{result['peak_anon'] / mb:.0f} MB")
    shipped = results[str(DEFAULT_MAX_RESIDENT)]
    verdict(shipped["after"]["VmHWM"] < LIMIT, "peak RSS (VmHWM) under 1 GB, as shipped")
    verdict(shipped["peak_anon"] < LIMIT, "peak anonymous RSS under 1 GB, as shipped")
    return {"vmhwm": shipped["after"]["VmHWM"], "anon": shipped["peak_anon"], "seconds": shipped["seconds"]}


if __name__ == "__main__":
    run(keep="--keep" in sys.argv)
