"""The torch adapter: a real ``torch.utils.data.DataLoader`` over a dsreg `Loader`.

Batches are fetched whole: the batch sampler hands a batch of row indices to ``__getitems__``, which
does one vectorized gather, and the collate function turns numpy arrays into tensors without copying
them (``torch.from_numpy``). Workers are worth it only for decoding (``EncodedImage`` decodes with
``torchvision.io`` in the collate step, which runs in the workers); fixed-shape data reads fastest with
``num_workers=0``. Columns convert by feature kind (`LEAVES`): numbers, class labels, tensors and images
become tensors; text and bytes stay Python lists. A sequence column is right-padded with `pad_value` on every
ragged axis — ``(batch, L1, …, Ld, *shape)`` — with its lengths beside it: ``<name>_lengths`` ``(batch,)`` for
the first axis, ``<name>_lengths_2`` ``(batch, L1)`` for the second, and so on (zero under padding). A struct
becomes a dict of its fields, converted the same way; lengths of the axes a struct's field adds go inside
that dict (``<field>_lengths_2``…), those of the sequences around the struct beside it. Sequences of strings
or bytes are nested lists.

The returned `TorchLoader` follows the Lightning/accelerate conventions — ``len()``, a batch sampler
with ``set_epoch`` — and carries the dsreg loader's ``state_dict``/``load_state_dict``, counted in
batches *delivered*, so workers fetching ahead never make a resumed run skip or repeat a batch. Since
dsreg already splits the data across ranks, tell Lightning not to (``use_distributed_sampler=False``) and
do not hand the loader to ``accelerator.prepare``.

Without workers, pinning or a timeout (the default), the loader runs DataLoader's single-process loop itself
(fetch each batch of the batch sampler, collate it), without the per-batch profiler span of torch's iterator.

With ``device="cuda"`` the next batch is copied to the GPU on a side CUDA stream (from pinned memory)
while the current one is in use.

Decoding on load (``decode=``): with an `ImageDecode`, each worker decodes its batch straight into one uint8
NCHW tensor in shared memory (a reusable slot, `dsreg.frameworks.shared_batches`), which reaches the main
process without a copy. With ``device="cuda"`` (or ``decode_on="device"``) the workers only gather the encoded
images, and the main process decodes each batch on the device with nvJPEG (`dsreg.loading.devicedecode`), the
crops drawn as in the workers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import Sampler as TorchSampler

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.frameworks.shared_batches import BatchSlots, SlotRef, image_batch
from dsreg.loading.dataset import Batch, Dataset
from dsreg.loading.devicedecode import decode_batch
from dsreg.loading.imagedecode import ImageDecode, decode_column
from dsreg.loading.loader import Loader, Transform, fetch_batch
from dsreg.loading.padding import axis_lengths, nested_lists, pad_fits, pad_ragged
from dsreg.loading.ragged import Leaf, Node, Ragged, flatten, layout, leaves

Decoder = Callable[[np.ndarray], Any]
TensorBatch = dict[str, Any]


def decode_images(values: np.ndarray) -> torch.Tensor | list[torch.Tensor]:
    """Encoded image bytes → uint8 ``(C, H, W)`` tensors (torchvision's layout), stacked when all share a shape."""
    from torchvision.io import ImageReadMode, decode_image

    images = [decode_image(torch.frombuffer(bytearray(v), dtype=torch.uint8), ImageReadMode.UNCHANGED) for v in values]
    if images and all(img.shape == images[0].shape for img in images):
        return torch.stack(images)
    return images


DECODERS: dict[str, Decoder] = {"encoded_image": decode_images}


def _tensor(leaf: Leaf, pad_value: Any) -> torch.Tensor:
    return torch.from_numpy(pad_ragged(leaf.values, leaf.splits, pad_value) if leaf.splits else leaf.values)


def _lists(leaf: Leaf, pad_value: Any) -> list[Any]:
    return nested_lists(leaf.values, leaf.splits)


# leaf feature kind → its torch form (given the leaf and the pad value); sequences and structs compose these
LEAVES: dict[str, Callable[[Leaf, Any], Any]] = {
    "scalar": _tensor,
    "class_label": _tensor,
    "tensor": _tensor,
    "image": _tensor,
    "text": _lists,
    "encoded_image": _lists,
}


def lengths_name(name: str, axis: int) -> str:
    """The key of the lengths of ragged axis `axis` (1-based) of column or field `name`."""
    return f"{name}_lengths" if axis == 1 else f"{name}_lengths_{axis}"


def convert(ragged: Ragged, name: str, pad_value: Any, out: TensorBatch, outer_axes: int = 0) -> None:
    """Put the torch form of `ragged` into `out` under `name`, with the lengths of its axes past `outer_axes`."""
    if isinstance(ragged, Node):
        fields: TensorBatch = {}
        for field, child in ragged.fields.items():
            convert(child, field, pad_value, fields, len(ragged.splits))
        out[name] = fields
    else:
        leaf = LEAVES.get(ragged.feature.kind)
        if leaf is None:
            raise DsregError(f"no torch form for a {ragged.feature.kind} value in column {name!r}")
        out[name] = leaf(ragged, pad_value)
    lengths = axis_lengths(ragged.splits)
    for axis in range(outer_axes + 1, len(lengths) + 1):
        out[lengths_name(name, axis)] = torch.from_numpy(lengths[axis - 1])


class EncodedImages:
    """A batch's encoded images and the (epoch, rows) their crops depend on, for the main process to decode on
    the device."""

    def __init__(self, values: list[bytes], epoch: int, indices: np.ndarray):
        self.values, self.epoch, self.indices = values, epoch, indices


class BatchRows(TorchDataset[Batch]):
    """The map-style dataset a DataLoader sees: ``__getitems__`` reads a whole batch in one gather (and decodes
    its images, in the worker, when the loader has a `decode`: into a shared slot when given `slots`; or leaves
    them encoded when `on_device`)."""

    def __init__(
        self,
        dataset: Dataset,
        transform: Transform | None = None,
        decode: Any = None,
        audio: Any = None,
        on_device: bool = False,
        slots: BatchSlots | None = None,
    ):
        self.dataset = dataset
        self.transform = transform
        self.decode = decode
        self.audio = audio
        self.on_device = on_device
        self.slots = slots

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])

    def __getitems__(self, key: tuple[int, np.ndarray] | list[int] | np.ndarray) -> dict[str, Any]:
        """`key` is ``(epoch, indices)`` from `BatchSampler`, or bare indices (epoch 0)."""
        epoch, indices = key if isinstance(key, tuple) else (0, key)
        rows = np.asarray(indices, dtype=np.int64)
        decode = self.decode
        batch: dict[str, Any]
        if self.on_device:
            batch = dict(fetch_batch(self.dataset, rows, epoch, None, self.transform, self.audio))
            batch[decode.column] = EncodedImages(list(batch[decode.column]), epoch, rows)
            return batch
        if not isinstance(decode, ImageDecode):
            return fetch_batch(self.dataset, rows, epoch, decode, self.transform, self.audio)
        slots = self.slots
        claimed = None if slots is None else slots.claim(len(rows))
        if slots is not None and claimed is not None:  # decode into a reusable shared slot (slots imply no transform)
            slot, pixels = claimed
            try:
                batch = dict(fetch_batch(self.dataset, rows, epoch, decode, None, self.audio, out=pixels))
            except BaseException:
                slots.release(slot)
                raise
            batch[decode.column] = SlotRef(slot, len(rows))
            return batch
        images = image_batch(len(rows), decode.size)
        pixels = images.numpy()
        batch = dict(fetch_batch(self.dataset, rows, epoch, decode, self.transform, self.audio, out=pixels))
        if batch.get(decode.column) is pixels:  # not replaced by a transform: hand over the shared tensor
            batch[decode.column] = images
        return batch


