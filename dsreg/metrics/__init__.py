"""Metrics: one class per metric family, found by the name recipes declare in `evaluation.metric`.

A metric turns a split's references and one prediction per row into a `Score`: named values, which of
them is the headline, whether higher is better, and a signature that pins how they were computed (the
metric's version and options; sacrebleu's own signature for BLEU and chrF). Metrics are found through the
`dsreg.metrics` entry-point group, like readers, so a lab's package (or a corpus module) adds one by
declaring an entry point; a name is resolved on first use and cached, so `import dsreg` imports none.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import Feature
from dsreg.plugins import PluginGroup, distribution
from dsreg.readers import Arg, check_args

if TYPE_CHECKING:
    from dsreg.manifest import Manifest

ENTRY_POINT_GROUP = "dsreg.metrics"


@dataclass(frozen=True)
class WholeSplit:
    """Predictions for a whole split that the metric itself assigns to rows (`Metric.assign`): e.g. a CTM's
    time-marked words, which belong to segments by time rather than by row id. `what` names them in messages."""

    value: Any
    what: str


@dataclass(frozen=True)
class Score:
    """What a metric computed: `values` by name, the `primary` one ranks submissions, `signature` pins the protocol."""

    values: dict[str, float]
    primary: str
    higher_is_better: bool
    signature: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.primary not in self.values:
            raise ValueError(f"primary value {self.primary!r} is not among {sorted(self.values)}")


class Metric(ABC):
    """Base class: compute a `Score` from one reference and one prediction per row, in split order.

    Subclasses set `version` (bump it whenever a value could change), declare `arguments` (a recipe's
    `evaluation.args`), convert one prediction read from JSON Lines or CSV in `prediction`, and may read
    a `.npy` (`from_array`) or a native file format (`native_suffixes` + `read_native`). The docstring's
    first line describes the metric; `dsreg list --metrics` shows it.
    """

    version: ClassVar[str] = "1"
    arguments: ClassVar[tuple[Arg, ...]] = ()
    native_suffixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, args: Mapping[str, Any], reference: Feature | Sequence[Feature]):
        self.name = name
        self.args = check_args(self.arguments, args, "evaluation.args", f"metric {name!r}")
        self.reference = reference
        self.dataset = ""

    @classmethod
    def description(cls) -> str:
        """The first line of the class docstring."""
        return (inspect.getdoc(cls) or "").split("\n", 1)[0]

    @abstractmethod
    def prediction(self, value: Any, where: str) -> Any:
        """One prediction as read from JSON Lines (any JSON value) or CSV (a string), checked and converted.

        `where` names it in messages (`predictions.jsonl line 7`); a bad value raises DsregError."""

    def from_array(self, array: np.ndarray, path: Path) -> list[Any]:
        """The per-row predictions of a `.npy` file, in split order; only classification metrics accept one."""
        raise DsregError(
            f"metric {self.name!r} does not read .npy predictions",
            path=path,
            fix="write JSON Lines ({'id': ..., 'prediction': ...} per line) or CSV with columns id,prediction",
        )

    def read_native(self, path: Path) -> list[tuple[str, Any]] | list[Any] | WholeSplit:
        """Predictions from a file in one of `native_suffixes`: (id, prediction) pairs, values in split order,
        or a `WholeSplit` the metric assigns to rows itself."""
        raise DsregError(f"metric {self.name!r} reads no native prediction format", path=path)

    def attach(self, manifest: Manifest) -> None:
        """Take what the metric needs from the prepared dataset besides its columns (an asset such as a GLM),
        before any prediction is read; by default only which dataset it scores (`self.dataset`, for messages)."""
        self.dataset = manifest.full_name

    def assign(self, references: Sequence[Any] | np.ndarray, predictions: WholeSplit) -> list[Any]:
        """One prediction per row, in split order, from predictions for the whole split."""
        raise DsregError(f"metric {self.name!r} cannot assign whole-split predictions ({predictions.what}) to rows")

    @abstractmethod
    def compute(self, references: Sequence[Any] | np.ndarray, predictions: Sequence[Any]) -> Score:
        """The score of `predictions` against `references` (equal length, in split order)."""


@dataclass(frozen=True)
class MetricInfo:
    """An installed metric as `dsreg list --metrics` shows it; `error` says why it cannot be loaded."""

    name: str
    distribution: str
    entry_point: str
    cls: type[Metric] | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "distribution": self.distribution, "entry_point": self.entry_point}
        if self.cls is None:
            return {**out, "error": self.error}
        return {
            **out,
            "description": self.cls.description(),
            "version": self.cls.version,
            "native_formats": list(self.cls.native_suffixes),
            "arguments": [a.to_json() for a in self.cls.arguments],
        }


_PLUGINS: PluginGroup[Metric] = PluginGroup(ENTRY_POINT_GROUP, "metric", Metric)


def reload_metrics() -> None:
    """Forget the installed metrics found so far: for a process that installed a metric package after using one."""
    _PLUGINS.reload()


def get_metric(name: str) -> type[Metric]:
    """The metric class recipes call `name`, imported on first use."""
    return _PLUGINS.get(name)


def metric_infos() -> list[MetricInfo]:
    """Every installed metric, sorted by name, each loaded (or with the error that prevents it)."""
    return [
        MetricInfo(name, distribution(point), point.value, cls, error) for name, point, cls, error in _PLUGINS.entries()
    ]
