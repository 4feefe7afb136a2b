"""Samplers: the batches of row indices one rank reads in an epoch, as a pure function of (config, epoch, batch).

Every sampler answers ``batch(epoch, i)`` directly, without producing the batches before it, which is what
makes resuming O(1): a restored loader just asks for batch ``i`` of epoch ``e``. Every rank gets the same
number of batches, so collective operations in distributed training never wait on a rank that ran out.

`RangeSampler` (plain and shuffled batches) holds O(block) memory whatever the dataset size: global batch
``g`` is positions ``[g·W·B, (g+1)·W·B)`` of the epoch's order, rank ``r`` takes the ``r``-th slice of ``B``,
and the order is a keyed `Permutation` of ``[0, n)`` evaluated for those positions only.

Last-batch policies when ``n`` is not a multiple of ``W·B`` (``W`` ranks, batch size ``B``):

- ``drop``: the last ``n mod W·B`` rows of the epoch's order are not read this epoch (with shuffling, a
  different set each epoch).
- ``partial`` (default): the leftover rows are split evenly over the ranks, so every rank's last batch has
  ``ceil(rest / W)`` rows; when ``rest`` is not a multiple of ``W``, up to ``W - 1`` rows are repeated from
  the start of the epoch's order to even them out (as ``torch.utils.data.DistributedSampler`` does).
- ``pad``: the last batch of every rank is full; the missing rows repeat the start of the epoch's order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.loading import arguments
from dsreg.loading.permutation import Permutation, derive_key

LAST_BATCH = ("drop", "partial", "pad")
BLOCK = 1 << 16


def check_last_batch(policy: str) -> str:
    if not isinstance(policy, str) or policy not in LAST_BATCH:
        raise DsregError(f"unknown last-batch policy {policy!r}", fix=f"use one of: {', '.join(LAST_BATCH)}")
    return policy


class Sampler(ABC):
    """The batches of one rank: ``len(sampler)`` per epoch, the same on every rank."""

    def __init__(self, *, shuffle: bool, seed: int, rank: int, world_size: int, last_batch: str):
        self.shuffle = arguments.boolean("shuffle", shuffle)
        self.seed = arguments.seed(seed)
        self.world_size = arguments.integer("world_size", world_size, minimum=1)
        self.rank = arguments.integer("rank", rank, minimum=0, maximum=self.world_size - 1)
        self.last_batch = check_last_batch(last_batch)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def batch(self, epoch: int, index: int) -> np.ndarray:
        """Row indices of this rank's batch `index` in `epoch`."""

    def config(self) -> dict[str, Any]:
        """What a saved position depends on (JSON-able), to refuse restoring it into a different loader."""
        return {
            "sampler": type(self).__name__,
            "shuffle": self.shuffle,
            "seed": self.seed,
            "rank": self.rank,
            "world_size": self.world_size,
            "last_batch": self.last_batch,
        }


class RangeSampler(Sampler):
    """Batches of ``batch_size`` consecutive positions of the epoch's order (identity, or shuffled by (seed, epoch))."""

    def __init__(
        self,
        rows: int,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        last_batch: str = "partial",
    ):
        super().__init__(shuffle=shuffle, seed=seed, rank=rank, world_size=world_size, last_batch=last_batch)
        self.rows = rows = arguments.integer("rows", rows, minimum=0)
        self.batch_size = batch_size = arguments.integer("batch_size", batch_size, minimum=1)
        group = batch_size * world_size
        self._full, rest = divmod(rows, group)
        self._tail = 0 if rest == 0 or self.last_batch == "drop" else batch_size
        if self._tail and self.last_batch == "partial":
            self._tail = -(-rest // world_size)
        self._blocks: dict[tuple[int, int], np.ndarray] = {}

    def __len__(self) -> int:
        return self._full + (1 if self._tail else 0)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "rows": self.rows, "batch_size": self.batch_size}

    def batch(self, epoch: int, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of an epoch of {len(self)}")
        group = self.batch_size * self.world_size
        if index < self._full:
            start, size = index * group + self.rank * self.batch_size, self.batch_size
        else:
            start, size = self._full * group + self.rank * self._tail, self._tail
        positions = np.arange(start, start + size, dtype=np.int64)
        if start + size > self.rows:
            positions %= self.rows  # padding repeats the start of the epoch's order
        return self._order(epoch, positions) if self.shuffle else positions

    def _order(self, epoch: int, positions: np.ndarray) -> np.ndarray:
        """The epoch permutation at `positions`, computed a block of positions at a time to amortise numpy calls."""
        blocks = positions // BLOCK
        first, last = int(blocks[0]), int(blocks.max())
        if first == last and int(blocks.min()) == first:
            return self._block(epoch, first)[positions - first * BLOCK]
        out = np.empty_like(positions)
        for b in np.unique(blocks).tolist():
            mask = blocks == b
            out[mask] = self._block(epoch, b)[positions[mask] - b * BLOCK]
        return out

    def _block(self, epoch: int, block: int) -> np.ndarray:
        key = (epoch, block)
        cached = self._blocks.get(key)
        if cached is None:
            perm = Permutation(self.rows, derive_key(self.seed, "shuffle", epoch))
            cached = perm(np.arange(block * BLOCK, min((block + 1) * BLOCK, self.rows), dtype=np.int64))
            if len(self._blocks) >= 2:
                self._blocks.pop(next(iter(self._blocks)))
            self._blocks[key] = cached
        return cached


class PlanSampler(Sampler):
    """A sampler whose epoch is a list of variable batches planned at once (balanced, bucketed).

    The plan is O(rows) integers, recomputed (vectorized) from (seed, epoch) when an epoch starts or resumes.
    Global batch ``g`` goes to rank ``g mod W``; with ``drop`` each rank reads ``floor(G / W)`` batches, with
    ``partial`` or ``pad`` ``ceil(G / W)``, the missing ones repeating the first batches of the epoch.
    """

    def __init__(self, *, shuffle: bool, seed: int, rank: int, world_size: int, last_batch: str):
        super().__init__(shuffle=shuffle, seed=seed, rank=rank, world_size=world_size, last_batch=last_batch)
        self._plan: tuple[int, np.ndarray, np.ndarray] | None = None

    @property
    @abstractmethod
    def global_batches(self) -> int:
        """Batches per epoch over all ranks (independent of the epoch)."""

    @abstractmethod
    def plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, offsets)``: global batch ``g`` of `epoch` is ``rows[offsets[g]:offsets[g + 1]]``."""

    def __len__(self) -> int:
        total, w = self.global_batches, self.world_size
        return total // w if self.last_batch == "drop" else -(-total // w)

    def batch(self, epoch: int, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of an epoch of {len(self)}")
        if self._plan is None or self._plan[0] != epoch:
            self._plan = (epoch, *self.plan(epoch))
        _, rows, offsets = self._plan
        g = (index * self.world_size + self.rank) % self.global_batches
        return rows[offsets[g] : offsets[g + 1]]
