"""Shared-memory batch slots (`dsreg.frameworks.shared_batches`): torch's workers decode into reusable slots,
and a batch the user still holds is never overwritten, however many batches come after it; slots of an
abandoned iteration come back; every way through gives the in-process decode's pixels."""

from __future__ import annotations

import gc
import io
import time
from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg.loading.imagedecode import ImageDecode

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
from dsreg.frameworks.shared_batches import CLAIMED, FREE  # noqa: E402

ROWS, BATCH = 40, 2  # 20 batches: more than the 2 workers' 8 slots


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    rng = np.random.default_rng(3)
    rows = []
    for i in range(ROWS):
        out = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (40 + i, 60, 3), dtype=np.uint8)).save(out, format="JPEG")
        rows.append({"image": out.getvalue(), "label": i % 2})
    root = tmp_path_factory.mktemp("slots-root")
    features = {"image": {"type": "encoded_image"}, "label": {"type": "class_label", "names": ["a", "b"]}}
    dsreg.write_dataset("slotfake", {"train": rows}, features, root=root)
    return root


def _loader(root: Path, workers: int, **options: object) -> object:
    decode = ImageDecode("train", size=24, resize=28, seed=9)
    return dsreg.load(
        "slotfake", "train", "torch", root=root, batch_size=BATCH, shuffle=True, decode=decode, num_workers=workers,
        **options,
    )  # fmt: skip


def _in_slots(loader: object, tensor: object) -> bool:
    pixels = loader.slots.pixels  # type: ignore[attr-defined]
    start = pixels.data_ptr()
    return start <= tensor.data_ptr() < start + pixels.numel()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def reference(root: Path) -> list[list[np.ndarray]]:
    """Two epochs decoded in the main process."""
    loader = _loader(root, 0)
    assert loader.slots is None  # type: ignore[attr-defined]
    return [[b["image"].numpy().copy() for b in loader] for _ in range(2)]  # type: ignore[attr-defined]


def test_batches_kept_by_the_user_are_never_overwritten(root: Path, reference: list[list[np.ndarray]]) -> None:
    loader = _loader(root, 2)
    kept = [b["image"] for b in loader]  # every slot stays taken: later batches fall back to fresh memory
    assert sum(_in_slots(loader, t) for t in kept) == 8 and len(kept) == ROWS // BATCH
    assert all(np.array_equal(t.numpy(), r) for t, r in zip(kept, reference[0], strict=True))
    views = [t[:, 0] for t in kept[:4]]  # a view keeps its slot taken after the batch itself is dropped
    del kept
    gc.collect()
    second = [b["image"].clone() for b in loader]
    assert all(np.array_equal(t.numpy(), r) for t, r in zip(second, reference[1], strict=True))
    assert all(np.array_equal(v.numpy(), r[:, 0]) for v, r in zip(views, reference[0][:4], strict=True))


def test_slots_are_reused_once_the_batches_are_dropped(root: Path, reference: list[list[np.ndarray]]) -> None:
    loader = _loader(root, 2)
    for epoch in range(2):
        from_slots = 0
        for batch, want in zip(loader, reference[epoch], strict=True):
            from_slots += _in_slots(loader, batch["image"])
            assert np.array_equal(batch["image"].numpy(), want)
            del batch
        assert from_slots == ROWS // BATCH, "a dropped batch's slot must be free for the next"
    gc.collect()
    assert (loader.slots.state.numpy() == FREE).all()  # type: ignore[attr-defined]


def test_an_abandoned_iteration_gives_its_slots_back(root: Path, reference: list[list[np.ndarray]]) -> None:
    loader = _loader(root, 2)
    for k in range(3):  # stop after one batch three times: the slots claimed ahead must not leak for good
        it = iter(loader)
        assert np.array_equal(next(it)["image"].numpy(), reference[0][k])
        del it
    got = [b["image"].clone() for b in loader]  # the rest of epoch 0
    assert all(np.array_equal(t.numpy(), r) for t, r in zip(got, reference[0][3:], strict=True))
    got = [(b["image"].clone(), _in_slots(loader, b["image"])) for b in loader]
    assert all(np.array_equal(t.numpy(), r) for (t, _), r in zip(got, reference[1], strict=True))
    assert sum(s for _, s in got) == ROWS // BATCH, "slots claimed by the abandoned iterations were not reclaimed"


def test_no_slots_where_the_workers_must_hand_over_something_else(root: Path) -> None:
    assert _loader(root, 2, transform=lambda b: b).slots is None  # type: ignore[attr-defined]
    assert _loader(root, 2, pin_memory=True).slots is None  # type: ignore[attr-defined]
    assert _loader(root, 2, decode_on="device").slots is None  # type: ignore[attr-defined]


