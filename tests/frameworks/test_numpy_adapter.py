from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg import ClassLabel, DsregError, Features, Image, Scalar, Sequence
from dsreg.frameworks import adapt, resolve
from dsreg.loading import Loader, load, open_dataset

FEATURES = Features(
    {"image": Image(shape=(8, 8, 3)), "label": ClassLabel(names=("a", "b")), "tokens": Sequence(), "id": Scalar()}
)


@pytest.fixture
def small_dir(root: Path) -> Path:
    rows = (
        {"image": np.full((8, 8, 3), i % 256, np.uint8), "label": i % 2, "tokens": np.arange(i % 5), "id": i}
        for i in range(2100)
    )
    manifest = dsreg.write_dataset("small", {"train": rows}, FEATURES, root=root, shard_size=1)
    assert manifest.directory is not None
    return manifest.directory


def test_numpy_batches_are_the_rows_of_take(small_dir: Path) -> None:
    loader = load(small_dir, "train", "numpy", batch_size=100, shuffle=True, seed=4, last_batch="pad")
    ds = open_dataset(small_dir)
    batches = list(loader)
    assert len(batches) == 21
    for indices, batch in zip(loader.batch_indices(0), batches, strict=True):
        expected = ds.take(indices)
        assert set(batch) == set(expected)
        for name, values in expected.items():
            assert batch[name].dtype == values.dtype and batch[name].shape == values.shape
            if values.dtype == object:
                assert all(np.array_equal(a, b) for a, b in zip(batch[name], values, strict=True))
            else:
                np.testing.assert_array_equal(batch[name], values)


def test_adapter_options_and_aliases(small_dir: Path) -> None:
    ds = open_dataset(small_dir, columns=["id"])
    loader = adapt("np", Loader(ds, 500), transform=lambda b: {"id": -b["id"]}, num_workers=2)
    assert isinstance(loader, Loader) and loader.num_threads == 2
    assert next(iter(loader))["id"][:3].tolist() == [0, -1, -2]
    assert [resolve(n) for n in ("pt", "PyTorch", "tensorflow", "hf", "datasets", "numpy")] == [
        "torch",
        "torch",
        "tf",
        "hf",
        "hf",
        "numpy",
    ]
    with pytest.raises(DsregError, match="CPU"):
        adapt("numpy", Loader(ds, 500), device="cuda")
