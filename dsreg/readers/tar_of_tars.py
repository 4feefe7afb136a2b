"""Stream the members of a tar stored inside a source (ILSVRC train, ImageNet-21k): one pass, no extraction.

The inner tar is read from the outer archive member by member (headers, then each image in one read), so
memory holds one image at a time and the outer file is read once, in order. A truncated inner tar fails
with an error naming it: cut inside a member the member comes up short, cut at a member boundary the
end-of-archive blocks every tar ends with are missing.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from dsreg.errors import DsregError
from dsreg.sourcetree import SourceTree

_FIX = "the archive is damaged (truncated or altered): copy or download it again"


def _truncated(where: str, problem: str) -> DsregError:
    return DsregError(f"the inner tar {where} is truncated or corrupt: {problem}", path=where.split("::")[0], fix=_FIX)


def _size(f: BinaryIO) -> int:
    size = f.seek(0, io.SEEK_END)
    f.seek(0)
    return size


def iter_inner_tar(tree: SourceTree, member: str) -> Iterator[tuple[str, bytes]]:
    """(base file name, bytes) of each regular file of the tar `member` of `tree`, in storage order."""
    where = tree.location(member)
    with tree.open_member(member) as f:
        size = _size(f)
        try:
            with tarfile.open(fileobj=f, mode="r:") as inner:
                for info in inner:
                    if info.issym() or info.islnk() or info.isdev():
                        raise DsregError(
                            f"the inner tar {where} holds a link or device {info.name!r}; image tars hold only files",
                            path=tree.path,
                            fix=_FIX,
                        )
                    if not info.isreg():
                        continue
                    data = inner.extractfile(info)
                    if data is None:
                        continue
                    content = data.read()
                    if len(content) != info.size:
                        raise _truncated(where, f"member {info.name!r} ends after {len(content)} of {info.size} bytes")
                    yield info.name.rsplit("/", 1)[-1], content
                end = inner.offset
            if size - end < 2 * tarfile.BLOCKSIZE:
                raise _truncated(where, f"it ends after {size} bytes without the end-of-archive blocks")
            _check_end_padding(f, end, where)
        except DsregError:
            raise
        except (tarfile.TarError, EOFError, OSError) as err:
            raise _truncated(where, f"{type(err).__name__}: {err}") from None


def _check_end_padding(f: BinaryIO, end: int, where: str) -> None:
    """What follows the block that ended the listing at `end` must be zeros (end-of-archive blocks, record
    padding): tarfile also ends a listing, silently, at a damaged header, which would drop every member after it."""
    f.seek(max(f.tell(), end + tarfile.BLOCKSIZE))  # forward only: the block at `end` was read by the listing
    while chunk := f.read(1 << 20):
        if chunk.strip(b"\0"):
            raise _truncated(where, f"its listing stops at byte {end} (a damaged header?) yet data follows")


def iter_class_tar(tree: SourceTree, member: str) -> Iterator[tuple[str, bytes]]:
    """`iter_inner_tar` for a tar holding one class's images: refused when a base name repeats (a tar's later
    member replaces an earlier one of the same name; reading both would give two rows of one file) or when it
    holds no image at all (every class of the vendor's archives has some)."""
    where = tree.location(member)
    seen: set[str] = set()
    for name, data in iter_inner_tar(tree, member):
        if name in seen:
            raise DsregError(f"the inner tar {where} holds two members named {name!r}", path=tree.path, fix=_FIX)
        seen.add(name)
        yield name, data
    if not seen:
        raise DsregError(f"the inner tar {where} holds no images", path=tree.path, fix=_FIX)
