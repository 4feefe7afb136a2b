"""Atomic publication of a dataset version: lock, work directory, shard naming, read-only rename.

Everything is built in `<name>/<config>/<version>.incomplete-<id>/` under a lock; the last act is one
`rename` to `<version>/`, so readers see either nothing or a complete, verified version, and earlier
versions are never touched.
"""

from __future__ import annotations

import getpass
import json
import os
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
    """Drop write permission on every file and directory under `top`, so no job edits a published version."""
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            p = Path(dirpath, name)
            p.chmod(stat.S_IMODE(p.stat().st_mode) & ~0o222)
        Path(dirpath).chmod(stat.S_IMODE(Path(dirpath).stat().st_mode) & ~0o222)


def make_writable(top: Path) -> None:
    """Undo `make_read_only` (for deleting an old version on purpose)."""
    for dirpath, _, filenames in os.walk(top):
        Path(dirpath).chmod(stat.S_IMODE(Path(dirpath).stat().st_mode) | 0o200)
        for name in filenames:
            p = Path(dirpath, name)
            p.chmod(stat.S_IMODE(p.stat().st_mode) | 0o200)


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

    def __enter__(self) -> VersionBuild:
        self.lock.acquire(timeout=self.lock_timeout, on_wait=self.on_wait)
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()

    def published(self) -> Manifest | None:
        """The manifest of this version if it is already published, else None."""
        if (self.final / MANIFEST_NAME).exists():
            return read_manifest(self.final)
        if self.final.exists():
            raise DsregError(
                "a version directory exists without a manifest",
                path=self.final,
                fix="it was not made by dsreg: move it away, then prepare again",
            )
        return None

    def start(self, build_id: str, *, resume: bool = True, clean: bool = True) -> Path:
        """Create (or, with `resume`, reuse) the work directory named by the inputs' `build_id`;
        with `clean` (only under the version lock), drop abandoned work made from other inputs."""
        self.work = self.dataset_dir / f"{self.version}.incomplete-{build_id}"
        for other in self.dataset_dir.glob(f"{self.version}.incomplete-*"):
            if clean and (other != self.work or not resume):
                make_writable(other)
                shutil.rmtree(other)
        self.work.mkdir(parents=True, exist_ok=True)
        return self.work

    def finalize_shards(
        self, parts: Mapping[str, Sequence[WrittenShard]], storage: str = DEFAULT_FORMAT
    ) -> dict[str, SplitInfo]:
        """Move each split's parts to `<split>/<index>-of-<count><suffix>` (the format's suffix), resumably.

        The move plan is written first; a rerun after a crash completes the plan instead of redoing it.
        """
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
        """Write the manifest, remove scratch, make everything read-only, and rename into place."""
        manifest.write(self.work)
        for name in (*scratch, PLAN_NAME):
            path = self.work / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        make_read_only(self.work)
        if self.final.exists():
            raise DsregError(
                f"version {self.version} appeared while this preparation ran",
                path=self.final,
                fix="nothing to do: use the published version",
            )
        os.rename(self.work, self.final)
        _fsync_dir(self.dataset_dir)
        return read_manifest(self.final)


def wait_message(what: str) -> Callable[[dict[str, Any] | None], None]:
    """An `on_wait` callback that tells the user whose preparation they are waiting for."""

    def tell(holder: dict[str, Any] | None) -> None:
        who = "another process" if not holder else f"{holder.get('user')}@{holder.get('host')} pid {holder.get('pid')}"
        since = "" if not holder else f" since {time.strftime('%H:%M:%S', time.localtime(holder.get('started', 0)))}"
        print(f"dsreg: {what} is being prepared by {who}{since}; waiting…", file=sys.stderr, flush=True)

    return tell
