"""Feature types: the schema a recipe declares, its Arrow storage type and its numpy batch form.

Each feature knows how it is written to JSON (manifest and recipe), which Arrow type stores it in a shard,
how python values become that Arrow type (checked, naming the row and key path of a bad value), and how a
column of a record batch becomes numpy without per-row Python where the shape is fixed. Kinds compose: a
`Sequence` holds elements of any feature, a `Struct` named features, nested to any depth.

The numpy form of a column (what `Dataset.take` returns) is an array of its row values:

- scalar, class_label: ``(n,)``; tensor, image: ``(n, *shape)`` — zero-copy views of the shard;
- text, encoded_image: object arrays of str / bytes;
- sequence: an object array whose rows hold the elements in the numpy form of the element's column
  (a sequence of numbers: 1-D views; of tensors: ``(len, *shape)`` views; of text: object arrays; of
  sequences: object arrays of those rows); a sequence of structs holds, per row, a dict of field → the
  field's sequence (struct of arrays, as TFDS does);
- struct: an object array of dicts, field → the field's row value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
_NUMERIC = "biuf"  # numpy dtype kinds a numeric feature accepts


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


class BadValue(Exception):
    """A python value that a feature cannot store: its row, its key path inside the row, and why."""

    def __init__(self, row: int, path: str, problem: str):
        super().__init__(problem)
        self.row, self.path, self.problem = row, path, problem

    def within(self, row: int, step: str) -> BadValue:
        """The same problem seen from the enclosing value: row `row`, `step` prepended to the path."""
        return BadValue(row, step + self.path, self.problem)

    def message(self, column: str | None = None, first_row: int = 0) -> str:
        where = f"column {column!r}, row {first_row + self.row}" if column else f"row {first_row + self.row}"
        if self.path:
            where += f", at {column or ''}{self.path}"
        return f"{where}: {self.problem}"


def _show(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _exact(source: np.ndarray, stored: np.ndarray) -> np.ndarray | bool:
    """Whether casting `source` to `stored`'s dtype kept every value (per element when it is not obvious)."""
    if np.can_cast(source.dtype, stored.dtype, "safe"):
        return True
    if stored.dtype.kind == "f":
        return True  # ints and wider floats round to the nearest float, as any float column does
    with np.errstate(invalid="ignore", over="ignore"):
        return stored.astype(source.dtype) == source


