from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dsreg import DsregError
from dsreg.loading import BalancedSampler, BucketSampler, RangeSampler, Sampler


def epoch(sampler: Sampler, e: int = 0) -> list[np.ndarray]:
    return [sampler.batch(e, i) for i in range(len(sampler))]


def ranks(world: int, **kw: object) -> list[list[np.ndarray]]:
    return [epoch(RangeSampler(rank=r, world_size=world, **kw)) for r in range(world)]  # type: ignore[arg-type]


def test_shuffle_is_a_permutation_determined_by_seed_and_epoch() -> None:
    s = RangeSampler(1000, 64, shuffle=True, seed=3)
    e0, e0_again, e1 = (np.concatenate(epoch(s, e)) for e in (0, 0, 1))
    other_seed = np.concatenate(epoch(RangeSampler(1000, 64, shuffle=True, seed=4), 0))
    assert sorted(e0.tolist()) == list(range(1000))
    np.testing.assert_array_equal(e0, e0_again)
    assert (e0 != e1).mean() > 0.9 and (e0 != other_seed).mean() > 0.9
    assert np.concatenate(epoch(RangeSampler(1000, 64))).tolist() == list(range(1000))


def test_shuffle_spans_several_permutation_blocks() -> None:
    s = RangeSampler(150_000, 4096, shuffle=True, seed=1)
    rows = np.concatenate(epoch(s))
    assert np.unique(rows).size == 150_000 and len(s._blocks) <= 2


@pytest.mark.parametrize(("n", "bs", "world"), [(1001, 16, 2), (1000, 16, 3), (37, 8, 4), (5, 4, 2), (64, 16, 2)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_ranks_get_equal_counts_and_the_policy_decides_the_tail(n: int, bs: int, world: int, shuffle: bool) -> None:
    order = np.concatenate(epoch(RangeSampler(n, n, shuffle=shuffle, seed=9)))  # the epoch order on one rank
    for policy in ("drop", "partial", "pad"):
        per_rank = ranks(world, rows=n, batch_size=bs, shuffle=shuffle, seed=9, last_batch=policy)
        assert len({len(b) for b in per_rank}) == 1, policy
        assert len({len(b[-1]) for b in per_rank if b}) <= 1, policy  # same last-batch size everywhere
        rows = np.concatenate([np.concatenate(b) for b in per_rank if b] or [np.zeros(0, np.int64)])
        if policy == "drop":
            assert all(len(x) == bs for b in per_rank for x in b)
            assert len(rows) == n // (bs * world) * bs * world
            assert sorted(rows.tolist()) == sorted(order[: len(rows)].tolist())  # the tail of the order is dropped
        else:
            assert set(rows.tolist()) == set(range(n))
            extra = Counter(rows.tolist()) - Counter(range(n))
            repeats = sum(extra.values())
            assert sorted(extra.elements()) == sorted(order[np.arange(repeats) % n].tolist())  # the order's start
            if policy == "pad":
                assert all(len(x) == bs for b in per_rank for x in b)
            else:
                assert sum(extra.values()) < world


def test_balanced_batches_have_equal_class_counts_and_no_repeats() -> None:
    labels = np.array([0] * 500 + [1] * 130 + [2] * 77 + [5] * 300)
    s = BalancedSampler(labels, 12, shuffle=True, seed=2)
    assert len(s) == 77 // 3  # 3 rows of each of the 4 classes; the rarest class (77 rows) sets the count
    batches = epoch(s)
    for b in batches:
        assert Counter(labels[b].tolist()) == {0: 3, 1: 3, 2: 3, 5: 3}
    rows = np.concatenate(batches)
    assert np.unique(rows).size == rows.size
    assert (labels[batches[0]] != np.sort(labels[batches[0]])).any()  # classes mixed inside a batch
    np.testing.assert_array_equal(np.concatenate(epoch(s, 0)), rows)
    assert not np.array_equal(np.concatenate(epoch(s, 1)), rows)
    with pytest.raises(DsregError, match="not a multiple of the 4 classes"):
        BalancedSampler(labels, 10)


def test_balanced_batches_split_across_ranks() -> None:
    labels = np.arange(1000) % 5
    per_rank = [epoch(BalancedSampler(labels, 10, seed=1, rank=r, world_size=3, last_batch="drop")) for r in range(3)]
    assert [len(b) for b in per_rank] == [33, 33, 33]
    rows = np.concatenate([np.concatenate(b) for b in per_rank])
    assert np.unique(rows).size == rows.size


LENGTHS = (1 + (np.arange(3000) * 7919) % 97).astype(np.int64)


def test_bucketed_batches_respect_the_budget_and_cover_the_epoch_once() -> None:
    s = BucketSampler(LENGTHS, 400, num_buckets=8, shuffle=True, seed=5)
    for e in (0, 1):
        batches = epoch(s, e)
        assert len(batches) == len(s)
        for b in batches:
            assert LENGTHS[b].max() * len(b) <= 400
        rows = np.concatenate(batches)
        assert sorted(rows.tolist()) == list(range(3000))
    assert [b.tolist() for b in epoch(s, 1)] != [b.tolist() for b in epoch(s, 0)]
    assert [b.tolist() for b in epoch(s, 1)] == [b.tolist() for b in epoch(s, 1)]
    padded = sum(LENGTHS[b].max() * len(b) for b in epoch(s))
    assert padded / LENGTHS.sum() < 1.35  # buckets keep padding low
    unsorted = [b.tolist() for b in epoch(BucketSampler(LENGTHS, 400, shuffle=False))]
    assert sorted(i for b in unsorted for i in b) == list(range(3000))


@pytest.mark.parametrize("lengths", [np.zeros(0, np.int64), np.zeros((0, 2), np.int64)])
def test_an_empty_split_has_no_bucketed_batches(lengths: np.ndarray) -> None:
    for last_batch in ("drop", "partial", "pad"):
        sampler = BucketSampler(lengths, 64, rank=1, world_size=2, last_batch=last_batch)
        assert len(sampler) == 0 and sampler.global_batches == 0


def test_rows_over_budget_get_a_batch_of_their_own() -> None:
    lengths = np.array([5, 50, 7, 500, 9, 3, 600])
    with pytest.warns(UserWarning, match="2 row"):
        s = BucketSampler(lengths, 100, num_buckets=2)
    batches = epoch(s)
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    over = [b.tolist() for b in batches if lengths[b].max() > 100]
    assert sorted(over) == [[3], [6]]


def test_bucketed_batches_even_out_across_ranks() -> None:
    for policy, expect in (("drop", "floor"), ("partial", "ceil")):
        per_rank = [
            epoch(BucketSampler(LENGTHS, 300, seed=1, rank=r, world_size=3, last_batch=policy)) for r in range(3)
        ]
        total = BucketSampler(LENGTHS, 300, seed=1).global_batches
        assert {len(b) for b in per_rank} == {total // 3 if expect == "floor" else -(-total // 3)}
        rows = np.concatenate([np.concatenate(b) for b in per_rank])
        if policy == "drop":
            assert np.unique(rows).size == rows.size
        else:
            assert set(rows.tolist()) == set(range(3000))
