"""Conformance on the real WMT excerpts in ../shared/realdata/wmt (skipped where that folder is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsreg.errors import DsregError
from dsreg.readers.translation_formats import sgml_pairs, sgml_segments
from dsreg.readers.wmt_xml import parse_wmt_xml
from dsreg.sourcetree import SourceTree
from dsreg.testing.realdata import realdata

# ../shared/realdata beside the project (or beside a folder above a git worktree); DSREG_REALDATA points elsewhere
NEWSTEST = realdata("wmt", "newstest2014")
SAMPLES = realdata("wmt", "wmt_xml_samples")


def _need(path: Path | None) -> None:
    if path is None or not path.is_dir():
        pytest.skip("real WMT excerpts not found (../shared/realdata is only on development machines and CI)")


@pytest.mark.parametrize("pair", ["de-en", "fr-en"])
def test_newstest2014_full_gives_3003_aligned_segments_with_matching_documents(pair: str) -> None:
    _need(NEWSTEST)
    xx, tag = pair[:2], pair.replace("-", "")
    tree = SourceTree.open(NEWSTEST)
    rows = list(sgml_pairs(tree, {xx: f"newstest2014-{tag}-src.{xx}.sgm", "en": f"newstest2014-{tag}-ref.en.sgm"}))
    assert len(rows) == 3003
    source_docs = [d for d, *_ in sgml_segments(tree, f"newstest2014-{tag}-src.{xx}.sgm")]
    reference_docs = [d for d, *_ in sgml_segments(tree, f"newstest2014-{tag}-ref.en.sgm")]
    assert source_docs == reference_docs == [r["doc_id"] for r in rows]
    assert all(r[xx] and r["en"] for r in rows)
    assert {r["genre"] for r in rows} == {"news"}
    assert {r["origlang"] for r in rows} <= {xx, "en"}
    # raw `&` is kept as it is (the files are not XML), entities are not unescaped
    assert any(" & " in r["en"] for r in rows)
    assert not any("&amp;" in r["en"] for r in rows)


def test_the_official_xml_samples_parse() -> None:
    _need(SAMPLES)
    data = (SAMPLES / "sample-src-ref.xml").read_bytes()
    rows = list(parse_wmt_xml(data, "sample-src-ref.xml", "en", "ha"))
    assert len(rows) == 1000
    assert all(r["ha_refs"] == [r["ha"]] and r["en"] for r in rows)
    docs = {r["doc_id"] for r in rows}
    assert b'testsuite="sample" id="sample-doc1"' in data  # two test-suite documents are in the file ...
    assert len(docs) == 71 and "sample-doc1" not in docs  # ... and not among the 71 documents read
    hyp_only = (SAMPLES / "sample-hyp.xml").read_bytes()
    with pytest.raises(DsregError, match="no segment with a reference"):
        list(parse_wmt_xml(hyp_only, "sample-hyp.xml", "en", "ha"))


def test_the_official_xml_sample_reads_as_sacrebleu_reads_it() -> None:
    """Row order, sources and references equal sacrebleu's own parser's fields on the real sample."""
    _need(SAMPLES)
    from sacrebleu.dataset.wmt_xml import WMTXMLDataset

    path = SAMPLES / "sample-src-ref.xml"
    rows = list(parse_wmt_xml(path.read_bytes(), path.name, "en", "ha"))
    fields = WMTXMLDataset._unwrap_wmt21_or_later(str(path))
    refs = sorted(k for k in fields if k == "ref" or k.startswith("ref:"))
    assert [r["en"] for r in rows] == fields["src"] and [r["doc_id"] for r in rows] == fields["docid"]
    assert [r["ha_refs"] for r in rows] == [list(t) for t in zip(*(fields[k] for k in refs), strict=True)]
