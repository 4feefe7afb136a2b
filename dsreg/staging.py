"""Node-local staging: copy a prepared version from the shared filesystem to the node's local scratch.

A multi-epoch job reading from NFS pulls every shard over the network once per epoch; staged on the
node's NVMe it reads local disk instead. A cache directory is itself a dataset root, so
`DSREG_ROOT=<cache>:<shared>` makes every load prefer the staged copy and fall back to the shared one.

Layout of a cache directory:

    <cache>/<name>/<config>/<version>/                    staged copy, read-only; its manifest arrives last
    <cache>/<name>/<config>/<version>.incomplete-stage/   while copying (resumed after a killed job)
    <cache>/.staging/<name>/<config>/<version>.lock       flock, exclusive while staging or evicting it
    <cache>/.staging/<name>/<config>/<version>.use        flock, shared while a job reads it; mtime = last use
    <cache>/.staging/cache.lock                           flock, serializes budget accounting and eviction

`fcntl.flock` is right here because the cache is node-local, and the kernel drops a dead job's locks;
`dsreg.lock` is the lock for shared (NFS) roots. Lock files are never deleted: unlinking a flock file
while another process waits on it would let two holders in.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsreg.errors import DsregError
from dsreg.manifest import (
    MANIFEST_NAME,
    DamagedManifest,
    Manifest,
    ShardInfo,
    manifest_from_json,
    read_manifest,
    verify_manifest,
)
from dsreg.publish import make_read_only, make_writable
from dsreg.registry import find_prepared
from dsreg.roots import STAGING_MARKER, expand_path, search_roots
from dsreg.sizes import human_bytes, parse_size
from dsreg.storage.base import fsync_tree, remove_shard, shard_bytes, shard_files

STATE_DIR = STAGING_MARKER
INCOMPLETE = ".incomplete-"
WORK_SUFFIX = INCOMPLETE + "stage"
RESERVATION = "_staging.json"
LEFTOVER_AGE = 3600.0
CHUNK = 8 << 20


@dataclass(frozen=True)
class _Version:
    """Where one `name/config/version` lives in a cache: its copy, work directory and lock files."""

    cache: Path
    name: str
    config: str
    version: str

    @classmethod
    def at(cls, directory: Path) -> _Version:
        """The version whose staged copy (or leftover) is `directory`."""
        return cls(directory.parents[2], directory.parents[1].name, directory.parent.name, directory.name)

    @property
    def full_name(self) -> str:
        return f"{self.name}/{self.config}:{self.version}"

    @property
    def final(self) -> Path:
        return self.cache / self.name / self.config / self.version

    @property
    def work(self) -> Path:
        return self.final.with_name(self.version + WORK_SUFFIX)

    @property
    def lock_path(self) -> Path:
        return self.cache / STATE_DIR / self.name / self.config / f"{self.version}.lock"

    @property
    def use_path(self) -> Path:
        return self.cache / STATE_DIR / self.name / self.config / f"{self.version}.use"


@dataclass(frozen=True)
class _Entry:
    """Something taking room in a cache: a complete staged copy, or (`complete=False`) a work directory or a
    damaged copy (its manifest gone or unreadable), garbage either way."""

    version: _Version
    path: Path
    bytes: int
    last_used: float
    complete: bool


def _flock(path: Path, mode: int, *, block: bool = True) -> int | None:
    """Open (creating) `path` and flock it; the descriptor holds the lock until closed.
    None when `block` is False and the lock is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, mode if block else mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def _locked(path: Path, mode: int, *, block: bool = True) -> Iterator[bool]:
    """Hold a flock for the `with` block; yields False (holding nothing) when non-blocking and taken."""
    fd = _flock(path, mode, block=block)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


def _cache(cache_dir: str | os.PathLike[str]) -> Path:
    """The cache directory `cache_dir` names, refused unless it is one (new, empty, or holding `.staging/`): a
    dataset root given by mistake is never evicted from, nor marked as a cache (which hides it from prepare)."""
    cache = expand_path(cache_dir, "the cache directory").absolute()
    if cache.is_dir() and not (cache / STATE_DIR).is_dir() and any(cache.iterdir()):
        raise DsregError(
            f"not a staging cache: it holds files but no {STATE_DIR}/ (a dataset root?); nothing was changed",
            path=cache,
            fix="pass a directory of its own on node-local scratch, new or empty (e.g. $SLURM_TMPDIR/dsreg)",
        )
    return cache


