"""The Keras adapter: a `keras.utils.PyDataset` of ``(x, y)`` batches, on any Keras backend (TensorFlow, torch…).

``x`` and ``y`` are the manifest's supervised keys unless named explicitly (a name gives an array, a list of
names a dict of arrays). Batches are numpy arrays, which every backend accepts; sequence columns are
right-padded to the batch's longest row on every ragged axis, since Keras has no ragged inputs on most backends
(numbers with 0, text with "" and bytes with b"", looked up by kind in `PADS`; mask on the pad value). A struct
column, or a sequence of structs, is a dict of its fields' arrays.

Keras may ask for batches out of order (``workers`` > 1, or ``fit(shuffle=True)`` shuffling batch order), so
``ds[i]`` computes batch ``i`` of the current epoch straight from the sampler (a pure function of (seed, epoch,
i)) rather than from an iterator. The end of each training epoch moves the loader to the next epoch (a new
shuffle each epoch) once every batch of it was computed — counted in shared memory with ``use_multiprocessing``,
whose pool processes compute them; to resume with ``fit(initial_epoch=k)``, call ``loader.set_epoch(k)`` first.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

import keras

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.loading.dataset import Batch
from dsreg.loading.imagedecode import decode_column
from dsreg.loading.loader import Loader
from dsreg.loading.padding import pad_ragged
from dsreg.loading.ragged import Node, Ragged, flatten

Columns = str | Sequence[str]
# leaf feature kind → the value ragged axes are padded with (0 for every numeric kind)
PADS: dict[str, Any] = {"text": "", "encoded_image": b""}


def dense(ragged: Ragged) -> Any:
    """A column's ragged form as what Keras accepts: a padded array, or a dict of them for a struct."""
    if isinstance(ragged, Node):
        return {name: dense(child) for name, child in ragged.fields.items()}
    if not ragged.splits:
        return ragged.values
    return pad_ragged(ragged.values, ragged.splits, PADS.get(ragged.feature.kind, 0))


def _densify(batch: Batch, features: Features, decoded: str | None = None) -> dict[str, Any]:
    """Every ragged column of `features` padded (columns a loader transform added, and the image column the
    loader decoded, pass through)."""
    return {
        name: dense(flatten(features[name], values))
        if name in features and name != decoded and not features[name].fixed_shape
        else values
        for name, values in batch.items()
    }


class LoaderPyDataset(keras.utils.PyDataset):
    """Batch ``i`` of the loader's current epoch as ``(x, y)``; ``len`` is the loader's batches per epoch."""

    def __init__(
        self,
        loader: Loader,
        x: Columns,
        y: Columns | None,
        transform: Callable[[Batch], Batch] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.loader = loader
        self.x, self.y = x, y
        self.transform = transform
        # which batches of the epoch were computed; with use_multiprocessing Keras computes them in pool processes
        # (handed this object at their start), so the flags live in shared memory the main process sees
        size = len(loader)
        self._served = multiprocessing.RawArray("B", size) if self.use_multiprocessing else bytearray(size)
        self._epoch()

    def _epoch(self) -> int:
        """The epoch Keras reads from its batch 0: a finished one rolls over; a restored position inside one is
        refused, since ``fit`` would reread the batches before it."""
        epoch, start = self.loader.begin_epoch()
        if start:
            raise DsregError(
                f"the loader's position is batch {start} of epoch {epoch}, and Keras reads every epoch from batch 0 "
                f"(it would repeat the first {start} batches)",
                fix=f"resume Keras at an epoch boundary: loader.set_epoch({epoch + 1}), fit(initial_epoch={epoch + 1})",
            )
        return epoch

    def __len__(self) -> int:
        return len(self.loader)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        batch = self.loader.fetch(self.loader.sampler.batch(self._epoch(), int(index)))
        self._served[int(index)] = 1
        decoded = None if self.loader.decode is None else decode_column(self.loader.decode)
        batch = _densify(batch, self.loader.features, decoded)
        if self.transform is not None:
            batch = self.transform(batch)
        inputs = _pick(batch, self.x)
        return (inputs,) if self.y is None else (inputs, _pick(batch, self.y))

    def on_epoch_end(self) -> None:
        # Keras also "ends epochs" that read a batch or two (to build the model, to infer a tf.data spec);
        # only an epoch that read every batch moves the loader on
        if all(self._served):
            self.loader.set_epoch(self.loader.epoch + 1)
        self._served[:] = bytes(len(self._served))


def _pick(batch: Batch, columns: Columns) -> Any:
    if isinstance(columns, str):
        return batch[columns]
    return {name: batch[name] for name in columns}


def _check_columns(loader: Loader, x: Columns | None, y: Columns | None) -> tuple[Columns, Columns | None]:
    """Explicit `x`/`y`, else the manifest's supervised keys; every name must be a loaded column."""
    dataset = loader.dataset
    if x is None:
        keys = dataset.manifest.supervised_keys
        if keys is None:
            raise DsregError(
                f"{dataset.manifest.full_name} declares no supervised keys, so Keras cannot tell inputs from targets",
                fix="pass x=COLUMN and y=COLUMN (or lists of columns) to dsreg.load(..., 'keras')",
            )
        x, y = keys if y is None else (keys[0], y)
    names = [x] if isinstance(x, str) else list(x)
    names += [] if y is None else ([y] if isinstance(y, str) else list(y))
    missing = [n for n in names if n not in dataset.column_names]
    if missing:
        raise DsregError(
            f"Keras inputs/targets {missing} are not among the loaded columns {dataset.column_names}",
            fix="load those columns (columns=…) or name others with x=/y=",
        )
    return x, y


def adapt(
    loader: Loader,
    *,
    x: Columns | None = None,
    y: Columns | None = None,
    transform: Callable[[Batch], Batch] | None = None,
    num_workers: int = 0,
    device: str | None = None,
    use_multiprocessing: bool = False,
    max_queue_size: int = 10,
) -> LoaderPyDataset:
    """A `keras.utils.PyDataset` over `loader`: ``model.fit(ds, epochs=…)`` on any backend.

    `transform` runs on each numpy batch (a dict) before ``x``/``y`` are picked; `num_workers` becomes the
    PyDataset's ``workers`` (threads unless `use_multiprocessing`). Keras places inputs itself, so `device`
    must be None or "cpu".
    """
    if device not in (None, "cpu"):
        raise DsregError(
            f"the keras adapter does not move batches to {device!r}",
            fix="leave device unset; Keras copies each batch to the device that runs the step",
        )
    x, y = _check_columns(loader, x, y)
    return LoaderPyDataset(
        loader,
        x,
        y,
        transform,
        workers=max(num_workers, 1),
        use_multiprocessing=use_multiprocessing,
        max_queue_size=max_queue_size,
    )
