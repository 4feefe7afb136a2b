"""A struct's field order is part of its Arrow type and its values are matched to fields by position: a shard
read on its own (from the features it carries) or an export read back must keep that order, or ``{start, end}``
reads each field's values as the other's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dsreg
from dsreg import Features, Scalar, Sequence, Struct
from dsreg.storage import base, get_format
from dsreg.storage.arrow_shards import ShardReader
from dsreg.storage.export import EXPORT_FORMATS

FEATURES = Features(
    {
        "span": Struct({"start": Scalar("float32"), "end": Scalar("float32")}),
        "words": Sequence(Struct({"text": dsreg.Text(), "begin": Scalar("int32"), "after": Scalar("int32")})),
    }
)
ROWS = [
    {"span": {"start": 1.0, "end": 2.0}, "words": [{"text": "a", "begin": 5, "after": 6}]},
    {"span": {"start": 3.0, "end": 4.5}, "words": []},
]


def _field_order(features: Features) -> str:
    return json.dumps(features.to_json())


def _check_rows(reader: base.ShardReaderBase) -> None:
    span = reader.column("span", 0)
    assert [(r["start"], r["end"]) for r in span] == [(1.0, 2.0), (3.0, 4.5)]
    words = reader.column("words", 0)
    assert words[0]["begin"].tolist() == [5] and words[0]["after"].tolist() == [6]


@pytest.mark.parametrize("storage", ["arrow", "zarr", "hdf5"])
def test_a_shard_read_on_its_own_keeps_the_struct_field_order(tmp_path: Path, storage: str) -> None:
    m = dsreg.write_dataset("order", {"train": ROWS}, FEATURES, root=tmp_path, storage=storage)
    reader = get_format(storage).reader(m.shard_location(m.splits["train"].shards[0]))
    assert _field_order(reader.features) == _field_order(FEATURES)
    _check_rows(reader)


def test_an_arrow_shard_whose_metadata_sorted_the_fields_still_reads_them_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shards written before the metadata kept the order carry struct fields sorted by name."""
    monkeypatch.setattr(base, "features_json", lambda f: json.dumps(f.to_json(), sort_keys=True))
    m = dsreg.write_dataset("sorted", {"train": ROWS}, FEATURES, root=tmp_path)
    path = m.shard_path(m.splits["train"].shards[0])
    reader = ShardReader(path)
    assert _field_order(reader.features) == _field_order(FEATURES)
    _check_rows(reader)
    assert reader.problems(m.features, 2, path.stat().st_size) == []


@pytest.mark.parametrize("fmt", [f for f in EXPORT_FORMATS if f != "parquet"])
def test_an_export_reads_back_with_the_struct_field_order(tmp_path: Path, fmt: str) -> None:
    m = dsreg.write_dataset("order", {"train": ROWS}, FEATURES, root=tmp_path / "root")
    out = tmp_path / f"train.{fmt}"
    dsreg.export(m.directory, "train", fmt, out)
    reader = get_format(fmt).reader(out)
    assert _field_order(reader.features) == _field_order(FEATURES)
    _check_rows(reader)
