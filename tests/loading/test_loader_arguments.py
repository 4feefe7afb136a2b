"""Every public loading argument is checked: a wrong type or range is a DsregError naming the argument, never a
raw TypeError, and never silently coerced (``seed=1.5`` must not read as ``seed=1``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dsreg
from dsreg import ClassLabel, DsregError, Features, Scalar, Sequence
from dsreg.loading import BalancedSampler, BucketSampler, Loader, RangeSampler, detect_rank, open_dataset
from dsreg.manifest import Manifest

FEATURES = Features({"x": Scalar(), "label": ClassLabel(names=("a", "b")), "tokens": Sequence(dtype="int32")})


@pytest.fixture
def small(root: Path) -> Manifest:
    rows = [{"x": i, "label": i % 2, "tokens": np.arange(1 + i % 5, dtype=np.int32)} for i in range(40)]
    return dsreg.write_dataset("small", {"train": rows}, FEATURES, root=root)


BAD_LOADER_ARGS: list[tuple[dict[str, Any], str]] = [
    ({"batch_size": 1.5}, "batch_size must be an integer"),
    ({"batch_size": "8"}, "batch_size must be an integer"),
    ({"batch_size": True}, "batch_size must be an integer"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"seed": 1.0}, "seed must be an integer"),
    ({"seed": -1}, "seed must be at least 0"),
    ({"seed": 1 << 64}, "seed must be at least 0 and at most"),
    ({"seed": "1"}, "seed must be an integer"),
    ({"shuffle": "no"}, "shuffle must be True or False"),
    ({"shuffle": 1}, "shuffle must be True or False"),
    ({"drop_last": "yes"}, "drop_last must be True or False"),
    ({"last_batch": 3}, "last_batch must be a string"),
    ({"last_batch": "keep"}, "unknown last-batch policy"),
    ({"rank": 0.0, "world_size": 2}, "rank must be an integer"),
    ({"rank": 0, "world_size": 2.0}, "world_size must be an integer"),
    ({"rank": 2, "world_size": 2}, "rank 2 is not within a world of size 2"),
    ({"rank": 0}, "give rank and world_size together"),
    ({"balance": 3}, "balance must be a column name"),
    ({"max_tokens": 1.5}, "max_tokens must be an integer"),
    ({"max_tokens": 0}, "max_tokens must be at least 1"),
    ({"max_tokens": 64, "num_buckets": 0}, "num_buckets must be at least 1"),
    ({"max_tokens": 64, "num_buckets": 2.5}, "num_buckets must be an integer"),
    ({"max_tokens": 64, "length_column": 7}, "length_column must be a column name"),
    ({"num_threads": -1}, "num_threads must be at least 0"),
    ({"num_threads": 0.5}, "num_threads must be an integer"),
    ({"transform": "upper"}, "transform must be a function"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_LOADER_ARGS, ids=[str(k) for k, _ in BAD_LOADER_ARGS])
def test_a_bad_loader_argument_is_a_dsreg_error(small: Manifest, kwargs: dict[str, Any], message: str) -> None:
    ds = open_dataset(small.directory)
    with pytest.raises(DsregError, match=message):
        Loader(ds, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 1.5}, "batch_size must be an integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"num_workers": 1.5}, "num_workers must be an integer"),
        ({"num_workers": -1}, "num_workers must be at least 0"),
        ({"columns": "x"}, "columns must be a list of column names"),
        ({"columns": ["x", "x"]}, "columns lists a column twice"),
        ({"columns": [1]}, "column names must be strings"),
        ({"version": 1}, "version must be a string"),
        ({"framework": 3}, "framework must be a name"),
    ],
)
def test_a_bad_load_argument_is_a_dsreg_error(small: Manifest, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DsregError, match=message):
        dsreg.load("small", **kwargs)


def test_bad_dataset_arguments_are_dsreg_errors(small: Manifest) -> None:
    with pytest.raises(DsregError, match="split must be a split expression"):
        open_dataset("small", 3)  # type: ignore[arg-type]
    with pytest.raises(DsregError, match="max_resident_bytes must be at least 0"):
        open_dataset("small", max_resident_bytes=-1)
    with pytest.raises(DsregError, match="name must be a dataset reference or a path"):
        open_dataset(3)  # type: ignore[arg-type]


def test_integer_like_numpy_values_are_accepted_and_equal_to_ints(small: Manifest) -> None:
    ds = open_dataset(small.directory)
    a = Loader(ds, np.int64(8), shuffle=np.bool_(True), seed=np.uint32(5))
    b = Loader(ds, 8, shuffle=True, seed=5)
    assert [x["x"].tolist() for x in a] == [x["x"].tolist() for x in b]
    assert a.state_dict() == b.state_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epoch": -5}, "epoch must be at least 0"),
        ({"epoch": 1.5}, "epoch must be an integer"),
        ({"epoch": "2"}, "epoch must be an integer"),
        ({"batches": -1}, "batches must be at least 0"),
        ({"batches": 2.0}, "batches must be an integer"),
        ({"batches": 99}, "saved position 99 is outside an epoch of 5 batches"),
        ({"batches": None}, "batches must be an integer"),
    ],
)
def test_a_bad_resume_state_is_refused(small: Manifest, change: dict[str, Any], message: str) -> None:
    ds = open_dataset(small.directory)
    loader = Loader(ds, 8, shuffle=True, seed=3)
    state = {**loader.state_dict(), **change}
    with pytest.raises(DsregError, match=message):
        Loader(ds, 8, shuffle=True, seed=3).load_state_dict(state)
    with pytest.raises(DsregError, match="loader state must be the dict"):
        loader.load_state_dict([("epoch", 1)])  # type: ignore[arg-type]


def test_a_good_resume_state_still_restores(small: Manifest) -> None:
    ds = open_dataset(small.directory)
    loader = Loader(ds, 8, shuffle=True, seed=3)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    rest = [b["x"].tolist() for b in it]
    resumed = Loader(ds, 8, shuffle=True, seed=3)
    resumed.load_state_dict(state)
    assert [b["x"].tolist() for b in resumed] == rest


def test_set_epoch_and_batch_indices_refuse_non_integers(small: Manifest) -> None:
    loader = Loader(open_dataset(small.directory), 8)
    with pytest.raises(DsregError, match="epoch must be at least 0"):
        loader.set_epoch(-1)
    with pytest.raises(DsregError, match="epoch must be an integer"):
        loader.set_epoch(1.5)  # type: ignore[arg-type]
    with pytest.raises(DsregError, match="start must be an integer"):
        list(loader.batch_indices(0, 0.5))  # type: ignore[arg-type]


def test_samplers_check_their_own_arguments() -> None:
    with pytest.raises(DsregError, match="rows must be an integer"):
        RangeSampler(10.0, 2)  # type: ignore[arg-type]
    with pytest.raises(DsregError, match="seed must be an integer"):
        RangeSampler(10, 2, seed=0.5)  # type: ignore[arg-type]
    with pytest.raises(DsregError, match="rank must be at least 0 and at most 1"):
        RangeSampler(10, 2, rank=2, world_size=2)
    with pytest.raises(DsregError, match="batch_size must be an integer"):
        BalancedSampler(np.array([0, 1]), 2.0)  # type: ignore[arg-type]
    with pytest.raises(DsregError, match="max_tokens must be an integer"):
        BucketSampler(np.array([1, 2]), 2.5)  # type: ignore[arg-type]
    with pytest.raises(DsregError, match="rank must be an integer"):
        detect_rank("0", 1)  # type: ignore[arg-type]