class Collate:
    """numpy batch → tensors (in the worker): decode by feature kind, else convert (`convert`), then `transform`."""

    def __init__(
        self,
        features: Features,
        decoders: Mapping[str, Decoder],
        transform: Callable[[TensorBatch], Any] | None,
        pad_value: Any,
        decoded: frozenset[str] = frozenset(),
    ):
        self.features = features
        self.decoded = decoded  # columns the loader already decoded to uint8 arrays
        self.decoders = dict(decoders)
        self.transform = transform
        self.pad_value = pad_value

    def __call__(self, batch: dict[str, Any]) -> Any:
        out: TensorBatch = {}
        for name, values in batch.items():
            if name in self.decoded:  # a shared tensor, an array (after a loader transform), or still encoded
                out[name] = torch.from_numpy(values) if isinstance(values, np.ndarray) else values
                continue
            feature = self.features[name]
            decoder = self.decoders.get(feature.kind)
            if decoder is not None:
                out[name] = decoder(values)
            else:
                convert(flatten(feature, values), name, self.pad_value, out)
        return self.transform(out) if self.transform is not None else out


class BatchSampler(TorchSampler[tuple[int, np.ndarray]]):
    """``(epoch, row indices)`` batches from the dsreg loader's cursor on, with ``len`` and ``set_epoch`` for
    Lightning/accelerate; the epoch travels with the indices so workers decode each row for the right epoch."""

    def __init__(self, loader: Loader):
        super().__init__()
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        epoch, start = self.loader.begin_epoch()
        return ((epoch, indices) for indices in self.loader.batch_indices(epoch, start))