def _numbers(values: Any, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """`values` as an ``(n, *shape)`` array of `dtype`; a value that is not a number of that shape, or does
    not fit the dtype exactly (300 in uint8, 1.5 in int32), raises BadValue naming its row."""
    target = np.dtype(dtype)
    if len(values) == 0:
        return np.zeros((0, *shape), dtype=target)
    try:
        source = np.asarray(values)
    except (ValueError, TypeError):
        source = None
    if source is not None and source.dtype.kind in _NUMERIC and source.shape[1:] == shape and source.ndim >= 1:
        with np.errstate(invalid="ignore", over="ignore"):
            stored = source.astype(target, copy=False)
        if np.all(_exact(source, stored)):
            return stored
    raise _first_bad(values, target, shape)


def _first_bad(values: Any, target: np.dtype[Any], shape: tuple[int, ...]) -> BadValue:
    for i, value in enumerate(values):
        try:
            row = np.asarray(value)
        except (ValueError, TypeError):
            return BadValue(i, "", f"expected numbers of shape {list(shape)}, got the ragged {_show(value)}")
        if row.dtype.kind not in _NUMERIC:
            return BadValue(i, "", f"expected a number ({target}), got {_show(value)}")
        if row.shape != shape:
            return BadValue(i, "", f"values do not have shape {list(shape)} (got shape {list(row.shape)})")
        with np.errstate(invalid="ignore", over="ignore"):
            kept = np.broadcast_to(_exact(row, row.astype(target)), row.shape)
        if not np.all(kept):
            first = int(np.flatnonzero(~kept)[0])
            at = f" at index {[int(d) for d in np.unravel_index(first, shape)]}" if shape else ""
            return BadValue(i, "", f"{_show(row.flat[first])}{at} does not fit {target} exactly")
    return BadValue(0, "", f"values cannot be stored as {target} of shape {list(shape)}")


class Feature:
    """Base class of every feature type; subclasses are dataclasses registered by `kind`."""

    kind: ClassVar[str] = ""
    fixed_shape: ClassVar[bool] = False
    # what `lengths` counts for this kind ("elements", "characters", "bytes"), or None when rows have no length
    length_unit: ClassVar[str | None] = None

    @classmethod
    def from_json(cls, spec: Mapping[str, Any], where: str) -> Feature:
        """Build this kind from its JSON form (without ``type``); errors name the key path `where`."""
        args = _args(spec, where, {f for f in cls.__dataclass_fields__ if f != "kind"})  # type: ignore[attr-defined]
        if "dtype" in args:
            _check_dtype(str(args["dtype"]), f"{where}.dtype")
        if "shape" in args:
            args["shape"] = tuple(args["shape"])
        if "names" in args:
            args["names"] = tuple(str(n) for n in args["names"])
        return cls(**args)

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover - abstract

    def arrow_type(self) -> pa.DataType:
        raise NotImplementedError  # pragma: no cover - abstract

    def to_arrow(self, values: Seq[Any] | np.ndarray) -> pa.Array:
        """Build the Arrow column for per-example values; a bad value is a DsregError naming its row and path."""
        try:
            return self.encode(values)
        except BadValue as bad:
            raise DsregError(bad.message(), fix="check the values against the features schema") from None

    def encode(self, values: Seq[Any] | np.ndarray) -> pa.Array:
        """`to_arrow` for composing features: a bad value raises `BadValue`."""
        raise NotImplementedError  # pragma: no cover - abstract

    def row_items(self, value: Any, row: int) -> Any:
        """One row's value of a sequence of this feature, as a sized collection of elements to encode."""
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple, np.ndarray)):
            raise BadValue(row, "", f"expected a list of {self.kind} values, got {_show(value)}")
        return value

    def join(self, parts: list[Any]) -> Any:
        """The elements of several rows of a sequence of this feature, concatenated (for `encode`)."""
        return [item for part in parts for item in part]

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        """The numpy form of a whole column, a zero-copy view where the layout allows it."""
        raise NotImplementedError  # pragma: no cover - abstract

    def elements(self, column: pa.Array) -> Any:
        """The numpy form of a sequence's element values, cut per row with `cut` (a struct's is a dict)."""
        return self.to_numpy(column)

    def cut(self, elements: Any, start: int, stop: int) -> Any:
        """Elements ``start:stop`` of `elements`: one row of a sequence of this feature."""
        return elements[start:stop]

    def pick(self, elements: Any, index: int) -> Any:
        """Element `index` of `elements`: one row's value of this feature."""
        return elements[index]

    def elements_of(self, column: np.ndarray) -> Any:
        """A numpy column (rows as `to_numpy` gives them) in the `elements` form."""
        return column

    def concat(self, parts: Seq[Any]) -> Any:
        """Several `elements` forms concatenated (the rows of a batch of a sequence of this feature)."""
        if not parts:
            return self.elements(pa.array([], type=self.arrow_type()))
        return np.concatenate(list(parts))

    def count(self, elements: Any) -> int:
        """How many elements an `elements` form holds."""
        return len(elements)

    def numpy_dtype(self) -> np.dtype[Any]:
        """The dtype of `to_numpy`'s result (object for ragged and text features)."""
        return np.dtype(object)

    def example_shape(self) -> tuple[int | None, ...]:
        """The shape of one example; None marks a variable dimension."""
        return ()

    def lengths(self, column: pa.Array) -> np.ndarray:
        """Per-row lengths of a column in `length_unit`s (what bucketing and padding need), vectorized."""
        raise DsregError(
            f"a {self.kind} column has no per-row length", fix="use a sequence, audio, text or encoded_image column"
        )


def _args(spec: Mapping[str, Any], where: str, allowed: set[str]) -> dict[str, Any]:
    """A feature spec's keys other than ``type``, refusing unknown ones by name."""
    args = {k: v for k, v in spec.items() if k != "type"}
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise DsregError(
            f"unknown key(s) {unknown} at {where} for type {spec.get('type')!r}",
            fix=f"allowed keys: {', '.join(sorted(allowed))}",
        )
    return args


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

    def encode(self, values: Seq[Any] | np.ndarray) -> pa.Array:
        return pa.array(_numbers(values, self.dtype, ()), type=self.arrow_type())

    def row_items(self, value: Any, row: int) -> Any:
        return _number_items(value, row, (), self.dtype, self.kind)

    def join(self, parts: list[Any]) -> Any:
        parts = [p for p in parts if len(p)]  # an empty list is float64 to numpy; it must not promote ints
        return np.concatenate(parts) if parts else np.zeros(0, dtype=self.dtype)

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        return values_view(column, self.dtype)

    def numpy_dtype(self) -> np.dtype[Any]:
        return np.dtype(self.dtype)


