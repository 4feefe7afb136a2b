"""A preparation lock that works on NFS: create-exclusive file, heartbeat, stale-lock takeover.

`O_CREAT | O_EXCL` is atomic on NFSv3+ and every local filesystem. The holder touches the file's
mtime every `heartbeat` seconds; a lock whose holder is a dead process on this host (in this pid
namespace: containers may share a host name, not their pids), or whose
heartbeat has stopped for `stale_after` seconds, is taken over by renaming it aside (only one
contender's rename wins).

Staleness never compares this host's clock with the file server's: hosts drift, and a host ten
minutes ahead would take every live lock. The age of a heartbeat is measured on the server's clock
(the mtime of a file this contender just touched, minus the lock's mtime), and a lock whose mtime
moved since this contender last looked is live whatever the clocks say; a lock seen unchanged for
`stale_after` seconds of this host's monotonic clock is stale too (where no probe can be written).

A holder paused longer than `stale_after` (SIGSTOP, a long GC pause, a frozen NFS client) loses its lock to
a successor. Its heartbeat touches the lock only while the file still holds its token, and records the loss
otherwise; the holder calls `ensure_held` before each step that commits anything, which then refuses.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from dsreg.errors import DsregError


def _pid_namespace() -> str | None:
    """This process's pid namespace (Linux: `pid:[4026531836]`), None where it cannot be read. Containers on one
    node may share its host name (docker --uts=host, pods with hostNetwork) but not its pids."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FileLock:
    """An inter-process, inter-host lock held by the existence of `path`."""

    def __init__(self, path: str | os.PathLike[str], *, stale_after: float = 120.0, heartbeat: float = 10.0):
        if heartbeat >= stale_after:
            raise DsregError(f"lock heartbeat {heartbeat}s must be shorter than stale_after {stale_after}s")
        self.path = Path(path)
        self.stale_after = stale_after
        self.heartbeat = heartbeat
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._lost = threading.Event()  # set by the heartbeat when the lock file no longer holds our token
        self._thread: threading.Thread | None = None
        self._seen: tuple[tuple[float, str | None], float] | None = None  # (mtime, token), first seen (monotonic)

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock (host, pid, started), or None when it is free or unreadable."""
        return _read_json(self.path)

    def looks_held(self) -> bool:
        """Whether someone holds the lock, judged at one look: its file exists, and its holder is not a
        dead process on this host nor a heartbeat older than `stale_after` on the file server's clock."""
        return self._stale_token() is False

    def ensure_held(self, outcome: str = "nothing was published by this process") -> None:
        """Raise a DsregError (ending with `outcome`) unless the lock file still holds this lock's token: call it
        before each step that commits or publishes, so a holder paused while a successor took over never commits."""
        holder = self.holder()
        if self._lost.is_set() or not isinstance(holder, dict) or holder.get("token") != self.token:
            self._lost.set()
            raise DsregError(
                "this process lost its lock: another process took it over, as this one's heartbeat had stopped for "
                f"longer than stale_after={self.stale_after:g}s (the process was paused: stopped, swapped out, its "
                f"host or file server frozen); {outcome}",
                path=self.path,
                fix="let the process that holds the lock now finish, then run again if it did not; where pauses this "
                "long are expected, pass a longer stale_after (e.g. `prepare(..., stale_after=600)`)",
            )

    @property
    def lost(self) -> bool:
        """Whether the heartbeat found the lock file holding another process's token (or gone)."""
        return self._lost.is_set()

    def try_acquire(self) -> bool:
        """Take the lock if it is free or stale; never blocks."""
        if self._create():
            return True
        stale = self._stale_token()
        if stale is False:
            return False
        aside = self.path.with_name(f"{self.path.name}.stale-{self.token}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return self._create()  # released or taken aside by another contender meanwhile
        moved = _read_json(aside)
        if stale is not None and (moved or {}).get("token") != stale:
            # Between our look and our rename someone else took over: put their live lock back. If a third
            # contender created the lock meanwhile, that one holds it, and the one we moved learns it lost the
            # lock from its heartbeat and `ensure_held` before it commits anything.
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
            aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        return self._create()

    def acquire(
        self,
        timeout: float | None = None,
        poll: float = 0.5,
        on_wait: Callable[[dict[str, Any] | None], None] | None = None,
    ) -> None:
        """Block until the lock is ours; `on_wait` is told once who holds it. DsregError on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        told = False
        while not self.try_acquire():
            if on_wait is not None and not told:
                on_wait(self.holder())
                told = True
            if deadline is not None and time.monotonic() > deadline:
                holder = self.holder() or {}
                raise DsregError(
                    f"timed out after {timeout}s waiting for the lock held by "
                    f"{holder.get('user', '?')}@{holder.get('host', '?')} pid {holder.get('pid', '?')}",
                    path=self.path,
                    fix="wait for that preparation to finish; if its host is gone the lock turns stale "
                    f"after {self.stale_after:.0f}s and is taken over",
                )
            time.sleep(poll)

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        holder = self.holder()
        if holder is not None and holder.get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def _create(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "user": os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid()),
            "started": time.time(),
            "token": self.token,
            "pidns": _pid_namespace(),
        }
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f)
            f.flush()
            os.fsync(f.fileno())
        self._stop.clear()
        self._lost.clear()
        self._thread = threading.Thread(target=self._beat, name=f"dsreg-lock-{self.path.name}", daemon=True)
        self._thread.start()
        return True

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            if not self._touch():
                self._lost.set()
                return

    def _touch(self) -> bool:
        """Refresh the lock's mtime if the file still holds our token; False (touching nothing) if it holds another.
        The token is read from the open file and that same file touched, so a successor's lock put in its place
        between the two is never refreshed by us."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return True  # gone for a moment (a contender checking it puts it back), or a passing NFS error
        try:
            with os.fdopen(os.dup(fd), "r", encoding="utf-8") as f:
                data = json.load(f)
            if not isinstance(data, dict) or data.get("token") != self.token:
                return False
            os.utime(fd)
            return True
        except ValueError:
            return False  # not our JSON: a successor's file still being written
        except OSError:
            return True  # a passing I/O error (NFS): the next beat tries again
        finally:
            os.close(fd)

    def _stale_token(self) -> str | bool | None:
        """False when the lock is live; otherwise the stale holder's token (None if unreadable)."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        holder = self.holder()
        token = (holder or {}).get("token")
        stale_token = token if isinstance(token, str) else None
        same_pids = (  # the holder's pid means a process here: same host, same pid namespace (if it recorded one)
            holder
            and holder.get("host") == socket.gethostname()
            and isinstance(holder.get("pid"), int)
            and holder.get("pidns", _pid_namespace()) == _pid_namespace()
        )
        if same_pids and not _pid_alive(holder["pid"]):  # type: ignore[index]
            # Same host: a dead holder is stale at once, no need to wait out the heartbeat window.
            return stale_token
        now = time.monotonic()
        observation = (mtime, stale_token)
        if self._seen is not None and self._seen[0] == observation:
            return stale_token if now - self._seen[1] > self.stale_after else False
        first_look, self._seen = self._seen is None, (observation, now)
        if not first_look:
            return False  # the heartbeat moved since the last look: live, whatever any clock says
        now_there = server_now(self.path.with_name(f"{self.path.name}.now-{self.token}"))
        return stale_token if now_there is not None and now_there - mtime > self.stale_after else False


def server_now(probe: Path) -> float | None:
    """The file server's current time: the mtime of `probe`, created and removed again, so that ages compare
    mtimes with the clock that set them (a node's may be days ahead); None where it cannot be created."""
    try:
        probe.touch()
        return probe.stat().st_mtime
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return None
