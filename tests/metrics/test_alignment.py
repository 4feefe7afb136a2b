"""sclite-style alignment of word networks, checked on hand-computed cases: the 4/3/3 costs (and where they
part from plain Levenshtein), optional words, alternations, '@', fragments."""

from __future__ import annotations

import pytest

from dsreg.errors import DsregError
from dsreg.metrics.alignment import Counts, align, network


def counts(ref: str, hyp: str) -> tuple[int, int, int, int]:
    c = align(network(ref), network(hyp))
    return c.correct, c.substitutions, c.deletions, c.insertions


def test_plain_cases() -> None:
    assert counts("A B C", "A B C") == (3, 0, 0, 0)
    assert counts("A B C", "A X C") == (2, 1, 0, 0)
    assert counts("A B C", "A C") == (2, 0, 1, 0)
    assert counts("A B C", "A B B C") == (3, 0, 0, 1)
    assert counts("", "A B") == (0, 0, 0, 2)
    assert counts("A B", "") == (0, 0, 2, 0)
    assert counts("", "") == (0, 0, 0, 0)


def test_sclite_costs_tie_is_broken_by_fewest_errors() -> None:
    # 3 substitutions cost 12; keeping A correct costs 2 insertions + 2 deletions = 12 too, but makes 4 errors
    assert counts("A X X", "Y Y A") == (0, 3, 0, 0)
    # a substitution (4) is cheaper than a deletion and an insertion (6): never split
    assert counts("A", "B") == (0, 1, 0, 0)


def test_sclite_costs_prefer_correct_words_over_fewer_errors() -> None:
    # Levenshtein: 4 substitutions (4 errors). sclite: 3 correct + 1 del + 1 ins costs 6 < 16, with 2 errors
    assert counts("A B C D", "B C D E") == (3, 0, 1, 1)
    # here the costs part: 2 correct words cost 3·3 + 3·3 = 18 (6 errors) < 5 subs = 20 (5 errors)
    assert counts("P Q R X Y", "X Y S T U") == (2, 0, 3, 3)


def test_optional_words_cost_nothing_when_deleted_or_inserted() -> None:
    assert counts("I (%HESITATION) THINK", "I THINK") == (2, 0, 0, 0)
    assert counts("I (%HESITATION) THINK", "I %HESITATION THINK") == (3, 0, 0, 0)  # matched: counted
    assert counts("I THINK", "I (%HESITATION) THINK") == (2, 0, 0, 0)  # an optional hypothesis word
    # an optional word is never substituted: deleting it free and inserting the other word is cheaper
    assert counts("(UH) SO", "WELL SO") == (1, 0, 0, 1)


def test_alternations_and_null() -> None:
    assert counts("{A / AN} APPLE", "AN APPLE") == (2, 0, 0, 0)
    assert counts("{A / AN} APPLE", "THE APPLE") == (1, 1, 0, 0)
    assert counts("{GOING TO / GONNA} GO", "GOING TO GO") == (3, 0, 0, 0)
    assert counts("{GOING TO / GONNA} GO", "GONNA GO") == (2, 0, 0, 0)
    assert counts("YES {UM / UH / @} NO", "YES NO") == (2, 0, 0, 0)
    # alternatives on the hypothesis side (a GLM-expanded contraction) too
    assert counts("HE HAS GONE", "{HE IS / HE HAS} GONE") == (3, 0, 0, 0)
    assert counts("HE WAS GONE", "{HE IS / HE HAS} GONE") == (2, 1, 0, 0)


def test_fragments_match_the_words_they_begin_or_end() -> None:
    assert counts("TH- THE", "THE THE") == (2, 0, 0, 0)
    assert counts("-ING", "GOING") == (1, 0, 0, 0)
    assert counts("TH-", "A") == (0, 1, 0, 0)
    assert counts("(TH-) CAT", "CAT") == (1, 0, 0, 0)


def test_ignored_words_are_dropped() -> None:
    c = align(network("[NOISE] HELLO", frozenset({"[NOISE]"})), network("HELLO [NOISE]", frozenset({"[NOISE]"})))
    assert c == Counts(1, 0, 0, 0) and c.reference_words == 1 and c.errors == 0


@pytest.mark.parametrize("text", ["{A / B", "A / B", "A }", "{ A"])
def test_malformed_alternations(text: str) -> None:
    with pytest.raises(DsregError):
        network(text)