def _number_items(value: Any, row: int, shape: tuple[int, ...], dtype: str, kind: str) -> np.ndarray:
    """One row of a sequence of numbers (or of fixed-shape tensors) as an array, or BadValue naming the element."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple, np.ndarray)):
        raise BadValue(row, "", f"expected a list of {kind} values, got {_show(value)}")
    if len(value) == 0:
        return np.zeros((0, *shape))
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        array = None
    if array is None or array.ndim != len(shape) + 1 or (array.size and array.dtype.kind not in _NUMERIC):
        bad = _first_bad(value, np.dtype(dtype), shape)
        raise BadValue(row, f"[{bad.row}]", bad.problem)
    if array.shape[1:] != shape:
        raise BadValue(row, "", f"elements do not have shape {list(shape)} (got {list(array.shape[1:])})")
    return array


@dataclass(frozen=True, kw_only=True)
class ClassLabel(Scalar):
    """An integer class index in ``0..len(names)-1`` with its human-readable names (-1: unlabelled, as in HF)."""

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

    def encode(self, values: Seq[Any] | np.ndarray) -> pa.Array:
        labels = _numbers(values, self.dtype, ())
        if self.names and labels.size:
            bad = np.flatnonzero((labels < -1) | (labels >= len(self.names)))
            if bad.size:
                raise BadValue(
                    int(bad[0]), "", f"label {labels[bad[0]]} is not a class index (0..{len(self.names) - 1}, or -1)"
                )
        return pa.array(labels, type=self.arrow_type())

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

    def encode(self, values: Seq[Any] | np.ndarray) -> pa.Array:
        flat = np.ascontiguousarray(_numbers(values, self.dtype, self.shape)).reshape(-1)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat), self.size)

    def row_items(self, value: Any, row: int) -> Any:
        return _number_items(value, row, self.shape, self.dtype, self.kind)

    def join(self, parts: list[Any]) -> Any:
        parts = [p for p in parts if len(p)]  # an empty list is float64 to numpy; it must not promote ints
        return np.concatenate(parts) if parts else np.zeros((0, *self.shape), dtype=self.dtype)

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


def _objects(values: list[Any]) -> np.ndarray:
    """A 1-D object array of `values` (never a 2-D one, whatever the values are)."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


