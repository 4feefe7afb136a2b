"""Feature types: the schema a recipe declares, its Arrow storage type and its numpy batch form.

Each feature knows three things: how it is written to JSON (manifest and recipe), which Arrow type
stores it in a shard, and how a column of a record batch becomes a numpy array without per-row Python
where the shape is fixed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from dsreg.errors import DsregError

_DTYPES = (
    "bool",
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "uint64",
    "int64",
    "float16",
    "float32",
    "float64",
)


def _check_dtype(dtype: str, where: str) -> str:
    if dtype not in _DTYPES:
        raise DsregError(
            f"unknown dtype {dtype!r} at {where}",
            fix=f"use one of: {', '.join(_DTYPES)}",
        )
    return dtype


def values_view(array: pa.Array, dtype: str | np.dtype[Any]) -> np.ndarray:
    """A read-only numpy view of a primitive Arrow array's values, straight from its data buffer.

    Same result as ``array.to_numpy(zero_copy_only=True)``, without pyarrow's first-call import of pandas
    (about 140 ms of a fresh process's time to first batch). Booleans are bit-packed, so they are copied.
    """
    if np.dtype(dtype) == np.bool_:
        return array.to_numpy(zero_copy_only=False)
    if len(array) == 0:
        return np.empty(0, dtype=dtype)
    if array.null_count:
        raise DsregError("a numeric column has missing values", fix="re-prepare the dataset")
    data = array.buffers()[1]
    return np.frombuffer(data, dtype=dtype, count=array.offset + len(array))[array.offset :]


class Feature:
    """Base class of every feature type; subclasses are dataclasses registered by `kind`."""

    kind: ClassVar[str] = ""
    fixed_shape: ClassVar[bool] = False

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover - abstract

    def arrow_type(self) -> pa.DataType:
        raise NotImplementedError  # pragma: no cover - abstract

    def to_arrow(self, values: Seq[Any]) -> pa.Array:
        """Build the Arrow column for a list of per-example values (the writer's slow path)."""
        return pa.array(values, type=self.arrow_type())

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        """The numpy form of a whole column, a zero-copy view where the layout allows it."""
        raise NotImplementedError  # pragma: no cover - abstract

    def numpy_dtype(self) -> np.dtype[Any]:
        """The dtype of `to_numpy`'s result (object for ragged and text features)."""
        return np.dtype(object)

    def example_shape(self) -> tuple[int | None, ...]:
        """The shape of one example; None marks a variable dimension."""
        return ()


@dataclass(frozen=True)
class Scalar(Feature):
    """One number per example (a regression target, a sample rate, a duration)."""

    dtype: str = "int64"
    kind: ClassVar[str] = "scalar"
    fixed_shape: ClassVar[bool] = True

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "dtype": self.dtype}

    def arrow_type(self) -> pa.DataType:
        return pa.from_numpy_dtype(np.dtype(self.dtype))

    def to_arrow(self, values: Seq[Any]) -> pa.Array:
        return pa.array(np.asarray(values, dtype=self.dtype), type=self.arrow_type())

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        return values_view(column, self.dtype)

    def numpy_dtype(self) -> np.dtype[Any]:
        return np.dtype(self.dtype)


@dataclass(frozen=True, kw_only=True)
class ClassLabel(Scalar):
    """An integer class index in ``0..len(names)-1`` with its human-readable names."""

    names: tuple[str, ...] = ()
    dtype: str = "int64"
    kind: ClassVar[str] = "class_label"

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            raise DsregError(f"class_label has duplicate names {dup}", fix="give every class a unique name")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "names": list(self.names)}

    def int2str(self, index: int) -> str:
        return self.names[index]

    def str2int(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise DsregError(f"{name!r} is not a class name", fix="use one of the feature's names") from None


@dataclass(frozen=True)
class Tensor(Feature):
    """A fixed-shape array per example, stored as a flat fixed-size list so a batch is one view."""

    shape: tuple[int, ...] = ()
    dtype: str = "float32"
    kind: ClassVar[str] = "tensor"
    fixed_shape: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if not self.shape or any(d <= 0 for d in self.shape):
            raise DsregError(
                f"{self.kind} shape {list(self.shape)} is not a fixed positive shape",
                fix="give every dimension as a positive integer, or use a sequence feature for variable lengths",
            )

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "shape": list(self.shape), "dtype": self.dtype}

    def arrow_type(self) -> pa.DataType:
        return pa.list_(pa.from_numpy_dtype(np.dtype(self.dtype)), self.size)

    def to_arrow(self, values: Seq[Any]) -> pa.Array:
        flat = np.ascontiguousarray(np.asarray(values, dtype=self.dtype)).reshape(-1)
        if flat.size != len(values) * self.size:
            raise DsregError(
                f"{self.kind} values do not have shape {list(self.shape)}",
                fix="check the reader's output against the recipe's features",
            )
        return pa.FixedSizeListArray.from_arrays(pa.array(flat), self.size)

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        if column.null_count:
            raise DsregError(f"{self.kind} column has missing values", fix="re-prepare the dataset")
        flat = values_view(column.values, self.dtype)
        start = column.offset * self.size
        return flat[start : start + len(column) * self.size].reshape((len(column), *self.shape))

    def numpy_dtype(self) -> np.dtype[Any]:
        return np.dtype(self.dtype)

    def example_shape(self) -> tuple[int | None, ...]:
        return self.shape


@dataclass(frozen=True)
class Image(Tensor):
    """A decoded image of fixed height × width × channels (uint8 by default)."""

    dtype: str = "uint8"
    kind: ClassVar[str] = "image"


