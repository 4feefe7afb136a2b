"""Parsers of the formats parallel text is shipped in: aligned lines, tab-separated, TMX and the "SGML" test sets.

Each yields one dict per sentence pair, language code → text, plus `doc_id`, `genre` and `origlang` when the
format has them. Aligned plain and gzip'd text reuse the `text_lines` reader's pairing (equal line counts,
nothing stripped).

The pre-2021 WMT test sets (`newstest2014-deen-src.de.sgm`) look like SGML but are not valid XML or SGML:
they hold raw `&` and broken markup. They are read line by line with regular expressions over `<doc …>` and
`<seg id="N">…</seg>`, and entities are never unescaped (sacrebleu and the peers keep them as they are).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from dsreg.errors import DsregError
from dsreg.readers.layout import read_member, text_lines
from dsreg.readers.text_lines import aligned_lines
from dsreg.sourcetree import SourceTree

Row = dict[str, str]

_DOC = re.compile(r"<doc\s([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_SEG = re.compile(r"<seg\b([^>]*)>(.*?)</seg>", re.IGNORECASE)
_SEG_ID = re.compile(r"""\bid\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)


def aligned_text(tree: SourceTree, files: Mapping[str, str]) -> Iterator[Row]:
    """Pairs of line-aligned files (plain or gzip), language → member; unequal line counts are an error."""
    yield from aligned_lines(tree, list(files.items()))


def tsv(tree: SourceTree, name: str, columns: Mapping[str, int]) -> Iterator[Row]:
    """One pair per line of a tab-separated file, language → 0-based field; a short line is an error."""
    need = max(columns.values()) + 1
    for number, line in text_lines(tree, name):
        fields = line.rstrip("\n").removesuffix("\r").split("\t")
        if len(fields) < need:
            raise DsregError(
                f"line {number} has {len(fields)} tab-separated fields, fewer than the {need} the recipe reads",
                path=tree.location(name),
                fix="check the file is the tab-separated corpus the recipe names (one pair per line)",
            )
        yield {lang: fields[index] for lang, index in columns.items()}


def _attrs(text: str) -> dict[str, str]:
    return {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None) for m in _ATTR.finditer(text)}


def sgml_segments(tree: SourceTree, name: str) -> list[tuple[str, str, str, str, str]]:
    """(doc_id, seg id, text, genre, origlang) of every `<seg>` of a WMT "SGML" file, in file order.

    A segment outside a `<doc>` or a file without segments is an error naming the file and line.
    """
    out: list[tuple[str, str, str, str, str]] = []
    doc: dict[str, str] | None = None
    for number, line in text_lines(tree, name):
        found = _DOC.search(line)
        if found:
            doc = _attrs(found.group(1))
            if "docid" not in doc:
                raise DsregError(
                    f"line {number}: a <doc> without docid",
                    path=tree.location(name),
                    fix="use the test set as released",
                )
        for seg in _SEG.finditer(line):
            if doc is None:
                raise DsregError(
                    f"line {number}: a <seg> outside any <doc>",
                    path=tree.location(name),
                    fix="use the test set as released",
                )
            ident = _SEG_ID.search(seg.group(1))
            text = seg.group(2).strip()
            out.append(
                (doc["docid"], ident.group(1) if ident else "", text, doc.get("genre", ""), doc.get("origlang", ""))
            )
    if not out:
        raise DsregError(
            "holds no <seg> segments: not a WMT test set file",
            path=tree.location(name),
            fix="name the test set's .sgm files (e.g. newstest2014-deen-src.de.sgm)",
        )
    return out


def sgml_pairs(tree: SourceTree, files: Mapping[str, str]) -> Iterator[Row]:
    """Aligned segments of a test set's source and reference files (language → member).

    The files must hold the same documents and segment ids in the same order; any difference is an error
    naming both files and the first segment that differs.
    """
    langs = list(files)
    parsed = {lang: sgml_segments(tree, files[lang]) for lang in langs}
    first = parsed[langs[0]]
    for lang in langs[1:]:
        other = parsed[lang]
        where = f"{tree.location(files[langs[0]])} and {tree.location(files[lang])}"
        if len(other) != len(first):
            raise DsregError(
                f"the test set files have {len(first)} and {len(other)} segments: {where}",
                path=tree.location(files[lang]),
                fix="use a source and a reference file of the same test set",
            )
        for i, (a, b) in enumerate(zip(first, other, strict=True)):
            if a[:2] != b[:2]:
                raise DsregError(
                    f"segment {i + 1} is doc {a[0]!r} seg {a[1]} in one file and doc {b[0]!r} seg {b[1]} in the "
                    f"other: {where}",
                    path=tree.location(files[lang]),
                    fix="use a source and a reference file of the same test set",
                )
    for i, (doc_id, _, _, genre, origlang) in enumerate(first):
        row = {lang: parsed[lang][i][2] for lang in langs}
        yield {**row, "doc_id": doc_id, "genre": genre, "origlang": origlang}


def _lang(code: str) -> str:
    """The primary language subtag in lower case: `EN-us` → `en`."""
    return re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()


def tmx(tree: SourceTree, name: str, langs: list[str]) -> Iterator[Row]:
    """One pair per `<tu>` of a TMX file holding a `<tuv>` for every language (matched on the primary subtag);
    units missing a language are skipped, as every TMX consumer does. Inline markup inside `<seg>` is dropped,
    its text kept."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(read_member(tree, name), parser=parser)
    except etree.XMLSyntaxError as err:
        raise DsregError(
            f"is not valid TMX (XML): {err}", path=tree.location(name), fix="use the file as released"
        ) from None
    if root.tag != "tmx":
        raise DsregError(f"the root element is <{root.tag}>, not <tmx>", path=tree.location(name))
    lang_attr = "{http://www.w3.org/XML/1998/namespace}lang"
    for unit in root.iter("tu"):
        texts: dict[str, str] = {}
        for tuv in unit.iter("tuv"):
            code = tuv.get(lang_attr) or tuv.get("lang") or ""
            seg = tuv.find("seg")
            if seg is not None and _lang(code) in langs:
                texts.setdefault(_lang(code), "".join(seg.itertext()))
        if all(lang in texts for lang in langs):
            yield {lang: texts[lang] for lang in langs}


def read_part(tree: SourceTree, part: Mapping[str, Any], langs: list[str]) -> Iterator[Row]:
    """The rows of one declared part of a split (see `dsreg.readers.wmt`)."""
    fmt = part["format"]
    if fmt in ("text", "sgml"):
        files = {lang: tree.find(part["files"][lang]) for lang in langs}
        yield from (aligned_text(tree, files) if fmt == "text" else sgml_pairs(tree, files))
    elif fmt == "tsv":
        yield from tsv(tree, tree.find(part["file"]), {lang: int(part["columns"][lang]) for lang in langs})
    else:
        yield from tmx(tree, tree.find(part["file"]), langs)
