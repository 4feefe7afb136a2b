"""Values read from text formats (a CSV cell, a JSON value) checked and converted to what a feature stores.

The generic readers (`table`, `audio_folder`) call `converter(feature)` once per column and then the
converter per value; a value that does not fit raises `ValueError` with a short reason, which the reader
turns into a `DsregError` naming the file and line. Nothing is coerced silently: a float where an integer
is declared, a class name not in the list, a number out of the dtype's range are all errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, Feature, Scalar, Sequence, Tensor, Text

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


def _number(dtype: str) -> Converter:
    if dtype == "bool":
        return _bool
    if np.dtype(dtype).kind in "iu":
        return lambda value: _integer(value, dtype)
    return lambda value: _float(value, dtype)


def _class_label(feature: ClassLabel) -> Converter:
    """A class name, or an integer index when no class name looks like an integer."""
    index = {name: i for i, name in enumerate(feature.names)}
    numeric_names = any(_INT.fullmatch(name) for name in feature.names)

    def convert(value: Any) -> int:
        if isinstance(value, str) and value in index:
            return index[value]
        if isinstance(value, str) and (numeric_names or not _INT.fullmatch(value.strip())):
            shown = ", ".join(feature.names[:10]) + (", …" if len(feature.names) > 10 else "")
            raise ValueError(f"{value!r} is not one of the {len(feature.names)} class names ({shown})")
        number = _integer(value, "int64")
        if not 0 <= number < len(feature.names):
            raise ValueError(f"class index {number} is outside 0..{len(feature.names) - 1}")
        return number

    return convert


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is a {type(value).__name__}, not a string")
    return value


def _sequence(feature: Sequence) -> Converter:
    """A JSON list of numbers, or a text cell of whitespace-separated numbers."""
    item = _number(feature.dtype)

    def convert(value: Any) -> list[Any]:
        values = value.split() if isinstance(value, str) else value
        if not isinstance(values, list | tuple | np.ndarray):
            raise ValueError(f"{value!r} is not a list of numbers")
        return [item(v) for v in values]

    return convert


def _tensor(feature: Tensor) -> Converter:
    item = _number(feature.dtype)

    def convert(value: Any) -> np.ndarray:
        if isinstance(value, str):
            raise ValueError("a tensor needs a nested JSON list, not text")
        try:
            array = np.asarray(value, dtype=object)
        except ValueError:
            raise ValueError("the nested lists are ragged") from None
        if array.shape != feature.shape:
            raise ValueError(f"shape {list(array.shape)} is not the feature's {list(feature.shape)}")
        return np.array([item(v) for v in array.reshape(-1)], dtype=feature.dtype).reshape(feature.shape)

    return convert


def converter(feature: Feature, column: str) -> Converter:
    """The converter for one column; a feature kind a text table cannot hold is an error up front."""
    if isinstance(feature, ClassLabel):
        return _class_label(feature)
    if type(feature) is Scalar:
        return _number(feature.dtype)
    if type(feature) is Text:
        return _text
    if type(feature) is Sequence:
        return _sequence(feature)
    if type(feature) is Tensor:
        return _tensor(feature)
    raise DsregError(
        f"the column {column!r} is a {feature.kind} feature, which a table cell cannot hold",
        fix="declare it as scalar, class_label, text, sequence or tensor (images and audio have their own readers)",
    )
