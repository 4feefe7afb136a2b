"""The Hugging Face adapter: a `datasets.Dataset` over the very shard files dsreg reads, with no copy.

`datasets` can only memory-map its own cache files (Arrow IPC *streams*); dsreg shards are IPC *files*. So
the table is built from dsreg's own memory-mapped record batches (the split expression's slices, the selected
columns) and handed to `datasets.Dataset` as an `InMemoryTable` — "in memory" only in name: every buffer is
still a page of the mapped shard, and nothing is read until a row is. Two consequences, both deliberate:

- the dataset has no `cache_files`, so `.map()` and friends write their results to memory or to the cache
  directory you give, never next to the published (read-only) shards;
- pickling it (``map(num_proc=…)``, spawned workers) serialises the rows; forked workers share the mapping.

Features map onto `datasets.Features` whose Arrow storage is the shards' storage, so no cast copies a column:
class labels → `ClassLabel` (names kept), scalars → `Value`, fixed-shape tensors and images → nested
fixed-length `List`s (``List(List(List(Value("uint8"), 3), 32), 32)`` for a 32×32×3 image: the same flat
buffer, seen with its shape), text → `Value("large_string")`, encoded images → `Value("large_binary")`,
sequences and audio → `LargeList` of their element's feature (``LargeList(ClassLabel(names=…))`` for a sequence of
labels, ``LargeList(LargeList(Value("int32")))`` for a sequence of sequences), structs → dicts of their fields'
features (a sequence of structs is ``LargeList({…})``: rows read back as lists of dicts). Kinds are looked up in
`HF_FEATURES`. (`Array3D` would need offset buffers larger than the pixels.)

HF's numpy/torch formatting walks nested lists row by row (~2 s per 256 CIFAR images); with
``flat_tensors=True`` tensors are one flat ``List(Value, length=size)`` each, which it formats at full speed
(~3 ms per batch) — reshape in your training step.

The rows are the loader's epoch in its order: the split expression's rows as they are when the loader neither
shuffles nor partitions, else an indices mapping (``Dataset.select``) onto the same table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import datasets
import numpy as np
import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, Feature, Features, Struct, Tensor
from dsreg.features import Sequence as SequenceFeature
from dsreg.loading.loader import Loader
from dsreg.loading.sampler import RangeSampler


def _class_label(feature: Feature, flat_tensors: bool) -> Any:
    assert isinstance(feature, ClassLabel)
    return datasets.ClassLabel(names=list(feature.names))


def _value(feature: Feature, flat_tensors: bool) -> Any:
    return datasets.Value(str(feature.numpy_dtype()))


def _tensor(feature: Feature, flat_tensors: bool) -> Any:
    assert isinstance(feature, Tensor)
    nested: Any = datasets.Value(feature.dtype)
    for dim in (feature.size,) if flat_tensors else reversed(feature.shape):
        nested = datasets.List(nested, length=dim)
    return nested


def _sequence(feature: Feature, flat_tensors: bool) -> Any:
    assert isinstance(feature, SequenceFeature)
    return datasets.LargeList(hf_feature(feature.feature, flat_tensors))


def _struct(feature: Feature, flat_tensors: bool) -> Any:
    assert isinstance(feature, Struct)
    return {name: hf_feature(f, flat_tensors) for name, f in feature.fields.items()}


# dsreg feature kind → the `datasets` feature with the same Arrow storage (sequences and structs recurse)
HF_FEATURES: dict[str, Callable[[Feature, bool], Any]] = {
    "class_label": _class_label,
    "scalar": _value,
    "tensor": _tensor,
    "image": _tensor,
    "text": lambda feature, flat: datasets.Value("large_string"),
    "encoded_image": lambda feature, flat: datasets.Value("large_binary"),
    "sequence": _sequence,
    "audio": _sequence,
    "struct": _struct,
}


def hf_feature(feature: Feature, flat_tensors: bool = False) -> Any:
    """The `datasets` feature whose Arrow storage type is the dsreg feature's (up to the tensor's nesting)."""
    convert = HF_FEATURES.get(feature.kind)
    if convert is None:
        raise DsregError(f"no Hugging Face feature for a {feature.kind} column", fix="select other columns")
    return convert(feature, flat_tensors)


def hf_features(features: Features, flat_tensors: bool = False) -> datasets.Features:
    return datasets.Features({name: hf_feature(feature, flat_tensors) for name, feature in features.items()})


def _view_tensor(feature: Feature, column: pa.Array, flat_tensors: bool) -> pa.Array:
    assert isinstance(feature, Tensor)
    if len(feature.shape) == 1 or flat_tensors:
        return column
    nested = column.flatten()  # a slice of the values buffer, honouring the batch's offset
    for dim in reversed(feature.shape):
        nested = pa.FixedSizeListArray.from_arrays(nested, dim)
    return nested


def _view_sequence(feature: Feature, column: pa.Array, flat_tensors: bool) -> pa.Array:
    assert isinstance(feature, SequenceFeature)
    values = _view(feature.feature, column.values, flat_tensors)
    return column if values is column.values else pa.LargeListArray.from_arrays(column.offsets, values)


def _view_struct(feature: Feature, column: pa.Array, flat_tensors: bool) -> pa.Array:
    assert isinstance(feature, Struct)
    fields = [column.field(i) for i in range(len(feature.fields))]
    views = [_view(f, child, flat_tensors) for f, child in zip(feature.fields.values(), fields, strict=True)]
    if all(v is c for v, c in zip(views, fields, strict=True)):
        return column
    return pa.StructArray.from_arrays(views, names=list(feature.fields))


# feature kind → how its Arrow column is re-seen with the storage of its `datasets` feature (others: as is)
VIEWS: dict[str, Callable[[Feature, pa.Array, bool], pa.Array]] = {
    "tensor": _view_tensor,
    "image": _view_tensor,
    "sequence": _view_sequence,
    "audio": _view_sequence,
    "struct": _view_struct,
}


def _view(feature: Feature, column: pa.Array, flat_tensors: bool) -> pa.Array:
    """Tensors' flat fixed-size lists re-seen as nested fixed-size lists of their shape (zero-copy), at any depth."""
    view = VIEWS.get(feature.kind)
    return column if view is None else view(feature, column, flat_tensors)


