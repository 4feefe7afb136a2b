"""Readers: one class per raw format family, found through the `dsreg.readers` entry-point group.

A reader turns opened raw sources into examples. Preparation asks it for the independent *tasks*
of a split (a batch file, an inner tar, a treebank file) and runs each task on its own — in this
process, a process pool or a SLURM array element — so a crash loses at most the running tasks.

Any installed package adds readers by declaring entry points (the shipped ones are declared the same
way, in dsreg's pyproject.toml); a name is resolved on first use and cached, so `import dsreg` imports
no reader module. Each reader declares its arguments (`Arg`), which recipes are checked against and
which `dsreg list --readers` and docs/recipes.md show.
"""

from __future__ import annotations

import copy
import difflib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.plugins import PluginGroup, distribution
from dsreg.sourcetree import SourceTree

ENTRY_POINT_GROUP = "dsreg.readers"

Output = Iterator[Mapping[str, Any] | pa.RecordBatch]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# an argument's declared type → the check a recipe's value must pass (YAML gives these Python types)
ARG_TYPES: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": _is_int,
    "float": lambda v: _is_int(v) or isinstance(v, float),
    "bool": lambda v: isinstance(v, bool),
    "list[str]": _is_strings,
    "list[int]": lambda v: isinstance(v, list) and all(_is_int(x) for x in v),
    "str | list[str]": lambda v: isinstance(v, str) or _is_strings(v),
    "dict": lambda v: isinstance(v, dict),
    "list[dict]": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
}


@dataclass(frozen=True)
class Arg:
    """One argument a reader takes: its name, type (a key of `ARG_TYPES`), meaning, and default or requiredness."""

    name: str
    type: str
    help: str
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in ARG_TYPES:
            raise ValueError(f"argument {self.name!r} has type {self.type!r}; use one of {', '.join(ARG_TYPES)}")

    def check(self, value: Any, where: str) -> None:
        """Refuse a value of the wrong type or outside `choices`; `where` is its recipe key path."""
        if value is None and not self.required:
            return
        if not ARG_TYPES[self.type](value):
            raise DsregError(
                f"{where} is {value!r}, not a {self.type}", fix=f"set {where} to a {self.type}: {self.help}"
            )
        if self.choices and value not in self.choices:
            raise DsregError(
                f"{where} is {value!r}, not one of {', '.join(map(str, self.choices))}",
                fix=f"set {where} to one of: {', '.join(map(str, self.choices))}",
            )

    def summary(self) -> str:
        """Type, requiredness or default, and choices in a few words, e.g. `str, required, one of a, b`."""
        parts = [self.type, "required" if self.required else f"default {self.default!r}"]
        if self.choices:
            parts.append(f"one of {', '.join(map(str, self.choices))}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "choices": list(self.choices),
            "help": self.help,
        }


def check_args(declared: Sequence[Arg], given: Mapping[str, Any], where: str, owner: str) -> dict[str, Any]:
    """`given` checked against `declared` (unknown, missing, wrong type), defaults filled in.

    `where` is the recipe key path of the mapping (`reader.args`), `owner` names the reader in messages.
    """
    known = {arg.name: arg for arg in declared}
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            allowed = ", ".join(known) if known else "none: remove it"
            raise DsregError(f"{where}.{key} is not an argument of {owner}", fix=f"allowed here: {allowed}{hint}")
    out: dict[str, Any] = {}
    for arg in declared:
        if arg.name in given:
            arg.check(given[arg.name], f"{where}.{arg.name}")
            out[arg.name] = given[arg.name]
        elif arg.required:
            raise DsregError(f"{where}.{arg.name} is missing; {owner} needs it", fix=f"set it: {arg.help}")
        else:
            out[arg.name] = copy.deepcopy(arg.default)
    return out


@dataclass(frozen=True)
class ReaderAsset:
    """A file a reader publishes with the dataset: its file name, bytes and role (what `asset_path` finds it by)."""

    name: str
    data: bytes
    role: str


