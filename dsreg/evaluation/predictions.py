"""Read a predictions file (or in-memory predictions) and align it with a split's row ids.

Formats: JSON Lines (`{"id": ..., "prediction": ...}` per line), CSV/TSV (columns `id` and `prediction`),
`.npy` (one row per split row, in split order; classification metrics) and any native format the metric
declares (CTM, CoNLL-U, plain text lines …). Every row id must be predicted exactly once: a missing,
duplicated or unknown id fails, naming the first few of each, before anything is computed or recorded.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.metrics import Metric, WholeSplit

SHOWN = 5  # ids named per kind of mismatch
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
ID_FIX = "write exactly one prediction per row id of the split"


@dataclass(frozen=True)
class Predictions:
    """Predictions as read: `(id, value)` pairs when keyed, else values in split order, else (`whole`) predictions
    for the whole split that the metric assigns to rows itself (a CTM); `source` names them."""

    keyed: list[tuple[str, Any]] | None
    ordered: list[Any] | None
    source: str | None  # the file read; None for predictions passed in memory
    whole: WholeSplit | None = None


def _key(value: Any, where: str) -> str:
    """A prediction's id as the text it is matched by (row indices and id columns alike are matched as text)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, str)):
        raise DsregError(f"{where}: id {value!r} is neither an integer nor a string", fix=ID_FIX)
    return str(int(value)) if isinstance(value, np.integer) else str(value)


def _pandas_pairs(source: Any) -> list[tuple[Any, Any]] | None:
    """A pandas Series as (index, value) pairs, a DataFrame as its (id, prediction) columns' pairs (Python values,
    so keyed by id, never by position); None for anything else."""
    if type(source).__name__ == "DataFrame" and hasattr(source, "columns"):
        if not {"id", "prediction"} <= set(source.columns):
            raise DsregError(
                f"predictions are a DataFrame with the columns {list(source.columns)}, not id and prediction",
                fix="name the columns id and prediction (others are ignored), or pass a Series indexed by row id",
            )
        return list(zip(source["id"].tolist(), source["prediction"].tolist(), strict=True))
    if type(source).__name__ == "Series" and hasattr(source, "index"):
        return list(zip(source.index.tolist(), source.tolist(), strict=True))
    return None


