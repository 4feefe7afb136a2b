"""`dsreg.evaluate`: score predictions for one split with the metric its manifest declares, and optionally submit.

The dataset is identified in the result by name, config, version and the manifest's digest, so a score
says exactly which bytes it was computed on; nothing is recorded unless every row id is predicted once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.evaluation.predictions import align, read_predictions
from dsreg.evaluation.records import new_record, write_record
from dsreg.evaluation.spec import bind_metric
from dsreg.loading.dataset import Dataset
from dsreg.loading.translation import check_reference_direction
from dsreg.manifest import MANIFEST_NAME, Manifest
from dsreg.metrics import Score
from dsreg.registry import find_prepared
from dsreg.version import __version__

PredictionSource = str | os.PathLike[str] | Mapping[Any, Any] | Sequence[Any] | np.ndarray


@dataclass(frozen=True)
class Evaluation:
    """The outcome of `evaluate`: the score, what it was computed on, and the record's path once submitted."""

    dataset: dict[str, str]
    split: str
    metric: str
    score: Score
    rows: int
    record: dict[str, Any]
    path: Path | None = None

    @property
    def values(self) -> dict[str, float]:
        return self.score.values


def manifest_sha256(manifest: Manifest) -> str:
    """The digest that identifies a prepared version: the manifest's own verified `manifest_sha256`, or, for a
    manifest written before manifests carried one, the sha256 of its manifest.json's bytes."""
    if manifest.digest:
        return manifest.digest
    assert manifest.directory is not None  # read_manifest attaches it
    return hashlib.sha256((manifest.directory / MANIFEST_NAME).read_bytes()).hexdigest()


def _provenance(predictions: PredictionSource) -> dict[str, str] | None:
    """Which predictions file was scored: its path and sha256 (None for predictions passed in memory)."""
    if not isinstance(predictions, (str, os.PathLike)):
        return None
    path = Path(predictions).resolve()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"file": str(path), "sha256": digest.hexdigest()}


def _column_values(dataset: Dataset, column: str) -> list[Any] | np.ndarray:
    """Every row's value of one column, in split order: numpy for fixed-shape columns, else Python values."""
    if dataset.manifest.features[column].fixed_shape:
        return dataset.read_column(column)
    return [v for table in dataset.arrow_tables() for v in table.column(column).to_pylist()]


def evaluate(
    name: str,
    split: str,
    predictions: PredictionSource,
    *,
    model: str | None = None,
    submit: bool = False,
    notes: str = "",
    reference: str | list[str] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> Evaluation:
    """Score `predictions` for `split` of the prepared dataset `name` (NAME[/CONFIG][:VERSION]) with its metric.

    `predictions` is a file (JSON Lines, CSV, .npy or the metric's native format), a mapping row id →
    prediction, or a sequence/array in split order. `reference` scores against other columns than the
    recipe's `evaluation.reference` (a parallel corpus read in the other direction: `reference="cs"` for
    English→Czech on `wmt14/cs-en`, whose recipe scores against `en`); the record names the columns used. With
    `submit`, the score is recorded in the shared table under `model` (required then) with `notes`."""
    if submit and not (model and model.strip()):
        raise DsregError(
            "submitting a score needs the model's name", fix="pass model=... (--model on the command line)"
        )
    manifest = find_prepared(name, root)
    if split not in manifest.splits:
        raise DsregError(
            f"{manifest.full_name} has no split {split!r}", fix=f"evaluate one of: {', '.join(manifest.splits)}"
        )
    try:
        declared = bind_metric(manifest.evaluation, manifest.features, manifest.supervised_keys)
        bound = declared
        if reference is not None:
            chosen = {**manifest.evaluation, "reference": reference}
            bound = bind_metric(chosen, manifest.features, manifest.supervised_keys)
    except DsregError as err:
        raise DsregError(f"{manifest.full_name}: {err.problem}", path=manifest.directory, fix=err.fix) from None
    check_reference_direction(manifest, split, bound.reference_columns)
    what = f"{manifest.full_name} split {split!r}"
    columns = [*((bound.id_column,) if bound.id_column else ()), *bound.reference_columns]
    dataset = Dataset(manifest, split, list(dict.fromkeys(columns)))
    bound.metric.attach(manifest)
    read = read_predictions(predictions, bound.metric)
    refs = [_column_values(dataset, c) for c in bound.reference_columns]
    references: Sequence[Any] | np.ndarray = refs[0] if len(refs) == 1 else list(zip(*refs, strict=True))
    if read.whole is not None:
        aligned = bound.metric.assign(references, read.whole)
    else:
        if bound.id_column:
            ids = [str(v) for v in _column_values(dataset, bound.id_column)]
        else:
            ids = [str(i) for i in range(len(dataset))]
        aligned = align(read, ids, what)
    score = bound.metric.compute(references, aligned)
    dataset_id = {
        "name": manifest.name,
        "config": manifest.config,
        "version": manifest.version,
        "manifest_sha256": manifest_sha256(manifest),
    }
    record = new_record(
        model=model,
        dataset=dataset_id,
        split=split,
        metric={
            "name": bound.metric.name,
            "version": bound.metric.version,
            "signature": score.signature,
            "primary": score.primary,
            "higher_is_better": score.higher_is_better,
            "reference": list(bound.reference_columns),
            **({"reference_chosen": True} if bound.reference_columns != declared.reference_columns else {}),
        },
        values=score.values,
        details=score.details,
        predictions=_provenance(predictions),
        rows=len(dataset),
        notes=notes,
        dsreg_version=__version__,
    )
    path = write_record(record, root) if submit else None
    return Evaluation(dataset_id, split, bound.metric.name, score, len(dataset), record, path)
