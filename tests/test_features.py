from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dsreg import Audio, ClassLabel, DsregError, EncodedImage, Features, Image, Scalar, Sequence, Tensor, Text
from dsreg.features import feature_from_json

ALL = Features(
    {
        "image": Image(shape=(2, 3, 3)),
        "emb": Tensor(shape=(4,), dtype="float32"),
        "label": ClassLabel(names=("cat", "dog")),
        "score": Scalar(dtype="float64"),
        "jpeg": EncodedImage(),
        "text": Text(),
        "tokens": Sequence(dtype="int32"),
        "wave": Audio(sample_rate=8000),
    }
)


def _rows(n: int) -> list[dict]:
    return [
        {
            "image": np.full((2, 3, 3), i, np.uint8),
            "emb": np.arange(4, dtype=np.float32) * i,
            "label": i % 2,
            "score": i / 2,
            "jpeg": bytes([i]) * i,
            "text": f"héllo {i}",
            "tokens": list(range(i)),
            "wave": np.linspace(0, 1, i, dtype=np.float32),
        }
        for i in range(n)
    ]


def test_json_round_trip_keeps_every_type() -> None:
    again = Features.from_json(ALL.to_json())
    assert again == ALL
    assert again["wave"] == Audio(sample_rate=8000)


def test_batch_round_trip_values_shapes_dtypes() -> None:
    rows = _rows(5)
    batch = ALL.encode_batch(rows)
    assert batch.schema == ALL.arrow_schema()
    image = ALL["image"].to_numpy(batch.column("image"))
    assert image.shape == (5, 2, 3, 3) and image.dtype == np.uint8
    assert (image[3] == 3).all()
    assert ALL["label"].to_numpy(batch.column("label")).tolist() == [0, 1, 0, 1, 0]
    assert ALL["text"].to_numpy(batch.column("text"))[4] == "héllo 4"
    tokens = ALL["tokens"].to_numpy(batch.column("tokens"))
    assert tokens[3].tolist() == [0, 1, 2] and tokens[0].size == 0
    assert ALL["tokens"].lengths(batch.column("tokens")).tolist() == [0, 1, 2, 3, 4]
    assert ALL["jpeg"].to_numpy(batch.column("jpeg"))[2] == b"\x02\x02"


def test_fixed_shape_column_is_a_zero_copy_view_and_respects_slices() -> None:
    batch = ALL.encode_batch(_rows(6))
    column = batch.column("image")
    view = ALL["image"].to_numpy(column)
    assert np.shares_memory(view, np.frombuffer(column.values.buffers()[1], dtype=np.uint8))
    sliced = ALL["image"].to_numpy(batch.slice(2, 3).column("image"))
    assert [int(x[0, 0, 0]) for x in sliced] == [2, 3, 4]


def test_row_with_wrong_keys_names_the_missing_column() -> None:
    rows = _rows(2)
    del rows[1]["text"]
    with pytest.raises(DsregError, match=r"example 1 .*missing \['text'\]"):
        ALL.encode_batch(rows)


def test_wrong_tensor_shape_is_a_clear_error() -> None:
    with pytest.raises(DsregError, match="do not have shape"):
        Features({"emb": Tensor(shape=(4,))}).encode_batch([{"emb": [1, 2, 3]}])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "imagee"}, "unknown feature type 'imagee'"),
        ({"type": "tensor", "shape": [0, 3]}, "not a fixed positive shape"),
        ({"type": "tensor", "shape": [3], "dtype": "float128"}, "unknown dtype 'float128'"),
        ({"type": "class_label", "names": ["a", "a"]}, "duplicate names"),
        ({"type": "text", "colour": "red"}, r"unknown key\(s\) \['colour'\]"),
    ],
)
def test_bad_feature_specs_are_rejected_with_the_key_path(spec: dict, message: str) -> None:
    with pytest.raises(DsregError, match=message) as info:
        feature_from_json(spec, "features.x")
    assert "features.x" in str(info.value)


def test_class_label_maps_names() -> None:
    label = ClassLabel(names=("cat", "dog"))
    assert label.num_classes == 2 and label.str2int("dog") == 1 and label.int2str(0) == "cat"
    with pytest.raises(DsregError):
        label.str2int("cow")


def test_arrow_types_are_what_the_shard_spec_says() -> None:
    schema = ALL.arrow_schema()
    assert schema.field("image").type == pa.list_(pa.uint8(), 18)
    assert schema.field("text").type == pa.large_string()
    assert schema.field("tokens").type == pa.large_list(pa.int32())
    assert schema.field("label").type == pa.int64()


def test_numpy_views_handle_bools_offsets_and_empty_columns() -> None:
    feats = Features({"flag": Scalar(dtype="bool"), "x": Scalar(dtype="int32"), "seq": Sequence(dtype="int64")})
    rows = [{"flag": i % 3 == 0, "x": i, "seq": [i] * (i % 3)} for i in range(10)]
    batch = feats.encode_batch(rows).slice(3, 5)
    assert feats["flag"].to_numpy(batch.column("flag")).tolist() == [True, False, False, True, False]
    assert feats["x"].to_numpy(batch.column("x")).tolist() == [3, 4, 5, 6, 7]
    assert [list(v) for v in feats["seq"].to_numpy(batch.column("seq"))] == [[], [4], [5, 5], [], [7]]
    empty = feats.encode_batch(rows).slice(0, 0)
    assert feats["x"].to_numpy(empty.column("x")).shape == (0,)


def test_class_label_names_must_be_given_by_keyword() -> None:
    with pytest.raises(TypeError):
        ClassLabel(("cat", "dog"))  # type: ignore[misc]
