from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsreg import DsregError
from dsreg.lock import FileLock


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    path = tmp_path / "v.lock"
    a, b = FileLock(path), FileLock(path)
    assert a.try_acquire()
    assert not b.try_acquire()
    assert a.holder()["pid"] == os.getpid()
    a.release()
    assert not path.exists()
    assert b.try_acquire()
    b.release()


def test_release_never_removes_someone_elses_lock(tmp_path: Path) -> None:
    path = tmp_path / "v.lock"
    a = FileLock(path)
    assert a.try_acquire()
    path.unlink()  # e.g. taken over as stale while we were paused
    b = FileLock(path)
    assert b.try_acquire()
    a.release()
    assert path.exists() and b.holder()["token"] == b.token
    b.release()


def test_a_lock_without_heartbeat_turns_stale_and_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "v.lock"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "old", "started": 0}))
    old = time.time() - 600
    os.utime(path, (old, old))
    lock = FileLock(path, stale_after=60, heartbeat=5)
    assert lock.try_acquire()
    assert lock.holder()["token"] == lock.token
    lock.release()


def test_a_live_remote_lock_is_respected_until_timeout(tmp_path: Path) -> None:
    path = tmp_path / "v.lock"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "user": "ana", "token": "t", "started": 0}))
    with pytest.raises(DsregError, match="held by ana@elsewhere"):
        FileLock(path, stale_after=60, heartbeat=5).acquire(timeout=0.3, poll=0.05)


def test_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    path = tmp_path / "v.lock"
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": dead_pid, "token": "t", "started": 0}))
    lock = FileLock(path)
    assert lock.try_acquire()
    lock.release()


