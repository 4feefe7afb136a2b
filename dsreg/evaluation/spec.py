"""A recipe's `evaluation` block bound to its features: the metric instance, the id column and the reference columns.

`evaluation: {metric, args, id, reference, notes}` — `metric` names a registered metric, `args` are its
declared arguments, `id` the column that keys predictions (default: the row's index in the split) and
`reference` the column (or list of columns, e.g. several reference translations) scored against (default:
the second supervised key). Checked when a recipe loads and again when a manifest is evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.metrics import Metric, get_metric

KEYS = ("metric", "args", "id", "reference", "notes")


@dataclass(frozen=True)
class BoundMetric:
    """A metric ready to score one dataset: the instance, the id column (None: row index) and reference columns."""

    metric: Metric
    id_column: str | None
    reference_columns: tuple[str, ...]


def _column(features: Features, name: Any, key: str) -> str:
    if not isinstance(name, str) or name not in features:
        raise DsregError(
            f"evaluation.{key} names {name!r}, which is not a feature",
            fix=f"use one of the feature names: {', '.join(features.names())}",
        )
    return name


def bind_metric(
    evaluation: Mapping[str, Any], features: Features, supervised_keys: tuple[str, str] | None
) -> BoundMetric:
    """The metric an `evaluation` block declares, checked against the features it will read."""
    if not evaluation or not evaluation.get("metric"):
        raise DsregError("declares no evaluation metric", fix="add `evaluation: {metric: NAME}` to the recipe")
    unknown = [k for k in evaluation if k not in KEYS]
    if unknown:
        raise DsregError(
            f"evaluation has unknown key(s) {', '.join(map(repr, unknown))}",
            fix=f"evaluation keys are {', '.join(KEYS)}; a metric's own options go under evaluation.args",
        )
    name = str(evaluation["metric"])
    cls = get_metric(name)
    reference = evaluation.get("reference")
    if reference is None:
        if supervised_keys is None:
            raise DsregError(
                f"metric {name!r} has no reference column",
                fix="set evaluation.reference to the column holding the truth (or declare supervised_keys)",
            )
        reference = supervised_keys[1]
    names = [reference] if isinstance(reference, str) else reference
    if not isinstance(names, list) or not names:
        raise DsregError(f"evaluation.reference is {reference!r}", fix="name a column, or a list of columns")
    columns = tuple(_column(features, c, "reference") for c in names)
    id_column = None if evaluation.get("id") is None else _column(features, evaluation["id"], "id")
    ref_features = features[columns[0]] if len(columns) == 1 else [features[c] for c in columns]
    metric = cls(name, evaluation.get("args") or {}, ref_features)
    return BoundMetric(metric, id_column, columns)