def _cache_lock(cache: Path) -> Path:
    return cache / STATE_DIR / "cache.lock"


def _touch(path: Path) -> None:
    """Set mtime from the fine-grained clock (the kernel's own stamp is coarse: ties would blur LRU order)."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _last_used(v: _Version) -> float:
    for path in (v.use_path, v.final / MANIFEST_NAME):
        try:
            return path.stat().st_mtime
        except FileNotFoundError:
            continue
    return 0.0


def _disk_bytes(top: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            try:
                total += Path(dirpath, name).stat().st_size
            except FileNotFoundError:
                continue
    return total


def _reservation(work: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((work / RESERVATION).read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return {}


def _entries(cache: Path) -> list[_Entry]:
    """Every staged copy, damaged copy and work directory in `cache`, tolerating ones that vanish while we look."""
    entries = []
    for directory in sorted(cache.glob("*/*/*")):
        if INCOMPLETE in directory.name or directory.parts[-3] == STATE_DIR or not directory.is_dir():
            continue
        v = _Version.at(directory)
        try:
            size = read_manifest(directory).bytes
        except DsregError as err:
            if not isinstance(err, DamagedManifest) and os.path.lexists(directory / MANIFEST_NAME):
                continue  # a newer dsreg's manifest, or one this user may not read: no damage to collect
            try:
                mtime = directory.stat().st_mtime
            except FileNotFoundError:
                continue  # vanished while we looked
            # damaged: a file cleaner removed its manifest, or truncated it; the rest still takes room
            entries.append(_Entry(v, directory, _disk_bytes(directory), mtime, complete=False))
            continue
        entries.append(_Entry(v, directory, size, _last_used(v), complete=True))
    for directory in sorted(cache.glob(f"*/*/*{INCOMPLETE}*")):
        v = _Version.at(directory.with_name(directory.name.split(INCOMPLETE)[0]))
        try:
            mtime = directory.stat().st_mtime
        except FileNotFoundError:
            continue
        size = _reservation(directory).get("bytes") or _disk_bytes(directory)
        entries.append(_Entry(v, directory, size, mtime, complete=False))
    return entries


def _delete(path: Path) -> None:
    """Remove a staged copy or a leftover; a copy is first renamed aside so its manifest vanishes at once."""
    if not path.exists():
        return
    if INCOMPLETE not in path.name:
        aside = path.with_name(f"{path.name}{INCOMPLETE}evict-{uuid.uuid4().hex[:8]}")
        os.rename(path, aside)
        path = aside
    make_writable(path)
    shutil.rmtree(path)


def _try_remove(entry: _Entry) -> bool:
    """Remove `entry` unless a job is staging it, evicting it or (for a copy, even a damaged one) reading it."""
    with _locked(entry.version.lock_path, fcntl.LOCK_EX, block=False) as free:
        if not free:
            return False
        if INCOMPLETE not in entry.path.name:
            with _locked(entry.version.use_path, fcntl.LOCK_EX, block=False) as unused:
                if not unused:
                    return False
                _delete(entry.path)
        else:
            _delete(entry.path)
    return True


def _evict(cache: Path, budget_bytes: int, need: int, keep: _Version | None) -> tuple[list[Path], int]:
    """Remove abandoned work directories, then least-recently-used copies, until `need` more bytes fit
    in `budget_bytes`. Call under the cache lock. Returns what was removed and the bytes still held."""
    entries = [e for e in _entries(cache) if e.version != keep]
    used = sum(e.bytes for e in entries)
    removed = []
    for entry in sorted(entries, key=lambda e: (e.complete, e.last_used, str(e.path))):
        if used + need <= budget_bytes:
            break
        if _try_remove(entry):
            used -= entry.bytes
            removed.append(entry.path)
    return removed, used


def resolve_source(source: Manifest | str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Manifest:
    """The prepared version to stage: a manifest, a version directory, or a reference like `cifar10/python`."""
    if isinstance(source, Manifest):
        if source.directory is None:
            raise DsregError(f"manifest of {source.full_name} is not attached to a directory")
        return source
    path = Path(source)
    if isinstance(source, str) and not (path / MANIFEST_NAME).is_file():
        return find_prepared(source, root)
    return read_manifest(path)


def _check_budget(manifest: Manifest, budget_bytes: int | None) -> None:
    if budget_bytes is not None and manifest.bytes > budget_bytes:
        raise DsregError(
            f"{manifest.full_name} is {human_bytes(manifest.bytes)} ({manifest.bytes} bytes), more than the whole "
            f"cache budget of {human_bytes(budget_bytes)} ({budget_bytes} bytes)",
            path=manifest.directory,
            fix=f"raise the budget to at least {human_bytes(manifest.bytes)}, or read this dataset from the shared "
            "filesystem (do not stage it)",
        )


def _make_room(v: _Version, manifest: Manifest, digest: str, budget_bytes: int | None) -> None:
    """Under the cache lock: evict to fit the budget, check free disk, and reserve the room with the work
    directory (so concurrent stagers of other versions count it)."""
    need = manifest.bytes
    with _locked(_cache_lock(v.cache), fcntl.LOCK_EX):
        if v.work.exists():
            make_writable(v.work)
            if _reservation(v.work).get("manifest_sha256") != digest:
                _delete(v.work)  # left by an attempt at different contents: nothing to resume
        if budget_bytes is not None:
            _, used = _evict(v.cache, budget_bytes, need, keep=v)
            if used + need > budget_bytes:
                raise DsregError(
                    f"no room for {v.full_name} ({human_bytes(need)}) in the cache budget of "
                    f"{human_bytes(budget_bytes)}: {human_bytes(used)} is held by versions in use or being staged",
                    path=v.cache,
                    fix="wait for those jobs to finish, raise the budget, or read this dataset from the shared "
                    "filesystem",
                )
        missing = need - _disk_bytes(v.work)
        free = shutil.disk_usage(v.cache).free
        if free < missing:
            raise DsregError(
                f"{v.full_name} needs {human_bytes(missing)} more but the cache filesystem has "
                f"{human_bytes(free)} free",
                path=v.cache,
                fix="set a budget below the free space (--budget) so older versions are evicted, run "
                "`dsreg cache gc`, or read this dataset from the shared filesystem",
            )
        v.work.mkdir(parents=True, exist_ok=True)
        (v.work / RESERVATION).write_text(json.dumps({"bytes": need, "manifest_sha256": digest}), encoding="utf-8")


def _copy_file(src: Path, dst: Path, verify: bool) -> tuple[int, str]:
    """Copy one file, hashing while copying (one read) when `verify`; returns its size and hex sha256."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(CHUNK):
            if verify:
                digest.update(block)
            fout.write(block)
        fout.flush()
        os.fsync(fout.fileno())
        return fout.tell(), digest.hexdigest()