def map_tensors(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply `fn` to every tensor in a batch (dicts, lists and tuples nested in any way); leave the rest."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: map_tensors(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        moved = [map_tensors(v, fn) for v in value]
        return moved if isinstance(value, list) else tuple(moved)
    return value


def cuda_prefetch(batches: Iterator[Any], device: torch.device) -> Iterator[Any]:
    """Copy batch k+1 to `device` on a side stream while batch k is in use; the consumer's stream waits for it."""
    stream = torch.cuda.Stream(device)

    def start(batch: Any) -> Any:
        with torch.cuda.stream(stream):
            return map_tensors(batch, lambda t: t.to(device, non_blocking=True))

    def ready(batch: Any) -> Any:
        current = torch.cuda.current_stream(device)
        current.wait_stream(stream)

        def keep(tensor: torch.Tensor) -> torch.Tensor:
            tensor.record_stream(current)  # the allocator must not reuse it before the consumer's work is done
            return tensor

        return map_tensors(batch, keep)

    pending: list[Any] = []
    for batch in batches:
        pending.append(start(batch))
        if len(pending) > 1:
            yield ready(pending.pop(0))
    if pending:
        yield ready(pending.pop())


class TorchLoader(DataLoader):
    """A DataLoader over a dsreg `Loader`, with its resume state and optional transfer to a device."""

    def __init__(
        self,
        loader: Loader,
        *,
        transform: Callable[[TensorBatch], Any] | None = None,
        num_workers: int = 0,
        device: str | torch.device | None = None,
        pin_memory: bool | None = None,
        persistent_workers: bool | None = None,
        prefetch_factor: int | None = None,
        decoders: Mapping[str, Decoder] | None = None,
        pad_value: Any = 0,
        decode_on: str | None = None,
        **dataloader_kwargs: Any,
    ):
        if loader.transform is None:  # a loader transform may change a column's dtype before it is padded
            _check_pad_value(loader.features, pad_value, {**DECODERS, **(decoders or {})})
        self.loader = loader
        self.device = torch.device(device) if device is not None else None
        on_cuda = self.device is not None and self.device.type == "cuda"
        self.image_decode = _device_decode(loader, decode_on, on_cuda)
        self.transform = transform if self.image_decode is not None else None  # applied after the device decode
        decoded = frozenset() if loader.decode is None else frozenset({decode_column(loader.decode)})
        collate = Collate(
            loader.features,
            {**DECODERS, **(decoders or {})},
            transform if self.image_decode is None else None,
            pad_value,
            decoded,
        )
        self.slots = _slots(loader, num_workers, prefetch_factor, transform, self.image_decode, pin_memory, on_cuda)
        rows = BatchRows(
            loader.dataset, loader.transform, loader.decode, loader.audio, self.image_decode is not None, self.slots
        )
        self._rows, self._collate = rows, collate
        self._live = 0  # iterations begun and not yet finished or dropped (slots are reclaimed only when none)
        self._batches = BatchSampler(loader)
        super().__init__(
            self._rows,
            # torch's annotations expect index lists and sample lists; numpy index arrays and a dict batch
            # are what its fetcher passes through unchanged, and they spare a conversion per batch
            batch_sampler=cast(Any, self._batches),
            collate_fn=cast(Any, collate),
            num_workers=num_workers,
            pin_memory=on_cuda if pin_memory is None else pin_memory,
            persistent_workers=num_workers > 0 if persistent_workers is None else persistent_workers,
            prefetch_factor=prefetch_factor,
            **dataloader_kwargs,
        )

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        in_process = self.num_workers == 0 and not self.pin_memory and not self.timeout
        self._live += 1
        try:
            yield from self._batches_of_one_iteration(in_process)
        finally:
            self._live -= 1

    def _batches_of_one_iteration(self, in_process: bool) -> Iterator[Any]:
        """One iteration's batches; the shared slots are reclaimed only when no other iteration is live."""
        batches: Iterator[Any]
        if in_process:
            batches = self._in_process()
        elif self.slots is not None and self._live > 1 and not self.persistent_workers:
            # another iteration's workers still decode into the slots: this one's workers (started now, with
            # no slots) send fresh shared tensors, and the other's claimed slots stay theirs
            self._rows.slots = None
            try:
                batches = super().__iter__()
            finally:
                self._rows.slots = self.slots
        else:
            if self.slots is not None and self._live == 1:
                self.slots.reclaim()
            batches = super().__iter__()
        if self.slots is not None:
            batches = (self._delivered(b, self.slots) for b in batches)
        if self.device is not None and self.device.type == "cuda":
            batches = cuda_prefetch(batches, self.device)
        elif self.device is not None and self.device.type != "cpu":
            device = self.device
            batches = (map_tensors(b, lambda t: t.to(device)) for b in batches)
        for batch in batches:
            if self.image_decode is not None:
                batch = self._decoded(batch, self.image_decode)
            self.loader.advance()
            yield batch

    def _delivered(self, batch: TensorBatch, slots: BatchSlots) -> TensorBatch:
        """A batch whose images a worker left in a shared slot, with the tensor that views the slot."""
        column = decode_column(self.loader.decode) if self.loader.decode is not None else ""
        ref = batch.get(column)
        if isinstance(ref, SlotRef):
            batch[column] = slots.deliver(ref)
        return batch

    def _decoded(self, batch: TensorBatch, decode: ImageDecode) -> Any:
        """Decode a batch's encoded images on the device (nvJPEG on CUDA), then apply the transform."""
        encoded: EncodedImages = batch[decode.column]
        device = self.device if self.device is not None else torch.device("cpu")
        batch[decode.column] = decode_batch(decode, encoded.values, encoded.epoch, encoded.indices, device)
        return self.transform(batch) if self.transform is not None else batch

    def _in_process(self) -> Iterator[Any]:
        """Without workers or pinning, what DataLoader's single-process iterator does — each batch of the batch
        sampler fetched whole, then collated — minus its per-batch bookkeeping and profiler span (about 10 µs a
        batch: a sixth of gathering a CIFAR batch of 256)."""
        for key in self._batches:
            yield self._collate(self._rows.__getitems__(key))

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        return self.loader.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.loader.load_state_dict(state)


def _check_pad_value(features: Features, pad_value: Any, decoders: Mapping[str, Decoder]) -> None:
    """Refuse a pad value that a padded numeric column cannot hold (before any worker starts), naming the column."""
    for name, feature in features.items():
        if feature.fixed_shape or feature.kind in decoders:
            continue
        for path, leaf in leaves(layout(feature)):
            if leaf.splits and LEAVES.get(leaf.feature.kind) is _tensor and not pad_fits(pad_value, leaf.values.dtype):
                column = ".".join((name, *path))
                raise DsregError(
                    f"pad_value={pad_value!r} does not fit column {column!r}, whose values are {leaf.values.dtype}",
                    fix="pass a pad_value that dtype holds (0 by default), or cast the column in Loader(transform=)",
                )


DECODE_ON = ("workers", "device")


def _device_decode(loader: Loader, decode_on: str | None, on_cuda: bool) -> ImageDecode | None:
    """The `ImageDecode` the main process runs on the device, or None when the workers decode (the default off
    CUDA; on CUDA, unless `decode_on="workers"`, the decode is not torchvision's or a loader transform needs the
    decoded arrays)."""
    if decode_on is not None and decode_on not in DECODE_ON:
        raise DsregError(f"decode_on={decode_on!r} is not one of {', '.join(DECODE_ON)}")
    decode = loader.decode
    usable = isinstance(decode, ImageDecode) and decode.backend == "torchvision" and loader.transform is None
    if decode_on == "device" and not usable:
        raise DsregError(
            "decode_on='device' needs decode='train'/'eval' or an ImageDecode with the torchvision backend, "
            "and no loader transform (which would need the decoded arrays in the workers)",
            fix="drop decode_on, or decode with torchvision",
        )
    wanted = decode_on == "device" or (decode_on is None and on_cuda)
    return decode if wanted and usable and isinstance(decode, ImageDecode) else None


def _slots(
    loader: Loader,
    workers: int,
    prefetch: int | None,
    transform: Any,
    device_decode: ImageDecode | None,
    pin_memory: bool | None,
    on_cuda: bool,
) -> BatchSlots | None:
    """Reusable shared batch slots for workers that decode with an `ImageDecode` and hand the batch over as it is
    (no transform in the workers, no pinning thread in between); None otherwise."""
    decode = loader.decode
    pinned = on_cuda if pin_memory is None else pin_memory
    if workers == 0 or device_decode is not None or not isinstance(decode, ImageDecode) or pinned:
        return None
    if transform is not None or loader.transform is not None or loader.batching["length_column"] is not None:
        return None
    return BatchSlots(workers, (2 if prefetch is None else prefetch) + 2, loader.batch_size, decode.size)


# DataLoader arguments that TorchLoader sets itself, or that its batch sampler excludes
_FIXED = frozenset({"self", "dataset", "batch_size", "shuffle", "sampler", "batch_sampler", "collate_fn", "drop_last"})


def options() -> set[str]:
    """The keywords `adapt` takes: TorchLoader's own, and the DataLoader arguments it passes on."""
    own = inspect.signature(TorchLoader.__init__).parameters.values()
    base = inspect.signature(DataLoader.__init__).parameters
    return {p.name for p in own if p.kind is p.KEYWORD_ONLY} | (set(base) - _FIXED)


def adapt(loader: Loader, **kwargs: Any) -> TorchLoader:
    """A `TorchLoader` over `loader`; keywords are `TorchLoader`'s and DataLoader's."""
    return TorchLoader(loader, **kwargs)
