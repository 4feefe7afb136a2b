from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dsreg import Audio, ClassLabel, DsregError, EncodedImage, Features, Image, Scalar, Sequence, Struct, Tensor, Text
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


PHONE = Struct({"start": Scalar("float32"), "end": Scalar("float32"), "phone": ClassLabel(names=("aa", "b"))})
NESTED = Features(
    {
        "tags": Sequence(ClassLabel(names=("NOUN", "VERB"))),
        "words": Sequence(Text()),
        "phones": Sequence(PHONE),
        "refs": Sequence(Sequence(Scalar("int16"))),
        "boxes": Sequence(Tensor(shape=(2, 2), dtype="uint8")),
        "meta": Struct({"speaker": Text(), "turns": Sequence(Scalar("int32"))}),
    }
)


def _nested_rows() -> list[dict]:
    return [
        {
            "tags": [i % 2] * i,
            "words": [f"w{k}" for k in range(i)],
            "phones": [{"start": k, "end": k + 0.5, "phone": k % 2} for k in range(i)],
            "refs": [list(range(k)) for k in range(i)],
            "boxes": np.full((i, 2, 2), i, np.uint8),
            "meta": {"speaker": f"s{i}", "turns": [i] * (i % 2)},
        }
        for i in range(4)
    ]


def test_nested_json_form_round_trips_and_keeps_the_short_form() -> None:
    spec = NESTED.to_json()
    assert spec["tags"] == {"type": "sequence", "feature": {"type": "class_label", "names": ["NOUN", "VERB"]}}
    assert spec["refs"] == {"type": "sequence", "feature": {"type": "sequence", "dtype": "int16"}}
    assert spec["phones"]["feature"]["fields"]["phone"] == {"type": "class_label", "names": ["aa", "b"]}
    assert Features.from_json(spec) == NESTED
    assert Sequence(dtype="int32").to_json() == {"type": "sequence", "dtype": "int32"}  # what manifests hold
    assert feature_from_json({"type": "sequence", "dtype": "int8"}) == Sequence(Scalar("int8"))
    assert feature_from_json({"type": "sequence"}) == Sequence(dtype="int32")
    assert Audio(sample_rate=8000).dtype == "float32" and Audio() != Sequence(dtype="float32")


def test_nested_arrow_types_are_native_lists_and_structs() -> None:
    schema = NESTED.arrow_schema()
    assert schema.field("tags").type == pa.large_list(pa.int64())
    assert schema.field("refs").type == pa.large_list(pa.large_list(pa.int16()))
    assert schema.field("boxes").type == pa.large_list(pa.list_(pa.uint8(), 4))
    phone = pa.struct([("start", pa.float32()), ("end", pa.float32()), ("phone", pa.int64())])
    assert schema.field("phones").type == pa.large_list(phone)
    assert schema.field("meta").type == pa.struct(
        [("speaker", pa.large_string()), ("turns", pa.large_list(pa.int32()))]
    )
    assert NESTED.encode_batch(_nested_rows()).schema == schema


def test_nested_numpy_forms_are_views_of_the_batch() -> None:
    batch = NESTED.encode_batch(_nested_rows()).slice(1, 3)
    tags = NESTED["tags"].to_numpy(batch.column("tags"))
    assert [t.tolist() for t in tags] == [[1], [0, 0], [1, 1, 1]] and tags[0].dtype == np.int64
    values = batch.column("tags").values
    assert all(np.shares_memory(t, np.frombuffer(values.buffers()[1], np.int64)) for t in tags if t.size)
    phones = NESTED["phones"].to_numpy(batch.column("phones"))
    assert list(phones[1]) == ["start", "end", "phone"]
    assert phones[1]["end"].tolist() == [0.5, 1.5] and phones[1]["phone"].dtype == np.int64
    refs = NESTED["refs"].to_numpy(batch.column("refs"))
    assert refs[2].dtype == object and [r.tolist() for r in refs[2]] == [[], [0], [0, 1]]
    boxes = NESTED["boxes"].to_numpy(batch.column("boxes"))
    assert boxes[2].shape == (3, 2, 2) and (boxes[2] == 3).all()
    words = NESTED["words"].to_numpy(batch.column("words"))
    assert words[1].tolist() == ["w0", "w1"] and words[1].dtype == object
    meta = NESTED["meta"].to_numpy(batch.column("meta"))
    assert meta[0]["speaker"] == "s1" and meta[0]["turns"].tolist() == [1] and meta[1]["turns"].size == 0