def _not_utf8(path: Path) -> DsregError:
    """The error for a predictions file that is not UTF-8, naming the first line that is not (found only then, by
    a second, streaming pass: a line's bytes decode alone as they do in the whole file, since no UTF-8 sequence
    holds a newline byte)."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.removeprefix(codecs.BOM_UTF8 if number == 1 else b"").decode("utf-8")
            except UnicodeDecodeError:
                break
    return DsregError(f"line {number} is not UTF-8", path=path, fix="save the predictions as UTF-8")


def _jsonl(path: Path, metric: Metric) -> list[tuple[str, Any]]:
    try:
        return _jsonl_pairs(path, metric)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


def _jsonl_pairs(path: Path, metric: Metric) -> list[tuple[str, Any]]:
    pairs = []
    with open(path, encoding="utf-8-sig") as f:  # streamed: a file of logits can be large
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DsregError(
                    f"line {number} is not JSON ({err.msg})", path=path, fix="one JSON object per line"
                ) from None
            if not isinstance(record, dict) or "id" not in record or "prediction" not in record:
                raise DsregError(
                    f"line {number} is not an object with 'id' and 'prediction'",
                    path=path,
                    fix='write {"id": ROW_ID, "prediction": VALUE} on every line',
                )
            pairs.append((_key(record["id"], where), metric.prediction(record["prediction"], where)))
    return pairs


def _csv(path: Path, metric: Metric, delimiter: str) -> list[tuple[str, Any]]:
    try:
        return _csv_pairs(path, metric, delimiter)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


def _csv_pairs(path: Path, metric: Metric, delimiter: str) -> list[tuple[str, Any]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = csv.reader(f, delimiter=delimiter)
        header = next(rows, None)
        if not header or header.count("id") != 1 or header.count("prediction") != 1:
            raise DsregError(
                f"header is {header}, not one with the columns id and prediction (once each)",
                path=path,
                fix="start the file with the header line `id,prediction`",
            )
        at_id, at_prediction = header.index("id"), header.index("prediction")
        pairs = []
        for row in rows:
            if not row:
                continue  # a blank line
            if len(row) != len(header):  # an unquoted delimiter in a prediction would cut it short silently
                raise DsregError(
                    f"line {rows.line_num} has {len(row)} fields but the header {len(header)}",
                    path=path,
                    fix=f"quote a prediction that holds the delimiter {delimiter!r} (as csv writers do)",
                )
            where = f"{path} line {rows.line_num}"
            pairs.append((_key(row[at_id], where), metric.prediction(row[at_prediction], where)))
        return pairs


def _npy(path: Path, metric: Metric) -> list[Any]:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise DsregError(
            f"not a readable .npy array ({err})", path=path, fix="save with numpy.save(path, array)"
        ) from None
    return metric.from_array(array, path)


def read_predictions(
    source: str | os.PathLike[str] | Mapping[Any, Any] | Sequence[Any] | np.ndarray, metric: Metric
) -> Predictions:
    """Predictions from a file (by its suffix) or from memory: a mapping id → prediction (a pandas Series by its
    index, a DataFrame by its id and prediction columns), or a sequence/array in split order."""
    pairs = list(source.items()) if isinstance(source, Mapping) else _pandas_pairs(source)
    if pairs is not None:
        return Predictions(
            [(_key(k, "predictions"), metric.prediction(v, f"prediction for id {k!r}")) for k, v in pairs], None, None
        )
    if isinstance(source, np.ndarray):
        return Predictions(None, metric.from_array(source, Path("(array)")), None)
    if not isinstance(source, (str, os.PathLike)):
        return Predictions(None, [metric.prediction(v, f"prediction {i}") for i, v in enumerate(source)], None)
    path = Path(source)
    if not path.is_file():
        raise DsregError("no such predictions file", path=path, fix="pass the path of the file your model wrote")
    suffix = path.suffix.lower()
    if suffix in metric.native_suffixes:
        native = metric.read_native(path)
        if isinstance(native, WholeSplit):
            return Predictions(None, None, str(path), native)
        if native and isinstance(native[0], tuple):
            return Predictions(list(native), None, str(path))
        return Predictions(None, list(native), str(path))
    if suffix in JSONL_SUFFIXES:
        return Predictions(_jsonl(path, metric), None, str(path))
    if suffix in CSV_SUFFIXES:
        return Predictions(_csv(path, metric, CSV_SUFFIXES[suffix]), None, str(path))
    if suffix == ".npy":
        return Predictions(None, _npy(path, metric), str(path))
    known = [*JSONL_SUFFIXES, *CSV_SUFFIXES, ".npy", *metric.native_suffixes]
    raise DsregError(
        f"cannot tell the format of predictions from the suffix {suffix or '(none)'!r}",
        path=path,
        fix=f"use one of: {', '.join(known)} (metric {metric.name!r})",
    )


def _some(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:SHOWN])
    return shown + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")


def align(predictions: Predictions, ids: Sequence[str], what: str) -> list[Any]:
    """One prediction per row id, in split order; any missing, duplicated or unknown id is an error naming them.
    (Whole-split predictions are assigned by the metric, `Metric.assign`, not here.)"""
    if predictions.ordered is not None:
        got, want = len(predictions.ordered), len(ids)
        if got != want:
            problem = (
                f"missing the last {want - got} rows (ids {_some(list(ids[got:]))})"
                if got < want
                else f"{got - want} more than the split's rows"
            )
            raise DsregError(
                f"{got} predictions for the {want} rows of {what}: {problem}", path=predictions.source, fix=ID_FIX
            )
        return list(predictions.ordered)
    assert predictions.keyed is not None
    position = {key: i for i, key in enumerate(ids)}
    if len(position) != len(ids):
        dup = [k for k, n in Counter(ids).items() if n > 1]
        raise DsregError(f"{what} has duplicate row ids {_some(dup)}", fix="its id column is not unique; re-prepare it")
    counts = Counter(key for key, _ in predictions.keyed)
    duplicated = [k for k, n in counts.items() if n > 1]
    unknown = [k for k in counts if k not in position]
    missing = [k for k in ids if k not in counts]
    if duplicated or unknown or missing:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_some(missing)})")
        if duplicated:
            parts.append(f"{len(duplicated)} duplicated ({_some(duplicated)})")
        if unknown:
            parts.append(f"{len(unknown)} unknown ({_some(unknown)})")
        raise DsregError(
            f"predictions do not match the {len(ids)} row ids of {what}: {'; '.join(parts)}",
            path=predictions.source,
            fix=ID_FIX,
        )
    out: list[Any] = [None] * len(ids)
    for key, value in predictions.keyed:
        out[position[key]] = value
    return out
