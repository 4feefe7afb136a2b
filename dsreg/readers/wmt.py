"""`wmt`: a parallel corpus assembled from parts in several sources and formats (WMT14 and alike).

A split lists its `parts`; each part is one task and names its source, its format and its files:
`text` (line-aligned plain or gzip'd files, one per language), `sgml` (a pre-2021 test set's source and
reference files), `tsv` (one tab-separated file, language → field) or `tmx`. Columns are the language codes
(`cs`, `en`), so the direction is chosen at load time; `doc_id`, `genre` and `origlang` are filled where the
format has them (the test sets) and empty elsewhere, when the recipe declares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import Features, Text
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.translation_formats import read_part
from dsreg.sourcetree import SourceTree

METADATA = ("doc_id", "genre", "origlang")
FORMATS = ("text", "sgml", "tsv", "tmx")


def _part_error(split: str, index: int, problem: str, fix: str) -> DsregError:
    return DsregError(f"splits.{split}.args.parts[{index}] {problem}", fix=fix)


def _check_part(split: str, index: int, part: Mapping[str, Any], langs: list[str]) -> None:
    """Refuse a part that does not say what it reads, naming its key path."""
    known = {"name", "source", "format", "files", "file", "columns"}
    extra = sorted(set(part) - known)
    if extra:
        raise _part_error(split, index, f"has unknown keys {extra}", f"use only: {', '.join(sorted(known))}")
    for key in ("name", "source", "format"):
        if not isinstance(part.get(key), str) or not part[key]:
            raise _part_error(split, index, f"has no {key}", f"give {key} as a string")
    if part["format"] not in FORMATS:
        raise _part_error(split, index, f"has format {part['format']!r}", f"use one of {', '.join(FORMATS)}")
    if part["format"] in ("text", "sgml"):
        files = part.get("files")
        if not isinstance(files, dict) or sorted(files) != sorted(langs):
            raise _part_error(
                split, index, f"needs files for exactly {langs}", "give files: {<language>: <member>} for each"
            )
    elif not isinstance(part.get("file"), str):
        raise _part_error(split, index, "needs file: the member to read", "give file: <member>")
    if part["format"] == "tsv":
        columns = part.get("columns")
        if not isinstance(columns, dict) or sorted(columns) != sorted(langs):
            raise _part_error(split, index, f"needs columns for exactly {langs}", "give columns: {<language>: <field>}")


class WmtReader(Reader):
    """A parallel corpus from parts in several sources and formats (aligned text, gzip, TSV, TMX, WMT SGML)."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("languages", "list[str]", "the language codes, which are also the text columns (e.g. [cs, en])", True),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "parts",
            "list[dict]",
            "the split's parts in order, each {name, source, format: text|sgml|tsv|tmx, files: {lang: member} "
            "or file: member, columns: {lang: field} for tsv}; members are matched by their path's end",
            required=True,
        ),
    )

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        self.languages: list[str] = list(self.args["languages"])
        allowed = [*self.languages, *METADATA]
        wrong = [n for n in features.names() if n not in allowed or type(features[n]) is not Text]
        missing = [lang for lang in self.languages if lang not in features]
        if wrong or missing or len(self.languages) < 2:
            raise DsregError(
                f"the wmt reader fills text columns {allowed}; features {features.names()} do not fit "
                f"(languages {self.languages})",
                fix="declare each language (at least two) and optionally doc_id, genre, origlang, all {type: text}",
            )

    def _parts(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> dict[str, Any]:
        parts: dict[str, Any] = {}
        for index, part in enumerate(split_args["parts"]):
            _check_part(split, index, part, self.languages)
            if part["name"] in parts:
                raise _part_error(split, index, f"repeats the name {part['name']!r}", "give each part its own name")
            if part["source"] not in sources:
                raise _part_error(
                    split,
                    index,
                    f"reads the source {part['source']!r}, which is not one of {sorted(sources)}",
                    "name one of the recipe's sources",
                )
            parts[part["name"]] = part
        return parts

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """One task per part, in the recipe's order."""
        return list(self._parts(sources, split, split_args))

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        part = self._parts(sources, split, split_args)[task]
        names = self.features.names()
        for row in read_part(sources[part["source"]], part, self.languages):
            yield {name: row.get(name, "") for name in names}
