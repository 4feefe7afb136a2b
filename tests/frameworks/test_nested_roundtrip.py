"""Every feature kind, composed ones included, written with `write_dataset` and read back through numpy, torch,
tf, keras and hf: values, padding, lengths, ragged specs and Hugging Face features checked exactly.

Expectations are computed here from the python rows, independently of dsreg's own conversion code. The
dataset spans several shards and record batches, so `take` gathers ragged columns across them.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dsreg
from dsreg import ClassLabel, EncodedImage, Features, Image, Scalar, Sequence, Struct, Tensor, Text
from dsreg.loading import load, open_dataset
from dsreg.storage import FORMATS as STORAGE_FORMATS

# the round trip runs on every registered storage format
FORMATS = list(STORAGE_FORMATS)
TRAIN, TEST = 1100, 300
SPLIT = "train+test"
TAGS = ("NOUN", "VERB", "ADJ")
PHONES = ("aa", "b", "ch")

FEATURES = Features(
    {
        "id": Scalar(dtype="int64"),
        "score": Scalar(dtype="float32"),
        "label": ClassLabel(names=("neg", "pos")),
        "caption": Text(),
        "emb": Tensor(shape=(2, 3), dtype="float32"),
        "image": Image(shape=(4, 4, 3)),
        "png": EncodedImage(format="png"),
        "tokens": Sequence(dtype="int32"),
        "tags": Sequence(ClassLabel(names=TAGS)),
        "words": Sequence(Text()),
        "phones": Sequence(
            Struct({"start": Scalar("float32"), "end": Scalar("float32"), "phone": ClassLabel(names=PHONES)})
        ),
        "refs": Sequence(Sequence(Scalar("int32"))),
        "polygons": Sequence(Struct({"points": Sequence(Tensor(shape=(2,), dtype="int16")), "text": Text()})),
        "frames": Sequence(Tensor(shape=(2, 2), dtype="float32")),
        "meta": Struct({"speaker": Text(), "age": Scalar("int16"), "pose": Tensor(shape=(2, 2), dtype="int8")}),
    }
)


def png(pixels: np.ndarray) -> bytes:
    """A minimal RGB PNG of `pixels` (H, W, 3) uint8."""
    height, width, _ = pixels.shape

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def pixels(i: int) -> np.ndarray:
    return ((np.arange((2 + i % 2) * 3 * 3) * 7 + i) % 256).astype(np.uint8).reshape(2 + i % 2, 3, 3)


def row(i: int) -> dict[str, Any]:
    """Row `i` as plain python values (the canonical form: lists of dicts for sequences of structs)."""
    return {
        "id": i,
        "score": i / 8,
        "label": i % 2,
        "caption": f"caption {i} é" * (i % 3),
        "emb": [[i + 0.5 * k + j for j in range(3)] for k in range(2)],
        "image": [[[(i + y + x + c) % 256 for c in range(3)] for x in range(4)] for y in range(4)],
        "png": png(pixels(i)),
        "tokens": list(range(i, i + i % 5)),
        "tags": [(i + k) % 3 for k in range(i % 4)],
        "words": [f"w{i}.{k}" for k in range(i % 3)],
        "phones": [{"start": k / 4, "end": (k + 1) / 4, "phone": (i + k) % 3} for k in range(i % 4)],
        "refs": [[i + k + j for j in range((i + k) % 3)] for k in range(i % 3)],
        "polygons": [
            {"points": [[i % 100, k], [k, 2 * k], [k + 1, i % 7]][: 1 + (i + k) % 3], "text": f"p{k}"}
            for k in range(i % 3)
        ],
        "frames": [[[i + k, -k / 2], [k, 0.25]] for k in range(i % 3)],
        "meta": {"speaker": f"spk{i % 7}", "age": 20 + i % 50, "pose": [[i % 5, -1], [2, i % 3]]},
    }


def written(i: int) -> dict[str, Any]:
    """Row `i` as handed to `write_dataset`: numpy arrays and the struct-of-arrays form in some rows."""
    value = row(i)
    value["tokens"] = np.asarray(value["tokens"], dtype=np.int64) if i % 2 else value["tokens"]
    value["frames"] = np.asarray(value["frames"], dtype=np.float64).reshape(-1, 2, 2)
    if i % 2:
        phones = value["phones"]
        value["phones"] = {key: [p[key] for p in phones] for key in ("start", "end", "phone")}
    return value


def expected(i: int) -> dict[str, Any]:
    """Row `i` in dsreg's documented numpy form."""
    r = row(i)

    def objects(values: list[Any]) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        for k, v in enumerate(values):
            out[k] = v
        return out

    return {
        "id": np.int64(i),
        "score": np.float32(r["score"]),
        "label": np.int64(r["label"]),
        "caption": r["caption"],
        "emb": np.asarray(r["emb"], dtype=np.float32),
        "image": np.asarray(r["image"], dtype=np.uint8),
        "png": r["png"],
        "tokens": np.asarray(r["tokens"], dtype=np.int32),
        "tags": np.asarray(r["tags"], dtype=np.int64),
        "words": objects(r["words"]),
        "phones": {
            "start": np.asarray([p["start"] for p in r["phones"]], dtype=np.float32),
            "end": np.asarray([p["end"] for p in r["phones"]], dtype=np.float32),
            "phone": np.asarray([p["phone"] for p in r["phones"]], dtype=np.int64),
        },
        "refs": objects([np.asarray(ref, dtype=np.int32) for ref in r["refs"]]),
        "polygons": {
            "points": objects([np.asarray(p["points"], dtype=np.int16).reshape(-1, 2) for p in r["polygons"]]),
            "text": objects([p["text"] for p in r["polygons"]]),
        },
        "frames": np.asarray(r["frames"], dtype=np.float32).reshape(-1, 2, 2),
        "meta": {
            "speaker": r["meta"]["speaker"],
            "age": np.int16(r["meta"]["age"]),
            "pose": np.asarray(r["meta"]["pose"], dtype=np.int8),
        },
    }


