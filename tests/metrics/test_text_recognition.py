"""CER and word accuracy on hand-computed cases: classic edit distances, empty references, Unicode
normalisation, case and whitespace options; the bit-parallel edit distance equals the textbook programme."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import dsreg
from dsreg.errors import DsregError
from dsreg.features import Sequence, Text
from dsreg.metrics.text_recognition import CharacterErrorRate, WordAccuracy, levenshtein, read_text_lines


def _textbook(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_levenshtein_equals_the_textbook_dynamic_programme() -> None:
    rng = random.Random(0)
    for _ in range(3000):
        a = "".join(rng.choice("abcé") for _ in range(rng.randint(0, 90)))  # past 64 bits, too
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 90)))
        assert levenshtein(a, b) == _textbook(a, b), (a, b)
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3 and levenshtein("flaw", "lawn") == 2


def _cer(refs: list[str], hyps: list[str], **args) -> float:
    return CharacterErrorRate("cer", args, Text()).compute(refs, hyps).values["cer"]


def test_cer_hand_computed_cases() -> None:
    assert _cer(["kitten"], ["sitting"]) == 3 / 6
    assert _cer(["kitten", "flaw"], ["sitting", "lawn"]) == (3 + 2) / (6 + 4)  # corpus-level, not a mean of rows
    assert _cer(["abc", ""], ["abc", "ab"]) == 2 / 3  # an empty reference: its insertions count, its length is 0
    assert _cer(["abc", ""], ["", ""]) == 3 / 3
    with pytest.raises(DsregError, match="every reference is empty"):
        _cer(["", ""], ["a", ""])
    score = CharacterErrorRate("cer", {}, Text()).compute(["kitten"], ["sitting"])
    assert score.primary == "cer" and not score.higher_is_better
    assert score.signature == "cer|v2|NFC|case:sensitive|space:kept" and score.details["edits"] == 3


def test_cer_normalisation_case_and_whitespace() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert _cer([composed], [decomposed]) == 0.0  # NFC by default: the same text
    assert _cer([composed], [decomposed], normalization="none") == 2 / 4  # é → e, then the combining accent
    assert _cer(["\ufb01ne"], ["fine"], normalization="NFKC") == 0.0 and _cer(["\ufb01ne"], ["fine"]) == 2 / 3
    assert _cer(["ABC"], ["abc"]) == 1.0 and _cer(["ABC"], ["abc"], ignore_case=True) == 0.0
    assert _cer(["Straße"], ["STRASSE"], ignore_case=True) == 0.0  # casefold, not lower
    # 'ΐ' casefolds to ι + two combining marks: normalised again, it is one character, not three
    assert _cer(["\u0390a"], ["\u0390b"], ignore_case=True) == 1 / 2 == _cer(["\u0390a"], ["\u0390b"])
    assert _cer(["a  b "], ["a b"]) == 2 / 5 and _cer(["a  b "], ["a b"], collapse_whitespace=True) == 0.0


def test_word_accuracy_case_sensitive_and_insensitive() -> None:
    metric = WordAccuracy("word_accuracy", {}, Text())
    score = metric.compute(["Hello", "world", "ICDAR", "caf\u00e9"], ["hello", "world", "ICDAR", "cafe\u0301"])
    assert score.values == {"word_accuracy": 3 / 4, "word_accuracy_ci": 4 / 4} and score.primary == "word_accuracy"
    folded = WordAccuracy("word_accuracy", {"rank_by": "case_insensitive"}, Text())
    assert folded.compute(["A"], ["a"]).primary == "word_accuracy_ci"


def test_text_metrics_refuse_what_they_cannot_score() -> None:
    with pytest.raises(DsregError, match="needs one text column"):
        CharacterErrorRate("cer", {}, Sequence(Text()))
    with pytest.raises(DsregError, match="transcription None is not a string"):
        WordAccuracy("word_accuracy", {}, Text()).prediction(None, "line 3")
    with pytest.raises(DsregError, match=r"evaluation\.args\.normalization is 'NFX', not one of"):
        CharacterErrorRate("cer", {"normalization": "NFX"}, Text())


def test_text_lines_are_read_exactly(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_bytes(b"\xef\xbb\xbfa b \r\n\n  c\nlast")
    assert read_text_lines(path) == ["a b ", "", "  c", "last"]
    path.write_bytes(b"\xff")
    with pytest.raises(DsregError, match="not UTF-8"):
        read_text_lines(path)


def test_a_handwriting_dataset_scored_by_id_from_json_lines(root: Path, tmp_path: Path) -> None:
    feats = dsreg.Features({"line_id": Text(), "text": Text()})
    refs = {"a01-000u-00": "A MOVE to stop", "a01-000u-01": "Mr. Gaitskell", "a01-000u-02": ""}
    rows = [{"line_id": k, "text": v} for k, v in refs.items()]
    evaluation = {"metric": "cer", "id": "line_id", "reference": "text"}
    dsreg.write_dataset("iam-toy", {"test": rows}, feats, evaluation=evaluation, root=root)
    hyps = {"a01-000u-02": "x", "a01-000u-00": "A MOVE to stap", "a01-000u-01": "Mr Gaitskell"}
    path = tmp_path / "p.jsonl"
    path.write_text("".join(f'{{"id": "{k}", "prediction": "{v}"}}\n' for k, v in hyps.items()))
    result = dsreg.evaluate("iam-toy", "test", path)
    assert result.values == {"cer": pytest.approx((1 + 1 + 1) / (14 + 13))}