def _table(loader: Loader, schema: pa.Schema, flat_tensors: bool) -> pa.Table:
    """The split expression's rows and selected columns as one table over the mapped record batches."""
    features = loader.dataset.features
    chunks: dict[str, list[pa.Array]] = {name: [] for name in features.names()}
    for piece in loader.dataset.arrow_tables():
        for batch in piece.to_batches():
            for name, feature in features.items():
                chunks[name].append(_view(feature, batch.column(name), flat_tensors))
    columns = [pa.chunked_array(chunks[f.name], type=f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def epoch_order(loader: Loader) -> np.ndarray | None:
    """The rows of the loader's current epoch in its order, or None when that is simply every row in order."""
    s = loader.sampler
    every_row = isinstance(s, RangeSampler) and (s.last_batch == "partial" or s.rows % s.batch_size == 0)
    if every_row and not s.shuffle and s.world_size == 1:
        return None
    parts = list(loader.batch_indices(loader.epoch))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _fingerprint(loader: Loader, flat_tensors: bool) -> str:
    """A stable identity for `datasets`' cache (it would otherwise hash every row to make one)."""
    manifest, dataset = loader.dataset.manifest, loader.dataset
    key = [manifest.recipe_digest, dataset.split, dataset.column_map, loader.state_dict(), flat_tensors]
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def adapt(
    loader: Loader,
    *,
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    num_workers: int = 0,
    device: str | None = None,
    flat_tensors: bool = False,
) -> datasets.Dataset:
    """A `datasets.Dataset` of the loader's epoch over the mapped shards; `transform` becomes its `with_transform`.

    Batching, workers and devices are the consumer's business here (``ds.iter(batch_size)``, ``map(num_proc=…)``,
    a torch DataLoader), so `num_workers` and `device` are refused rather than ignored.
    """
    if num_workers or device not in (None, "cpu"):
        raise DsregError(
            "the hf adapter returns a datasets.Dataset, which has no workers or device",
            fix="drop num_workers=/device=, or load with framework='torch' for a DataLoader",
        )
    manifest = loader.dataset.manifest
    features = hf_features(loader.dataset.features, flat_tensors)
    info = datasets.DatasetInfo(
        description=manifest.metadata.get("description", ""),
        citation=manifest.metadata.get("citation", ""),
        homepage=manifest.metadata.get("homepage", ""),
        license=manifest.metadata.get("license", ""),
        features=features,
        config_name=manifest.config,
        dataset_name=manifest.name,
        version=manifest.version,
    )
    table = datasets.table.InMemoryTable(_table(loader, features.arrow_schema, flat_tensors))
    split = datasets.NamedSplit(loader.dataset.split)
    result = datasets.Dataset(table, info=info, split=split, fingerprint=_fingerprint(loader, flat_tensors))
    order = epoch_order(loader)
    if order is not None:
        result = result.select(order)
    return result.with_transform(transform) if transform is not None else result
