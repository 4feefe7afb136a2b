"""Padding ragged batches into dense arrays, one vectorized copy per ragged axis."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np


def pad_sequences(
    values: np.ndarray, *, pad_value: Any = 0, dtype: np.dtype[Any] | str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(padded, lengths)``: a ``(batch, max_len)`` array right-padded with `pad_value`, and each row's length."""
    rows = [np.asarray(v).reshape(-1) for v in values]
    lengths = np.fromiter((r.size for r in rows), dtype=np.int64, count=len(rows))
    out_dtype = np.dtype(dtype) if dtype is not None else (rows[0].dtype if rows else np.dtype(np.int64))
    width = int(lengths.max()) if rows else 0
    padded = np.full((len(rows), width), pad_value, dtype=out_dtype)
    if width:
        padded[np.arange(width) < lengths[:, None]] = np.concatenate(rows)
    return padded, lengths


def pad_ragged(values: np.ndarray, splits: Sequence[np.ndarray], pad_value: Any = 0) -> np.ndarray:
    """Flat ``(N, *shape)`` values with row splits per ragged axis (outermost first) as one dense
    ``(batch, L1, …, Ld, *shape)`` array, right-padded with `pad_value` on every ragged axis."""
    out = values
    for row_splits in reversed(splits):
        lengths = np.diff(row_splits)
        width = int(lengths.max()) if lengths.size else 0
        dense = np.full((lengths.size, width, *out.shape[1:]), pad_value, dtype=out.dtype)
        if width:
            dense[np.arange(width) < lengths[:, None]] = out
        out = dense
    return out


def axis_lengths(splits: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The lengths along each ragged axis, padded like the values: axis k's lengths have shape
    ``(batch, L1, …, L(k-1))`` (zero where an outer axis is padding)."""
    return [pad_ragged(np.diff(splits[k]), splits[:k], 0) for k in range(len(splits))]


def nested_lists(values: np.ndarray, splits: Sequence[np.ndarray]) -> list[Any]:
    """Flat values with row splits as nested python lists (for strings and bytes, which no tensor holds)."""
    out: list[Any] = values.tolist()
    for row_splits in reversed(splits):
        bounds = row_splits.tolist()
        out = [out[a:b] for a, b in itertools.pairwise(bounds)]
    return out


def pad_fits(pad_value: Any, dtype: np.dtype[Any]) -> bool:
    """Whether `dtype` holds `pad_value`: an integer dtype exactly (numpy raises on an int out of range, and truncates
    0.5 or NaN to an int that looks like data), a float dtype to its precision without overflowing (1e10 in
    float16 would pad with inf)."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            fill = np.array(pad_value, dtype=dtype)
    except (OverflowError, ValueError, TypeError):
        return False
    if isinstance(pad_value, float) and np.isnan(pad_value):
        return fill.dtype.kind in "fc" and bool(np.isnan(fill))
    if fill.dtype.kind in "fc":  # rounded to the dtype's precision, but not overflowing to infinity
        return bool(np.isfinite(fill)) == bool(np.isfinite(np.float64(pad_value)))
    return bool(fill.item() == pad_value)
