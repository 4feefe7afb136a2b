"""Node-local staging: verified copies, cache hits, LRU budget, in-use protection, concurrency, gc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsreg import staging
from dsreg.errors import DsregError
from dsreg.features import Features, Scalar
from dsreg.manifest import MANIFEST_NAME, Manifest, ShardInfo, read_manifest, verify_manifest
from dsreg.publish import make_writable
from dsreg.registry import find_prepared
from dsreg.writer import write_dataset

REPO = Path(__file__).resolve().parents[1]


def make(shared: Path, name: str = "toy", rows: int = 3000) -> Manifest:
    """A prepared dataset of several 8 KB shards under `shared`."""
    examples = {"train": ({"x": i} for i in range(rows)), "test": ({"x": -i} for i in range(100))}
    return write_dataset(name, examples, Features({"x": Scalar()}), root=shared, shard_size="8KB")


def leftovers(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/*/*.incomplete-*"))


def staged_names(cache: Path) -> list[str]:
    return [u["name"] for u in staging.cache_usage(cache)]


def test_staged_copy_is_a_verified_byte_identical_dataset_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared, cache = tmp_path / "shared", tmp_path / "cache"
    m = make(shared)
    assert m.directory is not None
    copy = staging.stage(m, cache)
    assert copy == cache / "toy" / "default" / "1.0.0"
    assert verify_manifest(read_manifest(copy), deep=True) == []
    assert (copy / MANIFEST_NAME).read_bytes() == (m.directory / MANIFEST_NAME).read_bytes()
    for split in m.splits.values():
        for shard in split.shards:
            assert (copy / shard.path).read_bytes() == m.shard_path(shard).read_bytes()
    assert sorted(p.name for p in copy.rglob("*")) == sorted(p.name for p in m.directory.rglob("*"))
    assert not any(p.stat().st_mode & 0o222 for p in [copy, *copy.rglob("*")])  # read-only, like the original
    assert leftovers(cache) == []
    monkeypatch.setenv("DSREG_ROOT", staging.staged_root(cache, shared))
    assert find_prepared("toy").directory == copy  # the cache comes first in DSREG_ROOT


def test_second_stage_is_a_hit_that_copies_nothing(tmp_path: Path) -> None:
    m = make(tmp_path / "shared")
    cache = tmp_path / "cache"
    copy = staging.stage(m, cache)
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in copy.rglob("*")}
    used = staging.cache_usage(cache)[0]["last_used"]
    again = staging.stage("toy", cache, root=tmp_path / "shared")
    assert again == copy
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in copy.rglob("*")} == before
    assert staging.cache_usage(cache)[0]["last_used"] > used


def test_corrupt_source_shard_is_named_and_nothing_is_staged(tmp_path: Path) -> None:
    m = make(tmp_path / "shared")
    assert m.directory is not None
    shard = m.splits["train"].shards[1]
    make_writable(m.directory)
    data = bytearray(m.shard_path(shard).read_bytes())
    data[len(data) // 2] ^= 0xFF
    m.shard_path(shard).write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(DsregError) as err:
        staging.stage(m, cache)
    assert err.value.path == str(m.shard_path(shard))
    assert shard.path in err.value.problem and "sha256" in err.value.problem
    assert not (cache / "toy" / "default" / "1.0.0").exists()
    assert leftovers(cache) == [] and staging.cache_usage(cache) == []


def test_interrupted_copy_resumes_without_recopying_finished_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = make(tmp_path / "shared")
    cache = tmp_path / "cache"
    real = staging._copy_shard
    copied: list[str] = []

    def killed_at_second(src: Path, dst: Path, shard: ShardInfo, verify: bool) -> None:
        if copied:
            raise KeyboardInterrupt  # like a job killed mid-copy: the work directory stays for a rerun
        copied.append(shard.path)
        real(src, dst, shard, verify)

    monkeypatch.setattr(staging, "_copy_shard", killed_at_second)
    with pytest.raises(KeyboardInterrupt):
        staging.stage(m, cache)
    assert not (cache / "toy" / "default" / "1.0.0").exists() and len(leftovers(cache)) == 1

    def counting(src: Path, dst: Path, shard: ShardInfo, verify: bool) -> None:
        copied.append(shard.path)
        real(src, dst, shard, verify)

    monkeypatch.setattr(staging, "_copy_shard", counting)
    copy = staging.stage(m, cache)
    shards = [s.path for split in m.splits.values() for s in split.shards]
    assert copied == shards  # the first shard once, the rest after the restart
    assert verify_manifest(read_manifest(copy), deep=True) == [] and leftovers(cache) == []


def test_lru_eviction_removes_the_least_recently_used_version(tmp_path: Path) -> None:
    shared, cache = tmp_path / "shared", tmp_path / "cache"
    a, b, c = (make(shared, name) for name in ("a", "b", "c"))
    budget = a.bytes + b.bytes + a.bytes // 2
    staging.stage(a, cache, budget_bytes=budget)
    staging.stage(b, cache, budget_bytes=budget)
    staging.stage(a, cache, budget_bytes=budget)  # a hit: a is now more recent than b
    staging.stage(c, cache, budget_bytes=budget)
    assert staged_names(cache) == ["a", "c"]
    assert not (cache / "b" / "default" / "1.0.0").exists() and leftovers(cache) == []


def test_versions_in_use_are_never_evicted(tmp_path: Path) -> None:
    shared, cache = tmp_path / "shared", tmp_path / "cache"
    a, b, c = (make(shared, name) for name in ("a", "b", "c"))
    budget = a.bytes + b.bytes + a.bytes // 2
    copy_a = staging.stage(a, cache, budget_bytes=budget)
    staging.stage(b, cache, budget_bytes=budget)
    with staging.using(copy_a), staging.staged(c, cache, budget_bytes=budget):
        assert staged_names(cache) == ["a", "c"]  # a was older than b, but in use
        assert [u["in_use"] for u in staging.cache_usage(cache)] == [True, True]
        with pytest.raises(DsregError, match=r"no room for b/default:1\.0\.0"):
            staging.stage(b, cache, budget_bytes=budget)
    assert staged_names(cache) == ["a", "c"] and leftovers(cache) == []
    staging.gc(cache, 0)
    with pytest.raises(DsregError, match="evicted"), staging.using(copy_a):
        pass
    with pytest.raises(DsregError, match="not a staged copy"), staging.using(shared / "a" / "default" / "1.0.0"):
        pass


def test_dataset_larger_than_the_budget_is_refused_with_sizes(tmp_path: Path) -> None:
    m = make(tmp_path / "shared")
    cache = tmp_path / "cache"
    with pytest.raises(DsregError) as err:
        staging.stage(m, cache, budget_bytes=m.bytes - 1)
    assert f"({m.bytes} bytes)" in err.value.problem and f"({m.bytes - 1} bytes)" in err.value.problem
    assert err.value.fix is not None and "shared filesystem" in err.value.fix
    assert staging.cache_usage(cache) == []


def test_concurrent_stagers_make_one_valid_copy(tmp_path: Path) -> None:
    m = make(tmp_path / "shared", rows=20000)
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "dsreg", "cache", "stage", str(m.directory), "--cache", str(cache)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=240) for p in procs]  # 4 interpreters on 2 loaded cores
    assert [p.returncode for p in procs] == [0] * 4, results
    assert {out.strip() for out, _ in results} == {str(cache / "toy" / "default" / "1.0.0")}
    assert sum("copied in" in err for _, err in results) == 1  # the others waited, then found it staged
    assert verify_manifest(read_manifest(cache / "toy" / "default" / "1.0.0"), deep=True) == []
    assert leftovers(cache) == []


def test_gc_removes_old_leftovers_and_evicts_down_to_the_budget(tmp_path: Path) -> None:
    shared, cache = tmp_path / "shared", tmp_path / "cache"
    a, b = make(shared, "a"), make(shared, "b")
    staging.stage(a, cache)
    staging.stage(b, cache)
    old = cache / "old" / "default" / "1.0.0.incomplete-stage"
    fresh = cache / "fresh" / "default" / "1.0.0.incomplete-stage"
    for work in (old, fresh):
        (work / "train").mkdir(parents=True)
        (work / "train" / "00000-of-00002.arrow.part").write_bytes(b"x" * 100)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert staging.gc(cache, None) == [old]
    assert leftovers(cache) == [fresh] and staged_names(cache) == ["a", "b"]
    # over budget: abandoned partial copies go first, then the least recently used versions
    assert staging.gc(cache, b.bytes + 100) == [fresh, cache / "a" / "default" / "1.0.0"]
    assert staged_names(cache) == ["b"]


def test_run_holds_the_copies_in_use_while_the_command_runs(tmp_path: Path) -> None:
    m = make(tmp_path / "shared")
    cache = tmp_path / "cache"
    probe = (
        "import os; from dsreg.staging import cache_usage; "
        f"print(os.environ['DSREG_ROOT']); print(cache_usage({str(cache)!r})[0]['in_use'])"
    )
    cmd = [sys.executable, "-m", "dsreg", "cache", "run", str(m.directory), "--cache", str(cache)]
    out = subprocess.run([*cmd, "--", sys.executable, "-c", probe], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [f"{cache}:{tmp_path / 'root'}", "True"]
    assert staging.cache_usage(cache)[0]["in_use"] is False  # released when the command exited


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_prolog_script_stages_and_prints_the_root_to_export(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    make(shared)
    env = {
        **os.environ,
        "DSREG_STAGE": "toy/default",
        "SLURM_TMPDIR": str(tmp_path / "job"),
        "DSREG_ROOT": str(shared),
        "DSREG_PYTHON": sys.executable,
    }
    env.pop("DSREG_CACHE", None)
    script = REPO / "cache_tools" / "slurm_prolog.sh"
    out = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    cache = tmp_path / "job" / "dsreg"
    assert out.stdout == f"export DSREG_ROOT={cache}:{shared}\n"
    assert staged_names(cache) == ["toy"]


@pytest.mark.parametrize("storage", ["zarr", "hdf5"])
def test_directory_and_hdf5_shards_stage_verified(tmp_path: Path, storage: str) -> None:
    import numpy as np

    import dsreg

    shared, cache = tmp_path / "shared", tmp_path / "cache"
    examples = {"train": ({"x": i} for i in range(50)), "test": ({"x": -i} for i in range(10))}
    m = write_dataset("fmt", examples, Features({"x": Scalar()}), root=shared, storage=storage)
    copy = staging.stage(m, cache)
    assert verify_manifest(read_manifest(copy), deep=True) == []
    assert dsreg.open(copy, "train").take(np.arange(50))["x"].tolist() == list(range(50))
    assert staging.stage(m, cache) == copy  # a hit: sizes of directory shards are summed, not stat'ed


def test_a_corrupt_file_inside_a_zarr_shard_is_never_staged(tmp_path: Path) -> None:
    from dsreg.storage.base import shard_files

    shared, cache = tmp_path / "shared", tmp_path / "cache"
    m = write_dataset(
        "z", {"train": ({"x": i} for i in range(50))}, Features({"x": Scalar()}), root=shared, storage="zarr"
    )
    shard = m.shard_path(m.splits["train"].shards[0])
    _, chunk = next((rel, p) for rel, p in shard_files(shard) if "/c/" in rel)
    chunk.chmod(0o644)
    data = bytearray(chunk.read_bytes())
    data[3] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(DsregError, match="corrupt") as err:
        staging.stage(m, cache)
    assert str(shard) in str(err.value)
    assert not (cache / "z" / "default" / "1.0.0").exists() and leftovers(cache) == []


@pytest.mark.parametrize("damage", ["manifest removed", "manifest truncated"])
def test_a_staged_copy_whose_manifest_is_damaged_is_collected_and_counted(tmp_path: Path, damage: str) -> None:
    """A node's file cleaner removes old files (the manifest first, staged long ago): the rest still takes room."""
    shared, cache = tmp_path / "shared", tmp_path / "cache"
    a, b = make(shared, "a"), make(shared, "b")
    copy = staging.stage(a, cache)
    staging.stage(b, cache)
    make_writable(copy)
    if damage == "manifest removed":
        (copy / MANIFEST_NAME).unlink()
    else:
        (copy / MANIFEST_NAME).write_text("{ trunc")
    assert staged_names(cache) == ["b"]
    assert staging.gc(cache, b.bytes + 100) == [copy]  # over the budget with the damaged copy's bytes
    assert not copy.exists() and staged_names(cache) == ["b"]
    staging.stage(a, cache)
    assert staging.gc(cache, None, leftover_age=0) == [] and sorted(staged_names(cache)) == ["a", "b"]


