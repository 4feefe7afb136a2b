"""Readers: one module per raw format family, registered by the name recipes use.

A reader turns opened raw sources into examples. Preparation asks it for the independent *tasks*
of a split (a batch file, an inner tar, a treebank file) and runs each task on its own — in this
process, a process pool or a SLURM array element — so a crash loses at most the running tasks.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.sourcetree import SourceTree

Output = Iterator[Mapping[str, Any] | pa.RecordBatch]

# reader name → module that defines it; modules import lazily so `import dsreg` stays fast
_MODULES = {
    "cifar_python": "dsreg.readers.cifar",
    "cifar_binary": "dsreg.readers.cifar",
}


class Reader:
    """Base class: parse raw sources into example dicts or record batches matching `features`.

    Subclasses set `name`, implement `tasks` and `read`, and must be deterministic: the same sources
    give the same examples in the same order. A reader instance is pickled to worker processes, so it
    holds only plain arguments; sources are opened inside `read`.
    """

    name: ClassVar[str] = ""

    def __init__(self, args: Mapping[str, Any], features: Features):
        self.args = dict(args)
        self.features = features

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """Stable identifiers of the independent units of work of one split, in output order."""
        raise NotImplementedError  # pragma: no cover - abstract

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        """Yield the examples of one task, as dicts or as record batches of `features`' schema."""
        raise NotImplementedError  # pragma: no cover - abstract


_REGISTRY: dict[str, type[Reader]] = {}


def register_reader(cls: type[Reader]) -> type[Reader]:
    """Class decorator: make a reader available to recipes under `cls.name`."""
    _REGISTRY[cls.name] = cls
    return cls


def get_reader(name: str) -> type[Reader]:
    if name not in _REGISTRY and name in _MODULES:
        importlib.import_module(_MODULES[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_MODULES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DsregError(f"unknown reader {name!r}", fix=f"use one of: {', '.join(sorted(_MODULES))}{hint}") from None
