"""UAS, LAS and UPOS by the CoNLL 2018 rules on hand-made gold/system pairs; every expected number is worked
out by hand in the comments (alignment on characters, punctuation counted, subtypes stripped for LAS)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from dsreg.errors import DsregError
from dsreg.metrics.conll18 import conllu_rows, evaluate


def _conllu(*sentences: list[str]) -> str:
    return "".join("\n".join(lines) + "\n\n" for lines in sentences)


def _word(i: int, form: str, upos: str, head: int, deprel: str) -> str:
    return f"{i}\t{form}\t_\t{upos}\t_\t_\t{head}\t{deprel}\t_\t_"


def _scores(gold: str, system: str) -> dict[str, tuple[int, int, int]]:
    result = evaluate(conllu_rows(gold, "gold"), conllu_rows(system, "system"))
    return {name: (s.gold, s.system, s.correct) for name, s in result.items()}


GOLD_CAT = [
    _word(1, "The", "DET", 2, "det"),
    _word(2, "cat", "NOUN", 3, "nsubj"),
    _word(3, "sat", "VERB", 0, "root"),
    _word(4, ".", "PUNCT", 3, "punct"),
]


def test_same_tokens_punctuation_counts_and_subtypes_are_stripped() -> None:
    system = [
        _word(1, "The", "DET", 2, "det"),
        _word(2, "cat", "NOUN", 3, "nsubj:pass"),  # nsubj:pass vs nsubj: the same universal relation → LAS right
        _word(3, "sat", "NOUN", 0, "root"),  # wrong UPOS
        _word(4, ".", "PUNCT", 2, "punct"),  # punctuation attached wrongly: counted as an error
    ]
    result = evaluate(conllu_rows(_conllu(GOLD_CAT), "g"), conllu_rows(_conllu(system), "s"))
    # 4 gold words, 4 system words, all aligned. UPOS 3 right; UAS 3 (the full stop's head is wrong);
    # LAS 3 (the same three, nsubj:pass counted as nsubj). F1 = 2·3/(4+4) = 0.75 each.
    assert {k: (v.gold, v.system, v.correct) for k, v in result.items()} == {
        "Tokens": (4, 4, 4),
        "Sentences": (1, 1, 1),
        "Words": (4, 4, 4),
        "UPOS": (4, 4, 3),
        "UAS": (4, 4, 3),
        "LAS": (4, 4, 3),
    }
    assert result["LAS"].f1 == pytest.approx(0.75) and result["UAS"].aligned_accuracy == pytest.approx(0.75)


def test_tokenisation_mismatch_aligns_on_characters() -> None:
    # Gold: "Il parle du chat." with du = de + le: tokens Il|parle|du|chat|. (5), words Il parle de le chat . (6).
    gold = _conllu(
        [
            _word(1, "Il", "PRON", 2, "nsubj"),
            _word(2, "parle", "VERB", 0, "root"),
            "3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_",
            _word(3, "de", "ADP", 5, "case"),
            _word(4, "le", "DET", 5, "det"),
            _word(5, "chat", "NOUN", 2, "obl:arg"),
            _word(6, ".", "PUNCT", 2, "punct"),
        ]
    )
    # System: no multiword token and "chat." as one token: tokens = words = Il|parle|du|chat. (4).
    system = _conllu(
        [
            _word(1, "Il", "PRON", 3, "nsubj"),  # head du, which aligns to no gold word → UAS wrong
            _word(2, "parle", "NOUN", 0, "root"),  # wrong UPOS, right head and relation
            _word(3, "du", "DET", 4, "det"),
            _word(4, "chat.", "NOUN", 2, "obl"),
        ]
    )
    # Characters: "Ilparleduchat." on both sides. Token spans: gold (0,2)(2,7)(7,9)(9,13)(13,14), system
    # (0,2)(2,7)(7,9)(9,14): 3 equal → Tokens 3 of 5 gold / 4 system.
    # Words: Il and parle align by span; gold de, le (multiword, span 7-9) and system du form one multiword span,
    # LCS of [de, le] and [du] is empty → none aligned; gold chat (9,13) ≠ system chat. (9,14) → not aligned.
    # Aligned 2: Words correct 2. UPOS: Il right, parle wrong → 1. UAS: Il's system head du is unaligned → wrong;
    # parle is the root on both sides → right → 1. LAS likewise 1.
    assert _scores(gold, system) == {
        "Tokens": (5, 4, 3),
        "Sentences": (1, 1, 1),
        "Words": (6, 4, 2),
        "UPOS": (6, 4, 1),
        "UAS": (6, 4, 1),
        "LAS": (6, 4, 1),
    }
    result = evaluate(conllu_rows(gold, "g"), conllu_rows(system, "s"))
    # precision 1/4, recall 1/6, F1 = 2·1/(6+4) = 0.2; accuracy over the 2 aligned words 1/2
    las = result["LAS"]
    assert (las.precision, las.recall, las.f1, las.aligned_accuracy) == pytest.approx((0.25, 1 / 6, 0.2, 0.5))
    assert result["Words"].f1 == pytest.approx(0.4) and result["Tokens"].f1 == pytest.approx(6 / 9)


def test_words_inside_multiword_tokens_align_by_lowercased_forms() -> None:
    gold = _conllu(
        [
            "1-2\tAu\t_\t_\t_\t_\t_\t_\t_\t_",
            _word(1, "À", "ADP", 3, "case"),
            _word(2, "le", "DET", 3, "det"),
            _word(3, "début", "NOUN", 0, "root"),
        ]
    )
    system = _conllu(
        [
            "1-2\tAu\t_\t_\t_\t_\t_\t_\t_\t_",
            _word(1, "à", "ADP", 3, "case"),  # À and à are one form, lowercased
            _word(2, "les", "DET", 3, "det"),  # le ≠ les: not aligned
            _word(3, "début", "NOUN", 0, "root"),
        ]
    )
    # Aligned: à–À (LCS) and début (span) = 2 of 3. UPOS 2, UAS 2 (à's head début maps to gold début), LAS 2.
    assert _scores(gold, system) == {
        "Tokens": (2, 2, 2),
        "Sentences": (1, 1, 1),
        "Words": (3, 3, 2),
        "UPOS": (3, 3, 2),
        "UAS": (3, 3, 2),
        "LAS": (3, 3, 2),
    }


def test_sentence_boundaries_are_scored_and_heads_map_within_the_alignment() -> None:
    # Gold has two sentences; the system joins them into one. Characters agree, so words still align.
    gold = _conllu(
        [_word(1, "Go", "VERB", 0, "root"), _word(2, "!", "PUNCT", 1, "punct")],
        [_word(1, "Now", "ADV", 0, "root")],
    )
    system = _conllu(
        [_word(1, "Go", "VERB", 0, "root"), _word(2, "!", "PUNCT", 1, "punct"), _word(3, "Now", "ADV", 1, "advmod")]
    )
    # Sentences: gold spans (0,3)(3,6), system (0,6): same start, other end → 0 correct.
    # UAS: Go, ! right; Now: gold root, system head Go → wrong → 2 of 3. LAS also 2.
    assert _scores(gold, system) == {
        "Tokens": (3, 3, 3),
        "Sentences": (2, 1, 0),
        "Words": (3, 3, 3),
        "UPOS": (3, 3, 3),
        "UAS": (3, 3, 2),
        "LAS": (3, 3, 2),
    }


def test_different_text_two_roots_and_cycles_are_refused() -> None:
    gold = _conllu(GOLD_CAT)
    other = _conllu([_word(1, "The", "DET", 2, "det"), _word(2, "dog", "NOUN", 0, "root")])
    with pytest.raises(DsregError, match=r"differ at character 3 \(gold 'catsat.', system 'dog'\)"):
        evaluate(conllu_rows(gold, "g"), conllu_rows(other, "s"))
    roots = _conllu([_word(1, "The", "DET", 0, "root"), *GOLD_CAT[1:]])
    with pytest.raises(DsregError, match="system sentence 0: 2 roots"):
        evaluate(conllu_rows(gold, "g"), conllu_rows(roots, "s"))
    cycle = _conllu([_word(1, "The", "DET", 2, "det"), _word(2, "cat", "NOUN", 1, "nsubj"), *GOLD_CAT[2:]])
    with pytest.raises(DsregError, match="cycle"):
        evaluate(conllu_rows(gold, "g"), conllu_rows(cycle, "s"))


def test_spaces_inside_forms_are_ignored_as_the_script_does() -> None:
    gold = _conllu([_word(1, "New York", "PROPN", 0, "root")])
    system = _conllu(
        [_word(1, "New", "PROPN", 2, "compound"), _word(2, "York", "PROPN", 0, "root")]
    )  # "NewYork" on both sides; no span matches
    assert _scores(gold, system)["Words"] == (1, 2, 0)


REALDATA = (
    Path(os.environ.get("DSREG_REALDATA") or Path(__file__).resolve().parents[3] / "shared" / "realdata")
    / "ud"
    / "UD_English-EWT"
)


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real UD data not present at {REALDATA} (../shared/realdata)")
def test_real_ewt_dev_against_itself_and_without_its_multiword_tokens() -> None:
    gold = conllu_rows((REALDATA / "en_ewt-ud-dev.conllu").read_text(encoding="utf-8"), "dev")
    same = evaluate(gold, gold)
    # EWT 2.16 dev (its stats.xml): 2,001 sentences, 24,787 tokens, 25,147 words
    assert {k: (v.gold, v.correct) for k, v in same.items() if k in ("Sentences", "Tokens", "Words")} == {
        "Sentences": (2001, 2001),
        "Tokens": (24787, 24787),
        "Words": (25147, 25147),
    }
    assert same["LAS"].f1 == 1.0
    # A system that never splits tokens: each multiword token is one word (a flat tree: first word the root).
    # Its tokens are gold's, so Tokens are all right; its words are 25,147 − (words in fused tokens) + 359. Inside
    # each fused token the LCS of lowercased forms finds nothing (no word spells its whole token), so exactly the
    # words outside fused tokens align.
    fused, inside = [], 0
    for row in gold:
        spans = {m["start"]: (m["end"], m["form"]) for m in row["multiword"]}
        covered = {i for s, (e, _) in spans.items() for i in range(s, e + 1)}
        inside += len(covered)
        forms = [spans[i][1] if i in spans else row["tokens"][i - 1] for i in range(1, len(row["tokens"]) + 1)]
        forms = [f for i, f in enumerate(forms, 1) if i not in covered or i in spans]
        fused.append(
            {
                "tokens": forms,
                "upos": ["X"] * len(forms),
                "head": [0] + [1] * (len(forms) - 1),
                "deprel": ["dep"] * len(forms),
                "multiword": [],
            }
        )
    assert inside == 2 * 359 + sum(m["end"] - m["start"] - 1 for r in gold for m in r["multiword"])
    scores = evaluate(gold, fused)
    assert scores["Tokens"].correct == 24787 and scores["Words"].system == 25147 - inside + 359
    assert scores["Words"].correct == 25147 - inside


SAW = {
    "tokens": ["I", "saw", "it"],
    "upos": ["PRON", "VERB", "PRON"],
    "head": [2, 0, 2],
    "deprel": ["nsubj", "root", "obj"],
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"head": ["x", 0, 2]}, "word 1 has HEAD 'x', not an integer"),
        ({"head": [2.7, 0, 2]}, "word 1 has HEAD 2.7, not an integer"),  # was read as 2: a right head
        ({"head": [True, 0, True]}, "word 1 has HEAD True, not an integer"),
        ({"upos": [1, "VERB", "PRON"]}, "word 1 has UPOS 1, not a label name"),
        ({"deprel": ["nsubj", None, "obj"]}, "word 2 has DEPREL None, not a label name"),
        ({"tokens": 3}, "tokens is 3, not a list"),
        ({"multiword": "ab"}, "multiword is 'ab', not a list"),
        ({"multiword": [{"start": 1}]}, "multiword token {'start': 1} is not {start, end, form}"),
        ({"multiword": [{"start": 0, "end": 1, "form": "I"}]}, "multiword token 0-1 is outside"),
        ({"multiword": [{"start": 5, "end": 6, "form": "I"}]}, "multiword token 5-6 is outside"),
        # the second range started inside the first and was dropped silently (Tokens 0.4)
        (
            {"multiword": [{"start": 1, "end": 2, "form": "Isaw"}, {"start": 2, "end": 3, "form": "sawit"}]},
            "multiword tokens 1-2 and 2-3 overlap",
        ),
        (
            {"multiword": [{"start": 1, "end": 2, "form": "Isaw"}, {"start": 1, "end": 3, "form": "Isawit"}]},
            "multiword tokens 1-2 and 1-3 overlap",
        ),
    ],
)
def test_a_malformed_parse_is_refused_naming_the_sentence_and_word(change: dict, problem: str) -> None:
    gold = [{**SAW, "multiword": []}]
    with pytest.raises(DsregError, match=f"system sentence 0: {re.escape(problem)}"):
        evaluate(gold, [{**SAW, "multiword": [], **change}])
    assert evaluate(gold, gold)["LAS"].f1 == 1.0
