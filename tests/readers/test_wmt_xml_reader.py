"""The `wmt_xml` reader: 2021+ WMT XML with several references, a translator-less one, system outputs skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from generic_fakes import rows

import dsreg
from dsreg.errors import DsregError
from dsreg.features import Sequence, Text
from dsreg.metrics.translation import Bleu, Chrf
from dsreg.preparation import prepare
from dsreg.readers.wmt_xml import parse_wmt_xml
from dsreg.testing import Damaged, ReaderContract
from dsreg.testing.hostile import truncated_copy
from dsreg.testing.wmt import write_wmt_xml

FILE = "wmttest2022.de-fr.all.xml"


class TestWmt22DeFrContract(ReaderContract):
    reader = "wmt_xml"
    recipe = "wmt22/de-fr"
    rows: ClassVar[dict[str, int]] = {"test": 8}

    def make_source(self, dest: Path) -> Path:
        write_wmt_xml(dest / FILE, "de", "fr")
        return dest

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        cut = dest / "cut"
        cut.mkdir(parents=True)
        truncated_copy(source / FILE, cut / "x").rename(cut / FILE)
        yield Damaged("the XML cut in half", cut, "not valid XML")
        other = dest / "other"
        write_wmt_xml(other / FILE, "de", "en")
        yield Damaged("a file of another pair under this pair's name", other, "this pair is de-fr")
        bare = dest / "bare"
        bare.mkdir()
        text = (source / FILE).read_text(encoding="utf-8")
        (bare / FILE).write_text(text.replace("<ref ", "<hyp system='x' ").replace("</ref>", "</hyp>"), "utf-8")
        yield Damaged("a file with system outputs but no reference", bare, "no segment with a reference")


def test_references_in_translator_order_and_the_quirks(tmp_path: Path, monkeypatch, root) -> None:
    want = write_wmt_xml(tmp_path / "src" / FILE, "de", "fr")
    prepare("wmt22/de-fr", source=tmp_path / "src")
    got = rows("wmt22/de-fr", "test")
    assert got == want
    # d1: A then B; d2 lists B first in the file but A comes first by translator order, and A's empty
    # segment 2 leaves B alone; d3's segment 1 has no reference and is skipped; the test suite is skipped;
    # d4 sits outside any collection with a translator-less reference
    # fr_refs holds one entry per translator of the file (A, B, the nameless one), "" where one has none
    assert all(len(r["fr_refs"]) == 3 for r in got)
    assert [r["fr_refs"][2] for r in got if r["doc_id"] == "d1"] == ["", "", ""]
    assert [r["fr"].split()[-2] for r in got if r["doc_id"] == "d2"] == ["A2", "B2"]
    assert [r["fr_refs"][0] for r in got if r["doc_id"] == "d2"][1] == ""
    assert [r["fr_refs"][:2] for r in got if r["doc_id"] == "d4"] == [["", ""], ["", ""]]
    assert [r["doc_id"] for r in got].count("d3") == 1
    assert "ts" not in {r["doc_id"] for r in got}
    assert {r["collection"] for r in got if r["doc_id"] == "d4"} == {""}
    assert all(not r["fr"].startswith("hyp") for r in got)
    assert {r["domain"] for r in got if r["doc_id"] == "d1"} == {"news"}


def test_a_segment_id_missing_from_a_reference_is_no_reference(tmp_path: Path) -> None:
    xml = (
        b'<dataset id="x"><doc id="a" origlang="de"><src lang="de"><p><seg id="1">eins</seg><seg id="2">zwei</seg>'
        b'</p></src><ref lang="fr" translator="A"><p><seg id="1">un</seg></p></ref></doc></dataset>'
    )
    got = list(parse_wmt_xml(xml, "f.xml", "de", "fr"))
    assert [(r["de"], r["fr_refs"]) for r in got] == [("eins", ["un"])]


def test_not_a_dataset_is_refused() -> None:
    with pytest.raises(DsregError, match="not <dataset>"):
        list(parse_wmt_xml(b"<tmx/>", "f.xml", "de", "fr"))


def test_bleu_is_scored_against_every_reference(tmp_path: Path, root) -> None:
    from dsreg.evaluation.run import evaluate

    want = write_wmt_xml(tmp_path / "src" / FILE, "de", "fr")
    prepare("wmt22/de-fr", source=tmp_path / "src")
    # each hypothesis is the *last* reference of its segment: a perfect score only if every reference counts
    hypotheses = [[t for t in r["fr_refs"] if t][-1] for r in want]
    assert any(len([t for t in r["fr_refs"] if t]) > 1 for r in want)
    result = evaluate("wmt22/de-fr", "test", hypotheses)
    assert result.score.values["bleu"] == pytest.approx(100.0)
    first_only = evaluate("wmt22/de-fr", "test", [r["fr"][::-1] for r in want])
    assert first_only.score.values["bleu"] < 100.0


def _doc(src: str, *refs: str) -> bytes:
    body = f'<src lang="de"><p>{src}</p></src>' + "".join(refs)
    return f'<dataset id="x"><collection id="c"><doc id="a" origlang="de">{body}</doc></collection></dataset>'.encode()


@pytest.mark.parametrize(
    ("xml", "problem"),
    [
        # a dict keyed by segment id kept only the second segment 1 of each side
        (
            _doc(
                '<seg id="1">eins</seg></p><p><seg id="1">zwei</seg>',
                '<ref lang="fr" translator="A"><p><seg id="1">un</seg><seg id="2">deux</seg></p></ref>',
            ),
            "two <seg id='1'> in its <src>",
        ),
        # two translator-less references: the first was silently replaced by the second
        (
            _doc(
                '<seg id="1">eins</seg>',
                '<ref lang="fr"><p><seg id="1">un</seg></p></ref>',
                '<ref lang="fr"><p><seg id="1">une</seg></p></ref>',
            ),
            "two references by translator ''",
        ),
        # a reference numbered apart from its source: segment 3 was dropped without a word
        (
            _doc(
                '<seg id="1">eins</seg><seg id="2">zwei</seg>',
                '<ref lang="fr" translator="A"><p><seg id="2">deux</seg><seg id="3">trois</seg></p></ref>',
            ),
            r"segments \['3'\] that its source lacks",
        ),
        # "1" and "01" are one segment to sacrebleu (it keys by int(id)): the second would replace the first
        (
            _doc('<seg id="1">eins</seg><seg id="01">zwei</seg>', '<ref lang="fr"><p><seg id="1">un</seg></p></ref>'),
            "two <seg id='01'> in its <src>",
        ),
        # a second source: its segments were never read
        (
            _doc('<seg id="1">eins</seg></p></src><src lang="de"><p><seg id="2">zwei</seg>'),
            "2 <src> elements",
        ),
    ],
)
def test_segments_a_dict_would_lose_are_errors(xml: bytes, problem: str) -> None:
    with pytest.raises(DsregError, match=problem):
        list(parse_wmt_xml(xml, "f.xml", "de", "fr"))


def _sacrebleu_fields(path: Path) -> dict[str, list[str | None]]:
    """What sacrebleu itself reads from a WMT XML file (its own parser, on a local file: no download)."""
    from sacrebleu.dataset.wmt_xml import WMTXMLDataset

    fields: dict[str, list[str | None]] = WMTXMLDataset._unwrap_wmt21_or_later(str(path))
    return fields


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
def test_scores_equal_sacrebleu_on_its_own_reading_of_the_file(tmp_path: Path, root, metric: str) -> None:
    """A translator without a segment is an empty reference to sacrebleu, which changes BLEU's closest
    reference length: dsreg scores the same references, so the same number comes out."""
    from sacrebleu.metrics import BLEU, CHRF

    from dsreg.evaluation.run import evaluate

    want = write_wmt_xml(tmp_path / "src" / FILE, "de", "fr")
    prepare("wmt22/de-fr", source=tmp_path / "src")
    fields = _sacrebleu_fields(tmp_path / "src" / FILE)
    ref_fields = sorted(k for k in fields if k == "ref" or k.startswith("ref:"))
    assert ref_fields == ["ref", "ref:A", "ref:B"]
    assert fields["src"] == [r["de"] for r in want] and fields["docid"] == [r["doc_id"] for r in want]
    # short hypotheses (one word) make an empty reference the closest length where a translator lacks one
    hypotheses = [r["fr"].split()[0] if i % 2 else r["fr"] for i, r in enumerate(want)]
    scorer = BLEU() if metric == "bleu" else CHRF()
    expected = scorer.corpus_score(hypotheses, [fields[k] for k in ref_fields]).score
    ours = Bleu("bleu", {}, Sequence(Text())) if metric == "bleu" else Chrf("chrf", {}, Sequence(Text()))
    ds = dsreg.open("wmt22/de-fr", "test")
    got = ours.compute(ds.take(list(range(len(ds))))["fr_refs"], hypotheses).values[metric]
    assert got == pytest.approx(expected, abs=1e-9)
    if metric == "bleu":  # the recipe's own evaluation (against fr_refs) gives it too
        assert evaluate("wmt22/de-fr", "test", hypotheses).score.values["bleu"] == pytest.approx(expected, abs=1e-9)
    if metric == "bleu":  # scoring only the non-empty references (padding with None) gives another number
        present = [[t for t in r["fr_refs"] if t] for r in want]
        padded = [[p[k] if k < len(p) else None for p in present] for k in range(3)]
        assert BLEU().corpus_score(hypotheses, padded).score != pytest.approx(expected)


def test_rows_follow_the_numeric_segment_id_as_sacrebleu_reads_them(tmp_path: Path) -> None:
    src = '<seg id="2">zwei</seg><seg id="10">zehn</seg><seg id="1">eins</seg>'
    ref = '<ref lang="fr" translator="A"><p><seg id="10">dix</seg><seg id="1">un</seg><seg id="2">deux</seg></p></ref>'
    xml = _doc(src, ref)
    got = list(parse_wmt_xml(xml, "f.xml", "de", "fr"))
    assert [(r["de"], r["fr"]) for r in got] == [("eins", "un"), ("zwei", "deux"), ("zehn", "dix")]
    (tmp_path / "f.xml").write_bytes(xml)
    fields = _sacrebleu_fields(tmp_path / "f.xml")
    assert [r["de"] for r in got] == fields["src"] and [r["fr"] for r in got] == fields["ref:A"]


def test_a_segment_id_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(DsregError, match="<seg id='2b'>, not an integer id in its <src>"):
        list(parse_wmt_xml(_doc('<seg id="1">eins</seg><seg id="2b">zwei</seg>'), "f.xml", "de", "fr"))