class Reader(ABC):
    """Base class: parse raw sources into example dicts or record batches matching `features`.

    Subclasses declare `arguments` (under `reader.args`) and `split_arguments` (under
    `splits.<split>.args`), implement `tasks` and `read`, and must be deterministic: the same sources
    give the same examples in the same order. An instance is pickled to worker processes, so it holds
    only plain arguments; sources are opened inside `read`. The docstring's first line describes it.
    """

    arguments: ClassVar[tuple[Arg, ...]] = ()
    split_arguments: ClassVar[tuple[Arg, ...]] = ()

    def __init__(self, args: Mapping[str, Any], features: Features):
        self.args = self.check_args(args)
        self.features = features

    @classmethod
    def check_args(cls, args: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
        """The recipe's `reader.args`, checked and with defaults filled in."""
        return check_args(cls.arguments, args, "reader.args", _owner(cls, name))

    @classmethod
    def check_split_args(cls, split: str, args: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
        """A split's `splits.<split>.args`, checked and with defaults filled in."""
        return check_args(cls.split_arguments, args, f"splits.{split}.args", _owner(cls, name))

    @classmethod
    def description(cls) -> str:
        """The first line of the class docstring."""
        return (inspect.getdoc(cls) or "").split("\n", 1)[0]

    def resolve_features(self, sources: Mapping[str, SourceTree], splits: Mapping[str, Mapping[str, Any]]) -> Features:
        """The features to prepare with, given every split's arguments: the recipe's, unless the reader
        completes them from the data (class names taken from the folder names)."""
        return self.features

    @abstractmethod
    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """Stable identifiers of the independent units of work of one split, in output order."""

    @abstractmethod
    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        """Yield the examples of one task, as dicts or as record batches of `features`' schema."""

    def notes(self) -> list[dict[str, Any]]:
        """What this instance's `read` calls changed in the data, for the manifest to list (e.g. re-encoded
        images), in reading order; preparation records them per task. None by default."""
        return []

    def assets(self, sources: Mapping[str, SourceTree]) -> list[ReaderAsset]:
        """Files of the sources to publish beside the shards (e.g. the GLM that scoring the corpus needs), each
        recorded with its sha256 and role in the manifest's `assets`; none by default."""
        return []

    def describe(self, sources: Mapping[str, SourceTree]) -> dict[str, Any]:
        """Facts about the sources the manifest records under `metadata.reader` (e.g. class descriptions)."""
        return {}


def _owner(cls: type[Reader], name: str | None) -> str:
    return f"reader {name!r}" if name else f"the {cls.__name__} reader"


@dataclass(frozen=True)
class ReaderInfo:
    """An installed reader as `dsreg list --readers` shows it; `error` says why it cannot be loaded."""

    name: str
    distribution: str
    entry_point: str
    cls: type[Reader] | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "distribution": self.distribution, "entry_point": self.entry_point}
        if self.cls is None:
            return {**out, "error": self.error}
        return {
            **out,
            "description": self.cls.description(),
            "arguments": [a.to_json() for a in self.cls.arguments],
            "split_arguments": [a.to_json() for a in self.cls.split_arguments],
        }


_PLUGINS: PluginGroup[Reader] = PluginGroup(ENTRY_POINT_GROUP, "reader", Reader)


def reload_readers() -> None:
    """Forget the installed readers found so far: for a process that installed a reader package after using one."""
    _PLUGINS.reload()


def get_reader(name: str) -> type[Reader]:
    """The reader class recipes call `name`, imported on first use."""
    return _PLUGINS.get(name)


def reader_infos() -> list[ReaderInfo]:
    """Every installed reader, sorted by name, each loaded (or with the error that prevents it)."""
    return [
        ReaderInfo(name, distribution(point), point.value, cls, error) for name, point, cls, error in _PLUGINS.entries()
    ]