@pytest.mark.skipif(not os.path.exists("/proc/self/ns/pid"), reason="needs Linux's /proc/self/ns/pid")
def test_a_dead_pid_of_another_pid_namespace_on_this_host_is_not_taken_over_at_once(tmp_path: Path) -> None:
    """Containers on one node (docker --uts=host, pods with hostNetwork) share its host name, not its pids:
    a pid that is gone here may be a live holder in its own namespace."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder = {"host": socket.gethostname(), "pid": int(proc.stdout), "token": "t", "started": 0}
    path = tmp_path / "v.lock"
    path.write_text(json.dumps({**holder, "pidns": "pid:[1]"}))
    lock = FileLock(path)
    assert not lock.try_acquire() and lock.looks_held()
    path.write_text(json.dumps({**holder, "pidns": os.readlink("/proc/self/ns/pid")}))  # this namespace: gone
    assert lock.try_acquire()
    assert lock.holder()["pidns"] == os.readlink("/proc/self/ns/pid")
    lock.release()


def test_the_heartbeat_keeps_a_held_lock_fresh(tmp_path: Path) -> None:
    path = tmp_path / "v.lock"
    lock = FileLock(path, stale_after=30, heartbeat=0.05)
    assert lock.try_acquire()
    old = time.time() - 100
    os.utime(path, (old, old))  # 100 s without a beat: stale, unless the heartbeat touches it again
    deadline = time.monotonic() + 60  # a loaded machine may run the heartbeat thread late, never not at all
    while path.stat().st_mtime < old + 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert time.time() - path.stat().st_mtime < 30
    assert not FileLock(path, stale_after=30, heartbeat=0.05).try_acquire()
    lock.release()


def _remote_lock(path: Path, age: float = 0.0) -> None:
    """A lock file held by a process on another host, its last heartbeat `age` seconds ago (file-server time)."""
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "user": "ana", "token": "remote", "started": 0}))
    if age:
        old = path.stat().st_mtime - age
        os.utime(path, (old, old))


@pytest.mark.parametrize("skew", [600.0, -600.0, 1e6])
def test_a_skewed_clock_never_takes_a_live_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skew: float) -> None:
    path = tmp_path / "v.lock"
    _remote_lock(path)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + skew)  # this host's clock is wrong by `skew` seconds
    # stale_after is a margin for the gap between the holder's first beat and the taker's first look (2 s: a
    # loaded machine may pause this process that long); the loop outlasts it
    taker = FileLock(path, stale_after=2.0, heartbeat=0.1)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:  # the holder keeps beating, every 0.2 s of the server's clock
        os.utime(path)
        assert not taker.try_acquire()
        time.sleep(0.2)
    assert json.loads(path.read_text())["token"] == "remote"


@pytest.mark.parametrize("skew", [600.0, -600.0])
def test_a_stopped_heartbeat_is_taken_over_whatever_the_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skew: float
) -> None:
    path = tmp_path / "v.lock"
    _remote_lock(path)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + skew)
    taker = FileLock(path, stale_after=2.0, heartbeat=0.1)  # 2 s: wider than any pause since the lock was written
    start = time.monotonic()
    assert not taker.try_acquire()  # fresh on the server's clock: live until seen unchanged for 2 s
    taker.acquire(timeout=60, poll=0.05)  # taken over, not timed out (the bound only tells a hang)
    assert time.monotonic() - start >= 2.0
    assert taker.holder()["token"] == taker.token
    taker.release()


def test_an_old_heartbeat_is_stale_at_first_look_by_the_servers_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v.lock"
    _remote_lock(path, age=600)
    monkeypatch.setattr(time, "time", lambda: 0.0)  # this host thinks it is 1970: irrelevant
    lock = FileLock(path, stale_after=60, heartbeat=5)
    assert lock.try_acquire()
    assert lock.holder()["token"] == lock.token
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.lock"]  # the server-time probe is gone
    lock.release()


def _taken_over(path: Path) -> FileLock:
    """What a successor does to a holder it found stale: move its lock aside and create its own."""
    os.rename(path, path.with_name("aside"))
    successor = FileLock(path, stale_after=30, heartbeat=5)
    assert successor.try_acquire()
    return successor


def test_a_paused_holder_never_refreshes_its_successors_lock_and_learns_it_lost(tmp_path: Path) -> None:
    """A holder paused past stale_after (SIGSTOP, a GC pause, a frozen NFS client) is taken over; when it resumes,
    its heartbeat must not keep the successor's lock fresh (which would hide a dead successor), and it must be
    refused before it commits anything: two preparers would otherwise work in one directory."""
    path = tmp_path / "v.lock"
    paused = FileLock(path, stale_after=30, heartbeat=0.02)
    assert paused.try_acquire()
    paused.ensure_held()  # while the lock is its own, nothing to say
    successor = _taken_over(path)
    old = time.time() - 100
    os.utime(path, (old, old))  # the successor's last beat, long ago: only the resumed holder could refresh it
    deadline = time.monotonic() + 60  # the bound only tells a hung heartbeat from a slow one
    while not paused.lost and path.stat().st_mtime == old and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.stat().st_mtime == old and paused.lost
    with pytest.raises(DsregError, match=r"lost its lock.*stale_after=30s.*nothing was published") as caught:
        paused.ensure_held()
    assert caught.value.path == str(path)
    paused.release()
    assert successor.holder()["token"] == successor.token  # released nothing of the successor's
    successor.ensure_held()
    successor.release()


def test_a_lock_removed_under_its_holder_is_reported_lost(tmp_path: Path) -> None:
    path = tmp_path / "v.lock"
    lock = FileLock(path)
    assert lock.try_acquire()
    path.unlink()
    with pytest.raises(DsregError, match="lost its lock"):
        lock.ensure_held()
    lock.release()


def test_three_contenders_never_leave_a_holder_unaware_it_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finds a dead holder's lock stale; before A moves it aside, B takes it over; after A moved B's live lock
    aside, C creates the lock, so A cannot put B's back. C holds the lock, A does not, and B is told it lost it."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = tmp_path / "v.lock"
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": int(proc.stdout), "token": "dead", "started": 0}))
    a, b, c = (FileLock(path, stale_after=30, heartbeat=5) for _ in range(3))
    real_rename = os.rename
    moves = []

    def interleaved(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        moves.append(Path(dst).name)
        if len(moves) == 1:  # A's move: B takes the dead lock over first (its own move is the second)
            assert b.try_acquire()
            real_rename(src, dst)  # A moves B's live lock aside
            assert c.try_acquire()  # and C creates the lock before A can put B's back
        else:
            real_rename(src, dst)

    monkeypatch.setattr(os, "rename", interleaved)
    assert not a.try_acquire()
    monkeypatch.undo()
    assert len(moves) == 2 and not list(tmp_path.glob("*.stale-*"))
    assert c.holder()["token"] == c.token
    c.ensure_held()
    with pytest.raises(DsregError, match="lost its lock"):
        b.ensure_held()
    for lock in (a, b, c):
        lock.release()
    assert not path.exists()
