"""Arrow columns decomposed into plain arrays and gathered back: every supported type, any nesting."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dsreg import DsregError
from dsreg.storage.chunked import ArrayLeaf
from dsreg.storage.columns import check_type, decompose, gather_ranges, ranges_to_indices, take, take_ranges

POINT = pa.list_(pa.int16(), 2)
ALIGNMENT = pa.struct(
    [
        pa.field("start", pa.float32()),
        pa.field("phone/name.x", pa.large_string()),
        pa.field("points", pa.large_list(POINT)),
        pa.field("pair", pa.list_(pa.large_list(pa.uint8()), 2)),
        pa.field("flag", pa.bool_()),
    ]
)
NESTED = pa.large_list(ALIGNMENT)


def _nested_values(n: int) -> list:
    return [
        [
            {
                "start": float(j) / 3,
                "phone/name.x": "é" * j,
                "points": [[k, -k] for k in range((i + j) % 3)],
                "pair": [[1] * j, [2] * (i % 3)],
                "flag": bool((i + j) % 2),
            }
            for j in range(i % 4)
        ]
        for i in range(n)
    ]


CASES = {
    "nested struct list": (_nested_values(60), NESTED),
    "list of lists": ([[[j] * (j % 3) for j in range(i % 5)] for i in range(60)], pa.large_list(pa.list_(pa.int32()))),
    "fixed list of structs": (
        [[{"a": i, "b": str(i)}, {"a": -i, "b": ""}] for i in range(60)],
        pa.list_(pa.struct([("a", pa.int64()), ("b", pa.string())]), 2),
    ),
    "binary": ([bytes(range(i % 11)) for i in range(60)], pa.binary()),
    "tensor": ([[[i, i + 1, i + 2], [-i, 0, 1]] for i in range(60)], pa.list_(pa.list_(pa.float64(), 3), 2)),
    "bools": ([bool(i % 3) for i in range(60)], pa.bool_()),
    "halves": ([i / 4 for i in range(60)], pa.float16()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_any_rows_of_any_supported_type_come_back_exactly(case: str) -> None:
    values, t = CASES[case]
    array = pa.array(values, type=t).slice(5, 50)  # a slice: offsets into the parent's buffers
    leaves: dict[str, np.ndarray] = {}
    decompose(array, "col", leaves)
    stored = {k: ArrayLeaf(v) for k, v in leaves.items()}
    idx = np.asarray([49, 0, 7, 7, 3, 12, 0], dtype=np.int64)
    got = take(t, stored.__getitem__, "col", idx)
    assert got.type == t
    assert got.to_pylist() == [array[int(i)].as_py() for i in idx]
    whole = take_ranges(t, stored.__getitem__, "col", np.asarray([10]), np.asarray([30]))
    assert whole.to_pylist() == array.slice(10, 20).to_pylist()
    assert take(t, stored.__getitem__, "col", np.zeros(0, dtype=np.int64)).to_pylist() == []


def test_names_with_slashes_and_dots_become_one_path_component() -> None:
    leaves: dict[str, np.ndarray] = {}
    decompose(pa.array(_nested_values(10), type=NESTED), "col", leaves)
    assert "col/values/phone%2Fname%2Ex/data" in leaves


def test_missing_values_and_unstorable_types_are_refused() -> None:
    with pytest.raises(DsregError, match="missing values"):
        decompose(pa.array([1, None, 3], type=pa.int64()), "label", {})
    with pytest.raises(DsregError, match="cannot store"):
        check_type(pa.dictionary(pa.int8(), pa.string()), "name")


def test_ranges_to_indices_concatenates_aranges() -> None:
    got = ranges_to_indices(np.asarray([5, 0, 9]), np.asarray([8, 0, 10]))
    assert got.tolist() == [5, 6, 7, 9]


def test_ranges_past_a_short_array_are_an_error_not_a_short_column() -> None:
    leaf = ArrayLeaf(np.arange(100, dtype=np.uint8))
    assert gather_ranges(leaf, np.asarray([0]), np.asarray([100])).size == 100  # sliced: long range
    with pytest.raises(IndexError, match="exceed a stored array of 100 rows"):
        gather_ranges(leaf, np.asarray([50]), np.asarray([150]))
    with pytest.raises(IndexError):
        gather_ranges(leaf, np.asarray([98, 0]), np.asarray([102, 1]))  # gathered: short ranges
