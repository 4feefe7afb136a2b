"""Atomic publication of a dataset version: lock, work directory, shard naming, read-only rename.

Everything is built in `<name>/<config>/<version>.incomplete-<id>/` under a lock. Writing the manifest
*seals* it (complete and verified); then its scratch is removed, one `rename` makes it `<version>/`,
and it is made read-only, bottom-up so its top directory loses write permission last. Readers see
either nothing or a complete version, and earlier versions are never touched. A run killed anywhere
after the seal is finished by the next one (`sealed`, `finish`, `published`), by the same user or any
other allowed to write the dataset directory: nothing needs writing inside a read-only directory.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import pwd
import shutil
import socket
import stat
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dsreg.errors import DsregError
from dsreg.lock import FileLock
from dsreg.manifest import MANIFEST_NAME, Manifest, ShardInfo, SplitInfo, read_manifest
from dsreg.storage import DEFAULT_FORMAT, WrittenShard, get_format

PLAN_NAME = "_finalize.json"
TASK_LOCKS = "_tasks/*/*.lock"  # where preparation's per-task locks live inside a work directory

log = logging.getLogger(__name__)


def created_stamp() -> dict[str, Any]:
    """Who made a version, where and when (UTC), for the manifest."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "user": user,
        "host": socket.gethostname(),
    }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_read_only(top: Path) -> None:
    """Drop write permission on every file and directory under `top`, so no job edits a published version.

    Bottom-up, so `top` itself is the last to lose it; entries another user owns are left as they are
    (only their owner may change their mode).
    """
    for dirpath, _, filenames in os.walk(top, topdown=False):
        for p in [*(Path(dirpath, name) for name in filenames), Path(dirpath)]:
            info = p.stat()
            if info.st_uid == os.geteuid() or os.geteuid() == 0:
                p.chmod(stat.S_IMODE(info.st_mode) & ~0o222)


def owner_name(path: Path) -> str:
    """The user name owning `path` (its uid where the name is unknown)."""
    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def in_use(work: Path) -> bool:
    """Whether some process (array element, worker, other host) still holds a task lock inside `work`."""
    return any(FileLock(path).looks_held() for path in work.glob(TASK_LOCKS))


def make_writable(top: Path) -> None:
    """Undo `make_read_only` (for deleting an old version on purpose); entries another user owns are left as
    they are (only their owner may change their mode, and deleting them needs only their directory's)."""
    for dirpath, _, filenames in os.walk(top):
        for p in [Path(dirpath), *(Path(dirpath, name) for name in filenames)]:
            info = p.stat()
            if info.st_uid == os.geteuid() or os.geteuid() == 0:
                p.chmod(stat.S_IMODE(info.st_mode) | 0o200)


def undeletable(top: Path) -> Path | None:
    """The first directory whose entries deleting `top` would remove but this user cannot: `top`'s parent, or
    one under `top` (itself included) of another user, not writable (nor readable) by this one, so
    `make_writable` cannot help; None if all can go."""
    if not os.access(top.parent, os.W_OK | os.X_OK):
        return top.parent
    blocked: list[Path] = []

    def unreadable(err: OSError) -> None:
        blocked.append(Path(err.filename))

    for dirpath, _, _ in os.walk(top, onerror=unreadable):
        if blocked:
            break
        if os.stat(dirpath).st_uid != os.geteuid() and not os.access(dirpath, os.R_OK | os.W_OK | os.X_OK):
            return Path(dirpath)
    return blocked[0] if blocked else None


