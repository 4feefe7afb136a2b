"""Stream the members of a tar stored inside a source (ILSVRC train, ImageNet-21k): one pass, no extraction.

The inner tar is read from the outer archive in large blocks, in order, and its headers are parsed here
(ustar, GNU and pax: long names, extended and global headers) rather than by `tarfile`, whose layered
small reads cost more than the images' own bytes; memory holds one block and one image. Every header is
checked: its checksum and number fields, a declared size running past the end of the inner tar (a cut, or
a size bomb: refused before anything is allocated), links and devices and sparse members (refused: image
tars hold plain files). A truncated inner tar fails with an error naming it: cut inside a member the
member comes up short, cut at a member boundary the end-of-archive blocks every tar ends with are missing;
after the first of those only zeros may follow (`dsreg.tarend`, the rule the outer archives' listing applies too).
`iter_class_tar` adds the checks of a tar holding one synset's images, named `<wnid>_<number>.JPEG`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dsreg.errors import DsregError
from dsreg.sourcetree import SourceTree
from dsreg.tarend import BLOCK, check_end, missing_end

READ_SIZE = 4 << 20  # bytes asked of the source per read
_FIX = "the archive is damaged (truncated or altered): copy or download it again"
_REGULAR = (b"0", b"\0", b"7")  # file, old-style file, contiguous file: what `tarfile` reads as files
_REFUSED = (b"1", b"2", b"3", b"4", b"6")  # hard link, symlink, character and block device, fifo
_EXTENSIONS = (b"L", b"K", b"x", b"g", b"X")  # GNU long name/link, pax extended/global, Solaris pax
_NO_DATA = (b"5",)  # a directory: like `tarfile`, its size is not skipped
_NOT_FILES = (b"V", b"D")  # a volume label, a GNU directory dump: hold no file by definition, their data skipped
_LOW_BYTES = bytes(range(128))
_EMPTY = bytes(BLOCK)


def _corrupt(where: str, problem: str) -> DsregError:
    return DsregError(f"the inner tar {where} is truncated or corrupt: {problem}", path=where.split("::")[0], fix=_FIX)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _text(field: bytes) -> str:
    """A NUL-terminated header string, as `tarfile` decodes it."""
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _number(field: bytes) -> int | None:
    """A header number: octal text, or GNU base-256 (first byte 0x80, or 0xff for negative); None if neither."""
    if field[0] in (0x80, 0xFF):
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * (len(field) - 1))) if field[0] == 0xFF else value
    try:
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        return None


def _checksum_ok(block: bytes) -> bool:
    """The stored checksum equals the sum of the header's bytes with its own field taken as spaces, unsigned
    or (as some old tars wrote it) signed."""
    stored = _number(block[148:156])
    unsigned = sum(block) - sum(block[148:156]) + 8 * 32
    if stored == unsigned:
        return True
    high = len(block[:148].translate(None, _LOW_BYTES)) + len(block[156:].translate(None, _LOW_BYTES))
    return stored == unsigned - 256 * high


def _pax_records(data: bytes, where: str, at: int) -> dict[str, bytes]:
    """The `<length> <key>=<value>\\n` records of a pax extended header (the length counts the whole record)."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        digits = data[pos:space] if space > pos else b""
        end = pos + int(digits) if digits.isdigit() else pos
        key, equals, value = data[space + 1 : end - 1].partition(b"=")
        if end <= space or end > len(data) or data[end - 1 : end] != b"\n" or not equals:
            raise _corrupt(where, f"the pax header at byte {at} holds a malformed record")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos = end
    return records


