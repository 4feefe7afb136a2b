"""Raw sources: fetch them through fsspec into a content-addressed cache, verify them, resolve local copies.

Layout of the download cache (``cache_dir``, normally ``<root>/downloads``)::

    <algo>/<hexdigest>/<file_name>                verified file; algo is sha256, else the vendor's md5
    <algo>/<hexdigest>/<file_name>.partial        download in progress, resumed with HTTP Range
    <algo>/<hexdigest>/<file_name>.lock           exists while a download runs (dsreg.lock.FileLock)
    manual/<file_name>                            manual sources the user copied in by hand

A file appears under its verified name only through an atomic ``os.replace`` after its size and
checksums matched. A cache hit is not trusted: it resolves unverified, and preparation hashes it
while reading it (`SourceTree.digests`) and refuses it through `confirm_read` if a bit changed since.
With `defer_local`, a vendor file given with ``--source`` (or copied into ``manual/``) is treated the
same way: verified from the pass that reads it, not by a pass of its own before.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import fsspec

from dsreg.download_limits import DeadlineError, DownloadLimits, Meter, TransferError, check_deadline
from dsreg.errors import DsregError
from dsreg.hashing import HashingReader
from dsreg.lock import FileLock
from dsreg.progress import HASH_BAR_BYTES, bar
from dsreg.recipe import SourceSpec

log = logging.getLogger(__name__)

Origin = Literal["download", "cache", "local-file", "local-directory"]

_CHUNK = 8 << 20
_RETRYABLE_4XX = (408, 425, 429)


class SourceMissingError(DsregError):
    """A source is not available: a manual source nobody supplied, or every mirror unreachable or empty.

    Distinct from a checksum mismatch, which is never silently skipped, even for optional sources.
    """


@dataclass(frozen=True)
class ResolvedSource:
    """Where one source's bytes come from for this preparation, and the digests of the file used."""

    spec: SourceSpec
    path: Path
    origin: Origin
    sha256: str | None = None
    md5: str | None = None
    verified: bool = True  # False for a cache hit until `confirm_read` has seen its digests

    def to_json(self) -> dict[str, Any]:
        """The manifest's record of the source: the recipe's identity plus what was actually used."""
        return {
            "name": self.spec.name,
            "urls": list(self.spec.urls),
            "filename": self.spec.file_name,
            "size": self.path.stat().st_size if self.path.is_file() else None,
            "sha256": self.sha256,
            "md5": self.md5,
            "origin": self.origin,
        }


def file_digests(path: str | os.PathLike[str], *, progress: bool = False) -> dict[str, str]:
    """sha256 and md5 of a file in one chunked pass, each hashed on a thread of its own: vendors publish either,
    manifests record both. With `progress`, a file of HASH_BAR_BYTES or more shows the bytes hashed and the rate."""
    try:
        size = os.stat(path).st_size
        show = progress and size >= HASH_BAR_BYTES
        with open(path, "rb") as f, bar(size, f"hashing {Path(path).name}", enabled=show) as meter:
            raw = io.BufferedReader(_Counted(f, meter.update)) if show else f
            with HashingReader(raw, threaded=True) as reader:  # closing it ends the threads of a failed read
                return reader.finish()
    except OSError as err:
        raise DsregError(
            f"cannot read the file ({err.strerror})", path=path, fix="check that it exists and is readable"
        ) from None


class _Counted(io.RawIOBase):
    """A binary file that reports the bytes each read returns (to a progress bar)."""

    def __init__(self, raw: io.BufferedReader, count: Callable[[int], object]):
        super().__init__()
        self._raw, self._count = raw, count

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        self._count(n)
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def verify_file(spec: SourceSpec, path: str | os.PathLike[str], *, progress: bool = False) -> dict[str, str]:
    """Check a file against the recipe's size and checksums; returns its digests, raises DsregError on mismatch."""
    digests = file_digests(path, progress=progress)
    problems = _mismatches(spec, os.stat(path).st_size, digests)
    if problems:
        raise DsregError(
            f"this copy of source {spec.name!r} differs from the vendor's file ({'; '.join(problems)})",
            path=path,
            fix="the copy is damaged or a different release: copy or download it again; "
            "if the vendor really changed the file, update size/sha256/md5 in the recipe",
        )
    return digests


