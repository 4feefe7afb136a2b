"""`wmt_xml`: the WMT 2021+ test sets, real XML with every reference and system output of a pair in one file.

`dataset > collection? > doc[@id,@origlang,@domain?,@testsuite?] > src[@lang] | ref[@lang,@translator?] |
hyp[@system]`, segments `p > seg[@id]`. One row per source segment that has at least one non-empty reference,
as sacrebleu keeps them (`sacrebleu/dataset/wmt_xml.py`): the source under its language code, the first
non-empty reference under the target code, and under `<target>_refs` one entry per translator of the file, in
translator order (first appearance in the file), `""` where that translator has no (or an empty) segment —
sacrebleu's `ref:<translator>` fields, which it scores as real empty references, so BLEU and chrF against
`<target>_refs` equal sacrebleu's against every reference of the file — then `doc_id`, `collection`, `domain`,
`origlang`. Inside a document, rows follow the numeric segment id (sacrebleu sorts by `int(id)`), not the
order of the file; an id that is not an integer is an error (sacrebleu cannot order it either). A reference
without a translator name is still a reference; system outputs (`<hyp>`), test-suite documents and
collections without references are skipped, as sacrebleu does.
What a mapping by segment id would silently lose is an error naming the document: a repeated segment id
(`1` and `01` are one id, as for sacrebleu), two references by one translator (or two without a name), a
reference segment its source lacks, a second `<src>`.
sacrebleu's own parser is not used: it keeps neither collections nor translator order and fails with a
bare assertion on unexpected languages.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import Features, Sequence, Text
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.layout import FILES, SOURCE, read_member, split_files, split_tree
from dsreg.sourcetree import SourceTree

METADATA = ("doc_id", "collection", "domain", "origlang")


def _segment_id(seg: Any, element: Any, where: str, doc_id: str) -> int:
    """A `<seg>`'s id as the integer sacrebleu orders and matches segments by."""
    ident = seg.get("id")
    try:
        return int(ident)
    except (TypeError, ValueError):
        what = "a <seg> without an id" if ident is None else f"<seg id={ident!r}>, not an integer id"
        raise DsregError(
            f"document {doc_id!r} has {what} in its <{element.tag}> (line {seg.sourceline}): the segments' order "
            "is their numeric id (as sacrebleu reads them), which this one does not have",
            path=where,
            fix="use the test set as released",
        ) from None


def _segments(element: Any, where: str, doc_id: str) -> dict[int, str]:
    """Segment id → text of the `<seg>`s under `element`; a repeated id is an error (a dict would keep only
    the last of them)."""
    out: dict[int, str] = {}
    for seg in element.iter("seg"):
        ident = _segment_id(seg, element, where, doc_id)
        if ident in out:
            raise DsregError(
                f"document {doc_id!r} has two <seg id={seg.get('id')!r}> in its <{element.tag}> (line "
                f"{seg.sourceline})",
                path=where,
                fix="use the test set as released",
            )
        out[ident] = "".join(seg.itertext())
    return out


def parse_wmt_xml(data: bytes, where: str, source_lang: str, target_lang: str) -> Iterator[dict[str, Any]]:
    """The rows of one WMT XML file (see the module docstring); `where` names the file in errors."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as err:
        raise DsregError(
            f"is not valid XML: {err}",
            path=where,
            fix="use the test set's .xml as released (pre-2021 .sgm sets are read by the wmt reader)",
        ) from None
    if root.tag != "dataset":
        raise DsregError(f"the root element is <{root.tag}>, not <dataset>: not a WMT XML test set", path=where)
    order: list[str] = []
    for ref in root.iter("ref"):
        translator = ref.get("translator") or ""
        if translator not in order:
            order.append(translator)
    rows = 0
    for doc in root.iter("doc"):
        if doc.get("testsuite") is not None:
            continue
        parent = doc.getparent()
        collection = parent.get("id", "") if parent is not None and parent.tag == "collection" else ""
        sources = doc.findall("src")
        if len(sources) != 1:
            raise DsregError(
                f"document {doc.get('id')!r} has {len(sources)} <src> elements, not one",
                path=where,
                fix="use the file as released",
            )
        src = sources[0]
        for element, want in [(src, source_lang), *((r, target_lang) for r in doc.findall("ref"))]:
            if element.get("lang") != want:
                raise DsregError(
                    f"document {doc.get('id')!r} has <{element.tag} lang={element.get('lang')!r}>, but this pair is "
                    f"{source_lang}-{target_lang}",
                    path=where,
                    fix="prepare the config of this file's language pair",
                )
        doc_id = doc.get("id", "")
        refs: dict[str, dict[int, str]] = {}
        for ref in doc.findall("ref"):
            translator = ref.get("translator") or ""
            if translator in refs:
                raise DsregError(
                    f"document {doc_id!r} has two references by translator {translator!r} (line {ref.sourceline}):"
                    " one would hide the other",
                    path=where,
                    fix="use the test set as released",
                )
            refs[translator] = _segments(ref, where, doc_id)
        source = _segments(src, where, doc_id)
        for translator, segments in refs.items():
            orphans = [str(i) for i in segments if i not in source]
            if orphans:
                raise DsregError(
                    f"document {doc_id!r}: the reference by translator {translator!r} has segments {orphans[:5]} "
                    "that its source lacks (the two do not match)",
                    path=where,
                    fix="use the test set as released",
                )
        for seg_id in sorted(source):
            texts = [refs.get(t, {}).get(seg_id, "") for t in order]
            if not any(texts):
                continue
            rows += 1
            yield {
                source_lang: source[seg_id],
                target_lang: next(t for t in texts if t),
                f"{target_lang}_refs": texts,
                "doc_id": doc_id,
                "collection": collection,
                "domain": doc.get("domain", ""),
                "origlang": doc.get("origlang", ""),
            }
    if not rows:
        raise DsregError(
            "holds no segment with a reference (a source-only or system-output file)",
            path=where,
            fix="use the release's file with references (wmttest20NN.<pair>.all.xml)",
        )


class WmtXmlReader(Reader):
    """The WMT 2021+ XML test sets: source, every reference in translator order, document metadata."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("source_language", "str", "the source language code (the <src lang>), also its column", True),
        Arg("target_language", "str", "the target language code (the <ref lang>), also its column", True),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (FILES, SOURCE)

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        self.source_lang, self.target_lang = self.args["source_language"], self.args["target_language"]
        refs = f"{self.target_lang}_refs"
        expected = {self.source_lang: Text(), self.target_lang: Text(), refs: Sequence(Text())}
        expected.update({name: Text() for name in METADATA})
        if dict(features.items()) != expected:
            raise DsregError(
                f"the wmt_xml reader fills {list(expected)}; features are {features.names()}",
                fix=f"declare {self.source_lang}, {self.target_lang}, {', '.join(METADATA)} as text and {refs} "
                "as {type: sequence, feature: {type: text}}",
            )

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """One task per XML file of the split."""
        return split_files(split_tree(sources, split, split_args, "wmt_xml"), split, split_args)

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree = split_tree(sources, split, split_args, "wmt_xml")
        yield from parse_wmt_xml(read_member(tree, task), tree.location(task), self.source_lang, self.target_lang)