@dataclass(frozen=True)
class EncodedImage(Feature):
    """Compressed image bytes (JPEG, PNG) kept as the vendor shipped them, decoded at load time."""

    format: str = "jpeg"
    kind: ClassVar[str] = "encoded_image"
    length_unit: ClassVar[str | None] = "bytes"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "format": self.format}

    def arrow_type(self) -> pa.DataType:
        return pa.large_binary()

    def encode(self, values: Seq[Any] | np.ndarray) -> pa.Array:
        for i, value in enumerate(values):
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise BadValue(i, "", f"expected the image's bytes, got {_show(value)}")
        return pa.array([bytes(v) for v in values], type=self.arrow_type())

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        return _objects(column.to_pylist())

    def lengths(self, column: pa.Array) -> np.ndarray:
        return np.asarray(pc.binary_length(column).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass(frozen=True)
class Text(Feature):
    """A Unicode string per example."""

    kind: ClassVar[str] = "text"
    length_unit: ClassVar[str | None] = "characters"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind}

    def arrow_type(self) -> pa.DataType:
        return pa.large_string()

    def encode(self, values: Seq[Any] | np.ndarray) -> pa.Array:
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise BadValue(i, "", f"expected a str, got {_show(value)}")
        return pa.array(list(values), type=self.arrow_type())

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        return _objects(column.to_pylist())

    def lengths(self, column: pa.Array) -> np.ndarray:
        return np.asarray(pc.utf8_length(column).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass(frozen=True, init=False)
class Sequence(Feature):
    """A variable-length sequence of any feature: numbers (token ids, samples), class labels, strings,
    tensors, structs, or sequences again. ``Sequence(dtype="int32")`` is a sequence of int32 scalars."""

    feature: Feature
    kind: ClassVar[str] = "sequence"
    length_unit: ClassVar[str | None] = "elements"

    def __init__(self, feature: Feature | None = None, *, dtype: str | None = None) -> None:
        if feature is not None and dtype is not None:
            raise DsregError("a sequence takes feature= or dtype=, not both", fix="use feature=Scalar(dtype=...)")
        if feature is None:
            feature = Scalar(_check_dtype(dtype or "int32", "sequence dtype"))
        if not isinstance(feature, Feature):
            raise DsregError(f"a sequence's feature must be a Feature, got {_show(feature)}")
        object.__setattr__(self, "feature", feature)

    @property
    def dtype(self) -> str | None:
        """The element's dtype when it has one (numbers, class labels, tensors), else None."""
        return getattr(self.feature, "dtype", None)

    @classmethod
    def from_json(cls, spec: Mapping[str, Any], where: str) -> Feature:
        args = _args(spec, where, {"feature", "dtype"})
        if "feature" in args and "dtype" in args:
            raise DsregError(f"{where} gives both 'feature' and 'dtype'", fix="give the element as feature: only")
        if "feature" in args:
            return cls(feature_from_json(args["feature"], f"{where}.feature"))
        return cls(dtype=_check_dtype(str(args.get("dtype", "int32")), f"{where}.dtype"))

    def to_json(self) -> dict[str, Any]:
        if type(self.feature) is Scalar:  # the short form manifests have always used
            return {"type": self.kind, "dtype": self.feature.dtype}
        return {"type": self.kind, "feature": self.feature.to_json()}

    def arrow_type(self) -> pa.DataType:
        return pa.large_list(self.feature.arrow_type())

    def encode(self, values: Seq[Any] | np.ndarray) -> pa.Array:
        element = self.feature
        parts = [element.row_items(value, i) for i, value in enumerate(values)]
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        try:
            child = element.encode(element.join(parts))
        except BadValue as bad:
            row = int(np.searchsorted(offsets, bad.row, side="right")) - 1
            raise bad.within(row, f"[{bad.row - int(offsets[row])}]") from None
        return pa.LargeListArray.from_arrays(pa.array(offsets, type=pa.int64()), child)

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        offsets = values_view(column.offsets, "int64")
        out = np.empty(len(column), dtype=object)
        if not len(column):
            return out
        start = int(offsets[0])
        elements = self.feature.elements(column.values.slice(start, int(offsets[-1]) - start))
        bounds = (offsets - start).tolist()
        cut = self.feature.cut
        for i in range(len(column)):
            out[i] = cut(elements, bounds[i], bounds[i + 1])
        return out

    def lengths(self, column: pa.Array) -> np.ndarray:
        return np.diff(values_view(column.offsets, "int64"))

    def example_shape(self) -> tuple[int | None, ...]:
        return (None, *self.feature.example_shape())


@dataclass(frozen=True, init=False)
class Audio(Sequence):
    """A waveform at a fixed sample rate: `channels` (default 1) channels of `dtype` samples. A mono row is
    ``(frames,)``; a row of several channels is ``(channels, frames)``, stored frame by frame (a sequence of
    ``channels``-sized vectors, so lengths and buckets count frames). A row whose channels do not match, and
    integer PCM in a float column, are refused, never flattened or stored unscaled."""

    sample_rate: int
    channels: int
    kind: ClassVar[str] = "audio"

    def __init__(self, dtype: str = "float32", sample_rate: int = 16000, channels: int = 1) -> None:
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise DsregError(f"audio channels is {channels!r}", fix="give the number of channels, 1 or more")
        if channels == 1:
            super().__init__(dtype=dtype)
        else:
            super().__init__(Tensor((channels,), _check_dtype(dtype, "audio dtype")))
        object.__setattr__(self, "sample_rate", int(sample_rate))
        object.__setattr__(self, "channels", channels)

    @property
    def dtype(self) -> str:
        return str(getattr(self.feature, "dtype", ""))

    @classmethod
    def from_json(cls, spec: Mapping[str, Any], where: str) -> Feature:
        args = _args(spec, where, {"dtype", "sample_rate", "channels"})
        if "dtype" in args:
            _check_dtype(str(args["dtype"]), f"{where}.dtype")
        return cls(**args)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "dtype": self.dtype, "sample_rate": self.sample_rate, "channels": self.channels}

    def encode(self, values: Seq[Any] | np.ndarray) -> pa.Array:
        for i, value in enumerate(values):
            _check_waveform(value, i, self.dtype, self.channels)
        if self.channels > 1:  # (channels, frames) rows are stored frame by frame
            values = [np.asarray(value).T for value in values]
        return super().encode(values)

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        rows = super().to_numpy(column)
        if self.channels > 1:
            for i, row in enumerate(rows):
                rows[i] = row.T  # (frames, channels) view of the shard → (channels, frames)
        return rows

    def elements_of(self, column: np.ndarray) -> Any:
        """Rows as the sequence of frames they are stored as: ``(frames, channels)`` for several channels."""
        if self.channels == 1:
            return column
        return _objects([np.asarray(row).T for row in column])

    def example_shape(self) -> tuple[int | None, ...]:
        return (None,) if self.channels == 1 else (self.channels, None)


