"""Read-only views of a raw source: a directory, a tar (plain, gz, bz2, xz), a zip, or a single file.

Readers never extract archives to disk: they list, find and read members through a `SourceTree`.
Every member is checked as it is listed or streamed, and an archive that could write or read outside
its own tree (absolute paths, `..`, links leaving the tree, devices) is refused as unsafe. A truncated
or corrupt archive fails with a `DsregError` naming it, never with a bare decompression traceback; a tar's
listing must end at its end-of-archive blocks (`dsreg.tarend`), not at a damaged header or a cut.

A tree hashes the file it reads as it reads it (`digests`), so a source is verified in the same pass
that parses it, and compressed streams are read to their end so their own CRCs are checked too. A
plain (uncompressed) tar is listed from its headers alone and its members are read by byte range:
after `hash_reads`, those reads feed the digests, so reading the members in file order reads the file
once, hashing included. With
`bounded`, reading a member larger than what the recipe declares fails before anything is allocated.

A tree holds only its path when pickled (readers run in worker processes) and opens lazily. One tree
object is not meant to be shared between threads.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import posixpath
import re
import stat
import tarfile
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from dsreg.errors import DsregError
from dsreg.hashing import CHUNK, HashingReader
from dsreg.rawio import ReadOnlyRaw
from dsreg.tarend import BLOCK, check_end, missing_end

Predicate = Callable[[str], bool]

_COMPRESSED: tuple[tuple[bytes, Callable[..., Any]], ...] = (
    (b"\x1f\x8b", gzip.open),
    (b"BZh", bz2.open),
    (b"\xfd7zXZ\x00", lzma.open),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_DRIVE = re.compile(r"^[A-Za-z]:")
# NotImplementedError: a zip compression method Python lacks; RuntimeError: an encrypted zip member
_CORRUPT = (
    tarfile.TarError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
    OSError,
    NotImplementedError,
    RuntimeError,
)
_REDOWNLOAD = "delete it and download it again from the vendor (or a verified mirror)"


# ---------------------------------------------------------------------------------------------- errors


def _unsafe(source: Path, member: str, reason: str) -> DsregError:
    kind = "directory" if source.is_dir() else "archive"
    return DsregError(
        f"unsafe member {member!r}: {reason}. The {kind} is unsafe and must not be used",
        path=source,
        fix=f"{_REDOWNLOAD}; if it came from anywhere else, check where it came from before using it",
    )


@contextmanager
def _reading(source: Path, member: str | None = None) -> Iterator[None]:
    """Turn I/O and decompression failures inside the block into a DsregError naming the source."""
    try:
        yield
    except DsregError:
        raise
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as err:
        raise DsregError(
            f"cannot read the source: {err.strerror}", path=source, fix="check the path and its permissions"
        ) from None
    except _CORRUPT as err:
        where = f" (while reading member {member!r})" if member else ""
        raise DsregError(
            f"the archive is truncated or corrupt{where}: {type(err).__name__}: {err}", path=source, fix=_REDOWNLOAD
        ) from None


# -------------------------------------------------------------------------------------- member checks


def _clean_name(source: Path, raw: str) -> str:
    """The member's normalized relative posix name; unsafe names (absolute, `..`) raise."""
    if raw.startswith(("/", "\\")) or _DRIVE.match(raw):
        raise _unsafe(source, raw, "absolute path")
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _unsafe(source, raw, "'..' in the path leaves the tree")
    return "/".join(parts)


def _check_link(source: Path, name: str, target: str, *, hard: bool) -> None:
    """Refuse a link whose target is absolute or climbs out of the tree.

    A symlink's target is relative to the link's own directory; a tar hard link's to the archive root.
    """
    base = "" if hard else posixpath.dirname(name)
    resolved = posixpath.normpath(posixpath.join(base, target.replace("\\", "/")))
    if target.startswith(("/", "\\")) or _DRIVE.match(target) or resolved == ".." or resolved.startswith("../"):
        raise _unsafe(source, name, f"link to {target!r} points outside the tree")


