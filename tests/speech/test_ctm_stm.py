"""CTM hypotheses and STM references parse as NIST defines them; malformed lines are refused by number."""

from __future__ import annotations

import pytest

from dsreg.errors import DsregError
from dsreg.speech.ctm import parse_ctm
from dsreg.speech.stm import parse_stm


def test_ctm_words() -> None:
    words = parse_ctm(";; comment\n\nEN_4156 a 0.50 0.20 Yeah -1.5\nen_4156 B 1 0 no\n", "h.ctm")
    assert [(w.file, w.channel, w.start, w.duration, w.word) for w in words] == [
        ("en_4156", "A", 0.5, 0.2, "Yeah"),
        ("en_4156", "B", 1.0, 0.0, "no"),
    ]
    assert words[0].midpoint == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("en_4156 A 0.5 yeah", "line 1 has 4 fields"),
        ("en_4156 A 0.5 0.2 yeah 0.9 extra", "line 1 has 7 fields"),
        ("en_4156 A x 0.2 yeah", "not a number"),
        ("en_4156 A 0.5 0.2 yeah high", "not a number"),
        ("en_4156 A -1 0.2 yeah", "not a time span"),
        ("en_4156 A 1 nan yeah", "not a time span"),
        ("en_4156 A * * <ALT_BEGIN>", "not a number"),
        ("en_4156 A 1 1 <ALT_BEGIN>", "alternations belong in reference CTMs"),
    ],
)
def test_bad_ctm_lines(line: str, message: str) -> None:
    with pytest.raises(DsregError, match=message):
        parse_ctm(line + "\n", "h.ctm")


def test_stm_keeps_ignored_regions_on_request() -> None:
    text = (
        ";; LABEL x\nEN_1 a s1 0.0 1.0 <O,x> Hello (uh)\nen_1 A s1 1.0 2.0 IGNORE_TIME_SEGMENT_IN_SCORING\n"
        "en_1 B s2 0.5 0.9\n"
    )
    scored = parse_stm(text, "r.stm")
    assert [(s.file, s.channel, s.text, s.ignored) for s in scored] == [
        ("en_1", "A", "Hello (uh)", False),
        ("en_1", "B", "", False),
    ]
    every = parse_stm(text, "r.stm", keep_ignored=True)
    assert [(s.start, s.ignored, s.text) for s in every] == [
        (0.0, False, "Hello (uh)"),
        (1.0, True, ""),
        (0.5, False, ""),
    ]


@pytest.mark.parametrize("span", ["nan 1.0", "0.5 nan", "-0.5 1.0", "2.0 1.0", "0.5 inf", "inf inf", "1e400 1e400"])
def test_stm_segments_with_impossible_times_are_refused(span: str) -> None:
    with pytest.raises(DsregError, match="line 2: channel 'A' or span"):
        parse_stm(f"en_4156 A x 0.0 0.4 fine\nen_4156 A x {span} bad times\n", "r.stm")
