"""Length bucketing under a token budget: batches whose padded size ``max_len × count`` stays within ``max_tokens``.

Rows are put in ``num_buckets`` buckets by length (bucket edges are quantiles of the lengths, so buckets hold
similar numbers of rows). A bucket whose longest allowed row has length ``u`` makes batches of
``max_tokens // u`` rows, so every batch respects the budget whatever rows it gets. Each epoch, rows are
shuffled inside their bucket by (seed, epoch) and the batches of all buckets are shuffled together; every
row is read exactly once per epoch, and the number of batches is the same every epoch.

With ``within="sorted"`` rows are instead ordered inside their bucket by length (the longest side's, then
each column's, ties broken by (seed, epoch)) before they are cut into batches, as fairseq orders them: batches
hold near-equal lengths, so padding nearly vanishes, and only the order of the batches and the tie-breaks
change between epochs. ``lengths`` may have one column per side of a pair (source, target): a row's budgeted
length is its longest side, so every side of a batch stays within the budget.

A row longer than ``max_tokens`` cannot fit any batch. Rather than drop it silently or stop training, it
gets a batch of its own (the only batches over budget) and a warning says how many such rows there are.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.loading import arguments
from dsreg.loading.permutation import derive_key, hash_order, mix64
from dsreg.loading.sampler import PlanSampler

WITHIN = ("shuffle", "sorted")


class BucketSampler(PlanSampler):
    """Variable-size batches of similar-length rows, each within a token budget."""

    def __init__(
        self,
        lengths: np.ndarray,
        max_tokens: int,
        *,
        num_buckets: int = 16,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        last_batch: str = "partial",
        within: str = "shuffle",
    ):
        super().__init__(shuffle=shuffle, seed=seed, rank=rank, world_size=world_size, last_batch=last_batch)
        self.max_tokens = max_tokens = arguments.integer("max_tokens", max_tokens, minimum=1)
        self.num_buckets = num_buckets = arguments.integer("num_buckets", num_buckets, minimum=1)
        if within not in WITHIN:
            raise DsregError(f"within_buckets={within!r}", fix=f"use one of: {', '.join(WITHIN)}")
        self.within = within
        columns = np.asarray(lengths, dtype=np.int64)
        width = int(np.prod(columns.shape[1:])) if columns.ndim > 1 else 1  # (n,) or (n, sides); not -1: n may be 0
        self._columns = columns.reshape(columns.shape[0], width) if columns.ndim else columns.reshape(0, 1)
        lengths = self._columns.max(axis=1) if self._columns.size else np.zeros(len(self._columns), np.int64)
        self._lengths = lengths
        fits = lengths[lengths <= max_tokens]
        qs = np.linspace(0, 1, num_buckets + 1)[1:]
        edges = np.unique(np.quantile(fits, qs, method="higher")) if fits.size else np.zeros(0, np.int64)
        self.edges = edges.astype(np.int64)
        capacity = self.max_tokens // np.maximum(self.edges, 1)
        self._bucket = np.searchsorted(self.edges, lengths, side="left")  # == len(edges) for over-budget rows
        self._capacity = np.append(capacity, 1)  # over-budget rows: one per batch
        counts = np.bincount(self._bucket, minlength=len(self._capacity))
        per_bucket = -(-counts // self._capacity)
        self._first_batch = np.concatenate([[0], np.cumsum(per_bucket)[:-1]]).astype(np.int64)
        self._global = int(per_bucket.sum())
        self.oversize = int(counts[-1])
        if self.oversize:
            warnings.warn(
                f"{self.oversize} row(s) are longer than max_tokens={max_tokens}; each gets a batch of its own",
                stacklevel=3,
            )

    @property
    def global_batches(self) -> int:
        return self._global

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "max_tokens": self.max_tokens,
            "num_buckets": self.num_buckets,
            **({"within": self.within} if self.within != "shuffle" else {}),
        }

    def plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(self._bucket.size, dtype=np.int64)
        tiebreak = mix64(rows, derive_key(self.seed, "bucket", epoch)) if self.shuffle else rows
        if self.within == "sorted":  # grouped by bucket, by length inside each, ties shuffled
            columns = [self._columns[:, j] for j in reversed(range(self._columns.shape[1]))]
            order = np.lexsort((tiebreak, *columns, self._lengths, self._bucket))
        else:
            order = np.lexsort((tiebreak, self._bucket))  # grouped by bucket, shuffled inside each
        bucket = self._bucket[order]
        starts = np.searchsorted(bucket, np.arange(len(self._capacity)), side="left")
        rank_in_bucket = np.arange(order.size) - starts[bucket]
        batch_of = self._first_batch[bucket] + rank_in_bucket // self._capacity[bucket]  # non-decreasing
        offsets = np.searchsorted(batch_of, np.arange(self._global + 1), side="left")
        if not self.shuffle:
            return order, offsets
        shuffled = hash_order(self._global, derive_key(self.seed, "batches", epoch))
        sizes = np.diff(offsets)[shuffled]
        new_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        gather = np.repeat(offsets[shuffled] - new_offsets[:-1], sizes) + np.arange(order.size)
        return order[gather], new_offsets
