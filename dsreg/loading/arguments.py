"""Checks for the loading API's arguments, so a wrong type is a DsregError naming the argument, never a raw
TypeError deep in numpy, and never a silent coercion (``seed=1.5`` is refused, not read as ``1``)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dsreg.errors import DsregError

SEED_LIMIT = 1 << 64


def integer(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as an int if it is an integer (Python or numpy, not a bool) within the bounds, else a DsregError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DsregError(
            f"{name} must be an integer, got {value!r} ({type(value).__name__})",
            fix=f"pass {name} as a whole number, e.g. {name}={minimum if minimum is not None else 0}",
        )
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        low = "" if minimum is None else f"at least {minimum}"
        high = "" if maximum is None else f"at most {maximum}"
        raise DsregError(f"{name} must be {' and '.join(p for p in (low, high) if p)}, got {number}")
    return number


def optional_integer(name: str, value: Any, *, minimum: int | None = None) -> int | None:
    return None if value is None else integer(name, value, minimum=minimum)


def seed(value: Any) -> int:
    """A shuffle seed: an integer in ``[0, 2**64)`` (a float is refused, not truncated)."""
    return integer("seed", value, minimum=0, maximum=SEED_LIMIT - 1)


def boolean(name: str, value: Any) -> bool:
    """`value` if it is a bool (Python or numpy), else a DsregError (``shuffle="no"`` would read as True)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise DsregError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def optional_name(name: str, value: Any) -> str | None:
    """A column name or None."""
    if value is None or isinstance(value, str):
        return value
    raise DsregError(f"{name} must be a column name (a string) or None, got {value!r} ({type(value).__name__})")


def column_map(value: Any, all_names: list[str]) -> dict[str, str]:
    """`columns=` as output name → stored column: None is every column, a list selects, a mapping
    `{new: stored}` selects and renames (e.g. `{"source": "en", "target": "cs"}`)."""
    if isinstance(value, Mapping):
        bad = [(k, v) for k, v in value.items() if not (isinstance(k, str) and isinstance(v, str))]
        if bad:
            raise DsregError(f"columns maps names to stored columns, both strings; got {bad!r}")
        return dict(value)
    names = column_list(value)
    return {name: name for name in (all_names if names is None else names)}


def column_list(value: Any) -> list[str] | None:
    """`columns=`: None or a sequence of column names (a bare string is refused: it is not a list of names)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise DsregError(
            f"columns must be a list of column names, got {value!r} ({type(value).__name__})",
            fix=f"write columns=[{value!r}]" if isinstance(value, str) else "write columns=['image', 'label']",
        )
    names = list(value)
    bad = [c for c in names if not isinstance(c, str)]
    if bad:
        raise DsregError(f"column names must be strings, got {bad!r}")
    if len(set(names)) != len(names):
        raise DsregError(f"columns lists a column twice: {names}", fix="name each column once")
    return names
