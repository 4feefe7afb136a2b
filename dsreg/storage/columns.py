"""Arrow columns as plain arrays and back: how the chunked formats (zarr, HDF5) store any feature.

Every Arrow column is decomposed into named numpy arrays ("leaves") with rows along the first axis, and a
gather of any rows rebuilds an Arrow array of exactly the column's type, so `Feature.to_numpy` gives the
same numpy batch as from an Arrow shard. The layout, by Arrow type, under a node path `p`:

- a primitive (bool, integers, floats), or a chain of `fixed_size_list`s ending in one: one leaf `p` of
  shape ``(units, width)`` (``(units,)`` for a bare primitive; ``(rows, *shape)`` for a top-level
  fixed-shape feature such as an image), so a row gather is one indexed read;
- `list` / `large_list`: `p/offsets` (int64, units + 1, starting at 0) and the child at `p/values`;
- `binary` / `string` (and their `large_` forms): `p/offsets` and `p/data` (uint8);
- `fixed_size_list` of anything else: the child at `p/values`, with `list_size` child units per unit;
- `struct`: each field at `p/<field name>`.

Names are percent-quoted (`/`, `%` and `.` escaped). Nesting is arbitrary; nulls are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.types as pt

from dsreg.errors import DsregError

_LIST = (pt.is_list, pt.is_large_list)
_BYTES = (pt.is_binary, pt.is_large_binary, pt.is_string, pt.is_large_string)
_INT32_MAX = 2**31 - 1


class Leaf(Protocol):
    """One stored array, rows along axis 0: a numpy view, an HDF5 dataset's mapped bytes, zarr chunks…"""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Rows `idx` (any order, repeats allowed) as a new array."""
        ...

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop``."""
        ...


Leaves = Callable[[str], Leaf]


def node_name(name: str) -> str:
    """A column or field name as one path component of a stored node."""
    return quote(name, safe="").replace(".", "%2E")


def _is_primitive(t: pa.DataType) -> bool:
    return pt.is_boolean(t) or pt.is_integer(t) or pt.is_floating(t)


def is_fixed(t: pa.DataType) -> bool:
    """Whether `t` is a primitive or a chain of fixed-size lists ending in one (stored as one leaf)."""
    while pt.is_fixed_size_list(t):
        t = t.value_type
    return _is_primitive(t)


def _chain(t: pa.DataType) -> tuple[list[pa.DataType], pa.DataType]:
    """The fixed-size-list types from the outside in, and the primitive at the bottom."""
    lists = []
    while pt.is_fixed_size_list(t):
        lists.append(t)
        t = t.value_type
    return lists, t


def check_type(t: pa.DataType, where: str) -> None:
    """Refuse an Arrow type the decomposition cannot store (before anything is written)."""
    if _is_primitive(t) or any(f(t) for f in _BYTES):
        return
    if pt.is_fixed_size_list(t) or any(f(t) for f in _LIST):
        check_type(t.value_type, where)
        return
    if pt.is_struct(t):
        for field in t:
            check_type(field.type, f"{where}.{field.name}")
        return
    raise DsregError(
        f"column {where} has Arrow type {t}, which the zarr and HDF5 formats cannot store",
        fix="use storage: arrow for this dataset",
    )


def _no_nulls(array: pa.Array, path: str) -> None:
    if array.null_count:
        raise DsregError(f"column {path} has missing values", fix="give every example a value for every feature")


def _offsets(array: pa.Array) -> np.ndarray:
    """The offsets of a list-like or binary array's own rows (its slice), as int64."""
    width = np.int64 if (pt.is_large_list(array.type) or pt.is_large_binary(array.type)) else np.int32
    if pt.is_large_string(array.type):
        width = np.int64
    raw = np.frombuffer(array.buffers()[1], dtype=width, count=array.offset + len(array) + 1)
    return raw[array.offset :].astype(np.int64)


