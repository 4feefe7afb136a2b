"""A base for the raw read-only streams dsreg wraps around files: subclasses implement `read`, and `readall` and
`readinto` go through it, so every byte passes the subclass's checks (hashing, error naming, range bounds)."""

from __future__ import annotations

import io
from typing import Any


class ReadOnlyRaw(io.RawIOBase):
    """A readable raw stream whose only source of bytes is the subclass's `read`."""

    def readable(self) -> bool:
        return True

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