def fetch(
    spec: SourceSpec,
    cache_dir: str | os.PathLike[str],
    *,
    progress: bool = False,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float | None = None,
    limits: DownloadLimits | None = None,
) -> Path:
    """Return the cached copy of `spec` (checked by size; its content is verified as it is read, see
    `confirm_read`), downloading and verifying it from its mirrors first if needed.

    Mirrors are tried in order; each gets `retries` retries after `backoff * 2**n` seconds (an attempt
    that still added bytes does not use one up) and resumes from the bytes already on disk; a mirror
    silent for `timeout` seconds twice in a row is given up. `limits` (default: the DSREG_DOWNLOAD_*
    environment) bound size, time and rate. A manual source is never downloaded: it is looked up in
    ``<cache_dir>/manual/`` and otherwise raises SourceMissingError carrying the recipe's instructions.
    """
    limits = limits or DownloadLimits.from_env(timeout=timeout)
    path, _, _ = _obtain(spec, Path(cache_dir), [], progress=progress, retries=retries, backoff=backoff, limits=limits)
    return path


def resolve_sources(
    specs: Mapping[str, SourceSpec],
    cache_dir: str | os.PathLike[str],
    local: str | os.PathLike[str] | None = None,
    *,
    progress: bool = False,
    limits: DownloadLimits | None = None,
    defer_local: bool = False,
) -> dict[str, ResolvedSource]:
    """Find every source of a recipe: in `local` (the user's ``--source PATH``), the cache, or the network.

    `local` is an archive file (the only source, or the one whose vendor file name it has) or a
    directory: vendor files at its top level are used, verified, and so is a folder named like a vendor
    archive without its extension (`ch4_test_word_images_gt/` for `ch4_test_word_images_gt.zip`), taken as
    that archive unpacked (unverified); a directory holding none of them is taken as the already-unpacked
    content of all sources. Optional sources that are unavailable are left out of the result; a checksum
    mismatch is an error for every source. With `defer_local`, local vendor files (and manual sources
    in the cache) are not hashed here: they resolve unverified, and the caller must pass them through
    `confirm_read` with the digests of the pass that reads them before trusting anything made from them.
    """
    cache = Path(cache_dir)
    root = None if local is None else Path(local)
    found: dict[str, Path] = {}
    unpacked: dict[str, ResolvedSource] = {}
    if root is not None and root.is_dir():
        for key, spec in specs.items():
            hit = _find_in_dir(root, _safe_name(spec))
            if hit is not None:
                found[key] = hit
                continue
            folder = _unpacked_in_dir(root, spec.file_name)
            if folder is not None:
                unpacked[key] = ResolvedSource(spec, folder, "local-directory")
        if not found and not unpacked:
            return {key: ResolvedSource(spec, root, "local-directory") for key, spec in specs.items()}
    elif root is not None and root.is_file():
        found[_match_local_file(specs, root)] = root
    elif root is not None:
        raise DsregError(
            "the --source path does not exist",
            path=root,
            fix="pass the vendor's archive, a directory holding the vendor files, or the unpacked data",
        )
    resolved: dict[str, ResolvedSource] = {}
    for key, spec in specs.items():
        if key in unpacked:
            resolved[key] = unpacked[key]
            continue
        if key in found and defer_local:
            resolved[key] = ResolvedSource(spec, found[key], "local-file", verified=False)
            continue
        if key in found:
            checked = verify_file(spec, found[key], progress=progress)
            resolved[key] = _with_digests(spec, found[key], "local-file", checked)
            continue
        looked = [] if root is None else [root / spec.file_name if root.is_dir() else root]
        try:
            path, origin, digests = _obtain(
                spec,
                cache,
                looked,
                progress=progress,
                limits=limits or DownloadLimits.from_env(),
                defer_manual=defer_local,
            )
        except SourceMissingError as err:
            if not spec.optional:
                raise
            log.warning("optional source %r is not available, preparing without it:\n%s", key, err)
            continue
        resolved[key] = (
            ResolvedSource(spec, path, origin, verified=False)
            if digests is None
            else _with_digests(spec, path, origin, digests)
        )
    return resolved


def confirm_read(source: ResolvedSource, digests: dict[str, str] | None) -> ResolvedSource:
    """`source` carrying the digests computed while it was read; DsregError when they are not the recipe's.

    `digests` is None for an unpacked directory, which has no single file to compare.
    """
    if digests is None:
        return source
    problems = _mismatches(source.spec, source.path.stat().st_size, digests)
    if problems and (source.origin == "local-file" or not source.spec.urls):
        raise DsregError(
            f"this copy of source {source.spec.name!r} differs from the vendor's file ({'; '.join(problems)}); "
            "it was found while reading it, and nothing was published",
            path=source.path,
            fix="the copy is damaged or a different release: copy or download it again; "
            "if the vendor really changed the file, update size/sha256/md5 in the recipe",
        )
    if problems:
        which = "cached copy" if source.origin == "cache" else "copy"
        raise DsregError(
            f"the {which} of source {source.spec.name!r} is not the file the recipe names "
            f"({'; '.join(problems)}); nothing was published",
            path=source.path,
            fix=f"the file changed after it was verified (disk or copy damage): delete {source.path} and run "
            "again to download it afresh, or pass a verified copy with --source PATH",
        )
    return dataclasses.replace(source, sha256=digests["sha256"], md5=digests["md5"], verified=True)


