"""Hash a file while it is being read, whatever the access pattern, so verifying costs no extra pass.

`HashingReader` wraps a binary file and feeds each byte to sha256 and md5 the first time any read
reaches it: forward seeks hash the bytes they skip, backward seeks (a gzip rewinding) re-read
nothing into the hash. `finish()` hashes whatever was never reached and returns the digests.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, BinaryIO

CHUNK = 1 << 20


class HashingReader(io.RawIOBase):
    """A read-only, seekable view of `raw` that hashes every byte once, in file order."""

    def __init__(self, raw: BinaryIO):
        super().__init__()
        self._raw = raw
        self._pos = 0
        self._hashed = 0  # bytes [0, _hashed) are in the digests
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset}.get(whence)
        if target is None:
            target = self._raw.seek(offset, whence)
        if target > self._hashed:
            self._catch_up(target)
        self._pos = self._raw.seek(target)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if self._pos > self._hashed:
            self._catch_up(self._pos)
        data = self._raw.read(-1 if size is None else size)
        end = self._pos + len(data)
        if end > self._hashed:
            self._update(memoryview(data)[self._hashed - self._pos :])
        self._pos = end
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def finish(self) -> dict[str, str]:
        """Hash the bytes no read has reached yet; the sha256 and md5 of the whole file."""
        self._raw.seek(self._hashed)
        while block := self._raw.read(CHUNK):
            self._update(block)
        self._raw.seek(self._pos)
        return {"sha256": self._sha256.hexdigest(), "md5": self._md5.hexdigest()}

    def close(self) -> None:
        self._raw.close()
        super().close()

    def _catch_up(self, target: int) -> None:
        """Hash the bytes between what is hashed and `target` (a forward seek skips over them)."""
        self._raw.seek(self._hashed)
        while self._hashed < target and (block := self._raw.read(min(CHUNK, target - self._hashed))):
            self._update(block)

    def _update(self, block: bytes | memoryview) -> None:
        self._sha256.update(block)
        self._md5.update(block)
        self._hashed += len(block)
