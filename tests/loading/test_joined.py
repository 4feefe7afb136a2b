"""One gather source over many record batches: the rows of any selection, in its order, from separate memory."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from dsreg.loading.joined import JoinedColumn, JoinedRagged

SHAPES = [("uint8", (4, 4, 3)), ("float32", (5,)), ("int64", ()), (">u2", (2, 3))]


def separate_views(dtype: str, shape: tuple[int, ...], sizes: list[int]) -> list[np.ndarray]:
    """Record batches in separate allocations, made last first (so later rows need not lie at higher
    addresses); a row's first value is its number (below 251)."""
    firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    views: list[np.ndarray] = [np.empty(0)] * len(sizes)
    for i in reversed(range(len(sizes))):
        per_row = int(np.prod(shape, dtype=np.int64))
        rows = np.arange(firsts[i], firsts[i] + sizes[i])[:, None] + 7 * np.arange(per_row)  # row r starts with r
        views[i] = (rows % 251).astype(dtype).reshape(sizes[i], *shape)
    return views


def starts_of(views: list[np.ndarray], begin: int = 0) -> list[int]:
    return np.concatenate([[begin], begin + np.cumsum([len(v) for v in views])[:-1]]).astype(int).tolist()


@pytest.mark.parametrize(("dtype", "shape"), SHAPES)
def test_any_selection_comes_back_in_its_order_as_a_fresh_array(dtype: str, shape: tuple[int, ...]) -> None:
    views = separate_views(dtype, shape, [7, 1, 0, 30, 12])
    reference = np.concatenate(views)
    joined = JoinedColumn.join(views, starts_of(views))
    assert joined is not None
    rng = np.random.default_rng(1)
    for rows in (rng.integers(0, len(reference), 100), np.arange(len(reference))[::-1], np.array([8, 8, 0, 49])):
        out = joined.take(rows)
        assert out.dtype == np.dtype(dtype) and out.shape == (len(rows), *shape)
        np.testing.assert_array_equal(out, reference[rows])
        assert out.flags.writeable and out.flags.c_contiguous and out.flags.aligned
        assert not any(np.shares_memory(out, v) for v in views)
    out = joined.take(np.array([3, 3]))
    out[0] = 0  # writing a batch changes neither the stored rows nor the next batch
    np.testing.assert_array_equal(joined.take(np.array([3])), reference[[3]])
    assert joined.take(np.zeros(0, dtype=np.int64)).shape == (0, *shape)


def test_rows_outside_the_batches_are_refused_not_read() -> None:
    views = separate_views("uint8", (8,), [5, 5])
    joined = JoinedColumn.join(views, starts_of(views, begin=100))
    assert joined is not None
    np.testing.assert_array_equal(joined.take(np.array([100, 109])), np.concatenate(views)[[0, 9]])
    for bad in ([99], [110], [-1], [100, 2**40]):
        with pytest.raises(IndexError, match=r"\[100, 110\)"):
            joined.take(np.array(bad))


def test_the_views_stay_alive_as_long_as_the_joined_column() -> None:
    views = separate_views("int64", (16,), [40, 40, 40])
    expected = np.concatenate(views)
    joined = JoinedColumn.join(views, starts_of(views))
    del views
    gc.collect()
    _churn = [np.full((40, 16), -1, dtype=np.int64) for _ in range(50)]  # reuse any memory that was freed
    assert joined is not None
    np.testing.assert_array_equal(joined.take(np.arange(120)), expected)


def test_views_that_cannot_be_joined_are_declined() -> None:
    base = [np.zeros((4, 6), np.uint8), np.zeros((4, 6), np.uint8)]
    assert JoinedColumn.join(base, [0, 4]) is not None
    assert JoinedColumn.join([base[0], base[1][:, ::2]], [0, 4]) is None  # rows not contiguous
    assert JoinedColumn.join([base[0][:, :3], base[1][:, :3]], [0, 4]) is None  # rows strided inside a batch
    assert JoinedColumn.join([base[0], base[1].astype(np.int16)], [0, 4]) is None  # dtypes differ
    assert JoinedColumn.join([base[0], np.zeros((4, 5), np.uint8)], [0, 4]) is None  # row shapes differ
    assert JoinedColumn.join([np.zeros((4, 0), np.uint8)], [0]) is None  # empty rows
    assert JoinedColumn.join([np.empty((3,), object)], [0]) is None
    assert JoinedColumn.join([np.zeros((0, 6), np.uint8)], [0]) is None  # no rows at all
    with pytest.raises(ValueError, match="follow each other"):
        JoinedColumn.join(base, [0, 5])  # a gap: row 4 would be read past the first batch


