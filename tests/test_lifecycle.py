"""`dsreg rm` and `dsreg gc`: confirmation, ownership, the preparation lock, races with readers and preparers."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dsreg
from dsreg import lifecycle, preparation
from dsreg.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from dsreg.lock import FileLock
from dsreg.manifest import Manifest
from dsreg.preparation import Progress, prepare
from dsreg.publish import make_writable
from dsreg.testing import cifar

FEATURES = dsreg.Features({"x": dsreg.Scalar()})


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _publish(root: Path, name: str = "nums", version: str = "1.0.0", rows: int = 3) -> Manifest:
    return dsreg.write_dataset(name, {"train": [{"x": i} for i in range(rows)]}, FEATURES, root=root, version=version)


@pytest.fixture
def unpacked(tmp_path: Path) -> Path:
    archive = cifar.make_cifar10_python(tmp_path / "raw", train_rows=40, test_rows=10)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    return tmp_path / "unpacked"


def test_rm_asks_unless_yes_and_removes_only_that_version(capsys, root, monkeypatch) -> None:
    _publish(root, version="1.0.0")
    _publish(root, version="1.1.0")
    code, _, err = run(capsys, "rm", "nums/default:1.0.0")  # stdin is not a terminal under pytest
    assert code == EXIT_USAGE and "without confirmation" in err and "--yes" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    code, out, err = run(capsys, "rm", "nums/default:1.0.0")
    assert code == EXIT_ERROR and "remove nums/default:1.0.0 at" in out and "nothing removed" in err
    assert (root / "nums" / "default" / "1.0.0").is_dir()
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    code, out, _ = run(capsys, "rm", "nums/default:1.0.0")
    assert code == EXIT_OK and "removed nums/default:1.0.0" in out
    assert sorted(p.name for p in (root / "nums" / "default").iterdir()) == ["1.1.0"]
    code, _, err = run(capsys, "info", "nums:1.0.0")
    assert code == EXIT_ERROR and "versions that exist: 1.1.0" in err
    code, _, err = run(capsys, "rm", "nums/default:1.0.0", "--yes")
    assert code == EXIT_ERROR and "not prepared" in err and "versions that exist: 1.1.0" in err
    code, _, err = run(capsys, "rm", "nums", "--yes")
    assert code == EXIT_ERROR and "NAME/CONFIG:VERSION" in err
    code, out, _ = run(capsys, "rm", "nums/default:1.1.0", "--yes", "--json")
    assert code == EXIT_OK and json.loads(out)["removed"] == "nums/default:1.1.0"


def test_rm_refuses_a_version_of_someone_else_unless_the_directory_is_group_writable(capsys, root, monkeypatch) -> None:
    manifest = _publish(root)
    assert manifest.directory is not None
    owner = manifest.directory.stat().st_uid
    monkeypatch.setattr(lifecycle.os, "getuid", lambda: owner + 4242)
    monkeypatch.setattr(lifecycle.os, "getgroups", lambda: [])
    monkeypatch.setattr(lifecycle.os, "getgid", lambda: manifest.directory.parent.stat().st_gid + 4242)
    code, _, err = run(capsys, "rm", "nums/default:1.0.0", "--yes")
    assert code == EXIT_ERROR and "do not own this version" in err and "chmod g+w" in err
    assert manifest.directory.is_dir()
    parent = manifest.directory.parent
    parent.chmod(parent.stat().st_mode | 0o020)
    monkeypatch.setattr(lifecycle.os, "getgroups", lambda: [parent.stat().st_gid])
    assert run(capsys, "rm", "nums/default:1.0.0", "--yes")[0] == EXIT_OK
    assert not manifest.directory.exists()


def test_rm_refuses_while_a_preparation_holds_the_lock(capsys, root) -> None:
    manifest = _publish(root)
    assert manifest.directory is not None
    lock = FileLock(manifest.directory.with_name("1.0.0.lock"))
    lock.acquire()
    try:
        code, _, err = run(capsys, "rm", "nums/default:1.0.0", "--yes")
        assert code == EXIT_ERROR and "is being prepared right now" in err and "nothing was removed" in err
        assert (manifest.directory / "manifest.json").is_file()
    finally:
        lock.release()
    assert run(capsys, "rm", "nums/default:1.0.0", "--yes")[0] == EXIT_OK


def test_rm_racing_a_reader_never_serves_other_data(root) -> None:
    _publish(root, rows=1000)
    early = dsreg.open("nums", "train")
    assert early.take(np.arange(1000))["x"].sum() == sum(range(1000))  # its shards are mapped now
    late = dsreg.open("nums", "train")  # manifest read, no shard opened yet
    lifecycle.remove("nums/default:1.0.0")
    assert not (root / "nums" / "default" / "1.0.0").exists()
    assert list(early.take([999, 0, 500])["x"]) == [999, 0, 500]  # an open reader keeps reading what it had
    with pytest.raises(dsreg.DsregError, match="shard file is missing"):
        late.take([0])  # a reader that had not opened the shards yet gets a clear error
    with pytest.raises(dsreg.DsregError, match="not prepared"):
        dsreg.open("nums", "train")


def test_rm_racing_a_preparer_leaves_one_complete_version(root, unpacked, monkeypatch) -> None:
    first = prepare("cifar10", source=unpacked, check_counts=False)
    assert first.directory is not None
    real = lifecycle._rename_aside
    report = Progress()
    results: list[Manifest] = []
    waiting = threading.Event()
    real_wait_message = preparation.wait_message

    def wait_message(what: str) -> Callable[[dict[str, Any] | None], None]:
        tell = real_wait_message(what)

        def told(holder: dict[str, Any] | None) -> None:
            tell(holder)
            waiting.set()

        return told

    monkeypatch.setattr(preparation, "wait_message", wait_message)

    def prepare_meanwhile(directory: Path) -> Path:
        # rm holds the version lock here: the preparer started now must wait, then prepare afresh
        worker = threading.Thread(
            target=lambda: results.append(
                prepare("cifar10", source=unpacked, check_counts=False, report=report, lock_timeout=240)
            )
        )
        worker.start()
        assert waiting.wait(240), "the preparer never waited for the lock rm holds"  # however late it runs
        assert not results, "the preparer must wait for the lock rm holds"
        aside = real(directory)
        prepare_meanwhile.worker = worker  # type: ignore[attr-defined]
        return aside

    monkeypatch.setattr(lifecycle, "_rename_aside", prepare_meanwhile)
    lifecycle.remove("cifar10/python:1.0.0")
    prepare_meanwhile.worker.join(240)  # type: ignore[attr-defined]
    (again,) = results
    assert report.reused is False and again.directory == first.directory
    assert dsreg.verify("cifar10", deep=True)[1] == []
    assert [p.name for p in first.directory.parent.iterdir() if not p.name.endswith(".lock")] == ["1.0.0"]


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * 86400
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (stamp, stamp))
    os.utime(path, (stamp, stamp))


def test_gc_removes_stale_work_and_unreferenced_downloads_only(
    capsys, root, tmp_path, monkeypatch, fake_recipe
) -> None:
    archive = cifar.make_cifar10_python(tmp_path / "raw", train_rows=40, test_rows=10)
    fake_recipe(
        tmp_path / "recipes", "cifar10", "python", archive, ["http://127.0.0.1:9/x"], rows={"train": 40, "test": 10}
    )
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    prepared = prepare("cifar10", source=archive)
    used = prepared.sources[0]["sha256"]
    downloads = root / "downloads" / "sha256"
    kept_download = downloads / used  # a prepared version's manifest references it
    in_progress = downloads / ("2" * 64)  # work in progress references it
    orphan = downloads / ("0" * 64)
    fresh_orphan = downloads / ("1" * 64)
    for d in (kept_download, in_progress, orphan, fresh_orphan):
        d.mkdir(parents=True)
        (d / "archive.tar.gz").write_bytes(b"x" * 100)
    stale = root / "cifar10" / "python" / "2.0.0.incomplete-abc"
    fresh = root / "cifar10" / "python" / "3.0.0.incomplete-def"
    locked = root / "cifar10" / "python" / "4.0.0.incomplete-ghi"
    for d in (stale, fresh, locked):
        (d / "_tasks").mkdir(parents=True)
        (d / "_tasks" / "part.arrow").write_bytes(b"y" * 10)
    (fresh / "_state.json").write_text(json.dumps({"sources": [{"sha256": "2" * 64}]}))
    for d in (kept_download, in_progress, orphan, stale, locked):
        _age(d, 30)
    lock = FileLock(root / "cifar10" / "python" / "4.0.0.lock")
    lock.acquire()
    try:
        code, out, _ = run(capsys, "gc", "--older-than", "7", "--dry-run")
        assert code == EXIT_OK
        assert f"would remove stale work {stale}" in out and f"would remove unreferenced download {orphan}" in out
        assert "would remove 2 item(s)" in out and f"kept {locked}: its preparation lock is held" in out
        assert stale.exists() and orphan.exists()
        code, out, _ = run(capsys, "gc", "--json")
    finally:
        lock.release()
    data = json.loads(out)
    assert sorted(r["path"] for r in data["removed"]) == sorted([str(stale), str(orphan)])
    assert not stale.exists() and not orphan.exists()
    for survivor in (fresh, locked, kept_download, in_progress, fresh_orphan, prepared.directory):
        assert survivor is not None and survivor.exists()
    assert dsreg.verify("cifar10")[1] == []


def test_gc_keeps_every_download_while_a_manifest_cannot_be_read(capsys, root) -> None:
    damaged = _publish(root).directory
    assert damaged is not None
    make_writable(damaged)
    (damaged / "manifest.json").write_text("{ truncated")
    orphan = root / "downloads" / "sha256" / ("0" * 64)
    orphan.mkdir(parents=True)
    _age(orphan, 30)
    code, out, _ = run(capsys, "gc")
    assert code == EXIT_OK and "removed 0 item(s)" in out and "downloads kept" in out and str(damaged) in out
    assert orphan.exists()


SETPRIV = shutil.which("setpriv")
needs_setpriv = pytest.mark.skipif(SETPRIV is None or os.geteuid() != 0, reason="needs root and setpriv")
NOBODY = 65534


def _as_nobody(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dsreg ARGS --json` run as uid/gid 65534 with no supplementary groups (another lab member)."""
    command = [str(SETPRIV), f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    env = {**os.environ, "DSREG_ROOT": str(root), "HOME": "/tmp"}
    return subprocess.run(
        [*command, sys.executable, "-m", "dsreg", *args, "--json"], capture_output=True, text=True, env=env
    )


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A root every user may enter and write (pytest's tmp_path is private to root)."""
    top = Path(tempfile.mkdtemp(prefix="dsreg-lifecycle-"))
    top.chmod(0o755)
    root = top / "root"
    root.mkdir(mode=0o777)
    root.chmod(0o777)
    yield root
    make_writable(top)
    shutil.rmtree(top)


@needs_setpriv
def test_gc_by_another_user_keeps_what_it_cannot_delete_and_collects_the_rest(shared_root: Path) -> None:
    theirs = shared_root / "nums" / "default" / "2.0.0.incomplete-abc"  # root's, not writable by nobody
    (theirs / "_tasks").mkdir(parents=True)
    (theirs / "_tasks" / "part.arrow").write_bytes(b"y" * 10)
    for d in (shared_root / "nums", shared_root / "nums" / "default"):
        d.chmod(0o777)
    mine = shared_root / "downloads" / "sha256" / ("0" * 64)  # nobody's own orphan download
    mine.mkdir(parents=True)
    (mine / "archive.tar.gz").write_bytes(b"x" * 100)
    for d in (shared_root / "downloads", shared_root / "downloads" / "sha256"):
        d.chmod(0o777)
    for path in (mine, mine / "archive.tar.gz"):
        os.chown(path, NOBODY, NOBODY)
    _age(theirs, 30)
    _age(mine, 30)
    dry = _as_nobody(shared_root, "gc", "--dry-run")
    assert dry.returncode == EXIT_OK, dry.stderr
    assert [r["path"] for r in json.loads(dry.stdout)["removed"]] == [str(mine)]
    done = _as_nobody(shared_root, "gc")
    assert done.returncode == EXIT_OK, done.stderr
    data = json.loads(done.stdout)
    assert [r["path"] for r in data["removed"]] == [str(mine)]
    (note,) = data["notes"]
    assert note.startswith(f"kept {theirs}:") and "root" in note and "dsreg gc" in note
    assert not mine.exists() and (theirs / "_tasks" / "part.arrow").is_file()


@needs_setpriv
def test_rm_by_a_group_member_of_a_version_it_cannot_delete_removes_nothing(shared_root: Path) -> None:
    manifest = _publish(shared_root)
    assert manifest.directory is not None
    dataset = manifest.directory.parent
    for d in (shared_root / "nums", dataset):
        os.chown(d, 0, NOBODY)
        d.chmod(0o775)  # the lab's group may rename entries of the dataset directory
    run = _as_nobody(shared_root, "rm", "nums/default:1.0.0", "--yes")
    assert run.returncode == EXIT_ERROR
    error = json.loads(run.stderr)
    assert "nothing was removed" in error["error"] and "root" in error["error"] and "root" in error["fix"]
    assert sorted(p.name for p in dataset.iterdir()) == ["1.0.0"]
    assert dsreg.verify("nums", root=shared_root)[1] == []


def test_gc_on_a_node_whose_clock_is_weeks_ahead_removes_no_fresh_work(root, monkeypatch) -> None:
    """Ages are measured on the file server's clock (the mtimes it set), not this node's."""
    work = root / "nums" / "default" / "2.0.0.incomplete-abc" / "_tasks"
    work.mkdir(parents=True)
    (work / "part.arrow").write_bytes(b"y" * 10)
    orphan = root / "downloads" / "sha256" / ("0" * 64)
    orphan.mkdir(parents=True)
    (orphan / "archive.tar.gz").write_bytes(b"x")
    skewed = time.time() + 30 * 86400
    monkeypatch.setattr(lifecycle.time, "time", lambda: skewed)
    removed, _ = lifecycle.collect(root)
    assert removed == [] and work.parent.exists() and orphan.exists()


def test_gc_takes_a_download_named_manifest_json_for_a_download(capsys, root) -> None:
    vendor = root / "downloads" / "sha256" / ("0" * 64)  # a vendor file that happens to be called manifest.json
    vendor.mkdir(parents=True)
    (vendor / "manifest.json").write_text('{"files": ["a.jpg"]}')
    _age(vendor, 30)
    code, out, _ = run(capsys, "gc", "--json")
    data = json.loads(out)
    assert code == EXIT_OK and data["notes"] == [] and [r["path"] for r in data["removed"]] == [str(vendor)]


@pytest.mark.parametrize(
    "lock",
    [
        "nums/default/1.0.0.incomplete-abc/_tasks/train/00003.lock",  # an array element runs a task
        "nums/default/1.0.0.incomplete-abc/assets/sentencepiece-0.lock",  # an array element fits a step
        f"downloads/sha256/{'0' * 64}/archive.tar.gz.lock",  # a download runs
    ],
)
def test_gc_even_older_than_0_keeps_what_a_running_process_holds_a_lock_in(capsys, root, lock) -> None:
    held = FileLock(root / lock)
    held.acquire()  # array elements hold no version lock, only their task's (and a download its own)
    try:
        (held.path.parent / "part.partial").write_bytes(b"y" * 10)
        code, out, _ = run(capsys, "gc", "--older-than", "0", "--json")
        busy = root.joinpath(*Path(lock).parts[:3])
        data = json.loads(out)
        assert code == EXIT_OK and data["removed"] == []
        assert data["notes"] == [f"kept {busy}: a process holds {held.path}"]
        assert (held.path.parent / "part.partial").is_file()
    finally:
        held.release()
    code, out, _ = run(capsys, "gc", "--older-than", "0", "--json")
    assert code == EXIT_OK and [r["path"] for r in json.loads(out)["removed"]] == [str(busy)]


def test_gc_older_than_nan_is_refused_not_taken_as_zero(capsys, root) -> None:
    fresh = root / "nums" / "default" / "2.0.0.incomplete-abc"
    fresh.mkdir(parents=True)
    code, _, err = run(capsys, "gc", "--older-than", "nan")
    assert code == EXIT_ERROR and "--older-than" in err and fresh.is_dir()
