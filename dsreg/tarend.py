"""Where a walk over a tar's headers may stop without losing members: at the end-of-archive blocks.

A tar ends with two zero blocks, then zeros up to its record size (10240 bytes for GNU tar). A reader that
stops at the first block that is not a header, as `tarfile` does without a word, would silently drop every
member after a zeroed header or a cut at a member boundary. Both tar walks apply this rule: the listing of
an outer archive (`sourcetree.TarTree`) and the walk of a tar inside one (`readers.tar_of_tars`).
"""

from __future__ import annotations

from collections.abc import Callable

from dsreg.errors import DsregError

BLOCK = 512
_CHUNK = 1 << 20  # bytes of the tail checked per read


def missing_end(size: int) -> str:
    """The problem of a tar that stops after `size` bytes where a header or the end blocks should be."""
    return f"it ends after {size} bytes without the end-of-archive blocks"


def check_end(read: Callable[[int], bytes], at: int, fail: Callable[[str], DsregError]) -> None:
    """A zero block began at byte `at` of a tar, and `read(n)` gives the bytes after it (n of them unless the
    file ends): return if that is the end of the archive, the second zero block and only zeros after it;
    otherwise raise `fail(problem)` (the tar is cut, or a damaged header hides the members after it)."""
    second = read(BLOCK)
    if len(second) < BLOCK:
        raise fail(missing_end(at + BLOCK + len(second)))
    chunk = second
    while chunk:
        if chunk.count(0) != len(chunk):
            raise fail(f"it ends at byte {at} (a damaged header?) yet data follows")
        chunk = read(_CHUNK)
