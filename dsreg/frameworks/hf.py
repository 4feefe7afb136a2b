"""The Hugging Face adapter: a `datasets.Dataset` over the very shard files dsreg reads, with no copy.

`datasets` can only memory-map its own cache files (Arrow IPC *streams*); dsreg shards are IPC *files*. So
the table is built from dsreg's own memory-mapped record batches (the split expression's slices, the selected
columns) and handed to `datasets.Dataset` as an `InMemoryTable` — "in memory" only in name: every buffer is
still a page of the mapped shard, and nothing is read until a row is. Two consequences, both deliberate:

- the dataset has no `cache_files`, so `.map()` and friends write their results to memory or to the cache
  directory you give, never next to the published (read-only) shards;
- pickling it (``map(num_proc=…)``, spawned workers) serialises the rows; forked workers share the mapping.

Features map onto `datasets.Features` whose Arrow storage is the shards' storage, so no cast copies a column:
class labels → `ClassLabel` (names kept), scalars → `Value`, text → `Value("large_string")`, encoded images →
`Value("large_binary")`, sequences and audio → `LargeList` of their element's feature (``LargeList(ClassLabel(
names=…))`` for a sequence of labels, ``LargeList(LargeList(Value("int32")))`` for a sequence of sequences),
structs → dicts of their fields' features (a sequence of structs is ``LargeList({…})``: rows read back as lists of
dicts). Kinds are looked up in `HF_FEATURES`.

Top-level images and tensors of 2 to 5 dimensions become `Array2D`…`Array5D` of their shape and dtype, so
``with_format("torch")`` (or numpy, tf, jax) gives ``(n, 32, 32, 3)`` uint8 tensors at HF's full speed — as HF's
own CIFAR-10 would. Their values stay the mapped shard's buffer; only the list offsets HF's array types need are
made, once, for a chunk of rows (``OFFSETS_BYTES`` at most) and shared by every chunk of the column. Other
tensors (1-D, more than 5 dimensions, or inside sequences and structs) are nested fixed-length `List`s, which
HF formats row by row; ``flat_tensors=True`` makes every tensor one flat ``List(Value, length=size)`` (reshape
in your training step).

The rows are the loader's epoch in its order: the split expression's rows as they are when the loader neither
shuffles nor partitions, else an indices mapping (``Dataset.select``) onto the same table.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


ARRAY_TYPES = {2: "Array2D", 3: "Array3D", 4: "Array4D", 5: "Array5D"}
OFFSETS_BYTES = 4 << 20


def array_feature(feature: Feature, flat_tensors: bool) -> Any | None:
    """The `datasets.ArrayND` of a top-level tensor of 2–5 dimensions, or None (nested fixed-length lists)."""
    if flat_tensors or not isinstance(feature, Tensor) or len(feature.shape) not in ARRAY_TYPES:
        return None
    return getattr(datasets, ARRAY_TYPES[len(feature.shape)])(shape=feature.shape, dtype=feature.dtype)


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
    """The `datasets` features of the columns: top-level 2–5-D tensors as `ArrayND`, the rest by `hf_feature`."""
    return datasets.Features(
        {name: array_feature(f, flat_tensors) or hf_feature(f, flat_tensors) for name, f in features.items()}
    )


@functools.lru_cache(maxsize=16)
def _shared_offsets(shape: tuple[int, ...]) -> tuple[int, tuple[pa.Array, ...]]:
    """Rows per chunk for a tensor of `shape` and the offsets of each list level for that many rows (outermost
    first), made once per shape in the process: every chunk of every such column slices them."""
    size = math.prod(shape)
    units = math.prod(shape[:-1])  # innermost lists per row: the largest offsets level
    rows = max(1, min(OFFSETS_BYTES // (4 * (units + 1)), (2**31 - 1) // size))
    levels = []
    per_row = 1
    for inner in shape:
        offsets = np.arange(rows * per_row + 1, dtype=np.int32)
        offsets *= inner
        levels.append(pa.array(offsets))
        per_row *= inner
    return rows, tuple(levels)


class ArrayColumn:
    """A top-level tensor column re-seen as HF `ArrayND` chunks: the flat values of each record batch cut into
    chunks of at most `rows` rows, each wrapped in list levels whose offsets (`_shared_offsets`) all share."""

    def __init__(self, feature: Tensor, hf_type: pa.DataType):
        self.feature, self.hf_type = feature, hf_type
        self.rows, self._offsets = _shared_offsets(feature.shape)

    def chunks(self, column: pa.Array) -> list[pa.Array]:
        """`column` (fixed-size lists of the flat tensor) as `ArrayND` chunks over the same values buffer."""
        size = self.feature.size
        flat = column.flatten()  # a slice of the values buffer, honouring the batch's offset
        out = []
        for start in range(0, len(column), self.rows):
            n = min(self.rows, len(column) - start)
            array: pa.Array = flat.slice(start * size, n * size)
            counts = [n * math.prod(self.feature.shape[:k]) for k in range(len(self.feature.shape))]
            for offsets, count in zip(reversed(self._offsets), reversed(counts), strict=True):
                array = pa.ListArray.from_arrays(offsets.slice(0, count + 1), array)
            out.append(pa.ExtensionArray.from_storage(self.hf_type, array))
        return out


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


def _table(loader: Loader, features: datasets.Features, flat_tensors: bool) -> pa.Table:
    """The split expression's rows and selected columns as one table over the mapped record batches."""
    schema = features.arrow_schema
    ours = loader.dataset.features
    arrays = {
        name: ArrayColumn(f, schema.field(name).type)
        for name, f in ours.items()
        if isinstance(f, Tensor) and array_feature(f, flat_tensors) is not None
    }
    chunks: dict[str, list[pa.Array]] = {name: [] for name in ours.names()}
    for piece in loader.dataset.arrow_tables():
        for batch in piece.to_batches():
            for name, feature in ours.items():
                if name in arrays:
                    chunks[name] += arrays[name].chunks(batch.column(name))
                elif loader.audio is not None and name in loader.audio.columns:
                    chunks[name].append(_view(feature, _float_audio(batch.column(name)), flat_tensors))
                else:
                    chunks[name].append(_view(feature, batch.column(name), flat_tensors))
    columns = [pa.chunked_array(chunks[f.name], type=f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _float_audio(column: pa.Array) -> pa.Array:
    """An int16 audio column (a list of samples, or of per-frame channel vectors) as float32 / 32768."""
    if pa.types.is_large_list(column.type):
        return pa.LargeListArray.from_arrays(column.offsets, _float_audio(column.values))
    if pa.types.is_fixed_size_list(column.type):
        return pa.FixedSizeListArray.from_arrays(_float_audio(column.flatten()), column.type.list_size)
    return pc.multiply(pc.cast(column, pa.float32()), pa.scalar(1 / 32768, pa.float32()))


def epoch_order(loader: Loader) -> np.ndarray | None:
    """The rows of the loader's epoch from its position on (a restored cursor: the batches not yet read; a
    finished epoch: the next one), in its order, or None when that is simply every row in order."""
    s = loader.sampler
    epoch, start = loader.begin_epoch()
    every_row = isinstance(s, RangeSampler) and (s.last_batch == "partial" or s.rows % s.batch_size == 0)
    if every_row and not s.shuffle and s.world_size == 1 and start == 0:
        return None
    parts = list(loader.batch_indices(epoch, start))
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
    if loader.decode is not None:
        raise DsregError(
            "the hf adapter does not decode images: its rows are the shards' (an encoded image stays its bytes)",
            fix="drop decode= and decode in ds.with_transform(...), or load with framework='torch' for decoded crops",
        )
    manifest = loader.dataset.manifest
    features = hf_features(loader.features, flat_tensors)
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
    table = datasets.table.InMemoryTable(_table(loader, features, flat_tensors))
    split = datasets.NamedSplit(loader.dataset.split)
    result = datasets.Dataset(table, info=info, split=split, fingerprint=_fingerprint(loader, flat_tensors))
    order = epoch_order(loader)
    if order is not None:
        result = result.select(order)
    return result.with_transform(transform) if transform is not None else result
