"""Rows of a table file — CSV, TSV, JSON Lines or Parquet, plain or gzip — mapped onto features.

`table_rows` streams (position, row dict) pairs, where the position says "line N" (text formats, the
line a record ends on) or "row N" (Parquet); every malformed record is a `DsregError` naming the file and
that position. `RowMapper` picks a row's columns for the features (a `columns` mapping renames source
columns) and converts each value with `dsreg.readers.values`, again naming file and line on error.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.readers.layout import base_name, read_member, text_lines
from dsreg.readers.values import Converter, converter
from dsreg.sourcetree import SourceTree

FORMATS = ("csv", "tsv", "jsonl", "parquet")
_EXTENSIONS = {"csv": "csv", "tsv": "tsv", "tab": "tsv", "jsonl": "jsonl", "ndjson": "jsonl", "parquet": "parquet"}
Row = dict[str, Any]


def table_format(name: str, declared: str | None) -> str:
    """The declared format, or the one the file's extension (before any `.gz`) names."""
    if declared is not None:
        if declared not in FORMATS:
            raise DsregError(f"reader.args.format is {declared!r}", fix=f"use one of: {', '.join(FORMATS)}")
        return declared
    extension = base_name(name).rsplit(".", 1)[-1].lower()
    if extension not in _EXTENSIONS:
        raise DsregError(
            f"cannot tell the table format of {name!r} from its extension",
            fix=f"set reader.args.format to one of: {', '.join(FORMATS)}",
        )
    return _EXTENSIONS[extension]


def table_rows(tree: SourceTree, name: str, fmt: str) -> Iterator[tuple[str, Row]]:
    """Every record of the file as (position, row); blank lines are skipped."""
    if fmt == "parquet":
        return _parquet_rows(tree, name)
    if fmt == "jsonl":
        return _jsonl_rows(tree, name)
    return _delimited_rows(tree, name, "\t" if fmt == "tsv" else ",")


def _delimited_rows(tree: SourceTree, name: str, delimiter: str) -> Iterator[tuple[str, Row]]:
    where = tree.location(name)
    lines = (text for _, text in text_lines(tree, name))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    try:
        for record in reader:
            if not record:
                continue
            if header is None:
                header = record
                dup = sorted({c for c in header if header.count(c) > 1})
                if dup:
                    raise DsregError(
                        f"the header on line {reader.line_num} names the column(s) {dup} twice",
                        path=where,
                        fix="give every column a unique name",
                    )
                continue
            if len(record) != len(header):
                raise DsregError(
                    f"line {reader.line_num} has {len(record)} fields, the header has {len(header)} "
                    f"({', '.join(header)})",
                    path=where,
                    fix="give every row one value per header column (quote values that contain the delimiter)",
                )
            yield f"line {reader.line_num}", dict(zip(header, record, strict=True))
    except csv.Error as err:
        raise DsregError(
            f"line {reader.line_num} is not valid CSV: {err}", path=where, fix="fix the quoting of that line"
        ) from None
    if header is None:
        raise DsregError("the file is empty: no header line", path=where, fix="start the file with a header line")


def _jsonl_rows(tree: SourceTree, name: str) -> Iterator[tuple[str, Row]]:
    where = tree.location(name)
    for number, text in text_lines(tree, name):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            raise DsregError(
                f"line {number} is not JSON: {err.msg} at column {err.colno}",
                path=where,
                fix="write one JSON object per line (JSON Lines)",
            ) from None
        if not isinstance(row, dict):
            raise DsregError(
                f"line {number} is a JSON {type(row).__name__}, not an object",
                path=where,
                fix="write one JSON object per line (JSON Lines)",
            )
        yield f"line {number}", row


def _parquet_rows(tree: SourceTree, name: str) -> Iterator[tuple[str, Row]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = tree.location(name)
    try:
        parquet = pq.ParquetFile(io.BytesIO(read_member(tree, name)))
        batches = parquet.iter_batches(batch_size=4096)
        number = 0
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield f"row {number}", row
    except (pa.ArrowException, OSError) as err:
        raise DsregError(
            f"the file is not readable Parquet: {err}", path=where, fix="replace it with a complete Parquet file"
        ) from None


class RowMapper:
    """Turns a source row into an example of `features`: picks the mapped columns, converts their values."""

    def __init__(self, features: Features, columns: Mapping[str, str] | None, skip: tuple[str, ...] = ()):
        """`columns` maps source column → feature; `skip` are features the caller fills itself."""
        mapping = dict(columns or {})
        unknown = sorted(set(mapping.values()) - set(features.names()))
        if unknown:
            raise DsregError(
                f"reader.args.columns maps onto {unknown}, which are not features",
                fix=f"map source columns onto the features: {', '.join(features.names())}",
            )
        source_of = {feature: source for source, feature in mapping.items()}
        self.sources: dict[str, str] = {
            name: source_of.get(name, name) for name in features.names() if name not in skip
        }  # feature → source column
        self.converters: dict[str, Converter] = {name: converter(features[name], name) for name in self.sources}

    def __call__(self, row: Mapping[str, Any], where: str, position: str) -> dict[str, Any]:
        example = {}
        for name, source in self.sources.items():
            if source not in row:
                raise DsregError(
                    f"{position} has no column {source!r} (it has {', '.join(map(str, row))})",
                    path=where,
                    fix="add the column, or map another source column onto the feature with reader.args.columns",
                )
            try:
                example[name] = self.converters[name](row[source])
            except ValueError as err:
                raise DsregError(
                    f"{position}, column {source!r}: {err}",
                    path=where,
                    fix=f"correct the value, or the declared type of feature {name!r}",
                ) from None
        return example
