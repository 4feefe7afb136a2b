"""`table`: examples from CSV, TSV, JSON Lines or Parquet files (plain or gzip), one task per file.

Recipe arguments: `reader.args.format` (csv, tsv, jsonl or parquet; default: from each file's extension)
and `reader.args.columns` (source column → feature, for columns named differently from the features;
other features read the column of their own name, other source columns are ignored). A split's files come
from `splits.<split>.files` patterns or `splits.<split>.args.files`; rows keep the files' sorted order and
each file's own order. Values are checked against the features (see `dsreg.readers.values`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dsreg.features import Features
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.layout import COLUMNS, FILES, FORMAT, SOURCE, split_files, split_tree
from dsreg.readers.tabular import RowMapper, table_format, table_rows
from dsreg.sourcetree import SourceTree


class TableReader(Reader):
    """Rows of CSV, TSV, JSON Lines or Parquet files (plain or gzip), typed by the features; one task per file."""

    arguments: ClassVar[tuple[Arg, ...]] = (FORMAT, COLUMNS)
    split_arguments: ClassVar[tuple[Arg, ...]] = (FILES, SOURCE)

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        self.format = self.args["format"]
        self.mapper = RowMapper(features, self.args["columns"])

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """One task per file of the split, in the split's (sorted) file order."""
        tree = split_tree(sources, split, split_args, "table")
        files = split_files(tree, split, split_args)
        for file in files:
            table_format(file, self.format)
        return files

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree = split_tree(sources, split, split_args, "table")
        where = tree.location(task)
        for position, row in table_rows(tree, task, table_format(task, self.format)):
            yield self.mapper(row, where, position)