def _copy_shard(src: Path, dst: Path, shard: ShardInfo, verify: bool) -> None:
    """Copy one shard (a file, or a directory such as a zarr group) to a `.part` name, checking its size and
    sha256 (a directory's over its canonical file listing, as `dsreg.storage` defines it), then rename it."""
    part = dst.with_name(dst.name + ".part")
    remove_shard(part)
    part.parent.mkdir(parents=True, exist_ok=True)
    try:
        if src.is_dir():
            listing, size = hashlib.sha256(), 0
            for rel, full in shard_files(src):
                n, hexdigest = _copy_file(full, part / rel, verify)
                size += n
                listing.update(f"{rel}\0{hexdigest}\n".encode())
            fsync_tree(part)
            digest = listing.hexdigest()
        else:
            size, digest = _copy_file(src, part, verify)
    except OSError as err:
        raise DsregError(
            f"cannot stage shard {shard.path}: {err.strerror}",
            path=err.filename or src,
            fix="check the shared copy with `dsreg verify` and the free space of the cache filesystem",
        ) from None
    if size != shard.bytes:
        problem = f"size {size} bytes, manifest says {shard.bytes}"
    elif verify and digest != shard.sha256:
        problem = f"sha256 {digest} does not match manifest {shard.sha256}"
    else:
        os.replace(part, dst)
        return
    remove_shard(part)
    raise DsregError(
        f"shard {shard.path} is corrupt on the shared filesystem ({problem}); nothing was staged",
        path=src,
        fix="run `dsreg verify` on this dataset and re-prepare it under a new version",
    )


