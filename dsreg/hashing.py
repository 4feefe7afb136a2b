"""Hash a file while it is being read, whatever the access pattern, so verifying costs no extra pass.

`HashingReader` wraps a binary file and feeds each byte to sha256 and md5 the first time any read
reaches it: forward seeks hash the bytes they skip, backward seeks (a gzip rewinding) re-read
nothing into the hash. `finish()` hashes whatever was never reached and returns the digests.
`Digests(threaded=True)` hashes on background threads, one per algorithm (hashlib releases the GIL), so
it overlaps the parsing that reads the bytes and md5, the slowest, alone sets the pace; `FollowingHasher`
hashes a file that other processes are reading, a bounded distance behind or ahead of them, so the bytes
come from the page cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
from typing import Any, BinaryIO

from dsreg.rawio import ReadOnlyRaw

CHUNK = 1 << 20
_COALESCE = 1 << 20  # small pieces (tar headers) are gathered up to this size before going to the thread
_IN_FLIGHT = 64 << 20  # the most bytes handed to the hashing thread and not yet hashed


class _HashThread:
    """One digest computed on a thread of its own from the blocks `put` to it, at most about _IN_FLIGHT bytes
    behind the feeder (a fed block is kept referenced until it is hashed)."""

    def __init__(self, digest: Any):
        self.digest = digest
        self.error: BaseException | None = None
        self._queue: queue.Queue[tuple[Any, int] | None] = queue.Queue()
        self._room = threading.Semaphore(_IN_FLIGHT // _COALESCE)
        self._thread = threading.Thread(target=self._run, name=f"dsreg-hash-{digest.name}", daemon=True)
        self._thread.start()

    def put(self, block: Any) -> None:
        # a permit stands for up to _COALESCE bytes, so at most about _IN_FLIGHT bytes wait for the thread
        permits = max(1, min(len(block) // _COALESCE, _IN_FLIGHT // _COALESCE))
        for _ in range(permits):
            self._room.acquire()
        self._queue.put((block, permits))

    def end(self) -> None:
        """Let the thread end after the blocks put so far (`join` waits for it)."""
        self._queue.put(None)

    def join(self) -> None:
        """Wait for the thread `end`ed; raise what it failed with, if anything."""
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            block, permits = item
            try:
                if self.error is None:
                    self.digest.update(block)
            except BaseException as err:  # handed to the caller of join
                self.error = err
            finally:
                for _ in range(permits):
                    self._room.release()


class Digests:
    """sha256 and md5 (or only `algorithms`) of a byte stream fed in order; with `threaded`, each algorithm is
    hashed on a background thread of its own, so md5 (sequential, the slowest) alone sets the pace."""

    def __init__(self, *, threaded: bool = False, algorithms: tuple[str, ...] = ("sha256", "md5")):
        self._hashes = {name: hashlib.new(name, usedforsecurity=name != "md5") for name in algorithms}
        self._threaded = threaded
        self._small = bytearray()
        self._threads: list[_HashThread] = []

    def update(self, block: Any) -> None:
        """Hash `block` next (it must not change afterwards: bytes, or a view of bytes)."""
        if not self._threaded:
            for digest in self._hashes.values():
                digest.update(block)
        elif len(block) < _COALESCE:
            self._small += block
            if len(self._small) >= _COALESCE:
                self._send(bytes(self._small))
                self._small.clear()
        else:
            if self._small:
                self._send(bytes(self._small))
                self._small.clear()
            self._send(block)

    def hexdigests(self) -> dict[str, str]:
        """Wait for the hashing threads, if any, and return the digests of everything fed."""
        if self._small:
            self._send(bytes(self._small))
            self._small.clear()
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.end()
        for thread in threads:
            thread.join()
        return {name: digest.hexdigest() for name, digest in self._hashes.items()}

    def close(self) -> None:
        """Stop the hashing threads, if any, without waiting for the digests (they are abandoned)."""
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.end()

    def _send(self, block: Any) -> None:
        if not self._threads:
            self._threads = [_HashThread(digest) for digest in self._hashes.values()]
        for thread in self._threads:
            thread.put(block)


class HashingReader(ReadOnlyRaw):
    """A read-only, seekable view of `raw` that hashes every byte once, in file order.

    `high_water` is the furthest byte any read has reached (what a reader of this file has consumed).
    """

    def __init__(self, raw: BinaryIO, *, threaded: bool = False):
        super().__init__()
        self._raw = raw
        self._pos = 0
        self._hashed = 0  # bytes [0, _hashed) are in the digests
        self._digests = Digests(threaded=threaded)
        self.high_water = 0

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
        self.high_water = max(self.high_water, end)
        return data

    def finish(self) -> dict[str, str]:
        """Hash the bytes no read has reached yet; the sha256 and md5 of the whole file."""
        self._raw.seek(self._hashed)
        while block := self._raw.read(CHUNK):
            self._update(block)
        self._raw.seek(self._pos)
        return self._digests.hexdigests()

    def close(self) -> None:
        self._digests.close()
        self._raw.close()
        super().close()

    def _catch_up(self, target: int) -> None:
        """Hash the bytes between what is hashed and `target` (a forward seek skips over them)."""
        self._raw.seek(self._hashed)
        while self._hashed < target and (block := self._raw.read(min(CHUNK, target - self._hashed))):
            self._update(block)

    def _update(self, block: bytes | memoryview) -> None:
        self._digests.update(block)
        self._hashed += len(block)


class FollowingHasher:
    """Hash a whole file on a background thread, never more than `window` bytes past `advance`'s mark (and
    nothing before the first `advance`, so a file the readers have not reached yet stays unread).

    For a file that worker processes read piece by piece (roughly in file order): the main process
    advances the mark as they report progress, so the hasher reads what they just read (or are about to
    read) from the page cache and the storage serves each byte once, even for files larger than memory.
    """

    def __init__(self, path: str | os.PathLike[str], window: int = 256 << 20):
        self._path, self._window = path, window
        self._limit = 0
        self._cond = threading.Condition()
        self._digests = Digests(threaded=True)  # md5 and sha256 on threads of their own, beside the reading one
        self._error: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="dsreg-follow-hash", daemon=True)
        self._thread.start()

    def advance(self, offset: int) -> None:
        """The readers have reached byte `offset`: hash up to `offset + window`."""
        with self._cond:
            if offset + self._window > self._limit:
                self._limit = offset + self._window
                self._cond.notify()

    def finish(self) -> dict[str, str]:
        """Hash the rest of the file and return its sha256 and md5 (OSError if it could not be read)."""
        self.advance(1 << 62)
        self._thread.join()
        if self._error is not None:
            self._digests.close()
            raise self._error
        return self._digests.hexdigests()

    def stop(self) -> None:
        """Give up (the readers failed): the thread ends without reading further. Harmless after `finish`."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join()
        self._digests.close()

    def _run(self) -> None:
        try:
            with open(self._path, "rb", buffering=0) as f:
                position = 0
                while True:
                    with self._cond:
                        while position >= self._limit and not self._stopped:
                            self._cond.wait()
                        if self._stopped:
                            return
                        allowed = self._limit - position
                    buffer = bytearray(min(CHUNK * 8, allowed))  # a fresh one: the hashing threads hold the last
                    n = f.readinto(buffer)
                    if not n:
                        return
                    self._digests.update(memoryview(buffer)[:n])
                    position += n
        except BaseException as err:  # handed to the caller of finish
            self._error = err