class _Blocks:
    """Exact-size reads, in order, from a file, served from reads of READ_SIZE bytes (a larger piece is read
    straight into its own buffer): memory holds one read and the piece taken."""

    def __init__(self, f: BinaryIO, size: int):
        self._f = f
        self._buffer = b""
        self._at = 0  # in _buffer
        self.offset = 0  # bytes of the file taken so far
        self.size = size

    def take(self, n: int) -> bytes:
        """The next `n` bytes (fewer only where the file ends)."""
        end = self._at + n
        if end <= len(self._buffer):
            piece = self._buffer[self._at : end]
            self._at = end
        else:
            head = self._buffer[self._at :]
            need = n - len(head)
            if need >= READ_SIZE:
                tail, self._buffer, self._at = self._read(need), b"", 0
            else:
                self._buffer = self._read(READ_SIZE)
                tail = self._buffer[:need]
                self._at = len(tail)
            piece = head + tail if head else tail
        self.offset += len(piece)
        return piece

    def skip(self, n: int) -> None:
        """Pass over the next `n` bytes (fewer where the file ends); they are still read, in order."""
        if self._at + n <= len(self._buffer):
            self._at += n
            self.offset += n
        else:
            self.take(n)

    def _read(self, n: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < n and (more := self._f.read(n - got)):
            parts.append(more)
            got += len(more)
        return parts[0] if len(parts) == 1 else b"".join(parts)


@dataclass
class _Pending:
    """What extension headers said about the next member: a GNU long name, pax records."""

    name: str | None = None
    pax: dict[str, bytes] | None = None


def iter_inner_tar(tree: SourceTree, member: str) -> Iterator[tuple[str, bytes]]:
    """(base file name, bytes) of each regular file of the tar `member` of `tree`, in storage order."""
    where = tree.location(member)
    with tree.open_member(member) as f:
        size = f.seek(0, io.SEEK_END)
        f.seek(0)
        for name, data in _walk(_Blocks(f, size), where):
            yield name.rsplit("/", 1)[-1], data


def _walk(blocks: _Blocks, where: str) -> Iterator[tuple[str, bytes]]:
    """The regular files of one tar read through `blocks` (full names), checking every header."""
    pending = _Pending()
    global_pax: dict[str, bytes] = {}
    while True:
        at = blocks.offset
        header = blocks.take(BLOCK)
        if len(header) < BLOCK:
            raise _corrupt(where, missing_end(at + len(header)))
        if header == _EMPTY:
            check_end(blocks.take, at, lambda problem: _corrupt(where, problem))
            return
        if not _checksum_ok(header):
            raise _corrupt(where, f"the header at byte {at} has a bad checksum")
        kind = header[156:157]
        size = _number(header[124:136])
        if size is None or size < 0:
            raise _corrupt(where, f"the header at byte {at} has an invalid size field")
        if kind in _EXTENSIONS:
            _check_room(blocks, where, at, pending.name or _text(header[:100]), size)
            data = blocks.take(size)
            blocks.skip(_padded(size) - size)
            if kind == b"L":
                pending.name = _text(data)
            elif kind == b"g":
                global_pax.update(_pax_records(data, where, at))
            elif kind != b"K":  # a long link target: links are refused when their header comes
                pending.pax = {**(pending.pax or {}), **_pax_records(data, where, at)}
            continue
        pax = {**global_pax, **pending.pax} if pending.pax else global_pax
        name = _member_name(header, pending, pax)
        pending = _Pending()
        if kind in _REFUSED:
            raise DsregError(
                f"the inner tar {where} holds a link or device {name!r}; image tars hold only files",
                path=where.split("::")[0],
                fix=_FIX,
            )
        if kind == b"S" or any(key.startswith("GNU.sparse.") for key in pax):
            raise DsregError(
                f"the inner tar {where} holds a sparse member {name!r}; image tars hold only plain files",
                path=where.split("::")[0],
                fix=_FIX,
            )
        if kind in _NO_DATA or (kind == b"\0" and name.endswith("/")):
            continue  # a directory (old tars mark one with a trailing slash); like `tarfile`, no data skipped
        if "size" in pax:
            if not pax["size"].isdigit():
                raise _corrupt(where, f"the pax size of member {name!r} at byte {at} is not a number")
            size = int(pax["size"])
        _check_room(blocks, where, at, name, size)
        if kind in _NOT_FILES:
            blocks.skip(_padded(size))
            continue
        if kind not in _REGULAR:  # a multi-volume continuation ('M'), a vendor or unknown type: maybe an image
            raise DsregError(
                f"the inner tar {where} holds member {name!r} of tar type {_text(kind)!r}, not a plain file;"
                " image tars hold only files",
                path=where.split("::")[0],
                fix=_FIX,
            )
        data = blocks.take(size)
        if len(data) < size:
            raise _corrupt(where, f"member {name!r} ends after {len(data)} of {size} bytes")
        blocks.skip(_padded(size) - size)
        yield name, data


def _check_room(blocks: _Blocks, where: str, at: int, name: str, size: int) -> None:
    """Refuse a member declaring more bytes than the inner tar has left (cut, or a size bomb) before reading it."""
    left = blocks.size - blocks.offset
    if size > left:
        raise _corrupt(where, f"member {name!r} at byte {at} declares {size} bytes but only {left} follow")


def _member_name(header: bytes, pending: _Pending, pax: dict[str, bytes]) -> str:
    """A member's full name: from a pax `path`, else a GNU long name, else the header's (with its ustar
    prefix), as `tarfile` gives it."""
    if "path" in pax:
        return pax["path"].decode("utf-8", "surrogateescape")
    if pending.name is not None:
        return pending.name
    name = _text(header[:100])
    prefix = _text(header[345:500])
    return f"{prefix}/{name}" if prefix else name


def check_synset_image(wnid: str, name: str, holder: str, path: str | Path) -> None:
    """Refuse an image of synset `wnid`'s tar or folder (`holder`, under `path`) not named `<wnid>_<number>.JPEG`,
    as the vendor names every one (FORMATS.md): an image of another synset there would be labelled `wnid`."""
    number = name[len(wnid) + 1 : -len(".JPEG")]
    if not (name.startswith(f"{wnid}_") and name.endswith(".JPEG") and number.isascii() and number.isdigit()):
        raise DsregError(
            f"{holder} holds {name!r}, but every image of synset {wnid} is named {wnid}_<number>.JPEG: "
            f"the archive is mis-packed, and the image (of another synset?) would be labelled {wnid}",
            path=path,
            fix="the archive is not the vendor's: use the vendor's file, whose synset tars hold only their own images",
        )


def iter_class_tar(tree: SourceTree, member: str, wnid: str) -> Iterator[tuple[str, bytes]]:
    """`iter_inner_tar` for the tar of synset `wnid`: refused when a member is not named `<wnid>_<number>.JPEG`
    (`check_synset_image`), when a base name repeats (a tar's later member replaces an earlier one of the same
    name; reading both would give two rows of one file) or when it holds no image at all (every class of the
    vendor's archives has some)."""
    where = tree.location(member)
    seen: set[str] = set()
    for name, data in iter_inner_tar(tree, member):
        check_synset_image(wnid, name, f"the inner tar {where}", tree.path)
        if name in seen:
            raise DsregError(f"the inner tar {where} holds two members named {name!r}", path=tree.path, fix=_FIX)
        seen.add(name)
        yield name, data
    if not seen:
        raise DsregError(f"the inner tar {where} holds no images", path=tree.path, fix=_FIX)
