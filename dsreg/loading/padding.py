"""Padding ragged batches (object arrays of 1-D arrays) into dense 2-D arrays, in one vectorized copy."""

from __future__ import annotations

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