def test_an_iteration_begun_while_another_is_live_never_overwrites_its_batches(
    root: Path, reference: list[list[np.ndarray]]
) -> None:
    loader = _loader(root, 2, persistent_workers=False)  # each iteration starts workers of its own
    first = iter(loader)
    assert np.array_equal(next(first)["image"].numpy(), reference[0][0])
    state = loader.slots.state.numpy()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while (state == CLAIMED).sum() < 4 and time.monotonic() < deadline:  # the first's workers decode ahead
        time.sleep(0.01)
    loader.set_epoch(1)  # type: ignore[attr-defined]
    second = iter(loader)
    got = [next(second)["image"] for _ in range(6)]
    assert all(np.array_equal(t.numpy(), r) for t, r in zip(got, reference[1], strict=False))
    rest = [next(first)["image"].clone() for _ in range(6)]  # the batches the first had fetched ahead
    assert all(np.array_equal(t.numpy(), r) for t, r in zip(rest, reference[0][1:], strict=False))
    del first, second
    gc.collect()
    loader.set_epoch(0)  # type: ignore[attr-defined]
    again = [(b["image"].clone(), _in_slots(loader, b["image"])) for b in loader]
    assert all(np.array_equal(t.numpy(), r) for (t, _), r in zip(again, reference[0], strict=True))
    assert sum(s for _, s in again) == ROWS // BATCH, "with nothing live, the slots are reclaimed and used again"


def test_workers_beyond_those_the_slots_were_made_for_decode_into_fresh_memory(
    root: Path, reference: list[list[np.ndarray]]
) -> None:
    loader = _loader(root, 1)
    loader.num_workers = 2  # type: ignore[attr-defined]  # DataLoader lets it change after construction
    got = [(b["image"].clone(), _in_slots(loader, b["image"])) for b in loader]
    assert all(np.array_equal(t.numpy(), r) for (t, _), r in zip(got, reference[0], strict=True))
    assert 0 < sum(s for _, s in got) < len(got)  # worker 0 in its slots, worker 1 in fresh memory


def test_numpy_arrays_of_a_batch_moved_by_share_memory_keep_their_pixels(root: Path) -> None:
    from dsreg.frameworks.shared_batches import BatchSlots, SlotRef

    slots = BatchSlots(workers=1, per_worker=2, batch_size=2, size=4)
    slots.pixels[0].fill_(7)
    batch = slots.deliver(SlotRef(0, 2))
    array = batch.numpy()  # views the slot's memory
    batch.share_memory_()  # what a torch.multiprocessing queue does: the tensor moves to new shared memory
    gc.collect()
    assert slots.state.numpy()[0] != FREE, "the slot must not be reused while `array` still views it"
    slots.pixels[0].fill_(9)  # (a worker would not write it; if one did, `array` would see it)
    slots.pixels[0].fill_(7)
    assert (array == 7).all() and (batch.numpy() == 7).all()
    dropped = slots.deliver(SlotRef(1, 2))
    del dropped
    gc.collect()
    assert slots.state.numpy()[1] == FREE  # a batch simply dropped gives its slot back
    slots.pixels[1].fill_(5)
    row = slots.deliver(SlotRef(1, 2))[1]  # a view outliving its batch, then shared
    row_array = row.numpy()
    gc.collect()
    row.share_memory_()
    gc.collect()
    assert slots.state.numpy()[1] != FREE and (row_array == 5).all()


def test_batches_sent_through_a_torch_multiprocessing_queue_never_change(
    root: Path, reference: list[list[np.ndarray]]
) -> None:
    loader = _loader(root, 2)
    queue = torch.multiprocessing.Queue()
    arrays, received = [], []
    for batch in loader:
        arrays.append(batch["image"].numpy())  # taken before the queue shares (moves) the tensor
        queue.put(batch["image"])
        received.append(queue.get(timeout=60))
        del batch
    assert all(np.array_equal(a, r) for a, r in zip(arrays, reference[0], strict=True))
    assert all(np.array_equal(t.numpy(), r) for t, r in zip(received, reference[0], strict=True))
    again = [b["image"].clone() for b in loader]  # later epochs still decode right, in fresh memory if need be
    assert all(np.array_equal(t.numpy(), r) for t, r in zip(again, reference[1], strict=True))
    assert all(np.array_equal(a, r) for a, r in zip(arrays, reference[0], strict=True))