@dataclass(frozen=True)
class EncodedImage(Feature):
    """Compressed image bytes (JPEG, PNG) kept as the vendor shipped them, decoded at load time."""

    format: str = "jpeg"
    kind: ClassVar[str] = "encoded_image"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "format": self.format}

    def arrow_type(self) -> pa.DataType:
        return pa.large_binary()

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        return np.array(column.to_pylist(), dtype=object)


@dataclass(frozen=True)
class Text(Feature):
    """A Unicode string per example."""

    kind: ClassVar[str] = "text"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind}

    def arrow_type(self) -> pa.DataType:
        return pa.large_string()

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        return np.array(column.to_pylist(), dtype=object)


@dataclass(frozen=True)
class Sequence(Feature):
    """A variable-length 1-D sequence of numbers (token ids, audio samples, frame labels)."""

    dtype: str = "int32"
    kind: ClassVar[str] = "sequence"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "dtype": self.dtype}

    def arrow_type(self) -> pa.DataType:
        return pa.large_list(pa.from_numpy_dtype(np.dtype(self.dtype)))

    def to_arrow(self, values: Seq[Any]) -> pa.Array:
        arrays = [np.asarray(v, dtype=self.dtype).reshape(-1) for v in values]
        lengths = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=self.dtype)
        return pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat, type=self.arrow_type().value_type))

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        offsets = values_view(column.offsets, "int64")
        flat = values_view(column.values, self.dtype)
        out = np.empty(len(column), dtype=object)
        for i in range(len(column)):
            out[i] = flat[offsets[i] : offsets[i + 1]]
        return out

    def lengths(self, column: pa.Array) -> np.ndarray:
        """Per-example lengths of a column, vectorized (what bucketing and padding need)."""
        return np.diff(values_view(column.offsets, "int64"))

    def example_shape(self) -> tuple[int | None, ...]:
        return (None,)


@dataclass(frozen=True)
class Audio(Sequence):
    """A mono waveform at a fixed sample rate, stored as a sequence of samples."""

    dtype: str = "float32"
    sample_rate: int = 16000
    kind: ClassVar[str] = "audio"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "dtype": self.dtype, "sample_rate": self.sample_rate}


_KINDS: dict[str, type[Feature]] = {
    cls.kind: cls for cls in (Scalar, ClassLabel, Tensor, Image, EncodedImage, Text, Sequence, Audio)
}


def feature_from_json(spec: Mapping[str, Any], where: str = "features") -> Feature:
    """Build a feature from its JSON/YAML form; errors name the key path `where`."""
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise DsregError(f"{where} must be a mapping with a 'type' key", fix=f"use one of: {', '.join(_KINDS)}")
    kind = spec["type"]
    cls = _KINDS.get(kind)
    if cls is None:
        raise DsregError(f"unknown feature type {kind!r} at {where}.type", fix=f"use one of: {', '.join(_KINDS)}")
    args = {k: v for k, v in spec.items() if k != "type"}
    allowed = {f for f in cls.__dataclass_fields__ if f != "kind"}  # type: ignore[attr-defined]
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise DsregError(
            f"unknown key(s) {unknown} at {where} for type {kind!r}",
            fix=f"allowed keys: {', '.join(sorted(allowed))}",
        )
    if "dtype" in args:
        _check_dtype(str(args["dtype"]), f"{where}.dtype")
    if "shape" in args:
        args["shape"] = tuple(args["shape"])
    if "names" in args:
        args["names"] = tuple(str(n) for n in args["names"])
    try:
        return cls(**args)
    except DsregError as err:
        raise DsregError(f"{err.problem} (at {where})", fix=err.fix) from None
    except (TypeError, ValueError) as err:
        raise DsregError(f"invalid {kind} feature at {where}: {err}", fix="check the feature's keys") from None


@dataclass(frozen=True)
class Features:
    """An ordered mapping of column name → feature: the schema of every row of a dataset."""

    columns: Mapping[str, Feature] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", dict(self.columns))

    def __getitem__(self, name: str) -> Feature:
        try:
            return self.columns[name]
        except KeyError:
            raise DsregError(f"no column {name!r}", fix=f"columns are: {', '.join(self.columns)}") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def items(self):  # type: ignore[no-untyped-def]
        return self.columns.items()

    def names(self) -> list[str]:
        return list(self.columns)

    def to_json(self) -> dict[str, Any]:
        return {name: feat.to_json() for name, feat in self.columns.items()}

    @classmethod
    def from_json(cls, spec: Mapping[str, Any], where: str = "features") -> Features:
        if not isinstance(spec, Mapping) or not spec:
            raise DsregError(f"{where} must be a non-empty mapping of column name to feature")
        return cls({str(k): feature_from_json(v, f"{where}.{k}") for k, v in spec.items()})

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, feat.arrow_type(), nullable=False) for name, feat in self.columns.items()])

    def encode_batch(self, rows: Seq[Mapping[str, Any]]) -> pa.RecordBatch:
        """Turn example dicts into one record batch, checking every row has exactly the schema's keys."""
        expected = set(self.columns)
        for i, row in enumerate(rows):
            if set(row) != expected:
                missing, extra = sorted(expected - set(row)), sorted(set(row) - expected)
                raise DsregError(
                    f"example {i} of the batch does not match the features (missing {missing}, unexpected {extra})",
                    fix="make every example dict carry exactly the columns of the features schema",
                )
        arrays = []
        for name, feat in self.columns.items():
            try:
                arrays.append(feat.to_arrow([row[name] for row in rows]))
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as err:
                raise DsregError(
                    f"column {name!r} cannot be stored as {feat.to_json()}: {err}",
                    fix="check the values against the features schema",
                ) from None
        return pa.RecordBatch.from_arrays(arrays, schema=self.arrow_schema())
