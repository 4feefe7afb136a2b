"""A batch column in ragged form: flat leaf values plus the row splits of every ragged axis.

The form tf.RaggedTensor is built from and padding works on, for a column of any feature: a sequence adds
one axis of row splits to whatever its element flattens to; a struct becomes a node whose fields share the
splits of the sequences around it; every other kind is a leaf (its values, ``(N, *shape)`` numbers or an
object array of str / bytes). Sequence and struct are looked up by kind in `FLATTEN`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dsreg.features import Feature, Sequence, Struct


@dataclass(frozen=True)
class Leaf:
    """A non-composite feature's values with the row splits of the sequences around it (outermost first)."""

    feature: Feature
    values: np.ndarray
    splits: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class Node:
    """A struct: its fields' ragged forms (each carrying this node's splits first) and its own splits."""

    feature: Struct
    fields: dict[str, Leaf | Node]
    splits: tuple[np.ndarray, ...] = ()


Ragged = Leaf | Node


def _with_axis(ragged: Ragged, splits: np.ndarray) -> Ragged:
    """`ragged` one sequence deeper: `splits` becomes its outermost axis (and its fields')."""
    if isinstance(ragged, Node):
        fields = {name: _with_axis(child, splits) for name, child in ragged.fields.items()}
        return Node(ragged.feature, fields, (splits, *ragged.splits))
    return replace(ragged, splits=(splits, *ragged.splits))


def _sequence(feature: Feature, elements: Any) -> Ragged:
    assert isinstance(feature, Sequence)
    element = feature.feature
    rows = list(elements)
    splits = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([element.count(row) for row in rows], out=splits[1:])
    return _with_axis(flatten_elements(element, element.concat(rows)), splits)


def _struct(feature: Feature, elements: Any) -> Ragged:
    assert isinstance(feature, Struct)
    return Node(feature, {name: flatten_elements(f, elements[name]) for name, f in feature.fields.items()})


FLATTEN: dict[str, Callable[[Feature, Any], Ragged]] = {"sequence": _sequence, "audio": _sequence, "struct": _struct}


def flatten_elements(feature: Feature, elements: Any) -> Ragged:
    """The ragged form of values in `feature.elements` form."""
    composite = FLATTEN.get(feature.kind)
    return Leaf(feature, np.asarray(elements)) if composite is None else composite(feature, elements)


def flatten(feature: Feature, column: np.ndarray) -> Ragged:
    """The ragged form of a numpy batch column of `feature` (as `Dataset.take` returns it)."""
    return flatten_elements(feature, feature.elements_of(column))


def layout(feature: Feature) -> Ragged:
    """The ragged form of an empty column: the leaves, nodes and depths of `feature`, with no data."""
    return flatten(feature, feature.to_numpy(feature.encode([])))


def leaves(ragged: Ragged, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Leaf]]:
    """Every leaf of `ragged` with its field path, depth first in field order."""
    if isinstance(ragged, Node):
        for name, child in ragged.fields.items():
            yield from leaves(child, (*path, name))
    else:
        yield path, ragged
