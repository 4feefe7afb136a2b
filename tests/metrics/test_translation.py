"""BLEU and chrF equal sacrebleu's own corpus scores on the same inputs (one, several and a variable number of
references), carry sacrebleu's signature, and score a translation dataset end to end from plain text lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sacrebleu

import dsreg
from dsreg.errors import DsregError
from dsreg.features import Scalar, Sequence, Text
from dsreg.metrics.translation import Bleu, Chrf

HYPS = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over the lazy dog!",
    "Il pleut des cordes aujourd'hui.",
    "Numbers like 3.14 and 1,000 are tokenized, aren't they?",
]
REFS_A = [
    "The cat is sitting on the mat.",
    "The quick brown fox jumped over the lazy dog!",
    "It is raining cats and dogs today.",
    "Numbers such as 3.14 and 1,000 get tokenized, don't they?",
]
REFS_B = [
    "A cat sat on the mat.",
    "A fast brown fox leaps over the lazy dog.",
    "It's pouring today.",
    "numbers like 3.14 and 1,000 are tokenised, aren't they?",
]


def test_bleu_equals_sacrebleu_with_one_and_two_references() -> None:
    one = Bleu("bleu", {}, Text())
    score = one.compute(REFS_A, HYPS)
    expected = sacrebleu.corpus_bleu(HYPS, [REFS_A])
    assert score.values == {"bleu": pytest.approx(expected.score, abs=1e-12)} and 0 < expected.score < 100
    assert score.signature == f"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
    two = Bleu("bleu", {}, Sequence(Text()))
    score2 = two.compute([[a, b] for a, b in zip(REFS_A, REFS_B, strict=True)], HYPS)
    assert score2.values["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS_A, REFS_B]).score, abs=1e-12)
    assert score2.values["bleu"] > score.values["bleu"] and score2.signature.startswith("nrefs:2|")
    columns = Bleu("bleu", {}, [Text(), Text()])  # two reference columns: one tuple per row
    assert columns.compute(list(zip(REFS_A, REFS_B, strict=True)), HYPS).values == score2.values


def test_a_variable_number_of_references_is_sacrebleu_s_none_padding() -> None:
    refs = [[REFS_A[0], REFS_B[0]], [REFS_A[1]], [REFS_A[2], REFS_B[2]], [REFS_A[3]]]
    score = Bleu("bleu", {}, Sequence(Text())).compute(refs, HYPS)
    padded_b = [REFS_B[0], None, REFS_B[2], None]
    assert score.values["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS_A, padded_b]).score, abs=1e-12)
    assert score.signature.startswith("nrefs:var|")
    with pytest.raises(DsregError, match="row 1 has no reference"):
        Bleu("bleu", {}, Sequence(Text())).compute([[REFS_A[0]], [], [REFS_A[2]], [REFS_A[3]]], HYPS)


def test_references_as_the_dataset_returns_them_are_several_references(root: Path) -> None:
    """`Dataset.take` gives a sequence-of-text column as numpy arrays: each array was once str()'d into one
    reference "['…' '…']", and BLEU fell from 100 to 18 without a word."""
    feats = dsreg.Features({"en_refs": Sequence(Text())})
    rows = [{"en_refs": [a, b]} for a, b in zip(REFS_A, REFS_B, strict=True)]
    dsreg.write_dataset("refs", {"test": rows}, feats, root=root)
    refs = dsreg.open("refs", "test").take(list(range(len(rows))))["en_refs"]
    assert isinstance(refs[0], np.ndarray)
    score = Bleu("bleu", {}, Sequence(Text())).compute(refs, REFS_B)
    assert score.values["bleu"] == pytest.approx(100.0) and score.signature.startswith("nrefs:2|")
    chrf = Chrf("chrf", {}, Sequence(Text())).compute(refs, HYPS)
    assert chrf.values["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS_A, REFS_B]).score, abs=1e-12)


def test_options_reach_sacrebleu() -> None:
    lower = Bleu("bleu", {"lowercase": True, "tokenize": "intl"}, Text()).compute(REFS_B, HYPS)
    expected = sacrebleu.corpus_bleu(HYPS, [REFS_B], lowercase=True, tokenize="intl")
    assert lower.values["bleu"] == pytest.approx(expected.score, abs=1e-12)
    assert "|case:lc|" in lower.signature and "|tok:intl|" in lower.signature
    with pytest.raises(DsregError, match="sacrebleu refuses"):
        Bleu("bleu", {"tokenize": "klingon"}, Text()).scorer()


def test_chrf_and_chrf_plus_plus_equal_sacrebleu() -> None:
    chrf = Chrf("chrf", {}, Text()).compute(REFS_A, HYPS)
    assert chrf.values == {"chrf": pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS_A]).score, abs=1e-12)}
    assert chrf.signature == f"nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:{sacrebleu.__version__}"
    plus = Chrf("chrf", {"word_order": 2}, Text()).compute(REFS_A, HYPS)
    expected = sacrebleu.metrics.CHRF(word_order=2).corpus_score(HYPS, [REFS_A]).score
    assert plus.values["chrf"] == pytest.approx(expected, abs=1e-12) and "|nw:2|" in plus.signature


def test_translation_metrics_refuse_non_text() -> None:
    with pytest.raises(DsregError, match="needs text references"):
        Bleu("bleu", {}, Scalar(dtype="int64"))
    with pytest.raises(DsregError, match="hypothesis 3 is not a string"):
        Chrf("chrf", {}, Text()).prediction(3, "line 1")


def test_a_translation_dataset_scored_from_plain_text_lines(root: Path, tmp_path: Path) -> None:
    feats = dsreg.Features({"source": Text(), "target": Text(), "seg_id": Text()})
    rows = [{"source": "x", "target": ref, "seg_id": f"doc1-{i}"} for i, ref in enumerate(REFS_A)]
    dsreg.write_dataset(
        "wmt-toy",
        {"test": rows},
        feats,
        supervised_keys=("source", "target"),
        evaluation={"metric": "bleu", "id": "seg_id"},
        root=root,
    )
    hyp = tmp_path / "hyp.detok.txt"
    hyp.write_bytes(("\r\n".join(HYPS) + "  \n").encode())  # CRLF and trailing blanks, as sacrebleu strips them
    result = dsreg.evaluate("wmt-toy", "test", hyp, model="nmt", submit=True)
    assert result.values["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS_A]).score, abs=1e-12)
    assert result.record["metric"]["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert result.record["details"]["text"].startswith("BLEU = ")  # sacrebleu's line: precisions, BP, lengths
    hyp.write_text("\n".join(HYPS[:3]) + "\n")
    with pytest.raises(DsregError, match=r"3 predictions for the 4 rows .* \(ids 'doc1-3'\)"):
        dsreg.evaluate("wmt-toy", "test", hyp)
    # a byte order mark (Windows editors write one) is not part of the first hypothesis: it glued itself to
    # "The" and lowered the score without a word; a line separator inside a hypothesis does not split it
    hyp.write_bytes(b"\xef\xbb\xbf" + "\n".join(HYPS).encode() + b"\n")
    assert dsreg.evaluate("wmt-toy", "test", hyp).values["bleu"] == pytest.approx(result.values["bleu"], abs=1e-12)
    hyp.write_text("\n".join([HYPS[0] + "\u2028x", *HYPS[1:]]) + "\n", encoding="utf-8")
    assert dsreg.evaluate("wmt-toy", "test", hyp).values["bleu"] < result.values["bleu"]
