"""`load(..., source=, target=, max_tokens=)`: a direction picked at load time; padded id batches with masks in
torch and tf, both sides within the token budget, every sentence exactly once per epoch on every rank."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import dsreg
from dsreg.errors import DsregError

ROWS = 500


@pytest.fixture
def corpus(root) -> dict[str, list]:
    rng = np.random.default_rng(0)
    de_len = rng.integers(1, 60, size=ROWS)
    en_len = np.maximum(1, de_len + rng.integers(-10, 30, size=ROWS))  # the target side is often the longer
    rows = [
        {
            "de": f"satz {i}",
            "en": f"sentence {i}",
            "de_ids": np.full(de_len[i], 4 + i % 50, dtype=np.int32),
            "en_ids": np.arange(5, 5 + en_len[i], dtype=np.int32),
        }
        for i in range(ROWS)
    ]
    features = {
        "de": {"type": "text"},
        "en": {"type": "text"},
        "de_ids": {"type": "sequence", "dtype": "int32"},
        "en_ids": {"type": "sequence", "dtype": "int32"},
    }
    dsreg.write_dataset("pairs", {"train": rows}, features)
    return {"de": [len(r["de_ids"]) for r in rows], "en": [len(r["en_ids"]) for r in rows]}


def test_torch_batches_are_padded_masked_and_within_budget_on_both_sides(corpus) -> None:
    pytest.importorskip("torch")
    budget = 256
    loader = dsreg.load("pairs", "train", "torch", source="en", target="de", max_tokens=budget, shuffle=True)
    seen = 0
    for batch in loader:
        for side in ("source", "target"):
            values, mask, lengths = batch[side], batch[f"{side}_mask"], batch[f"{side}_lengths"]
            assert values.numel() <= budget, f"{side} batch {tuple(values.shape)} over the budget"
            assert mask.dtype.is_floating_point is False and mask.sum(1).tolist() == lengths.tolist()
            assert (values[~mask] == 0).all() and (values[mask] != 0).all()
        seen += batch["source"].shape[0]
        # source is English here: its rows are the en_ids (5, 6, 7, …)
        assert batch["source"][0, 0].item() == 5
    assert seen == ROWS


def test_every_sentence_once_per_epoch_on_every_rank(corpus) -> None:
    world = 3
    per_rank = []
    for rank in range(world):
        loader = dsreg.load(
            "pairs",
            "train",
            "numpy",
            source="de",
            target="en",
            max_tokens=300,
            rank=rank,
            world_size=world,
            shuffle=True,
            seed=5,
        )
        per_rank.append([row for idx in loader.batch_indices(0) for row in idx.tolist()])
    assert (
        len(
            {
                len(
                    list(
                        dsreg.load(
                            "pairs",
                            "train",
                            "numpy",
                            source="de",
                            target="en",
                            max_tokens=300,
                            rank=r,
                            world_size=world,
                        )
                    )
                )
                for r in range(world)
            }
        )
        == 1
    )
    everything = sorted(i for rows in per_rank for i in rows if i >= 0)
    assert set(everything) == set(range(ROWS))
    lengths = np.maximum(corpus["de"], corpus["en"])
    for rank in range(world):
        loader = dsreg.load(
            "pairs", "train", "numpy", source="de", target="en", max_tokens=300, rank=rank, world_size=world
        )
        for idx in loader.batch_indices(0):
            real = idx[idx >= 0]
            assert real.size * lengths[real].max() <= 300


def test_tf_batches_are_dense_with_masks(corpus) -> None:
    tf = pytest.importorskip("tensorflow")
    dataset = dsreg.load("pairs", "train", "tf", source="de", target="en", max_tokens=200)
    total = 0
    for batch in dataset:
        for side in ("source", "target"):
            values, mask = batch[side], batch[f"{side}_mask"]
            assert isinstance(values, tf.Tensor) and values.shape == mask.shape
            assert int(tf.size(values)) <= 200
            assert bool(tf.reduce_all(tf.equal(tf.reduce_sum(tf.cast(mask, tf.int64), 1), batch[f"{side}_lengths"])))
        total += int(batch["source"].shape[0])
    assert total == ROWS


def test_columns_and_a_direction_do_not_mix(corpus) -> None:
    batch = next(iter(dsreg.load("pairs", "train", "numpy", batch_size=2, columns=None)))
    assert set(batch) == {"de", "en", "de_ids", "en_ids"}
    with pytest.raises(DsregError, match="cannot be combined"):
        dsreg.load("pairs", "train", "numpy", source="de", target="en", columns=["de"])


def test_sorted_buckets_pad_little_and_still_cover_every_row_once() -> None:
    from dsreg.loading.buckets import BucketSampler

    rng = np.random.default_rng(1)
    src = rng.integers(1, 80, size=3000)
    tgt = np.maximum(1, src + rng.integers(-5, 15, size=3000))
    lengths = np.stack([src, tgt], 1)
    waste = {}
    for within in ("shuffle", "sorted"):
        sampler = BucketSampler(lengths, 512, num_buckets=8, within=within, seed=3)
        orders = []
        slots = padded = 0
        for epoch in (0, 1):
            order, offsets = sampler.plan(epoch)
            assert sorted(order.tolist()) == list(range(3000))
            orders.append(order)
            for a, b in itertools.pairwise(offsets):
                for side in (src, tgt):
                    batch = side[order[a:b]]
                    assert batch.max() * batch.size <= 512
                    slots += int(batch.max()) * batch.size
                    padded += int(batch.max()) * batch.size - int(batch.sum())
        assert not np.array_equal(orders[0], orders[1])  # epochs still differ
        waste[within] = padded / slots
    assert waste["sorted"] < 0.05 < waste["shuffle"]


def test_an_unknown_within_buckets_is_refused(corpus) -> None:
    with pytest.raises(DsregError, match="within_buckets"):
        dsreg.load("pairs", "train", "numpy", source="de", target="en", max_tokens=300, within_buckets="random")
