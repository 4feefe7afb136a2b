"""Parsers of the formats parallel text is shipped in: aligned lines, tab-separated, TMX and the "SGML" test sets.

Each yields one dict per sentence pair, language code → text, plus `doc_id`, `genre` and `origlang` when the
format has them. Aligned plain and gzip'd text reuse the `text_lines` reader's pairing (equal line counts,
nothing stripped).

The pre-2021 WMT test sets (`newstest2014-deen-src.de.sgm`) look like SGML but are not valid XML or SGML:
they hold raw `&` and broken markup. They are read line by line with regular expressions over `<doc …>`,
`</doc>` and `<seg id="N">…</seg>`, and entities are never unescaped (sacrebleu and the peers keep them as
they are). A `<seg>` that does not close on its line, or sits outside a document, is an error: a regex that
skipped it would lose the pair without a word.
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

_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
# the markup the SGML test sets are read by, in line order: a <doc …> opening, a </doc>, a whole <seg …>…</seg>,
# and any other <seg or </seg (a segment that does not close on its line, or a closing one without an opening)
_MARKUP = re.compile(
    r"<doc\s(?P<doc>[^>]*)>|(?P<end></doc\s*>)|<seg\b(?P<attrs>[^>]*)>(?P<text>.*?)</seg\s*>|(?P<stray></?seg\b)",
    re.IGNORECASE,
)
_SEG_TAG = re.compile(r"</?seg\b", re.IGNORECASE)


def aligned_text(tree: SourceTree, files: Mapping[str, str]) -> Iterator[Row]:
    """Pairs of line-aligned files (plain or gzip), language → member; unequal line counts are an error."""
    yield from aligned_lines(tree, list(files.items()))


def tsv(tree: SourceTree, name: str, columns: Mapping[str, int]) -> Iterator[Row]:
    """One pair per line of a tab-separated file, language → 0-based field.

    Every line must have as many fields as the first: a tab inside a sentence would otherwise shift the
    fields after it onto the wrong language. A line with another count, or fewer fields than the recipe
    reads, is an error naming the file and line.
    """
    need = max(columns.values()) + 1
    width: int | None = None
    for number, line in text_lines(tree, name):
        fields = line.rstrip("\n").removesuffix("\r").split("\t")
        if len(fields) < need:
            raise DsregError(
                f"line {number} has {len(fields)} tab-separated fields, fewer than the {need} the recipe reads",
                path=tree.location(name),
                fix="check the file is the tab-separated corpus the recipe names (one pair per line)",
            )
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            raise DsregError(
                f"line {number} has {len(fields)} tab-separated fields where line 1 has {width} "
                "(a tab inside a sentence?): its fields cannot be told apart",
                path=tree.location(name),
                fix="repair the line (a tab inside a text must not be there), or use an undamaged copy",
            )
        yield {lang: fields[index] for lang, index in columns.items()}


def _attrs(text: str) -> dict[str, str]:
    return {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None) for m in _ATTR.finditer(text)}


def sgml_segments(tree: SourceTree, name: str) -> list[tuple[str, str, str, str, str]]:
    """(doc_id, seg id, text, genre, origlang) of every `<seg>` of a WMT "SGML" file, in file order.

    A segment must open and close on one line (as in every released set): one split over lines, nested in
    another or outside a `<doc>` is an error naming the file and line, as is a file without segments.
    """
    out: list[tuple[str, str, str, str, str]] = []
    doc: dict[str, str] | None = None
    where = tree.location(name)

    def error(number: int, problem: str) -> DsregError:
        return DsregError(f"line {number}: {problem}", path=where, fix="use the test set as released")

    for number, line in text_lines(tree, name):
        for found in _MARKUP.finditer(line):
            if found["doc"] is not None:
                doc = _attrs(found["doc"])
                if "docid" not in doc:
                    raise error(number, "a <doc> without docid")
            elif found["end"] is not None:
                doc = None
            elif found["stray"] is not None:
                raise error(number, f"a {found['stray']}> that does not pair with one on the same line")
            elif doc is None:
                raise error(number, "a <seg> outside any <doc>")
            elif _SEG_TAG.search(found["text"]):
                raise error(number, "a <seg> inside another <seg>")
            else:
                ident = _attrs(found["attrs"]).get("id", "")
                text = found["text"].strip()
                out.append((doc["docid"], ident, text, doc.get("genre", ""), doc.get("origlang", "")))
    if not out:
        raise DsregError(
            "holds no <seg> segments: not a WMT test set file",
            path=where,
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


# TMX inline elements holding native codes of the original format (`<bpt>&lt;b&gt;</bpt>`), not text
_NATIVE_CODES = frozenset({"bpt", "ept", "ph", "it", "ut"})


def _tmx_text(seg: Any) -> str:
    """The text of a TMX `<seg>`: its text and that of `<hi>`/`<g>` markup, without native codes (whose tail
    text, after the code, is kept)."""
    parts = [seg.text or ""]
    for child in seg:
        if not isinstance(child.tag, str):  # a comment or processing instruction: only its tail is text
            parts.append(child.tail or "")
            continue
        if child.tag not in _NATIVE_CODES:
            parts.append(_tmx_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def tmx(tree: SourceTree, name: str, langs: list[str]) -> Iterator[Row]:
    """One pair per `<tu>` of a TMX file holding a `<tuv>` for every language (matched on the primary subtag,
    the first `<tuv>` of a language when a unit has several: `en-GB` and `en-US`); units missing a language
    are skipped, as every TMX consumer does. Inline markup inside `<seg>` is dropped, its text kept; the
    native codes it holds (`<bpt>`, `<ept>`, `<ph>`, `<it>`, `<ut>`) are not text and are dropped too."""
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
                texts.setdefault(_lang(code), _tmx_text(seg))
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