def ragged_batches(rows: list[bytes], cuts: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`rows` split into record batches at `cuts`: each batch's int64 offsets and its values as uint8."""
    offsets, values = [], []
    for lo, hi in zip([0, *cuts], [*cuts, len(rows)], strict=True):
        part = rows[lo:hi]
        offsets.append(np.concatenate([[0], np.cumsum([len(r) for r in part])]).astype(np.int64))
        values.append(np.frombuffer(b"".join(part), dtype=np.uint8).copy())
    return offsets, values


def test_ragged_rows_come_back_cut_from_their_own_batch() -> None:
    texts = [f"row {i} é€{'✓' * (i % 4)}" if i % 7 else "" for i in range(60)]
    encoded = [t.encode() for t in texts]
    offsets, values = ragged_batches(encoded, [10, 11, 11, 40])  # an empty batch among them
    starts = [0, 10, 11, 11, 40]
    rows = np.random.default_rng(4).integers(0, 60, 200)
    text = JoinedRagged.join("text", offsets, values, starts)
    blobs = JoinedRagged.join("bytes", offsets, values, starts)
    assert text is not None and blobs is not None
    assert text.take(rows).tolist() == [texts[r] for r in rows]
    assert blobs.take(rows).tolist() == [encoded[r] for r in rows]
    numbers = [np.arange(i % 5, dtype=np.int32) + i for i in range(60)]
    offsets = [
        np.concatenate([[0], np.cumsum([len(r) for r in numbers[lo:hi]])]).astype(np.int64)
        for lo, hi in [(0, 10), (10, 11), (11, 11), (11, 40), (40, 60)]
    ]
    values = [
        np.concatenate(numbers[lo:hi]) if hi > lo else np.zeros(0, np.int32)
        for lo, hi in [(0, 10), (10, 11), (11, 11), (11, 40), (40, 60)]
    ]
    sequences = JoinedRagged.join("elements", offsets, values, starts)
    assert sequences is not None
    got = sequences.take(rows)
    assert got.dtype == object and len(got) == len(rows)
    for row, value in zip(rows, got, strict=True):
        assert value.dtype == np.int32 and value.tolist() == numbers[row].tolist()
    same_length = sequences.take(np.array([1, 6, 1]))  # equal lengths: still one 1-D array per row, not a 2-D stack
    assert same_length.shape == (3,) and [v.tolist() for v in same_length] == [[1], [6], [1]]
    with pytest.raises(IndexError):
        sequences.take(np.array([60]))
    with pytest.raises(ValueError, match="kind"):
        JoinedRagged.join("audio", offsets, values, starts)


def test_sequence_rows_are_fresh_writable_arrays_not_views_of_the_stored_values() -> None:
    numbers = [np.arange(i % 4, dtype=np.int64) + i for i in range(20)]
    offsets, values = [], []
    for lo, hi in [(0, 8), (8, 20)]:
        offsets.append(np.concatenate([[0], np.cumsum([len(r) for r in numbers[lo:hi]])]).astype(np.int64))
        stored = np.concatenate(numbers[lo:hi])
        stored.setflags(write=False)  # as a memory-mapped shard's values are
        values.append(stored)
    sequences = JoinedRagged.join("elements", offsets, values, [0, 8])
    assert sequences is not None
    got = sequences.take(np.array([3, 9, 3, 15]))
    assert all(row.flags.writeable and not any(np.shares_memory(row, v) for v in values) for row in got)
    got[0] += 100  # a user's in-place edit changes neither the stored rows nor the other rows of the batch
    assert got[2].tolist() == numbers[3].tolist() == sequences.take(np.array([3]))[0].tolist()
    assert sequences.take(np.zeros(0, np.int64)).shape == (0,)


def test_sequence_values_that_cannot_be_spanned_are_copied_row_by_row() -> None:
    strided = np.arange(40, dtype=np.int32)[::2]  # every other number: not contiguous
    contiguous = np.arange(100, 110, dtype=np.int32)
    offsets = [np.array([0, 3, 20], dtype=np.int64), np.array([0, 10], dtype=np.int64)]
    sequences = JoinedRagged.join("elements", offsets, [strided, contiguous], [0, 2])
    assert sequences is not None
    got = sequences.take(np.array([2, 0, 1]))
    assert [g.tolist() for g in got] == [list(range(100, 110)), [0, 2, 4], list(range(6, 40, 2))]
    assert all(g.flags.writeable and not np.shares_memory(g, strided) for g in got)


def test_text_rows_are_checked_as_utf8_on_both_paths() -> None:
    """Bytes that are not UTF-8 fail a text read whether the batch is gathered at once (contiguous values) or
    cut row by row (strided values), never turning into other characters."""
    good, bad = "ok é".encode(), b"\xff\xfe"
    offsets = [np.array([0, len(good), len(good) + len(bad)], dtype=np.int64)]
    contiguous = np.frombuffer(good + bad, dtype=np.uint8)
    strided = np.repeat(contiguous, 2)[::2]  # the same bytes, not contiguous
    for values in (contiguous, strided):
        text = JoinedRagged.join("text", offsets, [values], [0])
        blobs = JoinedRagged.join("bytes", offsets, [values], [0])
        assert text is not None and blobs is not None
        assert text.take(np.array([0, 0])).tolist() == ["ok é", "ok é"]
        assert blobs.take(np.array([1, 0])).tolist() == [bad, good]
        with pytest.raises(UnicodeDecodeError):
            text.take(np.array([0, 1]))


def test_long_bytes_and_text_rows_come_back_whole_from_the_row_by_row_copy() -> None:
    """Rows longer than the batch gather's limit (encoded images) are copied one by one, with the same result."""
    rows_text = [("é" * (700 + 300 * i)) + str(i) for i in range(6)]  # 1.4-3 KB each
    encoded = [t.encode() for t in rows_text]
    offsets, values = ragged_batches(encoded, [2])
    text = JoinedRagged.join("text", offsets, values, [0, 2])
    blobs = JoinedRagged.join("bytes", offsets, values, [0, 2])
    assert text is not None and blobs is not None
    order = np.array([5, 0, 3, 3, 1])
    assert text.take(order).tolist() == [rows_text[r] for r in order]
    assert blobs.take(order).tolist() == [encoded[r] for r in order]