def _copy(manifest: Manifest, v: _Version, text: bytes, verify: bool) -> None:
    """Fill the work directory shard by shard, write the manifest last, make it read-only and rename it
    into place. Shards already in the work directory were verified by an interrupted attempt."""
    try:
        for split in manifest.splits.values():
            for shard in split.shards:
                dst = v.work / shard.path
                if dst.exists() and shard_bytes(dst) == shard.bytes:
                    continue
                _copy_shard(manifest.shard_path(shard), dst, shard, verify)
        for asset in manifest.assets:  # small files (a tokenizer model): copied whole and always checked
            data = ((manifest.directory or Path()) / asset.path).read_bytes()
            if hashlib.sha256(data).hexdigest() != asset.sha256:
                raise DsregError(
                    f"asset {asset.path} is corrupt on the shared filesystem; nothing was staged",
                    path=(manifest.directory or Path()) / asset.path,
                    fix="run `dsreg verify` on this dataset and re-prepare it under a new version",
                )
            (v.work / asset.path).parent.mkdir(parents=True, exist_ok=True)
            (v.work / asset.path).write_bytes(data)
        (v.work / RESERVATION).unlink()
        tmp = v.work / (MANIFEST_NAME + ".tmp")
        with open(tmp, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, v.work / MANIFEST_NAME)
        make_read_only(v.work)
        os.rename(v.work, v.final)
    except Exception:
        _delete(v.work)  # a killed job (signal) leaves it instead, to be resumed or collected by gc
        raise


def _is_current(v: _Version, text: bytes) -> bool:
    """Whether the staged copy has exactly the source's manifest and every shard at its recorded size."""
    try:
        if (v.final / MANIFEST_NAME).read_bytes() != text:
            return False
        return not verify_manifest(read_manifest(v.final))
    except (OSError, DsregError):
        return False


def stage_held(
    source: Manifest | str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    budget_bytes: int | None,
    verify: bool,
    root: str | os.PathLike[str] | None,
) -> tuple[Path, int, bool]:
    """Stage under the version lock (for `dsreg cache run`, which hands the hold to its command). Returns the
    copy, a descriptor holding it in use (taken before the version lock is released, so no eviction slips in
    between) and whether anything was copied."""
    src_dir = resolve_source(source, root).directory
    assert src_dir is not None  # resolve_source guarantees it
    text = (src_dir / MANIFEST_NAME).read_bytes()
    manifest = manifest_from_json(json.loads(text), src_dir / MANIFEST_NAME)  # exactly the bytes we copy
    v = _Version(_cache(cache_dir), manifest.name, manifest.config, manifest.version)
    _check_budget(manifest, budget_bytes)
    with _locked(v.lock_path, fcntl.LOCK_EX):
        copied = not _is_current(v, text)
        if copied:
            if src_dir.resolve() == v.final.resolve():
                raise DsregError(
                    f"the staged copy of {v.full_name} is damaged and is the only copy found",
                    path=v.final,
                    fix="stage it from the shared root (leave the cache out of DSREG_ROOT or pass --root)",
                )
            if v.final.exists():
                with _locked(v.use_path, fcntl.LOCK_EX, block=False) as unused:
                    if not unused:
                        raise DsregError(
                            f"the staged copy of {v.full_name} is damaged or outdated, and a running job reads it",
                            path=v.final,
                            fix="stage into another cache directory, or wait for that job to finish",
                        )
                    _delete(v.final)
            _make_room(v, manifest, hashlib.sha256(text).hexdigest(), budget_bytes)
            _copy(manifest, v, text, verify)
        fd = _flock(v.use_path, fcntl.LOCK_SH)
        assert fd is not None  # a blocking flock returns a descriptor
        _touch(v.use_path)
    return v.final, fd, copied


def stage(
    source: Manifest | str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    budget_bytes: int | None = None,
    verify: bool = True,
    root: str | os.PathLike[str] | None = None,
) -> Path:
    """Copy a prepared version to `cache_dir` (unless a complete copy is there) and return the copy's
    directory, `<cache>/<name>/<config>/<version>`, loadable like the original.

    `source` is a Manifest, a version directory or a reference resolved under `root`. Shards are
    checked against the manifest's sha256 while copying (`verify`). With `budget_bytes`, least-recently
    used versions not in use are evicted to make room. Safe for many jobs on one node at once. The
    copy is not protected from eviction once this returns: use `staged` or `using` while reading it.
    """
    path, fd, _ = stage_held(source, cache_dir, budget_bytes, verify, root)
    os.close(fd)
    return path


