"""End-to-end preparation of CIFAR from generated vendor archives: counts, pixels, safety, resume, concurrency."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from dsreg import DsregError
from dsreg.manifest import verify_manifest
from dsreg.preparation import Progress, prepare
from dsreg.publish import make_writable
from dsreg.storage import ShardReader
from dsreg.testing import cifar, hostile
from dsreg.testing.http_server import LocalHTTPServer

TRAIN, TEST = 60, 15
MAKERS = {
    ("cifar10", "python"): cifar.make_cifar10_python,
    ("cifar10", "binary"): cifar.make_cifar10_binary,
    ("cifar100", "python"): cifar.make_cifar100_python,
    ("cifar100", "binary"): cifar.make_cifar100_binary,
}


def _column(manifest, split: str, name: str) -> np.ndarray:
    return np.concatenate(
        [ShardReader(manifest.shard_path(s), manifest.features).column(name, 0) for s in manifest.splits[split].shards]
    )


@pytest.fixture
def served(tmp_path: Path):
    raw = tmp_path / "served"
    raw.mkdir()
    with LocalHTTPServer(raw) as server:
        yield raw, server


def _serve_fake(fake_recipe, tmp_path: Path, served, monkeypatch, variant: str, flavour: str, **kw) -> Path:
    raw, server = served
    archive = MAKERS[variant, flavour](raw, train_rows=TRAIN, test_rows=TEST)
    rows = {"train": TRAIN, "test": TEST}
    fake_recipe(tmp_path / "recipes", variant, flavour, archive, [server.url(archive.name)], rows=rows, **kw)
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    return archive


@pytest.mark.parametrize(("variant", "flavour"), sorted(MAKERS))
def test_both_flavours_download_and_prepare_exactly(
    fake_recipe, tmp_path, served, monkeypatch, root, variant, flavour
) -> None:
    archive = _serve_fake(fake_recipe, tmp_path, served, monkeypatch, variant, flavour)
    manifest = prepare(f"{variant}/{flavour}")
    assert manifest.directory == root / variant / flavour / "1.0.0"
    assert {s: manifest.splits[s].rows for s in manifest.splits} == {"train": TRAIN, "test": TEST}
    assert verify_manifest(manifest, deep=True) == []
    names = manifest.features["label"].to_json()["names"]
    assert names == list(cifar.CIFAR10_LABELS if variant == "cifar10" else cifar.CIFAR100_FINE_LABELS)
    for split, n in (("train", TRAIN), ("test", TEST)):
        expected = cifar.expected_cifar(variant, split, n)
        assert np.array_equal(_column(manifest, split, "image"), expected["image"])
        assert np.array_equal(_column(manifest, split, "label"), expected["label"])
        if variant == "cifar100":
            assert np.array_equal(_column(manifest, split, "coarse_label"), expected["coarse_label"])
            assert manifest.features["coarse_label"].to_json()["names"] == list(cifar.CIFAR100_COARSE_LABELS)
    (source,) = manifest.sources
    assert source["origin"] == "download" and source["filename"] == archive.name
    assert (root / "downloads").is_dir()


def test_python_and_binary_flavours_give_byte_identical_shards(fake_recipe, tmp_path, served, monkeypatch) -> None:
    raw, server = served
    recipes = tmp_path / "recipes"
    for flavour in ("python", "binary"):
        archive = MAKERS["cifar10", flavour](raw, train_rows=TRAIN, test_rows=TEST)
        # one recipe file per flavour would collide on the name, so rewrite both configs into one file
        fake_recipe(
            recipes, "cifar10", flavour, archive, [server.url(archive.name)], rows={"train": TRAIN, "test": TEST}
        )
        monkeypatch.setenv("DSREG_RECIPES", str(recipes))
        if flavour == "python":
            python = prepare("cifar10/python")
    binary = prepare("cifar10/binary")
    digests = lambda m: [s.sha256 for split in m.splits.values() for s in split.shards]  # noqa: E731
    assert digests(python) == digests(binary)


def test_preparing_twice_or_with_workers_is_byte_identical(fake_recipe, tmp_path, served, monkeypatch) -> None:
    _serve_fake(fake_recipe, tmp_path, served, monkeypatch, "cifar100", "binary")
    a = prepare("cifar100/binary", root=tmp_path / "a")
    b = prepare("cifar100/binary", root=tmp_path / "b", workers=2)
    assert a.to_json()["splits"] == b.to_json()["splits"]
    for split in a.splits.values():
        for shard in split.shards:
            assert a.shard_path(shard).read_bytes() == (b.directory / shard.path).read_bytes()


def test_a_second_prepare_reuses_the_published_version(fake_recipe, tmp_path, served, monkeypatch) -> None:
    _serve_fake(fake_recipe, tmp_path, served, monkeypatch, "cifar10", "python")
    first = prepare("cifar10")
    served[1].stop()  # no network needed the second time
    report = Progress()
    again = prepare("cifar10", report=report)
    assert report.reused and again.created == first.created


def test_checksum_mismatch_publishes_nothing_and_keeps_nothing(
    fake_recipe, tmp_path, served, monkeypatch, root
) -> None:
    archive = _serve_fake(fake_recipe, tmp_path, served, monkeypatch, "cifar10", "binary")
    archive.write_bytes(archive.read_bytes()[:-10] + b"0123456789")  # the mirror now serves other bytes
    with pytest.raises(DsregError, match="sha256") as err:
        prepare("cifar10/binary")
    assert archive.name in str(err.value)
    assert not (root / "cifar10" / "binary" / "1.0.0").exists()
    kept = [p for p in (root / "downloads").rglob("*") if p.is_file() and p.name == archive.name]
    assert kept == []


@pytest.mark.parametrize("flavour", ["python", "binary"])
def test_bit_flips_in_a_cached_archive_are_refused_then_a_fresh_download_publishes(
    fake_recipe, tmp_path, served, monkeypatch, root, flavour
) -> None:
    archive = _serve_fake(fake_recipe, tmp_path, served, monkeypatch, "cifar10", flavour)
    good = prepare(f"cifar10/{flavour}")
    (cached,) = [p for p in (root / "downloads").rglob(archive.name) if p.is_file()]
    vendor = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert good.sources[0]["sha256"] == vendor
    make_writable(good.directory)
    shutil.rmtree(good.directory)
    rng = np.random.default_rng(7)
    by_digest = {}
    # bit 33 is in gzip's mtime field: the archive still decompresses, only the sha256 tells
    for bit in [33, *rng.integers(0, 8 * cached.stat().st_size, size=6)]:
        original = cached.read_bytes()
        _flip(cached, int(bit))
        with pytest.raises(DsregError, match=r"cached copy|corrupt") as err:  # sha256, or gzip's CRC first
            prepare(f"cifar10/{flavour}")
        assert str(cached) in str(err.value) and "delete" in err.value.fix
        by_digest[int(bit)] = "cached copy" in str(err.value)
        assert not good.directory.exists()
        cached.write_bytes(original)
    assert by_digest[33], "a flip only the sha256 can see was not reported as a changed cached copy"
    cached.unlink()  # the fix the error gives: delete it, and the next run downloads it afresh
    again = prepare(f"cifar10/{flavour}")
    assert again.sources[0]["sha256"] == vendor and again.sources[0]["origin"] == "download"
    assert again.to_json()["splits"] == good.to_json()["splits"]


def _flip(path: Path, bit: int) -> None:
    with open(path, "r+b") as f:
        f.seek(bit // 8)
        byte = f.read(1)[0]
        f.seek(bit // 8)
        f.write(bytes([byte ^ (1 << (bit % 8))]))


def _zero_padded(tmp_path: Path, fake_recipe, monkeypatch, size: int) -> Path:
    """A fake cifar10 python archive whose data_batch_1 is the real pickle then zeros up to `size` bytes,
    with a recipe that names it (as if the vendor's file had been replaced at the source)."""
    good = cifar.make_cifar10_python(tmp_path / "good", train_rows=TRAIN, test_rows=TEST)
    with tarfile.open(good) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
    padded = next(name for name in members if name.endswith("data_batch_1"))
    bad = hostile.targz_with_zero_padded_member(tmp_path / "bad" / good.name, members, padded, size)
    rows = {"train": TRAIN, "test": TEST}
    fake_recipe(tmp_path / "recipes", "cifar10", "python", bad, ["http://127.0.0.1:9/x"], rows=rows)
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    return bad


_MEASURED = """
import json, resource, sys, time
from dsreg.errors import DsregError
from dsreg.preparation import prepare
start = time.process_time()  # CPU seconds: reading the 3 GB would cost them however idle the machine
try:
    prepare("cifar10", source=sys.argv[1])
    result = "published"
except DsregError as err:
    result = str(err)
try:  # the peak of this process image: ru_maxrss would include the forking pytest's
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    rss = int(hwm.split()[1]) * 1024
except OSError:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"result": result, "cpu_seconds": time.process_time() - start, "rss": rss}))
"""


def test_a_gigabyte_zero_padded_member_fails_fast_with_bounded_memory(tmp_path, fake_recipe, monkeypatch, root) -> None:
    bad = _zero_padded(tmp_path, fake_recipe, monkeypatch, 3 << 30)
    assert bad.stat().st_size < 5 << 20
    run = subprocess.run([sys.executable, "-c", _MEASURED, str(bad)], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert "declares 3221225472 bytes, more than the" in out["result"] and str(bad) in out["result"]
    assert out["cpu_seconds"] < 5 and out["rss"] < 400 << 20  # was: 3.1 GB RSS, and published
    assert not (root / "cifar10" / "python" / "1.0.0").exists()


def test_a_pickle_padded_within_the_budget_is_refused_for_its_trailing_bytes(
    tmp_path, fake_recipe, monkeypatch, root
) -> None:
    bad = _zero_padded(tmp_path, fake_recipe, monkeypatch, 200_000)
    with pytest.raises(DsregError, match="bytes follow the end of the pickle") as err:
        prepare("cifar10", source=bad)
    assert "data_batch_1" in str(err.value)
    assert not (root / "cifar10" / "python" / "1.0.0").exists()


def test_dead_first_mirror_falls_back_to_the_second(fake_recipe, tmp_path, served, monkeypatch) -> None:
    raw, server = served
    archive = cifar.make_cifar10_binary(raw, train_rows=TRAIN, test_rows=TEST)
    urls = ["http://127.0.0.1:9/cifar-10-binary.tar.gz", server.url(archive.name)]
    fake_recipe(tmp_path / "recipes", "cifar10", "binary", archive, urls, rows={"train": TRAIN, "test": TEST})
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    assert prepare("cifar10/binary").splits["train"].rows == TRAIN


def test_count_mismatch_refuses_to_publish(fake_recipe, tmp_path, served, monkeypatch, root) -> None:
    raw, server = served
    archive = cifar.make_cifar10_binary(raw, train_rows=TRAIN, test_rows=TEST)
    fake_recipe(tmp_path / "recipes", "cifar10", "binary", archive, [server.url(archive.name)])  # official counts
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    with pytest.raises(DsregError, match=f"train: {TRAIN} rows, expected 50000"):
        prepare("cifar10/binary")
    assert not (root / "cifar10" / "binary" / "1.0.0").exists()
    partial = prepare("cifar10/binary", check_counts=False)
    assert partial.metadata["counts_checked"] is False


def _unpacked(tmp_path: Path, maker, **kw) -> Path:
    archive = maker(tmp_path / "raw", **kw)
    out = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    return out


def test_official_counts_from_a_full_size_local_copy(tmp_path, root) -> None:
    source = _unpacked(tmp_path, cifar.make_cifar10_python, train_rows=50_000, test_rows=10_000)
    manifest = prepare("cifar10", source=source)
    assert manifest.splits["train"].rows == 50_000 and manifest.splits["test"].rows == 10_000
    assert manifest.metadata["counts_checked"] is True
    assert manifest.sources[0]["origin"] == "local-directory"
    expected = cifar.expected_cifar("cifar10", "test", 10_000)
    assert np.array_equal(_column(manifest, "test", "image")[-5:], expected["image"][-5:])


HOSTILE = {
    "traversal": hostile.tar_with_traversal,
    "absolute": hostile.tar_with_absolute_member,
    "symlink": hostile.tar_with_symlink_out,
    "hardlink": hostile.tar_with_hardlink_out,
}


@pytest.mark.parametrize("kind", [*HOSTILE, "truncated"])
def test_hostile_archives_fail_cleanly_and_keep_earlier_versions(
    fake_recipe, tmp_path, served, monkeypatch, root, kind
) -> None:
    raw, server = served
    _serve_fake(fake_recipe, tmp_path, served, monkeypatch, "cifar10", "binary")
    good = prepare("cifar10/binary")
    before = {p: p.read_bytes() for p in good.directory.rglob("*") if p.is_file()}
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    if kind == "truncated":
        bad = hostile.truncated_copy(cifar.make_cifar10_binary(bad_dir, train_rows=TRAIN, test_rows=TEST), bad_dir)
    else:
        bad = HOSTILE[kind](bad_dir)
    served_name = f"hostile-{kind}.tar.gz"
    (raw / served_name).write_bytes(bad.read_bytes())
    fake_recipe(
        tmp_path / "recipes", "cifar10", "binary", raw / served_name, [server.url(served_name)], version="1.1.0"
    )
    with pytest.raises(DsregError) as err:
        prepare("cifar10/binary")
    message = str(err.value)
    assert served_name in message
    assert ("truncated" in message or "corrupt" in message) if kind == "truncated" else "unsafe" in message
    assert not (root / "cifar10" / "binary" / "1.1.0").exists()
    assert {p: p.read_bytes() for p in good.directory.rglob("*") if p.is_file()} == before


def test_a_malicious_pickle_is_never_executed(tmp_path, root) -> None:
    source = _unpacked(tmp_path, cifar.make_cifar10_python, train_rows=TRAIN, test_rows=TEST)
    marker = tmp_path / "pwned"
    (source / "cifar-10-batches-py" / "data_batch_3").write_bytes(hostile.malicious_pickle(marker))
    with pytest.raises(DsregError, match="data_batch_3") as err:
        prepare("cifar10", source=source, check_counts=False)
    assert "refusing to unpickle" in str(err.value)
    assert not marker.exists()
    assert not (root / "cifar10" / "python" / "1.0.0").exists()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dsreg.cli", *args]


# `dsreg prepare ARGS` that SIGKILLs itself while its second task writes, its first one finished: the kill comes
# from a thread of the preparing process, not from a parent polling the disk, so however the machine schedules the
# two processes it never comes before the first task is done nor after the rest are.
_KILLED_IN_SECOND_TASK = """
import os, signal, sys, threading, time
from pathlib import Path
from dsreg import preparation
from dsreg.cli import main

real_run_task, started = preparation.run_task, []


def kill_once_writing(first_done, second_partial):
    while True:
        try:
            if first_done.exists() and any(second_partial.iterdir()):
                os.kill(os.getpid(), signal.SIGKILL)
        except OSError:  # the partial directory is not made yet
            pass
        time.sleep(0.001)


def run_task(spec, *args, **kwargs):
    started.append(Path(spec.out_dir))
    if len(started) == 2:
        partial = started[1].with_name(started[1].name + ".partial")
        watch = threading.Thread(target=kill_once_writing, args=(started[0] / "done.json", partial), daemon=True)
        watch.start()
    return real_run_task(spec, *args, **kwargs)


preparation.run_task = run_task
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_prepare_resumes_reusing_finished_shards(tmp_path: Path) -> None:
    source = _unpacked(tmp_path, cifar.make_cifar10_python, train_rows=50_000, test_rows=10_000)
    root = tmp_path / "killed"
    env = {**os.environ, "DSREG_ROOT": str(root)}
    args = [sys.executable, "-c", _KILLED_IN_SECOND_TASK, "prepare", "cifar10", "--source", str(source)]
    proc = subprocess.run(args, env=env, stderr=subprocess.PIPE, text=True, timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (first,) = (root / "cifar10" / "python").glob("1.0.0.incomplete-*/_tasks/train/00000")
    assert (first / "done.json").exists()
    finished = sorted(first.parent.glob("*/done.json"))
    assert len(finished) < 5, "every task had finished: nothing left to resume"
    part = next(first.glob("part-*.arrow"))
    inode = part.stat().st_ino

    report = Progress()
    resumed = prepare("cifar10", source=source, root=root, report=report)
    assert report.tasks_reused == len(finished) and report.tasks_run == 6 - len(finished)
    first_shard = resumed.directory / resumed.splits["train"].shards[0].path
    assert first_shard.stat().st_ino == inode  # the finished shard was moved into place, not rewritten
    clean = prepare("cifar10", source=source, root=tmp_path / "clean")
    assert resumed.to_json()["splits"] == clean.to_json()["splits"]
    assert verify_manifest(resumed, deep=True) == []


def test_two_concurrent_prepares_publish_once(tmp_path: Path) -> None:
    source = _unpacked(tmp_path, cifar.make_cifar10_python, train_rows=20_000, test_rows=1_000)
    env = {**os.environ, "DSREG_ROOT": str(tmp_path / "shared")}
    args = _cli("prepare", "cifar10", "--source", str(source), "--no-check-counts", "--json")
    procs = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    reports = [json.loads(out) for out, _ in results]
    assert sorted(r["reused"] for r in reports) == [False, True]
    assert reports[0]["splits"] == reports[1]["splits"]
    version_dir = tmp_path / "shared" / "cifar10" / "python"
    assert sorted(p.name for p in version_dir.iterdir()) == ["1.0.0"]
    verify = subprocess.run(_cli("verify", "cifar10", "--deep"), env=env, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout


def test_slurm_array_elements_split_the_tasks_and_a_final_prepare_publishes(tmp_path: Path) -> None:
    source = _unpacked(tmp_path, cifar.make_cifar10_python, train_rows=3_000, test_rows=600)
    env = {**os.environ, "DSREG_ROOT": str(tmp_path / "shared")}
    elements = []
    for index in range(3):
        element_env = {**env, "SLURM_ARRAY_TASK_ID": str(10 + index), "SLURM_ARRAY_TASK_MIN": "10"}
        element_env["SLURM_ARRAY_TASK_COUNT"] = "3"
        args = _cli("prepare", "cifar10", "--source", str(source), "--array", "slurm", "--json")
        elements.append(subprocess.Popen(args, env=element_env, stdout=subprocess.PIPE, text=True))
    reports = [json.loads(p.communicate(timeout=300)[0]) for p in elements]
    assert sorted(r["array"][0] for r in reports) == [0, 1, 2]
    assert sum(r["tasks"]["run"] for r in reports) == 6  # 5 train batches + 1 test batch, each run once
    assert not (tmp_path / "shared" / "cifar10" / "python" / "1.0.0").exists()  # elements never publish
    report = Progress()
    final = prepare("cifar10", source=source, root=tmp_path / "shared", check_counts=False, report=report)
    assert report.tasks_reused == 6 and report.tasks_run == 0
    clean = prepare("cifar10", source=source, root=tmp_path / "clean", check_counts=False)
    assert final.to_json()["splits"] == clean.to_json()["splits"]


def test_array_index_out_of_range_is_refused(tmp_path: Path) -> None:
    from dsreg.preparation import prepare_tasks

    with pytest.raises(DsregError, match=r"outside 0\.\.2"):
        prepare_tasks("cifar10", 3, 3)


@pytest.mark.parametrize("order", ["read-only first", "scratch first"])
def test_a_version_in_a_read_only_root_is_not_prepared_again_in_a_scratch_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    from dsreg import roots

    source = _unpacked(tmp_path, cifar.make_cifar10_python, train_rows=TRAIN, test_rows=TEST)
    shared, scratch = tmp_path / "shared", tmp_path / "scratch"
    first = prepare("cifar10", source=source, root=shared, check_counts=False)
    monkeypatch.setattr(roots, "may_create_in", lambda path: not path.is_relative_to(shared))  # root ignores modes
    path = [shared, scratch] if order == "read-only first" else [scratch, shared]
    monkeypatch.setenv("DSREG_ROOT", os.pathsep.join(map(str, path)))
    report = Progress()
    again = prepare("cifar10", source=source, check_counts=False, report=report)
    assert report.reused and again.directory == first.directory
    assert not (scratch / "cifar10").exists()


def test_a_different_recipe_in_another_root_is_refused_not_shadowed(tmp_path: Path, monkeypatch) -> None:
    source = _unpacked(tmp_path, cifar.make_cifar10_python, train_rows=TRAIN, test_rows=TEST)
    shared, scratch = tmp_path / "shared", tmp_path / "scratch"
    prepare("cifar10", source=source, root=shared, check_counts=False)
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    shipped = Path(__file__).parent.parent / "recipes" / "cifar10.yaml"
    (recipes / "cifar10.yaml").write_text(shipped.read_text().replace("mutually exclusive", "disjoint"))
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    monkeypatch.setenv("DSREG_ROOT", os.pathsep.join([str(scratch), str(shared)]))
    with pytest.raises(DsregError, match="already published from a different recipe"):
        prepare("cifar10", source=source, check_counts=False)
    assert not (scratch / "cifar10").exists()


def test_a_final_prepare_from_another_source_leaves_no_orphan_work(tmp_path: Path) -> None:
    from dsreg.lock import FileLock
    from dsreg.preparation import prepare_tasks

    x = _unpacked(tmp_path / "x", cifar.make_cifar10_python, train_rows=300, test_rows=60)
    y = _unpacked(tmp_path / "y", cifar.make_cifar10_python, train_rows=300, test_rows=60)
    root = tmp_path / "shared"
    prepare_tasks("cifar10", 0, 3, source=x, root=root)  # an array element made from source x
    dataset = root / "cifar10" / "python"
    (work_x,) = dataset.glob("1.0.0.incomplete-*")
    running = FileLock(work_x / "_tasks" / "train" / "00004.lock")  # another element still at work in it
    running.acquire()
    try:
        prepare("cifar10", source=y, root=root, check_counts=False)  # the final prepare, given source y
        assert work_x.is_dir()  # not pulled from under a running element
    finally:
        running.release()
    report = Progress()
    prepare_tasks("cifar10", 1, 3, source=x, root=root, report=report)  # the next element of x: nothing to do
    assert report.reused
    assert sorted(p.name for p in dataset.iterdir()) == ["1.0.0"]  # the abandoned work is gone


def test_abandoned_work_nobody_holds_is_removed_by_the_final_prepare(tmp_path: Path) -> None:
    from dsreg.preparation import prepare_tasks

    x = _unpacked(tmp_path / "x", cifar.make_cifar10_python, train_rows=300, test_rows=60)
    y = _unpacked(tmp_path / "y", cifar.make_cifar10_python, train_rows=300, test_rows=60)
    root = tmp_path / "shared"
    prepare_tasks("cifar10", 2, 3, source=x, root=root)
    prepare("cifar10", source=y, root=root, check_counts=False)
    assert sorted(p.name for p in (root / "cifar10" / "python").iterdir()) == ["1.0.0"]


def test_workers_list_a_source_against_the_largest_splits_bound(fake_recipe, tmp_path, served, monkeypatch) -> None:
    # CIFAR-100's one `train` member is far over what its small test split may read: a worker running
    # the test task lists the whole archive, so the listing is bounded by the largest split, not its own.
    raw, server = served
    archive = cifar.make_cifar100_binary(raw, train_rows=600, test_rows=2)
    rows = {"train": 600, "test": 2}
    fake_recipe(tmp_path / "recipes", "cifar100", "binary", archive, [server.url(archive.name)], rows=rows)
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    manifest = prepare("cifar100/binary", workers=2)
    assert {s: manifest.splits[s].rows for s in manifest.splits} == rows


def test_a_task_whose_shards_cannot_be_synced_fails_the_prepare_and_the_rerun_resumes_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task's shards are synced and the task marked done on a thread while the next task runs: a failure
    there (the disk full when the delayed writes land) still fails the prepare with the shard named, keeps
    the other tasks finished (the one handed over meanwhile included), leaves no lock held and publishes
    nothing."""
    from dsreg.storage import base

    source = _unpacked(tmp_path, cifar.make_cifar10_python, train_rows=600, test_rows=100)
    root = tmp_path / "root"
    real_fsync, shards_synced = os.fsync, []

    def full_at_the_third_shard(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".arrow.tmp"):
            shards_synced.append(fd)
            if len(shards_synced) == 3:
                raise OSError(28, os.strerror(28))
        real_fsync(fd)

    monkeypatch.setattr(base.os, "fsync", full_at_the_third_shard)
    with pytest.raises(DsregError, match="cannot write shard: No space left on device") as err:
        prepare("cifar10", source=source, root=root, check_counts=False)
    assert err.value.path and err.value.path.endswith("part-00000.arrow.tmp")
    tasks = next((root / "cifar10" / "python").glob("1.0.0.incomplete-*")) / "_tasks" / "train"
    assert sorted(p.parent.name for p in tasks.glob("*/done.json")) == ["00000", "00001", "00003"]
    assert not list(tasks.parent.rglob("*.lock")) and not (root / "cifar10" / "python" / "1.0.0").exists()
    monkeypatch.setattr(base.os, "fsync", real_fsync)
    report = Progress()
    resumed = prepare("cifar10", source=source, root=root, check_counts=False, report=report)
    assert report.tasks_reused == 3 and report.tasks_run == 3
    clean = prepare("cifar10", source=source, root=tmp_path / "clean", check_counts=False)
    assert resumed.to_json()["splits"] == clean.to_json()["splits"]
    assert verify_manifest(resumed, deep=True) == []


def test_a_preparer_paused_until_its_lock_was_taken_over_publishes_nothing(tmp_path: Path, monkeypatch) -> None:
    """A preparer paused past stale_after while its tasks ran (SIGSTOP, a frozen NFS client) has its version lock
    taken over; when it resumes it must not publish alongside its successor, and says why."""
    from dsreg import preparation
    from dsreg.lock import FileLock

    source = _unpacked(tmp_path, cifar.make_cifar10_python, train_rows=TRAIN, test_rows=TEST)
    root = tmp_path / "root"
    lock_path = root / "cifar10" / "python" / "1.0.0.lock"
    real_check = preparation._check_unchanged
    successors: list[FileLock] = []

    def taken_over_meanwhile(*args, **kwargs) -> None:  # after the tasks ran, before anything is published
        lock_path.rename(lock_path.with_name("aside"))
        successors.append(FileLock(lock_path))
        assert successors[0].try_acquire()
        real_check(*args, **kwargs)

    monkeypatch.setattr(preparation, "_check_unchanged", taken_over_meanwhile)
    with pytest.raises(DsregError, match=r"lost its lock.*nothing was published by this process"):
        prepare("cifar10", source=source, root=root, check_counts=False)
    assert not (root / "cifar10" / "python" / "1.0.0").exists()
    assert successors[0].holder()["token"] == successors[0].token  # the successor's lock left alone
    successors[0].release()
