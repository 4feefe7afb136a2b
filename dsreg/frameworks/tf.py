"""The TensorFlow adapter: a `tf.data.Dataset` of dict batches with an exact `element_spec`.

Batches come from the loader (so shuffling, rank partition, bucketing and resume stay dsreg's) through
`tf.data.Dataset.from_generator` with an `output_signature` derived from the features:

- scalars and class labels → ``TensorSpec((B,), dtype)``; tensors and images → ``TensorSpec((B, *shape), dtype)``;
- text and encoded images → ``TensorSpec((B,), tf.string)`` (UTF-8 text, raw bytes);
- sequences and audio → ``RaggedTensorSpec((B, None), dtype, ragged_rank=1, row_splits_dtype=tf.int64)``: ragged
  rather than padded, so no pad value is invented and nothing is copied beyond the batch; call ``.to_tensor()``
  to pad.

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
from dsreg.features import Feature, Features
from dsreg.features import Sequence as SequenceFeature
from dsreg.loading.balance import BalancedSampler
from dsreg.loading.loader import Loader
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


def _ragged(feature: Feature) -> bool:
    return isinstance(feature, SequenceFeature)


def _dtype(feature: Feature) -> tf.DType:
    if isinstance(feature, SequenceFeature):
        return tf.as_dtype(np.dtype(feature.dtype))
    if feature.numpy_dtype() == np.dtype(object):
        return tf.string  # text (UTF-8) and encoded images (raw bytes)
    return tf.as_dtype(feature.numpy_dtype())


def _spec(feature: Feature, batch: int | None) -> tf.TypeSpec:
    if _ragged(feature):
        return tf.RaggedTensorSpec([batch, None], _dtype(feature), ragged_rank=1, row_splits_dtype=tf.int64)
    return tf.TensorSpec([batch, *feature.example_shape()], _dtype(feature))


def _wire_signature(features: Features, batch: int | None) -> tuple[Element, Element]:
    """What the generator yields: dense columns, and ragged columns as ``(flat values, row splits)``."""
    dense = {name: _spec(f, batch) for name, f in features.items() if not _ragged(f)}
    splits = None if batch is None else batch + 1
    ragged = {
        name: (tf.TensorSpec([None], _dtype(f)), tf.TensorSpec([splits], tf.int64))
        for name, f in features.items()
        if _ragged(f)
    }
    return dense, ragged


def _to_wire(batch: dict[str, np.ndarray], ragged: dict[str, np.dtype[Any]]) -> tuple[Element, Element]:
    """Split a numpy batch into dense columns and ragged ``(values, row_splits)`` pairs (one concatenation each)."""
    dense = {k: v for k, v in batch.items() if k not in ragged}
    pairs = {}
    for name, dtype in ragged.items():
        rows = batch[name]
        splits = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([r.size for r in rows], out=splits[1:])
        pairs[name] = (np.concatenate([np.zeros(0, dtype), *rows]), splits)
    return dense, pairs


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
    features = loader.dataset.features
    ragged = {name: np.dtype(f.dtype) for name, f in features.items() if isinstance(f, SequenceFeature)}
    if loader.transform is not None and output_signature is None:
        raise DsregError(
            "the loader has a numpy transform, so the batches' spec cannot be derived from the features",
            fix="pass output_signature= (a dict of tf.TensorSpec), or give the transform to the tf adapter instead",
        )
    if output_signature is not None:
        ragged = {}
        wire: tuple[Element, Element] = (dict(output_signature), {})
    else:
        wire = _wire_signature(features, static_batch_size(loader))

    def batches() -> Iterator[tuple[Element, Element]]:
        epoch, start = loader.begin_epoch()
        for indices in loader.batch_indices(epoch, start):
            yield _to_wire(loader.fetch(indices), ragged)

    def assemble(dense: Element, pairs: Element) -> Element:
        out = dict(dense)
        for name, (values, splits) in pairs.items():
            out[name] = tf.RaggedTensor.from_row_splits(values, splits, validate=False)
        return {name: out[name] for name in order}

    def deliver(element: Any) -> Any:
        # runs on the consumer's side of the prefetch buffer, so it counts batches actually handed out
        with tf.control_dependencies([tf.py_function(loader.advance, [], [])]):
            return tf.nest.map_structure(tf.identity, element, expand_composites=True)

    order = list(output_signature) if output_signature is not None else features.names()
    dataset = tf.data.Dataset.from_generator(batches, output_signature=wire).map(assemble)
    if transform is not None:
        dataset = dataset.map(transform, num_parallel_calls=num_workers if num_workers > 0 else tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False  # a prefetch after `deliver` would count ahead
    return dataset.prefetch(buffer).map(deliver).with_options(options)
