"""`text_lines`: one example per line of a text file, or per line of several line-aligned files.

With one text feature, every file of the split is a task and each of its lines an example. With several
(a parallel corpus), the split's files are grouped by name without the extension: `train.en` and
`train.de` form the group `train`, whose extensions name the columns (`en`, `de`; `reader.args.columns`
maps extension → feature otherwise). Each group is a task; it holds one file per feature (`train.de` beside
`train.de.gz` is an error, not one of them ignored) and its files must have equal line counts.

Lines end at `\\n` (a `\\r` before it is dropped too); nothing else is stripped, and empty lines are kept,
since dropping one would shift every later pair. Files may be gzip; a UTF-8 byte order mark is dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import Features, Text
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.layout import FILES, SOURCE, base_name, split_files, split_tree, text_lines
from dsreg.sourcetree import SourceTree, TarTree


def _strip_end(text: str) -> str:
    if text.endswith("\n"):
        text = text[:-1]
    return text[:-1] if text.endswith("\r") else text


def _stem_and_extension(name: str) -> tuple[str, str]:
    folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    base = base_name(name)
    if "." not in base:
        return folder + base, ""
    stem, extension = base.rsplit(".", 1)
    return folder + stem, extension


class TextLinesReader(Reader):
    """One example per line of text files, or per line of line-aligned files (a parallel corpus)."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("columns", "dict", "file extension → feature, when extensions are not the feature names", default={}),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (FILES, SOURCE)

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        not_text = [n for n, f in features.items() if type(f) is not Text]
        if not_text:
            raise DsregError(
                f"the text_lines reader fills text columns only; {not_text} are not text",
                fix="declare every feature as {type: text}",
            )
        self.columns: dict[str, str] = dict(self.args["columns"])  # extension → feature
        unknown = sorted(set(self.columns.values()) - set(features.names()))
        if unknown:
            raise DsregError(
                f"reader.args.columns maps onto {unknown}, which are not features",
                fix=f"map file extensions onto the features: {', '.join(features.names())}",
            )

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """One task per file (one column) or per group of aligned files (several), in sorted order."""
        tree = split_tree(sources, split, split_args, "text_lines")
        files = split_files(tree, split, split_args)
        if len(self.features) == 1:
            return files
        return list(self._groups(files, split))

    def _groups(self, files: list[str], split: str) -> dict[str, dict[str, str]]:
        """Group name → feature → file, each group holding one file per feature."""
        groups: dict[str, dict[str, str]] = {}
        for file in files:
            stem, extension = _stem_and_extension(file)
            column = self.columns.get(extension, extension)
            if column not in self.features:
                raise DsregError(
                    f"the file {file!r} of split {split!r} has the extension {extension!r}, which names no feature",
                    fix="name the files <stem>.<feature> (e.g. train.en, train.de), or map extensions onto "
                    "features with reader.args.columns",
                )
            group = groups.setdefault(stem, {})
            if column in group:
                raise DsregError(
                    f"split {split!r} has two files for {column!r} in the group {stem}.*: {group[column]!r} and "
                    f"{file!r} (one would be ignored)",
                    fix="keep one of them (e.g. not both train.de and train.de.gz), or narrow splits.<split>.files",
                )
            group[column] = file
        for stem, group in groups.items():
            missing = [n for n in self.features.names() if n not in group]
            if missing:
                raise DsregError(
                    f"the aligned files {stem}.* of split {split!r} have no file for {missing} "
                    f"(found {sorted(group.values())})",
                    fix="give each group one file per feature, e.g. train.en and train.de",
                )
        return dict(sorted(groups.items()))

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree = split_tree(sources, split, split_args, "text_lines")
        if len(self.features) == 1:
            (column,) = self.features.names()
            for _, text in text_lines(tree, task):
                yield {column: _strip_end(text)}
            return
        group = self._groups(split_files(tree, split, split_args), split)[task]
        yield from aligned_lines(tree, [(column, group[column]) for column in self.features.names()])


def aligned_lines(tree: SourceTree, files: list[tuple[str, str]]) -> Iterator[dict[str, str]]:
    """Examples of aligned lines; files of unequal length are an error naming every file and its count.

    Inside a tar each file is streamed through its own handle on the archive: reads interleaved on one
    handle would seek back and forth, and a compressed tar decompresses from its start on every seek back.
    """
    own = [SourceTree.open(tree.path) for _ in files[1:]] if isinstance(tree, TarTree) else []
    trees = [tree, *own] if own else [tree] * len(files)
    try:
        yield from _zip_lines(tree, trees, files)
    finally:
        for extra in own:
            extra.close()


def _zip_lines(tree: SourceTree, trees: list[SourceTree], files: list[tuple[str, str]]) -> Iterator[dict[str, str]]:
    streams = [text_lines(t, file) for t, (_, file) in zip(trees, files, strict=True)]
    counts = [0] * len(files)
    for lines in itertools.zip_longest(*streams):
        if any(line is None for line in lines):
            for i, line in enumerate(lines):
                counts[i] += line is not None
            for i, stream in enumerate(streams):
                counts[i] += sum(1 for _ in stream) if lines[i] is not None else 0
            detail = ", ".join(
                f"{tree.location(file)}: {count} lines" for (_, file), count in zip(files, counts, strict=True)
            )
            raise DsregError(
                f"the line-aligned files have different line counts ({detail})",
                path=tree.location(files[0][1]),
                fix="give the parallel files the same number of lines (one sentence per line, in the same order)",
            )
        for i in range(len(counts)):
            counts[i] += 1
        yield {column: _strip_end(line[1]) for (column, _), line in zip(files, lines, strict=True)}
