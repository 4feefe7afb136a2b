"""Pool workers that die with their parent, so a killed `dsreg prepare --workers N` leaves no process behind.

A worker blocked in its task never notices that the process that started it is gone: the pool's
pipes are only read between tasks. `die_with_parent`, the pool's initializer, starts a daemon thread
in each worker that exits the worker as soon as its parent changes (the kernel re-parents orphans).
"""

from __future__ import annotations

import os
import threading
import time

POLL_SECONDS = 0.2


def die_with_parent(parent: int) -> None:
    """Exit this process (at once, no cleanup: its task's partial output is redone) once `parent` is gone."""
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="dsreg-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(1)
