"""The TensorFlow adapter: exact element_spec, the same values as `Dataset.take`, delivered-batch resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dsreg
from dsreg import ClassLabel, EncodedImage, Features, Image, Scalar, Sequence, Text
from dsreg.loading import Loader, load, open_dataset

tf = pytest.importorskip("tensorflow")
tf_adapter = pytest.importorskip("dsreg.frameworks.tf")

MIXED = Features(
    {
        "image": Image(shape=(32, 32, 3)),
        "label": ClassLabel(names=tuple("abcdefghij")),
        "caption": Text(),
        "tokens": Sequence(dtype="int32"),
        "blob": EncodedImage(format="png"),
        "score": Scalar(dtype="float32"),
        "mask": Scalar(dtype="bool"),
    }
)


def mixed_rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "image": ((np.arange(32 * 32 * 3) + i) % 251).astype(np.uint8).reshape(32, 32, 3),
            "label": i % 10,
            "caption": f"row {i} – é" * (i % 3),
            "tokens": np.arange(i % 7, dtype=np.int32) + i,
            "blob": bytes([i % 256, 0, 255]) * (i % 4),
            "score": i / 7,
            "mask": i % 2 == 0,
        }


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2100 rows over three shards (1024-row groups), every feature kind a tf batch can hold."""
    root = tmp_path_factory.mktemp("tf-root")
    dsreg.write_dataset("mixed", {"train": mixed_rows(2100)}, MIXED, root=root, shard_size=1)
    return root


def spec(batch: int | None) -> dict[str, Any]:
    return {
        "image": tf.TensorSpec([batch, 32, 32, 3], tf.uint8),
        "label": tf.TensorSpec([batch], tf.int64),
        "caption": tf.TensorSpec([batch], tf.string),
        "tokens": tf.RaggedTensorSpec([batch, None], tf.int32, ragged_rank=1, row_splits_dtype=tf.int64),
        "blob": tf.TensorSpec([batch], tf.string),
        "score": tf.TensorSpec([batch], tf.float32),
        "mask": tf.TensorSpec([batch], tf.bool),
    }


def assert_same(batch: dict[str, Any], ref: dict[str, np.ndarray]) -> None:
    """A tf batch holds exactly the values, shapes and dtypes of `Dataset.take`'s batch."""
    assert list(batch) == list(ref)
    for name, want in ref.items():
        got = batch[name]
        if isinstance(got, tf.RaggedTensor):
            rows = got.to_list()
            assert got.dtype.as_numpy_dtype == want[0].dtype
            assert len(rows) == len(want) and all(np.array_equal(r, w) for r, w in zip(rows, want, strict=True))
        elif want.dtype == object:
            assert got.dtype == tf.string and got.shape == want.shape
            values = [v.decode() if isinstance(w, str) else v for v, w in zip(got.numpy(), want, strict=True)]
            assert values == list(want)
        else:
            assert got.dtype.as_numpy_dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize(
    ("options", "batch"),
    [({}, None), ({"last_batch": "drop"}, 64), ({"last_batch": "pad"}, 64), ({"last_batch": "partial"}, None)],
)
def test_element_spec_is_exact(mixed: Path, options: dict[str, Any], batch: int | None) -> None:
    loader = Loader(open_dataset("mixed", root=mixed), 64, **options)
    assert tf_adapter.adapt(loader).element_spec == spec(batch)


def test_balanced_batches_have_a_static_batch_dimension(mixed: Path) -> None:
    loader = Loader(open_dataset("mixed", root=mixed, columns=["image", "label"]), 20, balance="label")
    element = tf_adapter.adapt(loader).element_spec
    assert element["image"].shape.as_list() == [20, 32, 32, 3]


def test_batches_equal_take_for_the_same_indices(mixed: Path) -> None:
    ds = open_dataset("mixed", root=mixed)
    loader = Loader(ds, 100, shuffle=True, seed=7, last_batch="pad")
    batches = list(tf_adapter.adapt(loader))
    assert len(batches) == len(loader) == 21
    for i, batch in enumerate(batches):
        assert_same(batch, ds.take(loader.sampler.batch(0, i)))


def test_each_iteration_is_the_next_epoch(mixed: Path) -> None:
    ds = open_dataset("mixed", root=mixed, columns=["label", "score"])
    loader = Loader(ds, 500, shuffle=True, seed=1)
    dataset = tf_adapter.adapt(loader)
    for epoch in range(2):
        for i, batch in enumerate(dataset):
            np.testing.assert_array_equal(batch["score"].numpy(), ds.take(loader.sampler.batch(epoch, i))["score"])
    assert loader.epoch == 1


def double(batch: dict[str, Any]) -> dict[str, Any]:
    return {"score": batch["score"] * 2}


@pytest.mark.parametrize("transform", [None, double])
def test_state_counts_delivered_batches_and_resumes_exactly(mixed: Path, transform: Any) -> None:
    """Prefetching runs ahead, yet the saved state is what the consumer received; a resumed run continues there."""

    def loader() -> Loader:
        return Loader(open_dataset("mixed", root=mixed, columns=["score", "tokens"]), 32, shuffle=True, seed=3)

    full = [b["score"].numpy() for b in tf_adapter.adapt(loader(), transform=transform)]
    interrupted = loader()
    first = [b["score"].numpy() for b in tf_adapter.adapt(interrupted, transform=transform).take(5)]
    state = interrupted.state_dict()
    assert state["batches"] == 5
    resumed = loader()
    resumed.load_state_dict(state)
    rest = [b["score"].numpy() for b in tf_adapter.adapt(resumed, transform=transform)]
    assert len(first) + len(rest) == len(full)
    for got, want in zip(first + rest, full, strict=True):
        np.testing.assert_array_equal(got, want)


def test_load_applies_the_transform_on_tf_tensors(mixed: Path) -> None:
    def scale(batch: dict[str, Any]) -> dict[str, Any]:
        return {"x": tf.cast(batch["image"], tf.float32) / 255.0, "y": batch["label"]}

    dataset = load("mixed", "train[:300]", "tensorflow", root=mixed, batch_size=128, transform=scale, num_workers=2)
    assert dataset.element_spec["x"] == tf.TensorSpec([None, 32, 32, 3], tf.float32)
    x = next(iter(dataset))["x"].numpy()
    ref = open_dataset("mixed", "train[:128]", root=mixed).take(np.arange(128))["image"]
    np.testing.assert_allclose(x, ref / np.float32(255.0), rtol=1e-6)


def test_a_loader_transform_needs_an_explicit_signature(mixed: Path) -> None:
    loader = Loader(open_dataset("mixed", root=mixed, columns=["score"]), 10, transform=lambda b: {"s": b["score"] * 2})
    with pytest.raises(dsreg.DsregError, match="output_signature"):
        tf_adapter.adapt(loader)
    dataset = tf_adapter.adapt(loader, output_signature={"s": tf.TensorSpec([None], tf.float32)})
    np.testing.assert_allclose(next(iter(dataset))["s"].numpy(), np.arange(10, dtype=np.float32) / 7 * 2, rtol=1e-6)


def test_devices_are_tensorflows_business(mixed: Path) -> None:
    with pytest.raises(dsreg.DsregError, match="device"):
        load("mixed", framework="tf", root=mixed, device="cuda")
