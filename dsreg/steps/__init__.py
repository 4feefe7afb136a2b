"""Preprocessing steps a recipe lists, applied in order to the reader's output before sharding.

A step is a function of (its args, the stream of items) → stream of items, where an item is an
example dict or a record batch; steps are registered by the name recipes use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeAlias

import pyarrow as pa

from dsreg.errors import DsregError

Item: TypeAlias = Mapping[str, Any] | pa.RecordBatch
Step: TypeAlias = Callable[[Mapping[str, Any], Iterator[Item]], Iterator[Item]]


def _select(args: Mapping[str, Any], items: Iterator[Item]) -> Iterator[Item]:
    """Keep only `args.columns` (e.g. a fine-labels-only variant of CIFAR-100)."""
    columns = list(args.get("columns") or [])
    if not columns:
        raise DsregError("step 'select' needs args.columns, a non-empty list of column names")
    for item in items:
        if isinstance(item, pa.RecordBatch):
            yield item.select(columns)
        else:
            yield {name: item[name] for name in columns}


def _rename(args: Mapping[str, Any], items: Iterator[Item]) -> Iterator[Item]:
    """Rename columns with `args.mapping` (old → new), so a reader's names can match a house style."""
    mapping = dict(args.get("mapping") or {})
    for item in items:
        if isinstance(item, pa.RecordBatch):
            yield item.rename_columns([mapping.get(n, n) for n in item.schema.names])
        else:
            yield {mapping.get(k, k): v for k, v in item.items()}


_STEPS: dict[str, Step] = {"select": _select, "rename": _rename}


def get_step(name: str) -> Step:
    try:
        return _STEPS[name]
    except KeyError:
        raise DsregError(f"unknown step {name!r}", fix=f"use one of: {', '.join(sorted(_STEPS))}") from None


def apply_steps(steps: tuple[tuple[str, dict[str, Any]], ...], items: Iterator[Item]) -> Iterator[Item]:
    for name, args in steps:
        items = get_step(name)(args, items)
    return items