@contextmanager
def staged(
    source: Manifest | str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    budget_bytes: int | None = None,
    verify: bool = True,
    root: str | os.PathLike[str] | None = None,
) -> Iterator[Path]:
    """`stage`, then hold the copy in use for the `with` block, with no gap in which it could be evicted."""
    path, fd, _ = stage_held(source, cache_dir, budget_bytes, verify, root)
    try:
        yield path
    finally:
        os.close(fd)


@contextmanager
def using(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Mark a staged copy in use for the `with` block so no job on the node evicts it; updates its LRU time."""
    v = _Version.at(expand_path(path, "the staged path").absolute())
    if not (v.cache / STATE_DIR).is_dir():
        raise DsregError(
            "not a staged copy (no staging cache holds it)", path=v.final, fix="pass what `stage` returned"
        )
    with _locked(v.lock_path, fcntl.LOCK_EX):  # no staging or eviction of it is under way
        if not (v.final / MANIFEST_NAME).is_file():
            raise DsregError("no staged dataset here (evicted?)", path=v.final, fix="stage it again")
        fd = _flock(v.use_path, fcntl.LOCK_SH)
        assert fd is not None  # a blocking flock returns a descriptor
        _touch(v.use_path)
    try:
        yield v.final
    finally:
        os.close(fd)


def _in_use(v: _Version) -> bool:
    with _locked(v.use_path, fcntl.LOCK_EX, block=False) as unused:
        return not unused


def cache_usage(cache_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The complete staged versions in `cache_dir`, least recently used first (eviction order): name,
    config, version, path, bytes, last_used (epoch seconds) and in_use."""
    cache = _cache(cache_dir)
    if not cache.is_dir():
        return []
    entries = sorted((e for e in _entries(cache) if e.complete), key=lambda e: (e.last_used, str(e.path)))
    return [
        {
            "name": e.version.name,
            "config": e.version.config,
            "version": e.version.version,
            "path": str(e.path),
            "bytes": e.bytes,
            "last_used": e.last_used,
            "in_use": _in_use(e.version),
        }
        for e in entries
    ]


def gc(
    cache_dir: str | os.PathLike[str], budget_bytes: int | None, *, leftover_age: float = LEFTOVER_AGE
) -> list[Path]:
    """Remove work directories abandoned more than `leftover_age` seconds ago; then, given a budget, remove
    younger abandoned ones and least-recently-used versions not in use until the cache fits it.
    Returns what was removed."""
    cache = _cache(cache_dir)
    if not cache.is_dir():
        return []
    removed = []
    with _locked(_cache_lock(cache), fcntl.LOCK_EX):
        now = time.time()
        for entry in _entries(cache):
            if not entry.complete and now - entry.last_used > leftover_age and _try_remove(entry):
                removed.append(entry.path)
        if budget_bytes is not None:
            removed += _evict(cache, budget_bytes, 0, keep=None)[0]
    return removed


def default_cache_dir() -> Path:
    """`$DSREG_CACHE`, else `$SLURM_TMPDIR/dsreg` (the job's node-local scratch)."""
    if os.environ.get("DSREG_CACHE"):
        return expand_path(os.environ["DSREG_CACHE"], "DSREG_CACHE")
    if os.environ.get("SLURM_TMPDIR"):
        return Path(os.environ["SLURM_TMPDIR"]) / "dsreg"
    raise DsregError(
        "no cache directory: neither DSREG_CACHE nor SLURM_TMPDIR is set",
        fix="pass --cache DIR (node-local scratch, e.g. /local/scratch/$USER/dsreg) or set DSREG_CACHE",
    )


def staged_root(cache_dir: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> str:
    """The DSREG_ROOT that prefers the cache: the cache, then the shared roots (without the cache)."""
    cache = expand_path(cache_dir, "the cache directory").absolute()
    shared = [str(r) for r in search_roots(root) if r.expanduser().absolute() != cache]
    return os.pathsep.join([str(cache), *shared])


def budget(text: str) -> int:
    """A budget: a byte count (`0` empties the cache) or a size with a unit (`200GB`)."""
    return int(text) if text.strip().isdigit() else parse_size(text)
