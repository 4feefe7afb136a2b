"""Hostile inputs for tests: archives that try to escape their tree, truncated archives, malicious pickles.

Every hostile archive also holds a harmless regular file first, so a test shows the archive is refused
as a whole, not merely that one member is skipped. Nothing here is ever extracted or unpickled by the
library; tests assert that loading these fails with a DsregError and that no payload ran.
"""

from __future__ import annotations

import io
import os
import pickle
import shlex
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

_OK = b"harmless\n"


def _tar(dest: Path, hostile: tarfile.TarInfo, data: bytes = b"") -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w", format=tarfile.GNU_FORMAT) as tar:
        ok = tarfile.TarInfo("data/ok.txt")
        ok.size = len(_OK)
        tar.addfile(ok, io.BytesIO(_OK))
        hostile.size = len(data)
        tar.addfile(hostile, io.BytesIO(data))
    return dest


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def tar_with_traversal(dest_dir: str | os.PathLike[str]) -> Path:
    """A tar with a member `data/../../evil` that would land outside the extraction directory."""
    return _tar(Path(dest_dir) / "traversal.tar", tarfile.TarInfo("data/../../evil"), b"evil\n")


def tar_with_absolute_member(dest_dir: str | os.PathLike[str]) -> Path:
    """A tar with a member named by an absolute path."""
    return _tar(Path(dest_dir) / "absolute.tar", tarfile.TarInfo("/etc/cron.d/dsreg-evil"), b"evil\n")


def tar_with_symlink_out(dest_dir: str | os.PathLike[str], target: str = "/etc/passwd") -> Path:
    """A tar with a symlink `data/link` to `target` (absolute, or relative like `../../x`)."""
    return _tar(Path(dest_dir) / "symlink.tar", _link("data/link", target, tarfile.SYMTYPE))


def tar_with_hardlink_out(dest_dir: str | os.PathLike[str], target: str = "../../etc/passwd") -> Path:
    """A tar with a hard link `data/hard` to a file outside the archive."""
    return _tar(Path(dest_dir) / "hardlink.tar", _link("data/hard", target, tarfile.LNKTYPE))


def tar_with_device(dest_dir: str | os.PathLike[str]) -> Path:
    """A tar with a character-device member (like /dev/zero): reading it could hang or read the host."""
    info = tarfile.TarInfo("data/zero")
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 5
    return _tar(Path(dest_dir) / "device.tar", info)


def zip_with_traversal(dest_dir: str | os.PathLike[str]) -> Path:
    """A zip with a member `../evil`."""
    return _zip(Path(dest_dir) / "traversal.zip", zipfile.ZipInfo("../evil"), b"evil\n")


def zip_with_symlink_out(dest_dir: str | os.PathLike[str], target: str = "/etc/passwd") -> Path:
    """A zip with a Unix symlink member `data/link` to `target`."""
    info = zipfile.ZipInfo("data/link")
    info.create_system = 3  # Unix, so external_attr carries the file type
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip(Path(dest_dir) / "symlink.zip", info, target.encode())


def _zip(dest: Path, hostile: zipfile.ZipInfo, data: bytes) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("data/ok.txt", _OK)
        zf.writestr(hostile, data)
    return dest


def truncated_copy(archive: str | os.PathLike[str], dest_dir: str | os.PathLike[str], fraction: float = 0.5) -> Path:
    """A copy of `archive` cut to `fraction` of its size, as an interrupted download leaves it."""
    data = Path(archive).read_bytes()
    dest = Path(dest_dir) / Path(archive).name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data[: int(len(data) * fraction)])
    return dest


class _Call:
    """Pickles as a call of `func(*args)`: what `pickle.load` would execute."""

    def __init__(self, func: Any, args: tuple[Any, ...]):
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def malicious_pickle(marker: str | os.PathLike[str], *, via: Literal["open", "system"] = "open") -> bytes:
    """A CIFAR-looking pickle whose loading would create the file `marker`.

    `via="open"` calls `builtins.open(marker, "w")`; `via="system"` runs `touch marker` through `os.system`.
    The payload hides inside the dict, as a real attack would.
    """
    path = os.fspath(marker)
    call = _Call(open, (path, "w")) if via == "open" else _Call(os.system, (f"touch {shlex.quote(path)}",))
    return pickle.dumps({"batch_label": "training batch 1 of 5", "labels": [0], "data": call}, protocol=2)


def targz_with_zero_padded_member(
    dest: str | os.PathLike[str], members: Mapping[str, bytes], padded: str, size: int
) -> Path:
    """A tar.gz of `members` (name → bytes, in order) whose member `padded` is its bytes then zeros up
    to `size` bytes: a few MB on disk declaring gigabytes, like a pickle padded past its STOP.

    One gzip stream, built in seconds: the deflate of a MiB of zeros after a full flush is the same
    bytes every time, so it is computed once and repeated.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    crc, total = 0, 0
    with open(dest, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff")

        def put(data: bytes) -> None:
            nonlocal crc, total
            out.write(deflate.compress(data))
            crc, total = zlib.crc32(data, crc), total + len(data)

        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = (size if name == padded else len(data)), 0
            put(info.tobuf(format=tarfile.GNU_FORMAT) + data)
            zeros = (size - len(data) if name == padded else 0) + (-info.size % tarfile.BLOCKSIZE)
            if zeros >> 20:
                chunk = bytes(1 << 20)
                out.write(deflate.flush(zlib.Z_FULL_FLUSH))
                repeated = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
                for _ in range(zeros >> 20):
                    out.write(repeated)
                    crc = zlib.crc32(chunk, crc)
                total += zeros >> 20 << 20
            put(bytes(zeros & ((1 << 20) - 1)))
        put(bytes(2 * tarfile.BLOCKSIZE))
        out.write(deflate.flush())
        out.write(struct.pack("<II", crc, total & 0xFFFFFFFF))
    return dest