class _GuardedReader(ReadOnlyRaw):
    """A member's file object whose read errors (truncation, CRC) become DsregErrors naming the archive."""

    def __init__(self, raw: IO[bytes], source: Path, member: str):
        super().__init__()
        self._raw, self._source, self._member = raw, source, member

    def read(self, size: int | None = -1) -> bytes:
        with _reading(self._source, self._member):
            return self._raw.read(-1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        with _reading(self._source, self._member):
            return self._raw.readline(-1 if size is None else size)

    def seekable(self) -> bool:
        return self._raw.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with _reading(self._source, self._member):
            return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


# ------------------------------------------------------------------------------------------ the trees


class SourceTree(ABC):
    """A read-only tree of named files; `SourceTree.open` picks the kind from the path's content."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._index: dict[str, Any] | None = None
        self._handle: Any = None
        self._raw: HashingReader | None = None
        self._digests: dict[str, str] | None = None
        self._budget: tuple[int, str] | None = None

    @staticmethod
    def open(path: str | os.PathLike[str]) -> SourceTree:
        """A tree for `path`: a directory, a tar (detected by content, any compression), a zip or one file."""
        path = Path(path)
        if path.is_dir():
            return DirectoryTree(path)
        with _reading(path), open(path, "rb") as f:
            head = f.read(tarfile.BLOCKSIZE)
        if head.startswith(_ZIP_MAGIC):
            return ZipTree(path)
        return TarTree(path) if _is_tar(path, head) else FileTree(path)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, state["path"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def __enter__(self) -> SourceTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release an open archive handle; the tree reopens it if used again."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def reads_by_range(self) -> bool:
        """Whether members are read as byte ranges of the file (a plain tar), so that `hash_reads` can hash
        the file with the reads themselves; False where a listing or `digests` reads the file anyway."""
        return False

    def hash_reads(self) -> bool:
        """From now on, member reads feed `digests` (a plain tar; see `reads_by_range`), hashed on a
        background thread; what they skip is read for the digests when needed, so the digests are always
        those of the whole file. Returns whether this tree does so (other trees are left as they are)."""
        return False

    @property
    def high_water(self) -> int:
        """The furthest byte of the file member reads have reached (0 where members are not byte ranges)."""
        return 0

    def digests(self) -> dict[str, str] | None:
        """sha256 and md5 of the source file (None for a directory), from the pass that read it.

        A tar's listing reads the whole file, so its digests cost nothing more; a tree not yet read
        completely (a zip, a single file) reads what is left once.
        """
        if self._digests is None:
            with _reading(self.path), open(self.path, "rb") as f:
                self._digests = HashingReader(f).finish()
        return self._digests

    @contextmanager
    def bounded(self, max_bytes: int | None, why: str) -> Iterator[SourceTree]:
        """Within the block, a member declaring more than `max_bytes` (`why` says where the bound comes
        from) is refused before any of it is read: by `read_bytes`, and by a listing as soon as it
        sees the member's header, before decompressing past it."""
        previous, self._budget = self._budget, None if max_bytes is None else (max_bytes, why)
        try:
            yield self
        finally:
            self._budget = previous

    def names(self) -> list[str]:
        """Posix relative paths of the regular files, in storage order (sorted walk for directories)."""
        return list(self._members())

    def location(self, name: str) -> str:
        """How to name a member in messages: its path for directories, `archive::member` otherwise."""
        return f"{self.path}::{name}"

    def find(self, suffix: str, *, case_insensitive: bool = False) -> str:
        """The one member equal to `suffix` or ending in `/suffix`, so a missing top folder doesn't matter."""
        fold: Callable[[str], str] = str.casefold if case_insensitive else str
        want = fold(suffix.strip("/"))
        names = self.names()
        hits = [n for n in names if fold(n) == want or fold(n).endswith("/" + want)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            sample = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
            raise DsregError(
                f"no file matches {suffix!r}; the source has {len(names)} files" + (f": {sample}" if names else ""),
                path=self.path,
                fix="check that this is the right source (unpacked completely) and that the recipe names the file",
            )
        raise DsregError(
            f"{len(hits)} files match {suffix!r}: {', '.join(hits[:5])}",
            path=self.path,
            fix=f"name the file with more of its path, e.g. {hits[0]!r}",
        )

    def member_size(self, name: str) -> int:
        """The size in bytes the member declares (its tar header, zip directory entry or file size)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def read_bytes(self, name: str) -> bytes:
        """A whole member, at most its declared size; refused up front when over `bounded`'s limit."""
        size = self.member_size(name)
        self._check_budget(name, size)
        with self.open_member(name) as f:
            data = f.read(size)
        if len(data) < size:
            raise DsregError(
                f"member {name!r} ends after {len(data)} of its {size} bytes: the source is truncated",
                path=self.path,
                fix=_REDOWNLOAD,
            )
        return data

    def _check_budget(self, name: str, size: int) -> None:
        """Refuse a member declaring more bytes than `bounded` allows."""
        if self._budget is not None and size > self._budget[0]:
            raise DsregError(
                f"member {name!r} declares {size} bytes, more than the {self._budget[0]} bytes allowed "
                f"({self._budget[1]}); the source is corrupt or hostile",
                path=self.path,
                fix=f"{_REDOWNLOAD}; if the recipe's row counts are wrong, correct them",
            )

    def _members(self) -> dict[str, Any]:
        if self._index is None:
            self._index = self._scan()
        return self._index

    def _lookup(self, name: str) -> Any:
        try:
            return self._members()[name]
        except KeyError:
            raise self._no_file(name) from None

    def _no_file(self, name: str) -> DsregError:
        return DsregError(f"no file named {name!r}", path=self.path, fix="use a name from names() or find()")

    @abstractmethod
    def _scan(self) -> dict[str, Any]:
        """Map each regular file's name to what opens it, checking every member's safety."""

    @abstractmethod
    def open_member(self, name: str) -> AbstractContextManager[BinaryIO]:
        """A binary file object for one member, valid inside the `with` block."""

    @abstractmethod
    def iter_members(self, predicate: Predicate | None = None) -> Iterator[tuple[str, BinaryIO]]:
        """One streaming pass in storage order; each file object is valid until the next item.

        Members are checked as they stream by, so an unsafe member fails the pass after the members
        before it were yielded: treat the whole pass as failed.
        """


def _is_tar(path: Path, head: bytes) -> bool:
    """Whether the (decompressed) first block is a tar header, whatever the file is called."""
    opener = next((op for magic, op in _COMPRESSED if head.startswith(magic)), None)
    if opener is not None:
        with _reading(path), opener(path, "rb") as f:
            head = f.read(tarfile.BLOCKSIZE)
    if len(head) < tarfile.BLOCKSIZE:
        return False
    if head == bytes(tarfile.BLOCKSIZE):
        return True  # an empty archive: only the end-of-archive zero blocks
    try:
        tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


class DirectoryTree(SourceTree):
    """An unpacked directory. Symlinks may point anywhere inside it, never outside."""

    def location(self, name: str) -> str:
        return str(self.path / name)

    def _scan(self) -> dict[str, Any]:
        root = self.path.resolve()
        with _reading(self.path):
            return {name: None for name in self._walk(root, "")}

    def _walk(self, root: Path, rel: str) -> Iterator[str]:
        with os.scandir(root / rel) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            name = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_symlink():
                if self._resolve_inside(root, name).is_file():
                    yield name  # a linked directory inside the tree is already walked where it lives
            elif entry.is_dir():
                yield from self._walk(root, name)
            elif entry.is_file():
                yield name
            else:
                raise _unsafe(self.path, name, "a device, fifo or socket, not a regular file")

    def _resolve_inside(self, root: Path, name: str) -> Path:
        try:
            target = (root / name).resolve()
        except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
            raise _unsafe(self.path, name, "symlink loop") from None
        if not target.is_relative_to(root):
            raise _unsafe(self.path, name, f"symlink resolves to {str(target)!r}, outside the directory")
        return target

    @contextmanager
    def open_member(self, name: str) -> Iterator[BinaryIO]:
        if name.startswith("/") or any(part in ("", ".", "..") for part in name.split("/")):
            raise self._no_file(name)  # not a name names() gives: never resolve it against the filesystem
        target = self._resolve_inside(self.path.resolve(), name)
        if not target.is_file():
            raise self._no_file(name)
        with _reading(self.path, name), open(target, "rb") as f:
            yield f

    def iter_members(self, predicate: Predicate | None = None) -> Iterator[tuple[str, BinaryIO]]:
        for name in self.names():
            if predicate is None or predicate(name):
                with self.open_member(name) as f:
                    yield name, f

    def member_size(self, name: str) -> int:
        self._lookup(name)
        with _reading(self.path, name):
            return self._resolve_inside(self.path.resolve(), name).stat().st_size

    def digests(self) -> dict[str, str] | None:
        return None  # many files, none of them the vendor's archive: nothing to compare with a checksum


class _Header(tarfile.TarInfo):
    """A TarInfo that tells its `_Tar` why a header could not be read: `tarfile` ends the listing there
    without a word (a zero block, a bad checksum, a cut), and only the reason tells the end from damage."""

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> _Header:
        try:
            return super().fromtarfile(archive)
        except tarfile.HeaderError as err:
            if isinstance(archive, _Tar):
                archive.stop = err
            raise


class _Tar(tarfile.TarFile):
    """A TarFile that remembers why its walk over the headers stopped, for `TarTree._check_stop`."""

    tarinfo = _Header
    stop: tarfile.HeaderError | None = None


# The error `tarfile` reads a zero block with (where an archive ends): every Python dsreg supports has it (since 3.2),
# but tarfile's typing does not name it.
_AT_ZERO_BLOCK: type[tarfile.HeaderError] = vars(tarfile)["EOFHeaderError"]


class TarTree(SourceTree):
    """A tar archive, plain or gz/bz2/xz compressed. Random access lists it once; `iter_members` streams.

    A plain tar is listed from its headers (seeking over the data, without read-ahead) and a member is
    read as its byte range of the file; a compressed one is listed by decompressing it all, hashed on
    the way, and its members are read through `tarfile`.
    """

    def __init__(self, path: str | os.PathLike[str]):
        super().__init__(path)
        self._plain: bool | None = None
        self._data: BinaryIO | HashingReader | None = None  # reads members' byte ranges of a plain tar
        self._hashing = False
        self._high_water = 0

    def reads_by_range(self) -> bool:
        if self._plain is None:
            with _reading(self.path), open(self.path, "rb", buffering=0) as f:
                head = f.read(8)
            self._plain = not any(head.startswith(magic) for magic, _ in _COMPRESSED)
        return self._plain

    def hash_reads(self) -> bool:
        if self.reads_by_range() and not self._hashing:
            self._hashing = True
            if self._data is not None:
                self._data.close()
                self._data = None
        return self._hashing

    @property
    def high_water(self) -> int:
        return self._high_water

    def close(self) -> None:
        if self._data is not None:
            self._data.close()
            self._data = None
        super().close()

    def _tar(self) -> _Tar:
        if self._handle is None:
            with _reading(self.path):
                self._raw = HashingReader(open(self.path, "rb"))  # noqa: SIM115 - kept open, closed by close()
                self._handle = _Tar.open(fileobj=self._raw, mode="r:*")
        return cast(_Tar, self._handle)

    def _data_file(self) -> BinaryIO | HashingReader:
        """The file members' byte ranges are read from: hashing them in file order after `hash_reads`."""
        if self._data is None:
            with _reading(self.path):
                raw = open(self.path, "rb")  # noqa: SIM115 - kept open, closed by close()
            self._data = HashingReader(raw, threaded=True) if self._hashing else raw
        return self._data

    def _checked(self, info: tarfile.TarInfo) -> str | None:
        """The name of a regular file member, None for directories and safe links; unsafe members raise."""
        name = _clean_name(self.path, info.name)
        if info.issym() or info.islnk():
            _check_link(self.path, name, info.linkname, hard=info.islnk())
            return None
        if info.isdev():
            raise _unsafe(self.path, info.name, "a device or fifo, not a regular file")
        return name if info.isreg() else None

    def _scan(self) -> dict[str, Any]:
        index: dict[str, Any] = {}
        with _reading(self.path):
            if self.reads_by_range():
                with open(self.path, "rb", buffering=0) as f:
                    if hasattr(os, "posix_fadvise"):  # headers only: no read-ahead of the data between them
                        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_RANDOM)
                    with _Tar.open(fileobj=f, mode="r:") as tar:
                        self._index_members(tar, index)
                return index
            tar = self._tar()
            self._index_members(tar, index)
            self._digests = _drain(tar, cast(HashingReader, self._raw))
        return index

    def _index_members(self, tar: _Tar, index: dict[str, Any]) -> None:
        for info in tar:
            name = self._checked(info)
            if name is not None:
                self._check_budget(name, info.size)
                index[name] = info
        self._check_stop(tar)

    def _check_stop(self, tar: _Tar) -> None:
        """`tarfile` ended the walk over the headers: refuse unless it ended at the end-of-archive blocks. The
        tail it checks is read from where the walk stopped (no seek: a compressed stream reads on to its end)."""

        def fail(problem: str) -> DsregError:
            return DsregError(f"the archive is truncated or corrupt: {problem}", path=self.path, fix=_REDOWNLOAD)

        stream = cast(IO[bytes], tar.fileobj)
        if type(tar.stop) is _AT_ZERO_BLOCK:
            check_end(stream.read, tar.offset, fail)
        elif stream.tell() - tar.offset < BLOCK:  # nothing, or part of a block, where a header should be
            raise fail(missing_end(stream.tell()))
        else:  # a bad checksum or number field, a malformed pax record
            raise fail(f"the header at byte {tar.offset} is damaged ({tar.stop})")

    def member_size(self, name: str) -> int:
        return int(self._lookup(name).size)

    def digests(self) -> dict[str, str] | None:
        if self.reads_by_range():
            if self._digests is None and isinstance(self._data, HashingReader):
                with _reading(self.path):
                    self._digests = self._data.finish()  # the bytes no member read reached are read here
            return super().digests()
        self._members()  # listing reads the whole archive and hashes it on the way
        return self._digests if self._digests is not None else super().digests()

    @contextmanager
    def open_member(self, name: str) -> Iterator[BinaryIO]:
        info = self._lookup(name)
        if self.reads_by_range() and not info.issparse():
            member = _Range(self._data_file(), info.offset_data, info.size, self._reached)
            with _GuardedReader(cast(IO[bytes], member), self.path, name) as f:
                yield cast(BinaryIO, f)
            return
        with _reading(self.path, name):
            raw = self._tar().extractfile(info)
        with _GuardedReader(cast(IO[bytes], raw), self.path, name) as f:
            yield cast(BinaryIO, f)

    def _reached(self, end: int) -> None:
        if end > self._high_water:
            self._high_water = end

    def iter_members(self, predicate: Predicate | None = None) -> Iterator[tuple[str, BinaryIO]]:
        with (
            _reading(self.path),
            HashingReader(open(self.path, "rb")) as raw,
            _Tar.open(fileobj=raw, mode="r|*") as tar,
        ):
            for info in tar:
                name = self._checked(info)
                if name is not None:
                    self._check_budget(name, info.size)
                if name is not None and (predicate is None or predicate(name)):
                    with _GuardedReader(cast(IO[bytes], tar.extractfile(info)), self.path, name) as f:
                        yield name, cast(BinaryIO, f)
            self._check_stop(tar)
            digests = _drain(tar, raw)
            if self._digests is None:
                self._digests = digests


class _Range(ReadOnlyRaw):
    """Bytes [start, start + size) of a shared file, as a seekable file of its own (a plain tar's member).

    Every read seeks the shared file first, so several ranges may be open at once; `reached` hears the
    file offset each read ended at."""

    def __init__(self, raw: BinaryIO | HashingReader, start: int, size: int, reached: Callable[[int], None]):
        super().__init__()
        self._raw, self._start, self._size, self._reached = raw, start, size, reached
        self._pos = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        left = self._size - self._pos
        want = left if size is None or size < 0 else min(size, left)
        if want <= 0:
            return b""
        self._raw.seek(self._start + self._pos)
        data = self._raw.read(want)
        self._pos += len(data)
        self._reached(self._start + self._pos)
        return data


def _drain(tar: tarfile.TarFile, raw: HashingReader) -> dict[str, str]:
    """Read a listed tar's (decompressed) stream to its end, so gzip/bz2/xz check their CRCs and
    lengths; then the digests of the whole file."""
    stream = cast(IO[bytes], tar.fileobj)
    if stream is not raw:
        while stream.read(CHUNK):
            pass
    return raw.finish()


class ZipTree(SourceTree):
    """A zip archive, listed from its central directory."""

    def _zip(self) -> zipfile.ZipFile:
        if self._handle is None:
            with _reading(self.path):
                self._handle = zipfile.ZipFile(self.path)
        return cast(zipfile.ZipFile, self._handle)

    def _checked(self, info: zipfile.ZipInfo) -> str | None:
        name = _clean_name(self.path, info.filename)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            if info.file_size > 4096:  # PATH_MAX: a longer "target" is not a link
                raise _unsafe(self.path, info.filename, f"symlink whose target is {info.file_size} bytes long")
            target = self._zip().read(info).decode("utf-8", "surrogateescape")
            _check_link(self.path, name, target, hard=False)
            return None
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _unsafe(self.path, info.filename, "a device, fifo or socket, not a regular file")
        return None if info.is_dir() else name

    def _scan(self) -> dict[str, Any]:
        index: dict[str, Any] = {}
        with _reading(self.path):
            for info in self._zip().infolist():
                name = self._checked(info)
                if name is not None:
                    self._check_budget(name, info.file_size)
                    index[name] = info
        return index

    def member_size(self, name: str) -> int:
        return int(self._lookup(name).file_size)

    @contextmanager
    def open_member(self, name: str) -> Iterator[BinaryIO]:
        info = self._lookup(name)
        with _reading(self.path, name):
            raw = self._zip().open(info)
        with _GuardedReader(raw, self.path, name) as f:
            yield cast(BinaryIO, f)

    def iter_members(self, predicate: Predicate | None = None) -> Iterator[tuple[str, BinaryIO]]:
        for name in self.names():
            if predicate is None or predicate(name):
                with self.open_member(name) as f:
                    yield name, f


class FileTree(SourceTree):
    """A single non-archive file; its one member is named by its basename and read as stored."""

    def location(self, name: str) -> str:
        return str(self.path)

    def _scan(self) -> dict[str, Any]:
        return {self.path.name: None}

    def member_size(self, name: str) -> int:
        self._lookup(name)
        with _reading(self.path):
            return self.path.stat().st_size

    @contextmanager
    def open_member(self, name: str) -> Iterator[BinaryIO]:
        self._lookup(name)
        with _reading(self.path), open(self.path, "rb") as f:
            yield f

    def iter_members(self, predicate: Predicate | None = None) -> Iterator[tuple[str, BinaryIO]]:
        if predicate is None or predicate(self.path.name):
            with self.open_member(self.path.name) as f:
                yield self.path.name, f