def test_sequences_of_structs_accept_a_dict_of_lists() -> None:
    feats = Features({"phones": Sequence(PHONE)})
    as_dicts = feats.encode_batch(
        [{"phones": [{"start": 0, "end": 1, "phone": 1}, {"start": 1, "end": 2, "phone": 0}]}]
    )
    as_columns = feats.encode_batch([{"phones": {"start": [0, 1], "end": np.array([1, 2]), "phone": [1, 0]}}])
    assert as_dicts.equals(as_columns)
    with pytest.raises(DsregError, match=r"row 0: the struct's fields have different lengths"):
        feats.encode_batch([{"phones": {"start": [0, 1], "end": [1], "phone": [1, 0]}}])


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("tags", [0, 2], r"column 'tags', row 2, at tags\[1\]: label 2 is not a class index"),
        ("tags", "NOUN", r"column 'tags', row 2: expected a list of class_label values, got 'NOUN'"),
        ("tags", [0, "x"], r"column 'tags', row 2, at tags\[1\]: expected a number \(int64\), got 'x'"),
        ("words", ["a", 3], r"column 'words', row 2, at words\[1\]: expected a str, got 3"),
        (
            "phones",
            [{"start": 0, "end": "z", "phone": 0}],
            r"at phones\[0\]\.end: expected a number \(float32\), got 'z'",
        ),
        ("phones", [{"start": 0, "end": 1}], r"at phones\[0\]: struct keys do not match \(missing \['phone'\]"),
        ("refs", [[1], [2, 1.5]], r"at refs\[1\]\[1\]: 1\.5 does not fit int16 exactly"),
        ("refs", [[1], [70000]], r"at refs\[1\]\[0\]: 70000 does not fit int16 exactly"),
        ("refs", [None], r"at refs\[0\]: expected a list of scalar values, got None"),
        ("boxes", np.zeros((2, 2, 3)), r"column 'boxes', row 2: elements do not have shape \[2, 2\]"),
        ("boxes", [[[1, 2], [3, -1]]], r"at boxes\[0\]: -1 at index \[1, 1\] does not fit uint8"),
        ("meta", {"speaker": b"s", "turns": []}, r"column 'meta', row 2, at meta\.speaker: expected a str"),
        ("meta", ["s", []], r"column 'meta', row 2: expected a dict with keys \['speaker', 'turns'\]"),
    ],
)
def test_bad_nested_values_name_the_column_row_and_key_path(column: str, value: object, message: str) -> None:
    rows = _nested_rows()
    rows[2][column] = value
    with pytest.raises(DsregError, match=message):
        NESTED.encode_batch(rows)


def test_scalars_refuse_values_their_dtype_would_change() -> None:
    feats = Features({"x": Scalar("uint8"), "flag": Scalar("bool")})
    assert feats.encode_batch([{"x": 255.0, "flag": 1}]).column("x").to_pylist() == [255]
    with pytest.raises(DsregError, match=r"column 'x', row 1: 256 does not fit uint8"):
        feats.encode_batch([{"x": 1, "flag": True}, {"x": 256, "flag": False}])
    with pytest.raises(DsregError, match=r"column 'flag', row 0: 2 does not fit bool"):
        feats.encode_batch([{"x": 1, "flag": 2}])
    with pytest.raises(DsregError, match=r"column 'x', row 0: nan does not fit uint8"):
        feats.encode_batch([{"x": float("nan"), "flag": True}])


@pytest.mark.parametrize(
    ("spec", "message", "path"),
    [
        ({"type": "sequence", "feature": {"type": "texts"}}, "unknown feature type 'texts'", "features.x.feature.type"),
        (
            {"type": "sequence", "dtype": "int8", "feature": {"type": "text"}},
            "both 'feature' and 'dtype'",
            "features.x",
        ),
        ({"type": "sequence", "dtype": "int3"}, "unknown dtype 'int3'", "features.x.dtype"),
        (
            {"type": "struct", "fields": {"a": {"type": "sequence", "feature": {"type": "tensor", "shape": [0]}}}},
            "not a fixed positive shape",
            "features.x.fields.a.feature",
        ),
        ({"type": "struct", "fields": {}}, "non-empty mapping", "features.x.fields"),
        ({"type": "struct", "names": ["a"]}, r"unknown key\(s\) \['names'\]", "features.x"),
    ],
)
def test_bad_nested_specs_name_the_key_path(spec: dict, message: str, path: str) -> None:
    with pytest.raises(DsregError, match=message) as info:
        feature_from_json(spec, "features.x")
    assert path in str(info.value)


def test_audio_records_its_channels_and_old_manifests_read_as_mono() -> None:
    stereo = Audio("int16", 8000, channels=2)
    assert stereo.to_json() == {"type": "audio", "dtype": "int16", "sample_rate": 8000, "channels": 2}
    assert feature_from_json(stereo.to_json()) == stereo != Audio("int16", 8000)
    assert feature_from_json({"type": "audio", "dtype": "int16", "sample_rate": 8000}) == Audio("int16", 8000)
    assert Audio("int16", 8000).channels == 1 and stereo.dtype == "int16"
    assert stereo.arrow_type() == pa.large_list(pa.list_(pa.int16(), 2))  # frame by frame: lengths count frames
    assert Audio("int16").arrow_type() == pa.large_list(pa.int16())  # mono is stored as it always was
    for bad in (0, -1, 1.5, True):
        with pytest.raises(DsregError, match="audio channels is"):
            Audio("int16", 8000, channels=bad)


def test_a_column_needs_a_name() -> None:
    # a column named "" could not be stored as HDF5 (a bare ValueError from h5py, after the rows were read)
    with pytest.raises(DsregError, match="column name '' is not a non-empty string"):
        Features({"": Text()})
    with pytest.raises(DsregError, match="column name '' is not a non-empty string"):
        Features.from_json({"": {"type": "text"}})