class VersionBuild:
    """One attempt to publish `<root>/<name>/<config>/<version>`; use as a context manager (holds the lock)."""

    def __init__(
        self,
        root: Path,
        name: str,
        config: str,
        version: str,
        *,
        lock_timeout: float | None = None,
        on_wait: Callable[[dict[str, Any] | None], None] | None = None,
        stale_after: float = 120.0,
    ):
        self.dataset_dir = root / name / config
        self.version = version
        self.final = self.dataset_dir / version
        self.work = self.dataset_dir / f"{version}.incomplete-unstarted"
        self.lock = FileLock(self.dataset_dir / f"{version}.lock", stale_after=stale_after, heartbeat=stale_after / 12)
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait
        self.locked = False  # inside `with`: every step that commits checks the lock is still ours

    def __enter__(self) -> VersionBuild:
        self.lock.acquire(timeout=self.lock_timeout, on_wait=self.on_wait)
        self.locked = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.locked = False
        self.lock.release()

    def _still_ours(self) -> None:
        """Refuse to go on if this build holds the version lock no more (see `FileLock.ensure_held`); array
        elements, which hold none, are not checked."""
        if self.locked:
            self.lock.ensure_held()

    def published(self) -> Manifest | None:
        """The manifest of this version if it is already published, else None.

        A version still writable at its top was renamed into place by a run killed before it was made
        read-only: its owner finishes that here.
        """
        if (self.final / MANIFEST_NAME).exists():
            info = self.final.stat()
            if stat.S_IMODE(info.st_mode) & 0o222 and info.st_uid == os.geteuid():
                make_read_only(self.final)
            return read_manifest(self.final)
        if self.final.exists():
            raise DsregError(
                "a version directory exists without a manifest",
                path=self.final,
                fix="it was not made by dsreg: move it away, then prepare again",
            )
        return None

    def sealed(self, recipe_digest: str) -> Path | None:
        """The work directory of an interrupted run that was complete (its manifest written), if any."""
        for work in sorted(self.dataset_dir.glob(f"{self.version}.incomplete-*")):
            if not (work / MANIFEST_NAME).is_file():
                continue
            try:
                manifest = read_manifest(work)
            except DsregError:
                continue  # sealing was interrupted: resumed like any unfinished work
            if manifest.recipe_digest == recipe_digest:
                return work
        return None

    def start(self, build_id: str, *, resume: bool = True, clean: bool = True) -> Path:
        """Create (or, with `resume`, reuse) the work directory named by the inputs' `build_id`;
        with `clean` (only under the version lock), drop abandoned work made from other inputs."""
        self.work = self.dataset_dir / f"{self.version}.incomplete-{build_id}"
        if clean:
            self._still_ours()
        for other in self.dataset_dir.glob(f"{self.version}.incomplete-*"):
            if clean and (other != self.work or not resume):
                discard(other)
        self.work.mkdir(parents=True, exist_ok=True)
        return self.work

    def discard_abandoned(self) -> None:
        """Once the version is published, every work directory left for it is abandoned: remove those
        no process works in any more (array elements still running remove theirs when they finish)."""
        if self.final.exists():
            for other in self.dataset_dir.glob(f"{self.version}.incomplete-*"):
                discard(other)

    def finalize_shards(
        self, parts: Mapping[str, Sequence[WrittenShard]], storage: str = DEFAULT_FORMAT
    ) -> dict[str, SplitInfo]:
        """Move each split's parts to `<split>/<index>-of-<count><suffix>` (the format's suffix), resumably.

        The move plan is written first; a rerun after a crash completes the plan instead of redoing it.
        """
        self._still_ours()
        plan_path = self.work / PLAN_NAME
        suffix = get_format(storage).suffix
        if plan_path.exists():
            plan = json.loads(plan_path.read_text(encoding="utf-8"))
        else:
            plan = {}
            for split, shards in parts.items():
                count = len(shards)
                plan[split] = [
                    {
                        "from": str(s.path.relative_to(self.work)),
                        "path": f"{split}/{i:05d}-of-{count:05d}{suffix}",
                        "rows": s.rows,
                        "bytes": s.bytes,
                        "sha256": s.sha256,
                    }
                    for i, s in enumerate(shards)
                ]
            tmp = plan_path.with_name(PLAN_NAME + ".tmp")
            tmp.write_text(json.dumps(plan), encoding="utf-8")
            os.replace(tmp, plan_path)
        splits = {}
        for split, entries in plan.items():
            (self.work / split).mkdir(exist_ok=True)
            for entry in entries:
                src, dst = self.work / entry["from"], self.work / entry["path"]
                if src.exists():
                    os.replace(src, dst)
                elif not dst.exists():
                    raise DsregError(
                        f"shard {entry['from']} vanished during finalization",
                        path=self.work,
                        fix="delete this incomplete directory and prepare again",
                    )
            infos = tuple(ShardInfo(e["path"], e["rows"], e["bytes"], e["sha256"]) for e in entries)
            splits[split] = SplitInfo(split, infos, storage)
        return splits

    def publish(self, manifest: Manifest, scratch: Sequence[str] = ()) -> Manifest:
        """Seal the work directory by writing its manifest, then `finish` it."""
        self._still_ours()
        manifest.write(self.work)
        return self.finish(self.work, scratch)

    def finish(self, work: Path, scratch: Sequence[str] = ()) -> Manifest:
        """Publish a sealed work directory: remove its `scratch`, rename it into place, make it read-only.

        Each step can be redone, so a run killed between any two is finished by the next one.
        """
        self._still_ours()
        leftovers = [work / name for name in (*scratch, PLAN_NAME) if os.path.lexists(work / name)]
        try:
            for path in leftovers:
                if path.is_dir() and not path.is_symlink():
                    make_writable(path)
                    shutil.rmtree(path)
                else:
                    path.unlink()
        except PermissionError:
            owner = owner_name(work)
            raise DsregError(
                f"the preparation {owner} left here was complete but still holds scratch files this user cannot remove",
                path=work,
                fix=f"run the same `dsreg prepare` as {owner}, or ask {owner} (or an administrator) to do so",
            ) from None
        self._still_ours()
        if self.final.exists():
            raise DsregError(
                f"version {self.version} appeared while this preparation ran",
                path=self.final,
                fix="nothing to do: use the published version",
            )
        os.rename(work, self.final)
        _fsync_dir(self.dataset_dir)
        make_read_only(self.final)
        return read_manifest(self.final)


def discard(work: Path) -> None:
    """Remove an abandoned work directory unless a process still works in it or it is not ours to remove."""
    if in_use(work):
        log.info("leaving %s: a process still works in it and removes it when done", work)
        return
    try:
        make_writable(work)
        shutil.rmtree(work)
    except FileNotFoundError:
        pass  # removed meanwhile by another process
    except PermissionError:
        log.warning("cannot remove the abandoned work directory %s of %s", work, owner_name(work))


def wait_message(what: str) -> Callable[[dict[str, Any] | None], None]:
    """An `on_wait` callback that tells the user whose preparation they are waiting for."""

    def tell(holder: dict[str, Any] | None) -> None:
        who = "another process" if not holder else f"{holder.get('user')}@{holder.get('host')} pid {holder.get('pid')}"
        since = "" if not holder else f" since {time.strftime('%H:%M:%S', time.localtime(holder.get('started', 0)))}"
        print(f"dsreg: {what} is being prepared by {who}{since}; waiting…", file=sys.stderr, flush=True)

    return tell
