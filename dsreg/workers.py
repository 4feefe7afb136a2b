"""Pool workers that die with their parent, so a killed `dsreg prepare --workers N` leaves no process behind.

A worker blocked in its task never notices that the process that started it is gone: the pool's
pipes are only read between tasks. `die_with_parent`, the pool's initializer, starts a daemon thread
in each worker that exits the worker as soon as that process is gone: it waits on the sentinel
multiprocessing gives a spawned or fork-server worker (whose OS parent is the fork server, not the
pool's owner), or else watches for the kernel re-parenting the orphan.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

POLL_SECONDS = 0.2


def die_with_parent(parent: int) -> None:
    """Exit this process (at once, no cleanup: its task's partial output is redone) once `parent` is gone."""
    owner = multiprocessing.parent_process()
    if owner is not None and owner.pid == parent:
        threading.Thread(target=_wait_for, args=(owner,), name="dsreg-parent-watch", daemon=True).start()
        return
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="dsreg-parent-watch", daemon=True).start()


def _wait_for(owner: multiprocessing.process.BaseProcess) -> None:
    owner.join()  # returns once the owner's end of its pipe to this worker is closed: it exited or was killed
    os._exit(1)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(1)


def pool_context(*preload: str) -> multiprocessing.context.BaseContext:
    """How pool workers start: forked from a fork server that has imported dsreg's preparation and the `preload`
    modules (the reader's) once, so a worker starts in milliseconds rather than after imports of its own, where
    the platform has one; else spawned. The server is shared by every pool of this process (the modules named
    when it starts are those it has). Never a plain fork of this process, whose other threads (hashing, lock
    heartbeats) may hold locks that a forked child would inherit held."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["dsreg.preparation", *preload])
    return context