def assert_same(got: Any, want: Any, where: str) -> None:
    """`got` is `want` exactly: same structure, types, dtypes, shapes and values."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), where
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, np.ndarray) and want.dtype == object:
        assert isinstance(got, np.ndarray) and got.dtype == object and got.shape == want.shape, where
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{k}]")
    elif isinstance(want, (np.ndarray, np.generic)):
        assert isinstance(got, (np.ndarray, np.generic)), where
        assert got.dtype == want.dtype and got.shape == want.shape, f"{where}: {got!r} vs {want!r}"
        np.testing.assert_array_equal(got, want, err_msg=where)
    else:
        assert type(got) is type(want) and got == want, f"{where}: {got!r} vs {want!r}"


def split_index(position: int) -> int:
    """The row id at a position of the split expression ``train+test``."""
    return position if position < TRAIN else 100_000 + position - TRAIN


def ids(positions: np.ndarray) -> list[int]:
    return [split_index(int(p)) for p in positions]


@pytest.fixture(scope="session", params=FORMATS)
def dataset_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset in one storage format: train (two shards) and test; Arrow shards hold several record batches."""
    root = tmp_path_factory.mktemp(f"nested-{request.param}")
    splits = {
        "train": (written(i) for i in range(TRAIN)),
        "test": (written(i) for i in range(100_000, 100_000 + TEST)),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dsreg.storage.arrow_shards.MAX_BATCH_BYTES", 10_000)
        manifest = dsreg.write_dataset(
            "kinds",
            splits,
            FEATURES,
            root=root,
            shard_size=1,
            supervised_keys=("tags", "label"),
            storage=request.param,
        )
    assert manifest.directory is not None and len(manifest.splits["train"].shards) == 2
    return manifest.directory


def test_the_dataset_spans_shards_and_record_batches(dataset_dir: Path) -> None:
    import pyarrow as pa

    ds = open_dataset(dataset_dir, SPLIT)
    assert len(ds.shard_paths()) == 3
    (fmt,) = {split.format for split in ds.manifest.splits.values()}
    assert dataset_dir.parents[2].name == f"nested-{fmt}0"
    if fmt == "arrow":  # the other formats keep one batch per shard
        assert all(pa.ipc.open_file(str(path)).num_record_batches > 1 for path in ds.shard_paths())


def test_take_returns_the_numpy_form_for_any_index_set(dataset_dir: Path) -> None:
    ds = open_dataset(dataset_dir, SPLIT)
    assert ds.features == FEATURES
    rng = np.random.default_rng(0)
    indices = np.concatenate([rng.permutation(len(ds))[:400], [5, 5, -1, 0, TRAIN - 1, TRAIN]])
    batch = ds.take(indices)
    assert list(batch) == FEATURES.names()
    for name, column in batch.items():
        assert len(column) == len(indices), name
    for k, i in enumerate(ids(np.where(indices < 0, indices + len(ds), indices))):
        want = expected(i)
        for name in FEATURES.names():
            assert_same(batch[name][k], want[name], f"{name}@{i}")
    single = ds.take([7])  # one shard, one record batch: the fast path
    assert_same(single["phones"][0], expected(7)["phones"], "phones@7")


def test_take_on_nothing_and_lengths(dataset_dir: Path) -> None:
    ds = open_dataset(dataset_dir, SPLIT)
    assert all(len(column) == 0 for column in ds.take([]).values())
    every = ids(np.arange(len(ds)))
    assert ds.lengths("phones").tolist() == [i % 4 for i in every]
    assert ds.lengths("refs").tolist() == [i % 3 for i in every]


def test_numpy_adapter_batches(dataset_dir: Path) -> None:
    loader = load(dataset_dir, SPLIT, "numpy", batch_size=100, shuffle=True, seed=1)
    seen = []
    for indices, batch in zip(loader.batch_indices(0), loader, strict=True):
        for k, i in enumerate(ids(indices)):
            seen.append(i)
            assert_same(batch["polygons"][k], expected(i)["polygons"], f"polygons@{i}")
            assert_same(batch["refs"][k], expected(i)["refs"], f"refs@{i}")
    assert sorted(seen) == sorted(ids(np.arange(TRAIN + TEST)))


def dense(rows: list[Any], depth: int, dtype: Any, pad: Any = 0, inner: tuple[int, ...] = ()) -> np.ndarray:
    """Nested python rows of `depth` ragged axes right-padded with `pad` to the longest on every axis."""
    widths = [0] * depth

    def measure(value: Any, axis: int) -> None:
        if axis < depth:
            widths[axis] = max(widths[axis], len(value))
            for item in value:
                measure(item, axis + 1)

    for value in rows:
        measure(value, 0)
    out = np.full((len(rows), *widths, *inner), pad, dtype=dtype)

    def fill(value: Any, axis: int, index: tuple[int, ...]) -> None:
        if axis == depth:
            out[index] = value
            return
        for k, item in enumerate(value):
            fill(item, axis + 1, (*index, k))

    for b, value in enumerate(rows):
        fill(value, 0, (b,))
    return out


def torch_expected(batch_ids: list[int], pad: int) -> dict[str, Any]:
    """What the torch adapter must give for the rows `batch_ids`, padded with `pad`, as numpy / lists."""
    rows = [row(i) for i in batch_ids]

    def col(name: str) -> list[Any]:
        return [r[name] for r in rows]

    def field(name: str, key: str) -> list[Any]:
        return [[item[key] for item in r[name]] for r in rows]

    def lengths(name: str) -> np.ndarray:
        return np.asarray([len(r[name]) for r in rows], dtype=np.int64)

    return {
        "id": np.asarray(batch_ids, dtype=np.int64),
        "score": np.asarray(col("score"), dtype=np.float32),
        "label": np.asarray(col("label"), dtype=np.int64),
        "caption": col("caption"),
        "emb": np.asarray(col("emb"), dtype=np.float32),
        "image": np.asarray(col("image"), dtype=np.uint8),
        "tokens": dense(col("tokens"), 1, np.int32, pad),
        "tokens_lengths": lengths("tokens"),
        "tags": dense(col("tags"), 1, np.int64, pad),
        "tags_lengths": lengths("tags"),
        "words": col("words"),
        "words_lengths": lengths("words"),
        "phones": {
            "start": dense(field("phones", "start"), 1, np.float32, pad),
            "end": dense(field("phones", "end"), 1, np.float32, pad),
            "phone": dense(field("phones", "phone"), 1, np.int64, pad),
        },
        "phones_lengths": lengths("phones"),
        "refs": dense(col("refs"), 2, np.int32, pad),
        "refs_lengths": lengths("refs"),
        "refs_lengths_2": dense([[len(ref) for ref in r["refs"]] for r in rows], 1, np.int64),
        "polygons": {
            "points": dense(field("polygons", "points"), 2, np.int16, pad, (2,)),
            "points_lengths_2": dense([[len(p["points"]) for p in r["polygons"]] for r in rows], 1, np.int64),
            "text": field("polygons", "text"),
        },
        "polygons_lengths": lengths("polygons"),
        "frames": dense(col("frames"), 1, np.float32, pad, (2, 2)),
        "frames_lengths": lengths("frames"),
        "meta": {
            "speaker": [r["meta"]["speaker"] for r in rows],
            "age": np.asarray([r["meta"]["age"] for r in rows], dtype=np.int16),
            "pose": np.asarray([r["meta"]["pose"] for r in rows], dtype=np.int8),
        },
    }


def assert_torch(got: Any, want: Any, where: str) -> None:
    torch = pytest.importorskip("torch")
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), f"{where}: {sorted(got)} vs {sorted(want)}"
        for key in want:
            assert_torch(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, np.ndarray):
        assert isinstance(got, torch.Tensor) and got.numpy().dtype == want.dtype, where
        assert tuple(got.shape) == want.shape, f"{where}: {tuple(got.shape)} vs {want.shape}"
        np.testing.assert_array_equal(got.numpy(), want, err_msg=where)
    else:
        assert got == want, where