def _check_waveform(value: Any, row: int, dtype: str, channels: int = 1) -> None:
    """Refuse what would be stored wrong without an error: channels other than declared (flattened or
    mixed up), integer PCM in a float column (stored unscaled), NaN or infinite samples."""
    try:
        samples = np.asarray(value)
    except (ValueError, TypeError):
        return  # ragged or not numbers: the sequence's own checks name the element
    if channels == 1 and samples.ndim > 1:
        raise BadValue(
            row,
            "",
            f"audio is mono, got samples of shape {list(samples.shape)}: mix the channels down, store each "
            "channel as its own audio column, or declare channels: N and give (channels, frames)",
        )
    if channels > 1 and (samples.ndim != 2 or samples.shape[0] != channels):
        raise BadValue(
            row,
            "",
            f"audio has {channels} channels, so a row is (channels, frames) = ({channels}, n); got samples of "
            f"shape {list(samples.shape)}",
        )
    if np.dtype(dtype).kind != "f" or samples.size == 0 or samples.dtype.kind not in _NUMERIC:
        return
    if samples.dtype.kind in "iub":
        raise BadValue(
            row,
            "",
            f"{samples.dtype} samples in a {dtype} audio column would be stored unscaled: scale them to [-1, 1] "
            f"(e.g. samples / 32768 for int16) or declare Audio(dtype={str(samples.dtype)!r})",
        )
    bad = np.flatnonzero(~np.isfinite(samples))
    if bad.size:
        first = int(bad[0])
        raise BadValue(row, f"[{first}]", f"sample {_show(samples[first])} is not a finite number")


@dataclass(frozen=True)
class Struct(Feature):
    """Named features per value — a phone ``{start, end, phone}``, a polygon ``{points, text}``; mostly the
    element of a sequence. A python value is a dict with exactly these keys."""

    fields: Mapping[str, Feature] = field(default_factory=dict)
    kind: ClassVar[str] = "struct"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", dict(self.fields))
        if not self.fields:
            raise DsregError("a struct needs at least one field", fix="give fields: {name: feature, ...}")
        for name, feature in self.fields.items():
            if not isinstance(name, str) or not name:
                raise DsregError(f"struct field name {name!r} is not a non-empty string")
            if not isinstance(feature, Feature):
                raise DsregError(f"struct field {name!r} is not a Feature: {_show(feature)}")

    @classmethod
    def from_json(cls, spec: Mapping[str, Any], where: str) -> Feature:
        fields = _args(spec, where, {"fields"}).get("fields")
        if not isinstance(fields, Mapping) or not fields:
            raise DsregError(f"{where}.fields must be a non-empty mapping of field name to feature")
        return cls({str(k): feature_from_json(v, f"{where}.fields.{k}") for k, v in fields.items()})

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "fields": {name: f.to_json() for name, f in self.fields.items()}}

    def arrow_type(self) -> pa.DataType:
        return pa.struct([pa.field(name, f.arrow_type()) for name, f in self.fields.items()])

    def encode(self, values: Seq[Any] | np.ndarray) -> pa.Array:
        for i, value in enumerate(values):
            self._check_keys(value, i)
        children = []
        for name, feature in self.fields.items():
            try:
                children.append(feature.encode([value[name] for value in values]))
            except BadValue as bad:
                raise bad.within(bad.row, f".{name}") from None
        return pa.StructArray.from_arrays(children, fields=list(self.arrow_type()))

    def _check_keys(self, value: Any, row: int) -> None:
        if not isinstance(value, Mapping):
            raise BadValue(row, "", f"expected a dict with keys {list(self.fields)}, got {_show(value)}")
        if set(value) != set(self.fields):
            missing, extra = sorted(set(self.fields) - set(value)), sorted(set(value) - set(self.fields))
            raise BadValue(row, "", f"struct keys do not match (missing {missing}, unexpected {extra})")

    def row_items(self, value: Any, row: int) -> Any:
        """A list of dicts, or a dict of equally long lists (the numpy form `Dataset.take` returns)."""
        if not isinstance(value, Mapping):
            return super().row_items(value, row)
        self._check_keys(value, row)
        columns = {name: list(Feature.row_items(f, value[name], row)) for name, f in self.fields.items()}
        sizes = {name: len(c) for name, c in columns.items()}
        if len(set(sizes.values())) > 1:
            raise BadValue(row, "", f"the struct's fields have different lengths {sizes}")
        return [dict(zip(columns, element, strict=True)) for element in zip(*columns.values(), strict=True)]

    def to_numpy(self, column: pa.Array) -> np.ndarray:
        elements = self.elements(column)
        return _objects([self.pick(elements, i) for i in range(len(column))])

    def elements(self, column: pa.Array) -> Any:
        return {name: f.elements(column.field(i)) for i, (name, f) in enumerate(self.fields.items())}

    def cut(self, elements: Any, start: int, stop: int) -> Any:
        return {name: f.cut(elements[name], start, stop) for name, f in self.fields.items()}

    def pick(self, elements: Any, index: int) -> Any:
        return {name: f.pick(elements[name], index) for name, f in self.fields.items()}

    def elements_of(self, column: np.ndarray) -> Any:
        return {name: f.elements_of(_column([row[name] for row in column], f)) for name, f in self.fields.items()}

    def concat(self, parts: Seq[Any]) -> Any:
        if not parts:
            return super().concat(parts)
        return {name: f.concat([p[name] for p in parts]) for name, f in self.fields.items()}

    def count(self, elements: Any) -> int:
        name, feature = next(iter(self.fields.items()))
        return feature.count(elements[name])


