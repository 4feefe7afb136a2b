"""Shared-memory uint8 image batches that torch's workers decode into and hand to the main process unchanged.

A fresh shared-memory tensor per batch costs its page faults (~10 ms for a 64×3×224×224 batch here, a sixth of the
decode), so each worker owns a few reusable slots in one shared buffer made before the workers start. A slot's state
lives in shared memory: FREE, CLAIMED by its worker (decoding into it), DELIVERED to the main process as a tensor
that views it. A delivered slot becomes FREE only when that tensor's memory is released (every view and `.numpy()`
of it gone: a finalizer on the array the tensor was made from), so a batch kept by the user is never overwritten;
when a worker finds none of its slots free it decodes into a fresh shared tensor instead. `share_memory_()` (which a
torch.multiprocessing queue calls) copies a batch to new memory and releases the slot while `.numpy()` arrays taken
before may still view it: a slot released while a tensor still uses the batch's storage is RETIRED, never written
again. Slots claimed for batches an abandoned iteration never delivered are freed when the next iteration starts
(each worker runs its batches in order, so no batch of the new iteration holds them yet) — unless the abandoned
iteration is still live (its iterator still referenced): then it may yet deliver them, and an iteration started
meanwhile with workers of its own hands over fresh shared tensors instead.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

FREE, CLAIMED, DELIVERED, RETIRED = 0, 1, 2, 3


def image_batch(rows: int, size: int) -> torch.Tensor:
    """An uninitialised uint8 (rows, 3, size, size) tensor; in a DataLoader worker, in shared memory, so handing
    it to the main process moves a file descriptor instead of copying the batch."""
    shape = (rows, 3, size, size)
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=torch.uint8)
    storage = torch.UntypedStorage._new_shared(rows * 3 * size * size)
    return torch.empty(0, dtype=torch.uint8).set_(storage).view(shape)


class SlotRef:
    """Which slot holds a decoded batch, and how many of its rows."""

    def __init__(self, slot: int, rows: int):
        self.slot, self.rows = slot, rows


class BatchSlots:
    """`per_worker` reusable (batch_size, 3, size, size) uint8 slots for each of `workers` workers."""

    def __init__(self, workers: int, per_worker: int, batch_size: int, size: int):
        self.per_worker = per_worker
        count = workers * per_worker
        self.shape = (batch_size, 3, size, size)
        storage = torch.UntypedStorage._new_shared(count * batch_size * 3 * size * size)
        self.pixels = torch.empty(0, dtype=torch.uint8).set_(storage).view(count, *self.shape)
        self.state = torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage._new_shared(count))
        self.state.fill_(FREE)

    def claim(self, rows: int) -> tuple[int, np.ndarray] | None:
        """In a worker: a free slot of this worker's and its first `rows` rows to decode into, or None."""
        info = torch.utils.data.get_worker_info()
        if info is None or rows > self.shape[0]:
            return None
        state = self.state.numpy()
        first = info.id * self.per_worker
        if first + self.per_worker > state.size:  # more workers than the slots were made for (num_workers raised)
            return None
        for slot in range(first, first + self.per_worker):
            if state[slot] == FREE:
                state[slot] = CLAIMED
                return slot, self.pixels[slot, :rows].numpy()
        return None

    def release(self, slot: int) -> None:
        """Give a slot back (a worker whose decode failed, or the finalizer of a delivered batch)."""
        self.state[slot] = FREE

    def deliver(self, ref: SlotRef) -> torch.Tensor:
        """In the main process: the slot's batch as a tensor viewing it; the slot is freed when that memory is."""
        self.state[ref.slot] = DELIVERED
        view = self.pixels[ref.slot, : ref.rows].numpy()
        batch = torch.from_numpy(view)  # holds `view` until the tensor's storage (and every view of it) is gone
        # torch keeps a storage's Python object alive as long as any tensor uses the storage
        weakref.finalize(view, self._let_go, ref.slot, weakref.ref(batch.untyped_storage()))
        return batch

    def _let_go(self, slot: int, storage: weakref.ref[torch.UntypedStorage]) -> None:
        """`view` is released: by the batch's storage dying with its last tensor (the slot is FREE again), or by
        that storage moving to new memory (`share_memory_`, as a torch.multiprocessing queue does) while tensors
        still use it: `.numpy()` arrays taken from them before may still view the slot, so it is RETIRED, never
        written again."""
        self.state[slot] = RETIRED if storage() is not None else FREE

    def reclaim(self) -> None:
        """At the start of an iteration: free the slots claimed for batches that were never delivered."""
        state = self.state.numpy()
        state[state == CLAIMED] = FREE
