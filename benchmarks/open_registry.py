"""Opening one dataset by name in a root that holds 1,000 prepared datasets: < 50 ms, independent of the count.

The root is generated once (1,000 datasets of one tiny shard each, hard-linked, each with its own manifest).
`dsreg.open("name", …)` resolves `<root>/<name>/<config>/<version>/` by path and reads one manifest; before
that, every open read and validated every manifest under every root, which `list_prepared` (what `dsreg ls`
does) still costs, so it is timed in the same run as the old lookup's cost.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import bench_dir, best_time, fixed_batch, header, row, verdict, write_arrays
from dsreg.features import Features, Scalar
from dsreg.manifest import read_manifest

COUNT = 1_000
FEATURES = Features({"x": Scalar(dtype="int64")})

PROBE = """
import json, sys, time
import dsreg
if sys.argv[3] == "preload":
    import dsreg.loading.dataset, dsreg.registry, jsonschema
start = time.perf_counter()
ds = dsreg.open(sys.argv[1], "train", root=sys.argv[2])
print(json.dumps({"open": time.perf_counter() - start, "rows": len(ds)}))
"""


def registry(count: int = COUNT) -> Path:
    """A root holding `count` prepared datasets `ds-0000` … (generated once, then reused)."""
    root = bench_dir() / f"registry-{count}"
    done = root / ".complete"
    if done.exists():
        return root
    template = write_arrays(
        bench_dir() / "registry-template", "template", FEATURES, [fixed_batch(FEATURES, {"x": np.arange(10)})]
    )
    shard = template.splits["train"].shards[0]
    assert template.directory is not None
    for i in range(count):
        name = f"ds-{i:04d}"
        directory = root / name / "default" / "1.0.0"
        (directory / "train").mkdir(parents=True, exist_ok=True)
        target = directory / shard.path
        if not target.exists():
            os.link(template.directory / shard.path, target)
        dataclasses.replace(template, name=name, directory=None).write(directory)
    done.touch()
    return root


def fresh_open(root: Path, name: str, preload: str) -> float:
    """Seconds of the first `dsreg.open` in a fresh process (best of 3); `preload` imports the libraries first."""
    times = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", PROBE, name, str(root), preload], capture_output=True, text=True, check=True
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["rows"] == 10
        times.append(float(result["open"]))
    return min(times)


def run() -> dict[str, float]:
    import dsreg
    from dsreg.registry import list_prepared

    root, single = registry(), registry(1)
    read_manifest(root / "ds-0000" / "default" / "1.0.0")  # warm the schema and imports, not the lookup
    names = [f"ds-{i:04d}" for i in range(0, COUNT, 97)]
    in_process = best_time(lambda: [dsreg.open(n, "train", root=root) for n in names], 5) / len(names)
    fresh = {(n, p): fresh_open(r, "ds-0000", p) for n, r in ((1, single), (COUNT, root)) for p in ("preload", "-")}
    start = time.perf_counter()
    scanned = list_prepared(root)
    scan = time.perf_counter() - start
    assert len(scanned) == COUNT
    header(f"Opening one dataset by name in a root of {COUNT:,} prepared datasets")
    row("dsreg.open(name, 'train'), warm process", f"{in_process * 1000:.2f} ms", "(mean of 11 names, best of 5)")
    for count in (1, COUNT):
        row(
            f"first open in a fresh process, {count:,} in the root",
            f"{fresh[count, 'preload'] * 1000:.1f} ms",
            "(numpy, pyarrow, jsonschema imported before)",
        )
        row(f"  same, counting those imports, {count:,} in the root", f"{fresh[count, '-'] * 1000:.1f} ms")
    row(
        "scan of every manifest (`dsreg ls`; what every open cost before)",
        f"{scan * 1000:.0f} ms",
        f"{scan / in_process:.0f}× the warm open",
    )
    worst = max(in_process, fresh[COUNT, "preload"])
    verdict(worst < 0.05, "open < 50 ms with 1,000 datasets in the root (libraries imported)")
    return {"open_warm": in_process, "open_fresh": fresh[COUNT, "preload"], "scan": scan}


if __name__ == "__main__":
    run()