def _column(values: list[Any], feature: Feature) -> np.ndarray:
    """Row values gathered back into `feature`'s numpy column form."""
    if feature.fixed_shape:
        shape = tuple(int(d or 0) for d in feature.example_shape())
        return np.asarray(values, dtype=feature.numpy_dtype()).reshape((len(values), *shape))
    return _objects(values)


_KINDS: dict[str, type[Feature]] = {
    cls.kind: cls for cls in (Scalar, ClassLabel, Tensor, Image, EncodedImage, Text, Sequence, Audio, Struct)
}


def feature_from_json(spec: Mapping[str, Any], where: str = "features") -> Feature:
    """Build a feature from its JSON/YAML form; errors name the key path `where`."""
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise DsregError(f"{where} must be a mapping with a 'type' key", fix=f"use one of: {', '.join(_KINDS)}")
    kind = spec["type"]
    cls = _KINDS.get(kind)
    if cls is None:
        raise DsregError(f"unknown feature type {kind!r} at {where}.type", fix=f"use one of: {', '.join(_KINDS)}")
    try:
        return cls.from_json(spec, where)
    except DsregError as err:
        if where in err.problem:
            raise
        raise DsregError(f"{err.problem} (at {where})", fix=err.fix) from None
    except (TypeError, ValueError) as err:
        raise DsregError(f"invalid {kind} feature at {where}: {err}", fix="check the feature's keys") from None


@dataclass(frozen=True)
class Features:
    """An ordered mapping of column name → feature: the schema of every row of a dataset."""

    columns: Mapping[str, Feature] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", dict(self.columns))
        for name in self.columns:
            if not isinstance(name, str) or not name:
                raise DsregError(f"column name {name!r} is not a non-empty string", fix="give every column a name")

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

    def encode_batch(self, rows: Seq[Mapping[str, Any]], first_row: int = 0) -> pa.RecordBatch:
        """Turn example dicts into one record batch, checking every row has exactly the schema's keys and every
        value fits its feature; errors name the column and row (counted from `first_row`) and the key path."""
        expected = set(self.columns)
        for i, row in enumerate(rows):
            if set(row) != expected:
                missing, extra = sorted(expected - set(row)), sorted(set(row) - expected)
                raise DsregError(
                    f"example {first_row + i} does not match the features (missing {missing}, unexpected {extra})",
                    fix="make every example dict carry exactly the columns of the features schema",
                )
        arrays = []
        for name, feat in self.columns.items():
            try:
                arrays.append(feat.encode([row[name] for row in rows]))
            except BadValue as bad:
                raise DsregError(
                    bad.message(name, first_row),
                    fix="check the values against the features schema",
                ) from None
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as err:
                raise DsregError(
                    f"column {name!r} cannot be stored as {feat.to_json()}: {err}",
                    fix="check the values against the features schema",
                ) from None
        return pa.RecordBatch.from_arrays(arrays, schema=self.arrow_schema())