def test_torch_pads_every_ragged_axis_with_lengths(dataset_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    loader = load(dataset_dir, SPLIT, "torch", batch_size=64, shuffle=True, seed=2, pad_value=-1)
    order = list(loader.loader.batch_indices(0))
    count = 0
    for indices, batch in zip(order, loader, strict=True):
        batch_ids = ids(indices)
        images = batch.pop("png")
        want = torch_expected(batch_ids, -1)
        assert_torch(batch, want, "batch")
        images = list(images) if isinstance(images, list) else list(images.unbind(0))
        for image, i in zip(images, batch_ids, strict=True):
            assert torch.equal(image, torch.from_numpy(pixels(i)).permute(2, 0, 1))
        count += len(batch_ids)
    assert count == TRAIN + TEST


def tf_spec(tf: Any, batch: int | None) -> dict[str, Any]:
    def ragged(dtype: Any, inner: list[int | None]) -> Any:
        rank = sum(d is None for d in inner)
        return tf.RaggedTensorSpec([batch, *inner], dtype, ragged_rank=rank, row_splits_dtype=tf.int64)

    return {
        "id": tf.TensorSpec([batch], tf.int64),
        "score": tf.TensorSpec([batch], tf.float32),
        "label": tf.TensorSpec([batch], tf.int64),
        "caption": tf.TensorSpec([batch], tf.string),
        "emb": tf.TensorSpec([batch, 2, 3], tf.float32),
        "image": tf.TensorSpec([batch, 4, 4, 3], tf.uint8),
        "png": tf.TensorSpec([batch], tf.string),
        "tokens": ragged(tf.int32, [None]),
        "tags": ragged(tf.int64, [None]),
        "words": ragged(tf.string, [None]),
        "phones": {
            "start": ragged(tf.float32, [None]),
            "end": ragged(tf.float32, [None]),
            "phone": ragged(tf.int64, [None]),
        },
        "refs": ragged(tf.int32, [None, None]),
        "polygons": {"points": ragged(tf.int16, [None, None, 2]), "text": ragged(tf.string, [None])},
        "frames": ragged(tf.float32, [None, 2, 2]),
        "meta": {
            "speaker": tf.TensorSpec([batch], tf.string),
            "age": tf.TensorSpec([batch], tf.int16),
            "pose": tf.TensorSpec([batch, 2, 2], tf.int8),
        },
    }


def as_lists(value: Any) -> Any:
    """A tf value as nested python lists, strings decoded."""
    lists = value.to_list() if hasattr(value, "to_list") else value.numpy().tolist()

    def decode(item: Any) -> Any:
        if isinstance(item, list):
            return [decode(x) for x in item]
        return item.decode() if isinstance(item, bytes) else item

    return decode(lists)


def test_tf_ragged_specs_and_values(dataset_dir: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    for last_batch, batch_size in (("drop", 64), ("partial", None)):
        dataset = load(dataset_dir, SPLIT, "tf", batch_size=64, shuffle=True, seed=3, last_batch=last_batch)
        assert dataset.element_spec == tf_spec(tf, batch_size)
    batches = list(dataset)
    order = list(load(dataset_dir, SPLIT, "numpy", batch_size=64, shuffle=True, seed=3).batch_indices(0))
    assert len(batches) == len(order)
    for indices, batch in zip(order[-2:], batches[-2:], strict=True):  # a full batch and the partial last one
        rows = [row(i) for i in ids(indices)]
        assert list(batch) == FEATURES.names()
        for name in ("tokens", "tags", "words", "refs", "frames"):
            assert as_lists(batch[name]) == [r[name] for r in rows], name
        assert as_lists(batch["phones"]["start"]) == [[p["start"] for p in r["phones"]] for r in rows]
        assert as_lists(batch["phones"]["phone"]) == [[p["phone"] for p in r["phones"]] for r in rows]
        assert as_lists(batch["polygons"]["points"]) == [[p["points"] for p in r["polygons"]] for r in rows]
        assert as_lists(batch["polygons"]["text"]) == [[p["text"] for p in r["polygons"]] for r in rows]
        assert as_lists(batch["meta"]["speaker"]) == [r["meta"]["speaker"] for r in rows]
        assert as_lists(batch["meta"]["pose"]) == [r["meta"]["pose"] for r in rows]
        assert as_lists(batch["emb"]) == [r["emb"] for r in rows]
        assert [bytes(b) for b in batch["png"].numpy()] == [r["png"] for r in rows]


def test_keras_gets_padded_arrays_that_fit_accepts(dataset_dir: Path) -> None:
    keras = pytest.importorskip("keras")
    names = [n for n in FEATURES.names() if n != "label"]
    data = load(dataset_dir, SPLIT, "keras", batch_size=50, shuffle=True, seed=4, x=names, y="label")
    order = list(data.loader.batch_indices(0))
    x, y = data[3]
    rows = [row(i) for i in ids(order[3])]
    np.testing.assert_array_equal(y, [r["label"] for r in rows])
    assert x["refs"].dtype == np.int32 and x["refs"].shape == dense([r["refs"] for r in rows], 2, np.int32).shape
    np.testing.assert_array_equal(x["refs"], dense([r["refs"] for r in rows], 2, np.int32))
    np.testing.assert_array_equal(x["tags"], dense([r["tags"] for r in rows], 1, np.int64))
    np.testing.assert_array_equal(x["frames"], dense([r["frames"] for r in rows], 1, np.float32, 0, (2, 2)))
    assert x["words"].tolist() == dense([r["words"] for r in rows], 1, object, "").tolist()
    assert sorted(x["phones"]) == ["end", "phone", "start"]
    np.testing.assert_array_equal(
        x["phones"]["end"], dense([[p["end"] for p in r["phones"]] for r in rows], 1, np.float32)
    )
    points = dense([[p["points"] for p in r["polygons"]] for r in rows], 2, np.int16, 0, (2,))
    np.testing.assert_array_equal(x["polygons"]["points"], points)
    assert x["meta"]["speaker"].tolist() == [r["meta"]["speaker"] for r in rows]
    np.testing.assert_array_equal(x["meta"]["pose"], [r["meta"]["pose"] for r in rows])

    # the supervised keys (tags → label) train a model straight from the adapter
    tags = load(dataset_dir, SPLIT, "keras", batch_size=100)
    model = keras.Sequential(
        [keras.layers.Embedding(len(TAGS), 4), keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)]
    )
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(tags, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_hf_features_and_rows(dataset_dir: Path) -> None:
    datasets = pytest.importorskip("datasets")
    hf = load(dataset_dir, SPLIT, "hf")
    value, large_list, hf_list = datasets.Value, datasets.LargeList, datasets.List
    assert hf.features == datasets.Features(
        {
            "id": value("int64"),
            "score": value("float32"),
            "label": datasets.ClassLabel(names=["neg", "pos"]),
            "caption": value("large_string"),
            "emb": datasets.Array2D(shape=(2, 3), dtype="float32"),  # top-level tensors: HF's array types
            "image": datasets.Array3D(shape=(4, 4, 3), dtype="uint8"),
            "png": value("large_binary"),
            "tokens": large_list(value("int32")),
            "tags": large_list(datasets.ClassLabel(names=list(TAGS))),
            "words": large_list(value("large_string")),
            "phones": large_list(
                {"start": value("float32"), "end": value("float32"), "phone": datasets.ClassLabel(names=list(PHONES))}
            ),
            "refs": large_list(large_list(value("int32"))),
            "polygons": large_list(
                {"points": large_list(hf_list(value("int16"), length=2)), "text": value("large_string")}
            ),
            "frames": large_list(hf_list(hf_list(value("float32"), length=2), length=2)),
            "meta": {
                "speaker": value("large_string"),
                "age": value("int16"),
                "pose": hf_list(hf_list(value("int8"), length=2), length=2),
            },
        }
    )
    assert len(hf) == TRAIN + TEST
    for position in (0, 3, 5, TRAIN - 1, TRAIN, TRAIN + 7):
        got, want = hf[position], row(split_index(position))
        for name in FEATURES.names():
            assert got[name] == want[name], f"{name}@{position}"
    assert hf.features["tags"].feature.int2str(hf[2]["tags"]) == [TAGS[(2 + k) % 3] for k in range(2)]
