"""One column of many record batches as one gather source: a batch of rows is one fancy index (fixed-shape
columns) or two and a cut per row (text, encoded images, sequences of numbers), however many shards it touches.

Each record batch's column is a row-contiguous numpy view of a memory-mapped shard. `JoinedColumn` spans
the address range of all of them with one private, read-only numpy array whose items are whole rows
(``V<row bytes>``) at a stride of one byte, so a row starting at any byte of any mapping is one item. A batch
is then one ``searchsorted`` (row → record batch), one multiply-add (→ the row's first byte) and one fancy
index that copies every row straight into its place in a fresh array: no grouping by shard, no second pass
to restore the request's order, and the same cost for one shard or hundreds.

The spanning array also covers the unmapped gaps between mappings, so it is never read whole: it is indexed
only at the first byte of a stored row, computed from row numbers the dataset has already checked, and only
with fancy indexing (``np.take`` would first copy it into a contiguous array). It holds the views, so the
mappings outlive it. `JoinedRagged` applies the same to the offsets of ragged columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

_MAX_BYTES = 1 << 62  # numpy refuses arrays whose items span more bytes than an intp holds
_GATHERED_BYTES = 1024  # bytes/text rows longer than this on average (encoded images) are copied row by
# row: one memcpy each beats a byte-by-byte fancy index and its 8-byte position per byte


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
        items = high - low - self._row_bytes + 1
        self._span: np.ndarray = np.asarray(_Span(views, low, items, f"|V{self._row_bytes}", 1))

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


class JoinedRagged:
    """A column of text, encoded images or sequences of numbers over several record batches as one gather
    source: each row's first and last value offsets are gathered for the whole batch by two `JoinedColumn`s over
    the record batches' offsets, then every row's values are gathered by one fancy index over all the batches'
    values and cut into its numbers, its bytes, or its bytes decoded as UTF-8 (`kind` ``"elements"``,
    ``"bytes"`` or ``"text"``; bytes and text through one Arrow array), as one record batch's column converts;
    values that cannot be spanned, and long bytes or text rows (encoded images), are cut row by row from their
    own batch. Numbers are copied (a batch's rows are views of one fresh array), never views of the mapped
    values: those are read-only, and a tensor made from one would crash the process when written."""

    KINDS = ("elements", "bytes", "text")

    def __init__(
        self, kind: str, begins: JoinedColumn, ends: JoinedColumn, values: list[np.ndarray], starts: np.ndarray
    ):
        """Use `join`."""
        self._kind, self._begins, self._ends, self._values, self._starts = kind, begins, ends, values, starts
        self._sizes = np.asarray([len(v) for v in values], dtype=np.int64)
        self._elements = _elements(values)

    @classmethod
    def join(
        cls, kind: str, offsets: Sequence[np.ndarray], values: Sequence[np.ndarray], starts: Sequence[int]
    ) -> JoinedRagged | None:
        """Join record batches given as their int64 offsets (rows + 1 each) and the 1-D values those index
        (batch ``i`` holds rows ``starts[i]`` on, in order); None where the offsets cannot be joined. A row is
        sliced from its batch's values, so a wrong offset gives a short row, never a read outside them."""
        if kind not in cls.KINDS:
            raise ValueError(f"kind must be one of {cls.KINDS}, got {kind!r}")
        kept = [(o, v, int(s)) for o, v, s in zip(offsets, values, starts, strict=True) if len(o) > 1]
        begins = JoinedColumn.join([o[:-1] for o, _, _ in kept], [s for _, _, s in kept])
        ends = JoinedColumn.join([o[1:] for o, _, _ in kept], [s for _, _, s in kept])
        if begins is None or ends is None:
            return None
        return cls(kind, begins, ends, [v for _, v, _ in kept], np.asarray([s for _, _, s in kept], dtype=np.int64))

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (int64) as an object array (arrays, bytes or str); IndexError for a row no batch holds."""
        rows = np.asarray(rows, dtype=np.int64)
        begins, ends = self._begins.take(rows), self._ends.take(rows)
        pieces = np.searchsorted(self._starts, rows, side="right") - 1
        out = np.empty(len(rows), dtype=object)
        blobs = self._kind != "elements" and int((ends - begins).sum()) > _GATHERED_BYTES * len(rows)
        if self._elements is not None and not blobs:
            flat, stops = self._gather_elements(pieces, begins, ends)
            if self._kind == "elements":
                start = 0
                for i, stop in enumerate(stops.tolist()):  # one by one: numpy would stack equal-length rows
                    out[i] = flat[start:stop]
                    start = stop
            else:  # the batch's bytes as one Arrow array: its rows become bytes or str (UTF-8 checked) in C
                offsets = np.zeros(len(rows) + 1, dtype=np.int64)
                offsets[1:] = stops
                kind = pa.large_string() if self._kind == "text" else pa.large_binary()
                joined = pa.Array.from_buffers(kind, len(rows), [None, pa.py_buffer(offsets), pa.py_buffer(flat)])
                out[:] = joined.to_pylist()
            return out
        values = self._values
        cuts = zip(pieces.tolist(), begins.tolist(), ends.tolist(), strict=True)
        if self._kind == "elements":  # values that cannot be spanned: a copy per row
            for i, (p, b, e) in enumerate(cuts):
                out[i] = values[p][b:e].copy()
        elif self._kind == "bytes":
            out[:] = [values[p][b:e].tobytes() for p, b, e in cuts]
        else:
            out[:] = [values[p][b:e].tobytes().decode("utf-8") for p, b, e in cuts]
        return out

    def _gather_elements(
        self, pieces: np.ndarray, begins: np.ndarray, ends: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows' values as one fresh array (one fancy index over every batch's values) and where each row
        ends in it; offsets are clipped to their batch's values, so a wrong one gives a short row."""
        assert self._elements is not None
        span, first = self._elements
        ends = np.clip(ends, 0, self._sizes[pieces])
        begins = np.clip(begins, 0, ends)
        lengths = ends - begins
        stops = np.cumsum(lengths)
        total = int(stops[-1]) if stops.size else 0
        positions = np.repeat(first[pieces] + begins - (stops - lengths), lengths) + np.arange(total, dtype=np.int64)
        return span[positions], stops


def _elements(values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """One typed array spanning every batch's 1-D values, and where each batch's values start in it; None where
    they differ in dtype, are strided, or do not lie a whole number of items apart."""
    dtype = values[0].dtype
    if dtype.hasobject or any(v.dtype != dtype or v.ndim != 1 or not v.flags.c_contiguous for v in values):
        return None
    low = min(v.ctypes.data for v in values)
    high = max(v.ctypes.data + v.nbytes for v in values)
    if any((v.ctypes.data - low) % dtype.itemsize for v in values):
        return None
    first = np.asarray([(v.ctypes.data - low) // dtype.itemsize for v in values], dtype=np.int64)
    span = np.asarray(_Span(values, low, (high - low) // dtype.itemsize, dtype.str, dtype.itemsize))
    return span, first


class _Span:
    """The array interface of `items` items of type `typestr`, `stride` bytes apart from address `low`; holds
    `views`, so the memory it describes stays mapped as long as an array made from it lives."""

    def __init__(self, views: list[np.ndarray], low: int, items: int, typestr: str, stride: int):
        self.views = views
        self.__array_interface__ = {
            "version": 3,
            "shape": (items,),
            "typestr": typestr,
            "data": (low, True),
            "strides": (stride,),
        }