def _with_digests(spec: SourceSpec, path: Path, origin: Origin, digests: dict[str, str]) -> ResolvedSource:
    """A ResolvedSource for a file whose digests are known."""
    return ResolvedSource(spec, path, origin, sha256=digests["sha256"], md5=digests["md5"])


def _obtain(
    spec: SourceSpec,
    cache_dir: Path,
    looked: list[Path],
    *,
    progress: bool,
    limits: DownloadLimits,
    retries: int = 3,
    backoff: float = 0.5,
    defer_manual: bool = False,
) -> tuple[Path, Origin, dict[str, str] | None]:
    """The cached or freshly downloaded file, its origin, and its digests when they were just computed.

    `looked` lists the places already searched, for the manual-source error message; with
    `defer_manual`, a manual source in the cache is left for the reading pass to verify.
    """
    if not spec.urls:
        manual_dir = cache_dir / "manual"
        hit = _find_in_dir(manual_dir, _safe_name(spec))
        if hit is None:
            raise _manual_error(spec, [*looked, manual_dir / spec.file_name], manual_dir)
        return hit, "cache", None if defer_manual else verify_file(spec, hit, progress=progress)
    entry = _cache_entry(spec, cache_dir)
    if entry.is_file():
        size = entry.stat().st_size
        if spec.size is not None and size != spec.size:
            raise DsregError(
                f"cached copy of source {spec.name!r} is {size} bytes, the recipe says {spec.size}",
                path=entry,
                fix="it was damaged after it was verified: delete it and run again to download it afresh",
            )
        return entry, "cache", None
    digests = _download(spec, entry, progress=progress, retries=retries, backoff=backoff, limits=limits)
    return entry, ("cache" if digests is None else "download"), digests


def _download(
    spec: SourceSpec, entry: Path, *, progress: bool, retries: int, backoff: float, limits: DownloadLimits
) -> dict[str, str] | None:
    """Download into `entry` from the first mirror that delivers the right bytes; returns their digests.

    Returns None when another process finished the same download while this one waited for the lock.
    Bytes from a mirror that stalled or was too slow are kept for the next mirror (or run) to resume.
    """
    deadline = time.monotonic() + limits.deadline
    partial = entry.with_name(entry.name + ".partial")
    failures: list[tuple[str, Exception]] = []
    with _locked(entry.with_name(entry.name + ".lock")):
        if entry.is_file():
            return None
        for url in spec.urls:
            try:
                _transfer_with_retries(
                    url,
                    spec,
                    partial,
                    progress=progress,
                    retries=retries,
                    backoff=backoff,
                    limits=limits,
                    deadline=deadline,
                )
                digests = file_digests(partial, progress=progress)
                problems = _mismatches(spec, partial.stat().st_size, digests)
                if problems:
                    raise DsregError(f"downloaded file differs from the recipe ({'; '.join(problems)})")
            except DeadlineError:
                raise
            except TransferError as err:
                failures.append((url, err))
                continue
            except DsregError as err:
                partial.unlink(missing_ok=True)
                failures.append((url, err))
                continue
            except Exception as err:  # fsspec backends raise many types; the summary names each
                failures.append((url, err))
                continue
            os.replace(partial, entry)
            return digests
    raise _download_error(spec, failures)


def _transfer_with_retries(
    url: str,
    spec: SourceSpec,
    partial: Path,
    *,
    progress: bool,
    retries: int,
    backoff: float,
    limits: DownloadLimits,
    deadline: float,
) -> None:
    """Fill `partial` from `url`, retrying transient failures; an attempt that added bytes resets the count.

    Two silent attempts in a row (nothing for `limits.timeout` seconds) give the mirror up at once.
    """
    retry = silent = 0
    while True:
        before = _size(partial)
        check_deadline(deadline, url, before)
        try:
            _transfer(url, spec, partial, progress=progress, limits=limits, deadline=deadline)
            return
        except Exception as err:
            if _permanent(err):
                raise
            if _size(partial) > before:
                retry = silent = 0
            elif isinstance(err, TimeoutError):
                silent += 1
                if silent >= 2:
                    raise TransferError(
                        f"the server stalled: it sent nothing for {limits.timeout:g} s, twice in a row"
                    ) from None
            if retry >= retries:
                raise
            log.info("retrying %s after %s", url, _describe(err))
            time.sleep(max(0.0, min(backoff * 2**retry, deadline - time.monotonic())))
            retry += 1


