"""Values read from text formats (a CSV cell, a JSON value) checked and converted to what a feature stores.

The generic readers (`table`, `audio_folder`) call `converter(feature)` once per column and then the
converter per value; a value that does not fit raises `ValueError` with a short reason, which the reader
turns into a `DsregError` naming the file and line. Nothing is coerced silently: a float where an integer
is declared, a class name not in the list, a number out of the dtype's range are all errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, Feature, Scalar, Sequence, Struct, Tensor, Text

Converter = Callable[[Any], Any]
_INT = re.compile(r"[+-]?[0-9]+")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _integer(value: Any, dtype: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not an integer")
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        number = int(value.strip())
    elif isinstance(value, int | np.integer) or (isinstance(value, float | np.floating) and float(value).is_integer()):
        number = int(value)
    else:
        raise ValueError(f"{value!r} is not an integer")
    info = np.iinfo(dtype)
    if not info.min <= number <= info.max:
        raise ValueError(f"{number} is outside the range of {dtype} ({info.min}..{info.max})")
    return number


def _float(value: Any, dtype: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if np.isfinite(number) and abs(number) > np.finfo(dtype).max:
        raise ValueError(f"{number} is outside the range of {dtype}")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{value!r} is not a boolean (true/false, 1/0)")


@dataclass(frozen=True)
class _Number:
    """A number of `dtype`: bool, integer (range-checked) or float."""

    dtype: str

    def __call__(self, value: Any) -> Any:
        if self.dtype == "bool":
            return _bool(value)
        if np.dtype(self.dtype).kind in "iu":
            return _integer(value, self.dtype)
        return _float(value, self.dtype)


@dataclass(frozen=True)
class _ClassLabel:
    """A class name, or an integer index when no class name looks like an integer."""

    names: tuple[str, ...]
    index: dict[str, int] = field(init=False, compare=False)
    numeric_names: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {name: i for i, name in enumerate(self.names)})
        object.__setattr__(self, "numeric_names", any(_INT.fullmatch(name) for name in self.names))

    def __call__(self, value: Any) -> int:
        if isinstance(value, str) and value in self.index:
            return self.index[value]
        if isinstance(value, str) and (self.numeric_names or not _INT.fullmatch(value.strip())):
            shown = ", ".join(self.names[:10]) + (", …" if len(self.names) > 10 else "")
            raise ValueError(f"{value!r} is not one of the {len(self.names)} class names ({shown})")
        number = _integer(value, "int64")
        if not 0 <= number < len(self.names):
            raise ValueError(f"class index {number} is outside 0..{len(self.names) - 1}")
        return number


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is a {type(value).__name__}, not a string")
    return value


@dataclass(frozen=True)
class _Sequence:
    """A JSON list of elements, or (elements that are numbers, labels or words) a whitespace-separated cell."""

    item: Converter
    splittable: bool

    def __call__(self, value: Any) -> list[Any]:
        if isinstance(value, str):
            if not self.splittable:
                raise ValueError("a sequence of nested values needs a JSON list, not text")
            value = value.split()
        if not isinstance(value, list | tuple | np.ndarray):
            raise ValueError(f"{value!r} is not a list")
        out = []
        for i, element in enumerate(value):
            try:
                out.append(self.item(element))
            except ValueError as err:
                raise ValueError(f"element {i}: {err}") from None
        return out


@dataclass(frozen=True)
class _Struct:
    """A JSON object with exactly the struct's fields."""

    fields: tuple[tuple[str, Converter], ...]

    def __call__(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"{value!r} is not a JSON object")
        names = [name for name, _ in self.fields]
        if set(value) != set(names):
            raise ValueError(f"the object has the keys {sorted(value)}, the struct the fields {sorted(names)}")
        out = {}
        for name, convert in self.fields:
            try:
                out[name] = convert(value[name])
            except ValueError as err:
                raise ValueError(f"field {name!r}: {err}") from None
        return out


@dataclass(frozen=True)
class _Tensor:
    """A nested JSON list of exactly the feature's shape."""

    item: _Number
    shape: tuple[int, ...]

    def __call__(self, value: Any) -> np.ndarray:
        if isinstance(value, str):
            raise ValueError("a tensor needs a nested JSON list, not text")
        try:
            array = np.asarray(value, dtype=object)
        except ValueError:
            raise ValueError("the nested lists are ragged") from None
        if array.shape != self.shape:
            raise ValueError(f"shape {list(array.shape)} is not the feature's {list(self.shape)}")
        return np.array([self.item(v) for v in array.reshape(-1)], dtype=self.item.dtype).reshape(self.shape)


def converter(feature: Feature, column: str) -> Converter:
    """The converter for one column; a feature kind a text table cannot hold is an error up front."""
    if isinstance(feature, ClassLabel):
        return _ClassLabel(feature.names)
    if type(feature) is Scalar:
        return _Number(feature.dtype)
    if type(feature) is Text:
        return _text
    if type(feature) is Sequence:
        element = feature.feature
        return _Sequence(converter(element, column), isinstance(element, Scalar) or type(element) is Text)
    if type(feature) is Struct:
        return _Struct(tuple((name, converter(f, f"{column}.{name}")) for name, f in feature.fields.items()))
    if type(feature) is Tensor:
        return _Tensor(_Number(feature.dtype), feature.shape)
    raise DsregError(
        f"the column {column!r} is a {feature.kind} feature, which a table cell cannot hold",
        fix="declare it as scalar, class_label, text, tensor, or a sequence or struct of those "
        "(images and audio have their own readers)",
    )
