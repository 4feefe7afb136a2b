"""Pool workers die with their parent: killing `dsreg prepare --workers N` leaves no process running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A parent that starts two busy pool workers the way preparation does, prints their pids, and waits.
_PARENT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from dsreg.workers import die_with_parent, pool_context

if __name__ == "__main__":
    watch = sys.argv[1] == "watched"
    context = pool_context() if sys.argv[2] == "preparation's" else get_context(sys.argv[2])
    pool = ProcessPoolExecutor(
        2, mp_context=context, initializer=die_with_parent if watch else None,
        initargs=(os.getpid(),) if watch else (),
    )
    futures = [pool.submit(time.sleep, 60) for _ in range(2)]
    time.sleep(0.5)
    print(" ".join(str(p) for p in pool._processes), flush=True)
    time.sleep(60)
"""


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped yet counts as gone). A process that exits between the open
    and the read of its stat file makes the read fail with ESRCH: it is gone too."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
@pytest.mark.parametrize("watched", [True, False])
@pytest.mark.parametrize("start", ["preparation's", "spawn"])
def test_workers_exit_when_their_parent_is_killed(tmp_path: Path, watched: bool, start: str) -> None:
    """Whether they were forked from the fork server preparation uses (their OS parent is then the server)
    or spawned (their OS parent is the pool's owner)."""
    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    parent = subprocess.Popen(
        [sys.executable, str(script), "watched" if watched else "plain", start], stdout=subprocess.PIPE, text=True
    )
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(_alive(p) for p in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.05)
    try:
        # With the watch, workers busy in a task exit within a poll; without it they run the task to its end.
        assert not any(_alive(p) for p in workers) if watched else all(_alive(p) for p in workers)
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