def _transfer(
    url: str, spec: SourceSpec, partial: Path, *, progress: bool, limits: DownloadLimits, deadline: float
) -> None:
    """One attempt: continue `partial` from its current size, or from zero where the server cannot resume."""
    offset = _size(partial)
    if spec.size is not None and offset >= spec.size:
        if offset == spec.size:
            return
        offset = 0
    opened = _open_at(url, offset, spec.size, limits.timeout)
    if opened is None:
        return
    stream, start, total = opened
    meter = Meter(limits, url, spec.size, deadline, start)
    if total is not None:
        meter.check(total)  # a Content-Length over the cap fails before a byte is written
    meter_bar = bar(total, spec.file_name, initial=start, enabled=progress)
    with stream, meter_bar, open(partial, "ab" if start else "wb") as out:
        position = start
        while block := stream.read(_CHUNK):
            position += len(block)
            meter.check(position)
            out.write(block)
            meter_bar.update(len(block))


def _open_at(url: str, offset: int, size: int | None, timeout: float) -> tuple[Any, int, int | None] | None:
    """Open `url` for reading at byte `offset` where the backend can resume there, else at byte zero.

    Returns the stream, the byte it starts at and the file's total size if known; None when an HTTP
    server answers 416 to a resume, i.e. the partial file already holds every byte it has.
    """
    if fsspec.utils.get_protocol(url) not in ("http", "https"):
        fs, path = fsspec.core.url_to_fs(url)
        stream = fs.open(path, "rb")
        start = offset if offset and stream.seekable() else 0
        stream.seek(start)
        return stream, start, size if size is not None else getattr(stream, "size", None)

    import aiohttp

    client = {
        "timeout": aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
        "auto_decompress": False,
    }
    fs, path = fsspec.core.url_to_fs(url, client_kwargs=client)
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        # block_size=0 gives a streaming file, one GET. Passing a size skips fsspec's HEAD probe, which
        # would report a refused connection as FileNotFoundError; the stream itself never uses the size.
        stream = fs.open(path, "rb", block_size=0, size=size or 1, headers=headers)
    except aiohttp.ClientResponseError as err:
        if offset and err.status == 416:
            return None
        raise
    response = stream.r
    if offset and response.status == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
        start = offset
    elif response.status == 200:
        start = 0
    else:
        stream.close()
        raise OSError(f"unexpected HTTP {response.status} to a request starting at byte {offset}")
    length = response.headers.get("Content-Length", "")
    return stream, start, start + int(length) if length.isdigit() else size


def _redirect_loop(err: Exception) -> str | None:
    """How a mirror's redirects went on without reaching a file (aiohttp's TooManyRedirects), else None."""
    try:
        from aiohttp import TooManyRedirects
    except ImportError:  # no HTTP client installed: no HTTP error either
        return None
    if not isinstance(err, TooManyRedirects):
        return None
    hops = [str(response.url) for response in err.history]
    last = hops[-1] if hops else str(err.request_info.real_url)
    return f"redirected {len(hops)} times without reaching the file (a redirect loop?), last to {last}"


