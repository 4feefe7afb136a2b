"""Class-balanced batches: every batch holds ``batch_size / C`` rows of each of the ``C`` classes present.

The classes are the label values that occur in the split expression; ``batch_size`` must be a multiple of
their number. Each epoch (shuffled by (seed, epoch), or in dataset order without shuffling) reads
``floor(min_c n_c / k)`` batches: the rarest class is read (almost) entirely, the larger classes are
undersampled — their leftover rows are not read this epoch, and with shuffling a different subset is left
out every epoch. No row appears twice in an epoch. Rows inside a batch are in random order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.loading import arguments
from dsreg.loading.permutation import derive_key, mix64
from dsreg.loading.sampler import PlanSampler


class BalancedSampler(PlanSampler):
    """Equal class counts in every batch, planned per epoch from the label column (`batch_size` None: one row per
    class present)."""

    def __init__(
        self,
        labels: np.ndarray,
        batch_size: int | None,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        last_batch: str = "partial",
    ):
        super().__init__(shuffle=shuffle, seed=seed, rank=rank, world_size=world_size, last_batch=last_batch)
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.dtype.kind not in "iub":
            raise DsregError("balance= needs a column of integer labels (one per row)", fix="balance on a class_label")
        self.classes, self._class_of = np.unique(labels, return_inverse=True)
        # None: one row per class present
        batch_size = max(1, len(self.classes)) if batch_size is None else batch_size
        batch_size = arguments.integer("batch_size", batch_size, minimum=1)
        counts = np.bincount(self._class_of, minlength=len(self.classes))
        if len(self.classes) == 0 or batch_size % len(self.classes):
            raise DsregError(
                f"batch_size {batch_size} is not a multiple of the {len(self.classes)} classes present",
                fix=f"use a batch_size divisible by {max(len(self.classes), 1)}",
            )
        self.batch_size = batch_size
        self.per_class = batch_size // len(self.classes)
        self._global = int(counts.min()) // self.per_class
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    @property
    def global_batches(self) -> int:
        return self._global

    def config(self) -> dict[str, Any]:
        return {**super().config(), "batch_size": self.batch_size, "classes": self.classes.tolist()}

    def plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(self._class_of.size, dtype=np.int64)
        tiebreak = mix64(rows, derive_key(self.seed, "balance", epoch)) if self.shuffle else rows
        by_class = np.lexsort((tiebreak, self._class_of))  # rows grouped by class, in random order inside each
        g, k, c = self._global, self.per_class, len(self.classes)
        picks = self._starts[:, None] + np.arange(g * k)  # (C, G·k): the first G·k rows of each class
        batches = by_class[picks].reshape(c, g, k).transpose(1, 0, 2).reshape(g, c * k)
        if self.shuffle:
            within = mix64(np.arange(batches.size, dtype=np.int64), derive_key(self.seed, "within", epoch))
            batches = np.take_along_axis(batches, np.argsort(within.reshape(batches.shape), axis=1), axis=1)
        return batches.reshape(-1), np.arange(g + 1, dtype=np.int64) * (c * k)