def test_a_staged_copy_a_newer_dsreg_wrote_is_not_collected_as_damaged(tmp_path: Path) -> None:
    """A manifest this dsreg cannot read for want of an upgrade is no damage: gc leaves the copy alone."""
    shared, cache = tmp_path / "shared", tmp_path / "cache"
    copy = staging.stage(make(shared, "a"), cache)
    make_writable(copy)
    data = json.loads((copy / MANIFEST_NAME).read_text())
    data["format_version"] += 1
    (copy / MANIFEST_NAME).write_text(json.dumps(data))
    assert staging.gc(cache, 0, leftover_age=0) == []
    assert (copy / MANIFEST_NAME).exists()


def test_a_dataset_root_given_as_the_cache_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """`dsreg cache gc --budget 0 --cache /shared/datasets` evicted every published version of the shared root,
    past `dsreg rm`'s checks, and its new `.staging/` then hid the root from prepare, rm and gc."""
    shared = tmp_path / "shared"
    m = make(shared)
    for act in (
        lambda: staging.gc(shared, 0),
        lambda: staging.cache_usage(shared),
        lambda: staging.stage(m, shared),
        lambda: staging.stage(m, shared / "toy"),  # a dataset directory inside it
    ):
        with pytest.raises(DsregError, match="not a staging cache") as err:
            act()
        assert err.value.fix is not None and "SLURM_TMPDIR" in err.value.fix
    assert sorted(p.name for p in shared.iterdir()) == ["toy"]
    assert verify_manifest(read_manifest(m.directory), deep=True) == []
    staging.stage(m, tmp_path / "cache")  # a new directory becomes a cache
    staging.stage(m, tmp_path / "cache")  # and stays one
