"""Hashing while reading: the digests are the file's whatever the access pattern, the thread or the follower."""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dsreg.hashing import Digests, FollowingHasher, HashingReader

DATA = random.Random(3).randbytes(5_000_003)
EXPECTED = {"sha256": hashlib.sha256(DATA).hexdigest(), "md5": hashlib.md5(DATA).hexdigest()}


@pytest.mark.parametrize("threaded", [False, True])
def test_digests_of_pieces_of_any_size_in_order(threaded: bool) -> None:
    digests, rng, at = Digests(threaded=threaded), random.Random(0), 0
    while at < len(DATA):
        n = rng.choice([1, 511, 512, 70_000, 1 << 20, 3 << 20])
        digests.update(memoryview(DATA)[at : at + n])
        at += n
    assert digests.hexdigests() == EXPECTED
    assert Digests(algorithms=("sha256",)).hexdigests() == {"sha256": hashlib.sha256().hexdigest()}


@pytest.mark.parametrize("threaded", [False, True])
def test_a_hashing_reader_hashes_the_whole_file_whatever_it_read(threaded: bool) -> None:
    for reads in ([(0, 100), (50, 10), (4_000_000, 5)], [], [(4_999_000, 10_000)]):
        reader = HashingReader(io.BytesIO(DATA), threaded=threaded)
        for at, n in reads:
            reader.seek(at)
            assert reader.read(n) == DATA[at : at + n]
        assert reader.high_water == max((min(at + n, len(DATA)) for at, n in reads), default=0)
        assert reader.finish() == EXPECTED


def test_a_following_hasher_stays_within_its_window_until_advanced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    path.write_bytes(DATA)
    read: list[int] = []

    class Counting(io.FileIO):
        def readinto(self, buffer: Any) -> int:
            n = super().readinto(buffer) or 0
            read.append(n)
            return n

    monkeypatch.setattr("dsreg.hashing.open", lambda p, mode, buffering: Counting(p, "rb"), raising=False)

    def settled(target: int) -> int:
        deadline = time.monotonic() + 60  # a loaded machine runs the hashing thread late, not never
        while sum(read) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # time to read on, if it were going to
        return sum(read)

    follower = FollowingHasher(path, window=1 << 20)
    assert settled(0) == 0  # nothing before the readers report where they are
    follower.advance(0)
    assert settled(1 << 20) == 1 << 20
    follower.advance(2 << 20)
    assert settled(3 << 20) == 3 << 20
    assert follower.finish() == EXPECTED
    assert sum(read) == len(DATA)  # each byte once
    stopped = FollowingHasher(path, window=1 << 20)
    stopped.stop()  # the readers failed: it ends without reading on


def test_each_algorithm_runs_on_a_thread_of_its_own_and_a_failure_ends_them_all() -> None:
    before = set(threading.enumerate())  # hashing threads of earlier tests may still be ending: not these
    digests = Digests(threaded=True)
    digests.update(memoryview(DATA)[: 2 << 20])
    started = [t for t in threading.enumerate() if t not in before and t.name.startswith("dsreg-hash-")]
    assert sorted(t.name for t in started) == ["dsreg-hash-md5", "dsreg-hash-sha256"]
    digests.update("not bytes" * 200_000)  # hashlib refuses it on the threads
    with pytest.raises(TypeError):
        digests.hexdigests()
    for thread in started:
        thread.join(timeout=60)  # the bound only tells a thread left running
    assert not [t for t in started if t.is_alive()]
