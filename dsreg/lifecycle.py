"""The end of a version's life: `dsreg rm` removes one, `dsreg gc` collects what preparations left behind.

Removal takes the version's preparation lock without waiting (a preparation in progress is refused), renames
the version aside to `<version>.removing-<id>` in one step, so a reader sees the whole version or none, and
only then deletes it. Processes that already mapped its shards keep reading them (POSIX keeps unlinked files
alive while open); one that opens a shard afterwards gets an error naming the missing file, never other data.

Collection removes `.incomplete-*` work and interrupted removals untouched for N days, and downloads that no
prepared version and no work in progress references; work whose lock is held is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dsreg.errors import DsregError
from dsreg.lock import FileLock, server_now
from dsreg.manifest import MANIFEST_NAME, Manifest, read_manifest
from dsreg.publish import make_writable, owner_name, undeletable
from dsreg.registry import NotPreparedError, parse_ref, prepared_versions
from dsreg.roots import STAGING_MARKER, downloads_dir, search_roots

REMOVING = ".removing-"
INCOMPLETE = ".incomplete-"
DIGEST_DIRS = ("sha256", "md5")
DAY = 86400.0


@dataclass(frozen=True)
class Garbage:
    """One thing `gc` removes (or, with `dry_run`, would): its path, what it is, its size and age in days."""

    path: Path
    kind: str
    bytes: int
    age_days: float


def _shared_roots(root: str | os.PathLike[str] | None) -> list[Path]:
    """The roots rm and gc act on: the search roots, without node-local staging caches (`dsreg cache gc`)."""
    return [r for r in search_roots(root) if not (r / STAGING_MARKER).is_dir()]


def locate(ref_text: str, root: str | os.PathLike[str] | None = None) -> Manifest:
    """The published version `NAME/CONFIG:VERSION` names, in the first shared root that holds it."""
    ref = parse_ref(ref_text)
    if ref.config is None or ref.version is None:
        raise DsregError(
            f"`dsreg rm` needs the exact version to remove, not {ref}",
            fix="write NAME/CONFIG:VERSION (see `dsreg ls` for what exists)",
        )
    for base in _shared_roots(root):
        directory = base / ref.name / ref.config / ref.version
        if (directory / MANIFEST_NAME).is_file():
            return read_manifest(directory)
    versions = prepared_versions(ref.name, ref.config, root)
    raise NotPreparedError(
        f"{ref} is not prepared under {', '.join(map(str, _shared_roots(root)))}"
        + (f"; versions that exist: {', '.join(versions)}" if versions else ""),
        fix="see `dsreg ls` for what exists",
    )


def check_may_remove(directory: Path) -> None:
    """Refuse unless this user owns the version, or may write its dataset directory through its group."""
    parent = directory.parent.stat()
    owner = directory.stat().st_uid
    uid = os.getuid()
    group_writable = bool(parent.st_mode & stat.S_IWGRP) and parent.st_gid in {os.getgid(), *os.getgroups()}
    if uid not in (0, owner) and not group_writable:
        raise DsregError(
            f"you (uid {uid}) do not own this version (uid {owner}) and its dataset directory is not writable "
            "by a group you are in",
            path=directory,
            fix=f"ask its owner to remove it, or have {directory.parent} made group-writable for your lab (chmod g+w)",
        )
    if not os.access(directory.parent, os.W_OK | os.X_OK):
        raise DsregError(
            "no permission to rename entries of the dataset directory",
            path=directory.parent,
            fix="ask the owner of the directory, or an administrator, to remove the version",
        )
    blocked = undeletable(directory)
    if blocked is not None:
        holder = owner_name(blocked)
        raise DsregError(
            f"this user may not delete the files in {blocked}: they belong to {holder} and are read-only, as "
            "published versions are; nothing was removed",
            path=directory,
            fix=f"ask {holder} (or an administrator) to run `dsreg rm` for this version",
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _delete(path: Path) -> None:
    """Delete a directory made read-only by publication."""
    make_writable(path)
    shutil.rmtree(path)


def _rename_aside(directory: Path) -> Path:
    aside = directory.with_name(f"{directory.name}{REMOVING}{uuid.uuid4().hex[:12]}")
    os.rename(directory, aside)
    _fsync_dir(directory.parent)
    return aside


def remove(ref_text: str, root: str | os.PathLike[str] | None = None) -> Manifest:
    """Remove a published version (see the module's docstring for how); returns the manifest it had."""
    manifest = locate(ref_text, root)
    directory = manifest.directory
    assert directory is not None  # read_manifest attaches it
    check_may_remove(directory)
    lock = FileLock(directory.with_name(f"{directory.name}.lock"))
    if not lock.try_acquire():
        holder = lock.holder() or {}
        raise DsregError(
            f"{manifest.full_name} is being prepared right now by {holder.get('user', '?')}@"
            f"{holder.get('host', '?')} pid {holder.get('pid', '?')}; nothing was removed",
            path=lock.path,
            fix="wait for that preparation to finish, then run `dsreg rm` again",
        )
    try:
        lock.ensure_held("nothing was removed")
        aside = _rename_aside(directory)
    finally:
        lock.release()
    _delete(aside)
    return manifest


def _newest_mtime(path: Path) -> float:
    """The last time anything under `path` changed (work in progress keeps touching its files)."""
    newest = path.lstat().st_mtime
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def _size(path: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _referenced(roots: list[Path]) -> tuple[set[str], list[DsregError]]:
    """Every source digest a published manifest or a work directory's `_state.json` records; and the manifests
    that could not be read (whose references are therefore unknown)."""
    digests: set[str] = set()
    broken: list[DsregError] = []
    for base in roots:
        for path in base.glob(f"*/*/*/{MANIFEST_NAME}"):
            if REMOVING in path.parent.name or INCOMPLETE in path.parent.name or path.parents[2] == downloads_dir(base):
                continue  # not a published version (a vendor file named manifest.json is a download)
            try:
                sources = read_manifest(path.parent).sources
            except DsregError as err:
                broken.append(err)
                continue
            digests |= {str(s[k]) for s in sources for k in DIGEST_DIRS if s.get(k)}
        for state in base.glob(f"*/*/*{INCOMPLETE}*/_state.json"):
            try:
                sources = json.loads(state.read_text(encoding="utf-8")).get("sources", [])
            except (OSError, ValueError):
                continue
            digests |= {str(s[k]) for s in sources for k in DIGEST_DIRS if s.get(k)}
    return digests, broken


def _candidates(base: Path, referenced: set[str] | None, now: float) -> Iterator[Garbage]:
    """What under `base` may be garbage, before the age test: work, interrupted removals, downloads."""
    for pattern, kind in ((f"*/*/*{INCOMPLETE}*", "stale work"), (f"*/*/*{REMOVING}*", "interrupted removal")):
        for path in sorted(base.glob(pattern)):
            if path.is_dir() and path.parts[-3] != "downloads":
                yield Garbage(path, kind, _size(path), (now - _newest_mtime(path)) / DAY)
    if referenced is None:
        return
    for algo in DIGEST_DIRS:
        for path in sorted((downloads_dir(base) / algo).glob("*")):
            if path.is_dir() and path.name not in referenced:
                yield Garbage(path, "unreferenced download", _size(path), (now - _newest_mtime(path)) / DAY)


def _server_now(base: Path) -> float:
    """The file server's clock in `base` (see `server_now`); this node's clock where nothing can be created there."""
    now = server_now(base / f".gc-now-{uuid.uuid4().hex}")
    return time.time() if now is None else now


def _held_lock(path: Path) -> Path | None:
    """A lock under `path` that a live process holds: an array element's task or fitted step (they hold no
    version lock), a download into the cache; None if there is none, whatever the age of the rest."""
    return next((lock for lock in sorted(path.rglob("*.lock")) if FileLock(lock).looks_held()), None)


def _lock_for(item: Garbage) -> FileLock | None:
    """The lock that must be free to remove `item`: the version's preparation lock for work in progress."""
    if item.kind != "stale work":
        return None
    version = item.path.name.split(INCOMPLETE, 1)[0]
    return FileLock(item.path.with_name(f"{version}.lock"))


def collect(
    root: str | os.PathLike[str] | None = None, *, older_than_days: float = 7.0, dry_run: bool = False
) -> tuple[list[Garbage], list[str]]:
    """Remove (or with `dry_run` only list) the garbage older than `older_than_days` under the shared roots.

    Returns what was removed and notes on what was left alone on purpose (locked work, downloads kept because
    some manifest could not be read)."""
    if not older_than_days >= 0:  # NaN too: no age is below NaN, so nothing would be kept
        raise DsregError(
            f"--older-than must be 0 or more days, got {older_than_days}", fix="give a number of days, e.g. 7"
        )
    roots = [r for r in _shared_roots(root) if r.is_dir()]
    referenced, broken = _referenced(roots)
    notes = [
        f"downloads kept: {err.path} could not be read ({err.problem}), so what it references is unknown"
        for err in broken
    ]
    removed: list[Garbage] = []
    for base in roots:
        for item in _candidates(base, None if broken else referenced, _server_now(base)):
            if item.age_days < older_than_days:
                continue
            blocked = undeletable(item.path)
            if blocked is not None:
                owner = owner_name(blocked)
                notes.append(
                    f"kept {item.path}: {blocked} belongs to {owner}, and this user may not delete in it; "
                    f"{owner} (or an administrator) can remove it with `dsreg gc`"
                )
                continue
            held = _held_lock(item.path)
            if held is not None:
                notes.append(f"kept {item.path}: a process holds {held}")
                continue
            lock = _lock_for(item)
            if lock is not None and not lock.try_acquire():
                notes.append(f"kept {item.path}: its preparation lock is held")
                continue
            try:
                if not dry_run:
                    _delete(item.path)
            finally:
                if lock is not None:
                    lock.release()
            removed.append(item)
    return removed, notes
