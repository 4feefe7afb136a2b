"""The TensorFlow adapter: a `tf.data.Dataset` of dict batches with an exact `element_spec`.

Batches come from the loader (so shuffling, rank partition, bucketing and resume stay dsreg's) through
`tf.data.Dataset.from_generator` with an `output_signature` derived from the features:

- scalars and class labels → ``TensorSpec((B,), dtype)``; tensors and images → ``TensorSpec((B, *shape), dtype)``;
- text and encoded images → ``TensorSpec((B,), tf.string)`` (UTF-8 text, raw bytes); an image column the loader
  decodes (``decode=``) → ``TensorSpec((B, 3, size, size), tf.uint8)``, decoded in the generator by dsreg's decoder
  (a decode function of your own: ``(B, None, None, None)``, its own channels and size);
- sequences and audio → ``RaggedTensorSpec((B, None), dtype, ragged_rank=1, row_splits_dtype=tf.int64)``: ragged
  rather than padded, so no pad value is invented and nothing is copied beyond the batch; call ``.to_tensor()``
  to pad. A sequence of sequences adds a ragged axis (``(B, None, None)``, ``ragged_rank=2``), a sequence of
  tensors keeps their uniform shape after the ragged axes (``(B, None, *shape)``, ``ragged_rank=1``), as does
  audio of several channels (``(B, None, channels)``); ``audio_dtype="float32"`` makes int16 audio float32;
- structs → a dict of their fields' specs; a sequence of structs → a dict of ragged fields sharing row splits.

Leaf dtypes are looked up by feature kind in `DTYPES`; the wire format between the generator and tf is, per
leaf, its flat values and its row splits (`dsreg.loading.ragged`).

``B`` is the batch size when every batch is full (last batch ``drop`` or ``pad``, or class-balanced batches),
else None. The loader's cursor counts batches *delivered* to the consumer, not batches prefetched, so
``loader.state_dict()`` taken between training steps resumes exactly; one iteration at a time, as for the loader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from dsreg.errors import DsregError
from dsreg.features import Feature
from dsreg.loading.balance import BalancedSampler
from dsreg.loading.imagedecode import ImageDecode, decode_column
from dsreg.loading.loader import Loader
from dsreg.loading.ragged import Leaf, Node, Ragged, flatten, layout, leaves
from dsreg.loading.sampler import RangeSampler

Element = dict[str, Any]


def static_batch_size(loader: Loader) -> int | None:
    """The batch size if the sampler guarantees every batch is full, else None (a variable batch dimension)."""
    sampler = loader.sampler
    if isinstance(sampler, BalancedSampler):
        return sampler.batch_size
    if isinstance(sampler, RangeSampler) and sampler.last_batch in ("drop", "pad"):
        return sampler.batch_size
    return None


# leaf feature kind → its tf dtype (given the leaf feature); sequences and structs compose these
def _numeric(feature: Feature) -> tf.DType:
    return tf.as_dtype(feature.numpy_dtype())


def _string(feature: Feature) -> tf.DType:
    return tf.string  # UTF-8 text and raw bytes alike


DTYPES: dict[str, Callable[[Feature], tf.DType]] = {
    "scalar": _numeric,
    "class_label": _numeric,
    "tensor": _numeric,
    "image": _numeric,
    "text": _string,
    "encoded_image": _string,
}


def _dtype(leaf: Leaf) -> tf.DType:
    kind = DTYPES.get(leaf.feature.kind)
    if kind is None:
        raise DsregError(f"no TensorFlow dtype for a {leaf.feature.kind} value", fix="select other columns")
    return kind(leaf.feature)


def _spec(ragged: Ragged, batch: int | None) -> Any:
    """The element spec of one column: a TensorSpec, a RaggedTensorSpec, or a dict of them for a struct."""
    if isinstance(ragged, Node):
        return {name: _spec(child, batch) for name, child in ragged.fields.items()}
    shape = [batch, *([None] * len(ragged.splits)), *ragged.values.shape[1:]]
    if not ragged.splits:
        return tf.TensorSpec(shape, _dtype(ragged))
    return tf.RaggedTensorSpec(shape, _dtype(ragged), ragged_rank=len(ragged.splits), row_splits_dtype=tf.int64)


def _wire_spec(ragged: Ragged, batch: int | None) -> tuple[tf.TensorSpec, ...]:
    """What the generator yields for one column: per leaf, its flat values then its row splits."""
    specs: list[tf.TensorSpec] = []
    for _, leaf in leaves(ragged):
        if not leaf.splits:
            specs.append(tf.TensorSpec([batch, *leaf.values.shape[1:]], _dtype(leaf)))
            continue
        specs.append(tf.TensorSpec([None, *leaf.values.shape[1:]], _dtype(leaf)))
        specs.append(tf.TensorSpec([None if batch is None else batch + 1], tf.int64))
        specs.extend(tf.TensorSpec([None], tf.int64) for _ in leaf.splits[1:])
    return tuple(specs)


def _to_wire(ragged: Ragged) -> tuple[np.ndarray, ...]:
    return tuple(part for _, leaf in leaves(ragged) for part in (leaf.values, *leaf.splits))


def _assemble(parts: list[tf.Tensor], ragged: Ragged) -> Any:
    """Rebuild one column from its wire tensors (consumed from the front of `parts`), following `ragged`."""
    if isinstance(ragged, Node):
        return {name: _assemble(parts, child) for name, child in ragged.fields.items()}
    values = parts.pop(0)
    if not ragged.splits:
        return values
    splits = [parts.pop(0) for _ in ragged.splits]
    return tf.RaggedTensor.from_nested_row_splits(values, splits, validate=False)


def adapt(
    loader: Loader,
    *,
    transform: Callable[[Element], Any] | None = None,
    num_workers: int = 0,
    device: str | None = None,
    prefetch: int | None = None,
    output_signature: Element | None = None,
) -> tf.data.Dataset:
    """A `tf.data.Dataset` over `loader`'s batches (dicts of tensors), prefetched (AUTOTUNE unless `prefetch`).

    `transform` runs on the tf batches with ``Dataset.map`` (`num_workers` parallel calls, else AUTOTUNE); TF
    places tensors itself, so `device` must be None or "cpu". A loader that carries its own numpy transform
    changes what batches look like, so it needs an explicit `output_signature` (dense `tf.TensorSpec`s only).
    """
    if device not in (None, "cpu"):
        raise DsregError(
            f"the tf adapter does not move batches to {device!r}",
            fix="leave device unset; TensorFlow copies inputs to the GPU that runs the step (or use tf.device)",
        )
    buffer = tf.data.AUTOTUNE if prefetch is None else prefetch
    features = loader.features
    layouts = {name: layout(f) for name, f in features.items()}
    if loader.transform is not None and output_signature is None:
        raise DsregError(
            "the loader has a numpy transform, so the batches' spec cannot be derived from the features",
            fix="pass output_signature= (a dict of tf.TensorSpec), or give the transform to the tf adapter instead",
        )
    if output_signature is not None:
        layouts = {}
        wire: Element = dict(output_signature)
    else:
        batch = static_batch_size(loader)
        wire = {name: _wire_spec(ragged, batch) for name, ragged in layouts.items()}
    decoded = None if loader.decode is None or not layouts else decode_column(loader.decode)
    if decoded is not None:
        # an ImageDecode gives (B, 3, size, size); a decode function any uint8 (B, C, H, W)
        shape = (3, loader.decode.size, loader.decode.size) if isinstance(loader.decode, ImageDecode) else (None,) * 3
        wire[decoded] = (tf.TensorSpec((static_batch_size(loader), *shape), tf.uint8),)

    def batches() -> Iterator[Element]:
        epoch, start = loader.begin_epoch()
        for indices in loader.batch_indices(epoch, start):
            batch = loader.fetch(indices)
            if not layouts:
                yield batch
                continue
            yield {
                name: (batch[name],) if name == decoded else _to_wire(flatten(features[name], batch[name]))
                for name in layouts
            }

    def assemble(element: Element) -> Element:
        if not layouts:  # the user's signature, in the user's order
            return {name: element[name] for name in wire}
        return {
            name: element[name][0] if name == decoded else _assemble(list(element[name]), ragged)
            for name, ragged in layouts.items()
        }

    def deliver(element: Any) -> Any:
        # runs on the consumer's side of the prefetch buffer, so it counts batches actually handed out
        with tf.control_dependencies([tf.py_function(loader.advance, [], [])]):
            return tf.nest.map_structure(tf.identity, element, expand_composites=True)

    dataset = tf.data.Dataset.from_generator(batches, output_signature=wire).map(assemble)
    if transform is not None:
        dataset = dataset.map(transform, num_parallel_calls=num_workers if num_workers > 0 else tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False  # a prefetch after `deliver` would count ahead
    return dataset.prefetch(buffer).map(deliver).with_options(options)