def decompose(
    array: pa.Array,
    path: str,
    out: dict[str, np.ndarray],
    row_shape: Sequence[int] = (),
    offsets: set[str] | None = None,
) -> None:
    """Add the leaves of `array` under `path` to `out` (see the module docstring for the layout); the keys of
    offsets leaves are added to `offsets` when given (an appender rebases them)."""
    _no_nulls(array, path)
    t = array.type
    if is_fixed(t):
        lists, _ = _chain(t)
        flat = array
        for _ in lists:
            flat = flat.flatten()
            _no_nulls(flat, path)
        values = flat.to_numpy(zero_copy_only=False)
        width = int(np.prod([lt.list_size for lt in lists])) if lists else 0
        if row_shape and int(np.prod(row_shape)) == max(width, 1):
            out[path] = values.reshape((len(array), *row_shape))
        else:
            out[path] = values.reshape((len(array), width)) if lists else values
    elif pt.is_fixed_size_list(t):
        decompose(array.flatten(), f"{path}/values", out, offsets=offsets)
    elif any(f(t) for f in _LIST):
        bounds = _offsets(array)
        out[f"{path}/offsets"] = bounds - bounds[0]
        child = array.values.slice(int(bounds[0]), int(bounds[-1] - bounds[0]))
        decompose(child, f"{path}/values", out, offsets=offsets)
        if offsets is not None:
            offsets.add(f"{path}/offsets")
    elif any(f(t) for f in _BYTES):
        bounds = _offsets(array)
        out[f"{path}/offsets"] = bounds - bounds[0]
        buf = array.buffers()[2]
        data = np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, dtype=np.uint8)
        out[f"{path}/data"] = data[int(bounds[0]) : int(bounds[-1])]
        if offsets is not None:
            offsets.add(f"{path}/offsets")
    elif pt.is_struct(t):
        for field, child in zip(t, array.flatten(), strict=True):
            decompose(child, f"{path}/{node_name(field.name)}", out, offsets=offsets)
    else:
        check_type(t, path)


def _assemble(t: pa.DataType, values: np.ndarray) -> pa.Array:
    """The Arrow array of fixed type `t` whose flat values are `values` (rows first)."""
    lists, prim = _chain(t)
    array = pa.array(np.ascontiguousarray(values).reshape(-1), type=prim)
    for lt in reversed(lists):
        array = pa.FixedSizeListArray.from_arrays(array, type=lt)
    return array


def ranges_to_indices(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, e)`` for each range, vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(total, dtype=np.int64)


def gather_ranges(leaf: Leaf, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Rows ``s:e`` of `leaf` for each range, concatenated: slices for long ranges, one gather for short ones."""
    total = int((ends - starts).sum())
    if total == 0:
        return leaf.read(0, 0)
    if total >= 64 * len(starts):
        out = np.concatenate([leaf.read(int(s), int(e)) for s, e in zip(starts, ends, strict=True)])
        if len(out) != total:  # a slice past the end is silently short: never rebuild a column from it
            raise IndexError(f"ranges up to {int(ends.max())} exceed a stored array of {leaf.shape[0]} rows")
        return out
    return leaf.take(ranges_to_indices(starts, ends))


def _new_offsets(starts: np.ndarray, ends: np.ndarray, t: pa.DataType, path: str) -> pa.Buffer:
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(ends - starts, out=offsets[1:])
    if not (pt.is_large_list(t) or pt.is_large_binary(t) or pt.is_large_string(t)):
        if offsets[-1] > _INT32_MAX:
            raise DsregError(f"a gather of column {path} exceeds 2 GiB", fix="read fewer rows at a time")
        offsets = offsets.astype(np.int32)
    return pa.py_buffer(offsets)


def take(t: pa.DataType, leaves: Leaves, path: str, idx: np.ndarray) -> pa.Array:
    """Units `idx` of the node of type `t` stored under `path`, as an Arrow array of type `t`."""
    if is_fixed(t):
        return _assemble(t, leaves(path).take(idx))
    if pt.is_fixed_size_list(t):
        n = t.list_size
        child_idx = (idx[:, None] * n + np.arange(n, dtype=np.int64)).reshape(-1)
        return pa.FixedSizeListArray.from_arrays(take(t.value_type, leaves, f"{path}/values", child_idx), type=t)
    if pt.is_struct(t):
        children = [take(f.type, leaves, f"{path}/{node_name(f.name)}", idx) for f in t]
        return pa.StructArray.from_arrays(children, fields=list(t))
    offsets = leaves(f"{path}/offsets")
    starts, ends = offsets.take(idx), offsets.take(idx + 1)
    new = _new_offsets(starts, ends, t, path)
    if any(f(t) for f in _LIST):
        child = take_ranges(t.value_type, leaves, f"{path}/values", starts, ends)
        return pa.Array.from_buffers(t, len(idx), [None, new], children=[child])
    if any(f(t) for f in _BYTES):
        data = gather_ranges(leaves(f"{path}/data"), starts, ends)
        return pa.Array.from_buffers(t, len(idx), [None, new, pa.py_buffer(np.ascontiguousarray(data))])
    raise DsregError(f"column {path} has Arrow type {t}, which this format cannot read", fix="re-prepare as arrow")


def take_ranges(t: pa.DataType, leaves: Leaves, path: str, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """Units ``s:e`` for each range, concatenated, as an Arrow array of type `t`."""
    if is_fixed(t):
        return _assemble(t, gather_ranges(leaves(path), starts, ends))
    return take(t, leaves, path, ranges_to_indices(starts, ends))