def _permanent(err: Exception) -> bool:
    """Whether retrying the same mirror is pointless: not found, forbidden, a client error, wrong bytes, a
    redirect loop."""
    if isinstance(err, (DsregError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return True
    if _redirect_loop(err) is not None:
        return True
    status = getattr(err, "status", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in _RETRYABLE_4XX


def _describe(err: Exception) -> str:
    """A one-line account of why a mirror failed."""
    if isinstance(err, DsregError):
        return err.problem if err.fix is None else f"{err.problem} ({err.fix})"
    if isinstance(err, FileNotFoundError):
        return "not found (HTTP 404 or no such file)"
    loop = _redirect_loop(err)
    if loop is not None:
        return loop
    status = getattr(err, "status", None)
    if isinstance(status, int):
        return f"HTTP {status} {getattr(err, 'message', '')}".rstrip()
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _download_error(spec: SourceSpec, failures: list[tuple[str, Exception]]) -> DsregError:
    """One error summarising every mirror's failure; SourceMissingError unless a mirror sent wrong bytes."""
    lines = "\n".join(f"  - {url}: {_describe(err)}" for url, err in failures)
    problem = f"could not download source {spec.name!r} ({spec.file_name}) from its {len(failures)} mirror(s):\n{lines}"
    if any(isinstance(err, DsregError) and not isinstance(err, TransferError) for _, err in failures):
        return DsregError(
            problem,
            fix="a mirror served a different file: the mirror may be corrupt, or the vendor changed the file. "
            "Nothing was kept in the cache; try again or another mirror, and if the vendor's file really "
            "changed, update size/sha256/md5 in the recipe",
        )
    return SourceMissingError(
        problem,
        fix="check this node's network access (proxy, firewall) and the recipe's URLs, or download "
        f"{spec.file_name} elsewhere and pass it with --source PATH",
    )


def _manual_error(spec: SourceSpec, looked: list[Path], manual_dir: Path) -> SourceMissingError:
    """The error for a missing manual source, quoting the recipe's instructions exactly."""
    where = "\n".join(f"  - {path}" for path in looked)
    return SourceMissingError(
        f"source {spec.name!r} ({spec.file_name}) cannot be downloaded automatically. The recipe says:\n\n"
        f"{spec.manual}\n\ndsreg looked for {spec.file_name} in:\n{where}",
        fix=f"get {spec.file_name} as described above, then pass it with --source PATH (the file, or a "
        f"directory holding it), or copy it into {manual_dir}",
    )


def _match_local_file(specs: Mapping[str, SourceSpec], local: Path) -> str:
    """The key of the source a single local file stands for: the only one, or the one named like it."""
    if len(specs) == 1:
        return next(iter(specs))
    for key, spec in specs.items():
        if spec.file_name.lower() == local.name.lower():
            return key
    names = ", ".join(spec.file_name for spec in specs.values())
    raise DsregError(
        "the file given with --source is none of this recipe's sources",
        path=local,
        fix=f"pass a file with one of the vendor's names ({names}), or a directory holding them",
    )


def _find_in_dir(directory: Path, name: str) -> Path | None:
    """The file called `name` (ignoring case) at the top level of `directory`, if there is one."""
    if not directory.is_dir():
        return None
    exact = directory / name
    if exact.is_file():
        return exact
    wanted = name.lower()
    return next((p for p in sorted(directory.iterdir()) if p.name.lower() == wanted and p.is_file()), None)


_ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip")


def _unpacked_in_dir(directory: Path, name: str) -> Path | None:
    """The folder holding an archive's unpacked content: named like the archive without its extension."""
    suffix = next((s for s in _ARCHIVE_SUFFIXES if name.lower().endswith(s)), None)
    if suffix is None:
        return None
    folder = directory / name[: -len(suffix)]
    return folder if folder.is_dir() else None


def _safe_name(spec: SourceSpec) -> str:
    """The vendor file name, refused if it could point outside the directory it is joined to."""
    name = spec.file_name
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise DsregError(
            f"source {spec.name!r} has the unsafe file name {name!r}",
            fix="set `filename` in the recipe to a plain file name",
        )
    return name


def _cache_entry(spec: SourceSpec, cache_dir: Path) -> Path:
    """The content-addressed path of a downloadable source: by sha256, or by md5 where that is all there is."""
    if spec.sha256:
        algo, digest = "sha256", spec.sha256
    elif spec.md5:
        algo, digest = "md5", spec.md5
    else:
        raise DsregError(
            f"source {spec.name!r} has URLs but neither sha256 nor md5, so a download could not be verified",
            fix="add the vendor's sha256 (or md5) to the source in the recipe",
        )
    return cache_dir / algo / digest.lower() / _safe_name(spec)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the NFS-safe lock file `path`, so that two preparers (on any hosts) never fill one partial file."""
    lock = FileLock(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(poll=0.1, on_wait=lambda holder: log.info("waiting for %s, held by %s", path, holder))
    except OSError as err:
        raise DsregError(
            f"cannot write to the download cache ({err.strerror})",
            path=path.parent,
            fix="point the cache at a writable directory, or pass the files with --source PATH",
        ) from None
    try:
        yield
    finally:
        lock.release()


def _mismatches(spec: SourceSpec, size: int, digests: dict[str, str]) -> list[str]:
    """How a file of `size` bytes with `digests` differs from what the recipe expects (empty: it matches)."""
    problems = []
    if spec.size is not None and size != spec.size:
        problems.append(f"size: expected {spec.size} bytes, got {size}")
    for algo, expected in (("sha256", spec.sha256), ("md5", spec.md5)):
        if expected and expected.lower() != digests[algo]:
            problems.append(f"{algo}: expected {expected}, got {digests[algo]}")
    return problems


def _size(path: Path) -> int:
    """Size of a file in bytes, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
