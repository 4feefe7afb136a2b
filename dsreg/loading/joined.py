"""One fixed-shape column of many record batches as one gather source: a batch of rows is one fancy index,
however many shards it touches.

Each record batch's column is a row-contiguous numpy view of a memory-mapped shard. `JoinedColumn` spans
the address range of all of them with one private, read-only numpy array whose items are whole rows
(``V<row bytes>``) at a stride of one byte, so a row starting at any byte of any mapping is one item. A batch
is then one ``searchsorted`` (row → record batch), one multiply-add (→ the row's first byte) and one fancy
index that copies every row straight into its place in a fresh array: no grouping by shard, no second pass
to restore the request's order, and the same cost for one shard or hundreds.

The spanning array also covers the unmapped gaps between mappings, so it is never read whole: it is indexed
only at the first byte of a stored row, computed from row numbers the dataset has already checked, and only
with fancy indexing (``np.take`` would first copy it into a contiguous array). It holds the views, so the
mappings outlive it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

_MAX_BYTES = 1 << 62  # numpy refuses arrays whose items span more bytes than an intp holds


class JoinedColumn:
    """The rows of one fixed-shape column over several record batches, each given as a numpy view."""

    def __init__(self, views: list[np.ndarray], starts: np.ndarray):
        """Use `join`, which checks that the views can be joined."""
        first = views[0]
        self._starts = starts
        self._begin, self._end = int(starts[0]), int(starts[-1]) + len(views[-1])
        self._dtype, self._row_shape = first.dtype, first.shape[1:]
        self._row_bytes = first.dtype.itemsize * math.prod(first.shape[1:])
        low = min(v.ctypes.data for v in views)
        high = max(v.ctypes.data + v.nbytes for v in views)
        self._first_byte = np.asarray([v.ctypes.data - low for v in views], dtype=np.int64)
        self._span: np.ndarray = np.asarray(_Span(views, low, high - low - self._row_bytes + 1, self._row_bytes))

    @classmethod
    def join(cls, views: Sequence[np.ndarray], starts: Sequence[int]) -> JoinedColumn | None:
        """Join `views` (record batch ``i`` holds rows ``starts[i]`` on, in order) or return None where they
        cannot be: a view that is not C-contiguous, rows of different shapes or dtypes, object or empty rows,
        or an address range too large for one numpy array."""
        kept = [(v, int(s)) for v, s in zip(views, starts, strict=True) if len(v)]
        if not kept:
            return None
        first = kept[0][0]
        row_bytes = first.dtype.itemsize * math.prod(first.shape[1:])
        if row_bytes == 0 or first.dtype.hasobject:
            return None
        ends = [start + len(view) for view, start in kept]
        if any(end != start for end, (_, start) in zip(ends, kept[1:], strict=False)):
            raise ValueError(f"the record batches' rows must follow each other, got starts {[s for _, s in kept]}")
        for view, _ in kept:
            if view.dtype != first.dtype or view.shape[1:] != first.shape[1:] or not view.flags.c_contiguous:
                return None
        low = min(v.ctypes.data for v, _ in kept)
        high = max(v.ctypes.data + v.nbytes for v, _ in kept)
        if (high - low) * row_bytes >= _MAX_BYTES:
            return None
        return cls([v for v, _ in kept], np.asarray([s for _, s in kept], dtype=np.int64))

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (int64) as a fresh ``(n, *shape)`` array; IndexError for a row no record batch holds
        (checked here too: a wrong row would read whatever lies at its address)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (int(rows.min()) < self._begin or int(rows.max()) >= self._end):
            raise IndexError(f"rows must lie in [{self._begin}, {self._end})")
        piece = np.searchsorted(self._starts, rows, side="right") - 1
        offsets = rows - self._starts[piece]
        offsets *= self._row_bytes
        offsets += self._first_byte[piece]
        gathered: np.ndarray = self._span[offsets]
        return gathered.view(self._dtype).reshape(len(rows), *self._row_shape)


class _Span:
    """The array interface of `items` rows of `row_bytes` bytes starting at every byte from address `low`;
    holds `views`, so the memory it describes stays mapped as long as an array made from it lives."""

    def __init__(self, views: list[np.ndarray], low: int, items: int, row_bytes: int):
        self.views = views
        self.__array_interface__ = {
            "version": 3,
            "shape": (items,),
            "typestr": f"|V{row_bytes}",
            "data": (low, True),
            "strides": (1,),
        }
