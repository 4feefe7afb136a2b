"""Pool workers die with their parent: killing `dsreg prepare --workers N` leaves no process running."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A parent that starts two pool workers the way preparation does, waits until each is busy in a task (each task
# leaves a file named by its worker's pid), prints their pids, and waits.
_PARENT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from dsreg.workers import die_with_parent, pool_context


def busy(started):
    Path(started, str(os.getpid())).touch()
    time.sleep(600)


if __name__ == "__main__":
    watch, started = sys.argv[1] == "watched", sys.argv[3]
    context = pool_context() if sys.argv[2] == "preparation's" else get_context(sys.argv[2])
    pool = ProcessPoolExecutor(
        2, mp_context=context, initializer=die_with_parent if watch else None,
        initargs=(os.getpid(),) if watch else (),
    )
    futures = [pool.submit(busy, started) for _ in range(2)]
    deadline = time.monotonic() + 240
    while len(os.listdir(started)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    print(" ".join(os.listdir(started)), flush=True)
    time.sleep(600)
"""

# How long unwatched workers must outlive their killed parent: many times the watch's poll (they would be gone)
SURVIVAL_SECONDS = 3.0


def _exited(pidfds: list[int], timeout: float) -> list[int]:
    """The pidfds whose process has exited (a zombie nobody reaped counts), waiting up to `timeout` for one."""
    return select.select(pidfds, [], [], timeout)[0]


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="watches the workers through pidfds (Linux 5.3+)")
@pytest.mark.parametrize("watched", [True, False])
@pytest.mark.parametrize("start", ["preparation's", "spawn"])
def test_workers_exit_when_their_parent_is_killed(tmp_path: Path, watched: bool, start: str) -> None:
    """Whether they were forked from the fork server preparation uses (their OS parent is then the server)
    or spawned (their OS parent is the pool's owner). Each worker is held by a pidfd, opened while it is busy
    in its task, so neither its exit nor the reuse of its pid by another process can be mistaken."""
    script, started = tmp_path / "parent.py", tmp_path / "started"
    script.write_text(_PARENT)
    started.mkdir()
    parent = subprocess.Popen(
        [sys.executable, str(script), "watched" if watched else "plain", start, str(started)],
        stdout=subprocess.PIPE,
        text=True,
    )
    pidfds: list[int] = []
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2, "the two workers did not both start their task"
        pidfds = [os.pidfd_open(pid) for pid in pids]  # the workers are in a 600 s task: these are them
        assert _exited(pidfds, 0) == []
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        if watched:  # busy in a task, they exit within a poll of the watch (60 s only tells a hang)
            running, deadline = list(pidfds), time.monotonic() + 60
            while running and time.monotonic() < deadline:
                gone = _exited(running, deadline - time.monotonic())
                running = [fd for fd in running if fd not in gone]
            assert running == []
        else:  # without the watch they run the task to its end
            assert _exited(pidfds, SURVIVAL_SECONDS) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for fd in pidfds:
            with contextlib.suppress(ProcessLookupError):  # exited and reaped already
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            os.close(fd)
