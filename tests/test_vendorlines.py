"""Vendor text files split into lines at `\\n` only, as sclite, Kaldi and the vendors' C/Perl tools split them:
a form feed, vertical tab, `\\x1c`, a lone `\\r`, U+0085 or U+2028 inside a line never makes two lines of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsreg.readers import ilsvrc_meta, switchboard, timit
from dsreg.sourcetree import SourceTree
from dsreg.speech.ctm import parse_ctm
from dsreg.speech.glm import parse_glm
from dsreg.speech.stm import parse_stm
from dsreg.vendorlines import vendor_lines

# every character str.splitlines breaks at, except \n (and \r\n, which vendor_lines treats as \n)
BREAKERS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("char", BREAKERS)
def test_only_newline_ends_a_line(char: str) -> None:
    assert vendor_lines(f"a{char}b\nc\n") == [f"a{char}b", "c"]


def test_crlf_final_newline_and_empty_lines() -> None:
    assert vendor_lines("a\r\nb\r\n") == ["a", "b"]
    assert vendor_lines("a\n\nb") == ["a", "", "b"]
    assert vendor_lines("a\r\r\n") == ["a\r"]  # one \r belongs to the line end, the other to the line
    assert vendor_lines("") == [] and vendor_lines("\n") == [""]


@pytest.mark.parametrize("char", ["\x0c", "\x1c", "\x85", "\u2028"])
def test_stm_transcript_keeps_its_line(char: str) -> None:
    segments = parse_stm(f"en_4156 A en_4156_A 1.0 2.0 <O,F0,M> hello{char}there\n", "r.stm")
    assert len(segments) == 1 and segments[0].start == 1.0


def test_ctm_line_keeps_its_confidence() -> None:
    words = parse_ctm("en_4156 A 0.50 0.20 yeah\x0c0.9\n", "h.ctm")
    assert [(w.word, w.start) for w in words] == [("yeah", 0.5)]


def test_glm_comment_with_form_feed_stays_a_comment() -> None:
    glm = parse_glm(";; a comment\x0cthat goes on\nGONNA => GOING TO / [ ] __ [ ]\n", "t.glm")
    assert [r.lhs for r in glm.rules] == ["GONNA"]


def test_switchboard_transcript_keeps_its_line() -> None:
    segments = switchboard._parse(b"sw2001A-ms98-a-0001 0.5 1.5 hi\x0cthere\n", "t.txt", 2001, "A")
    assert [(s.start, s.end) for s in segments] == [(0.5, 1.5)]


def test_timit_label_keeps_its_line(tmp_path: Path) -> None:
    (tmp_path / "SA1.WRD").write_bytes(b"0 100 she\x0c\n100 200 had\r\n")
    lines = timit._lines(SourceTree.open(tmp_path), "SA1.WRD")
    assert [(b, e, n) for b, e, _, n in lines] == [(0, 100, 1), (100, 200, 2)]


def test_ilsvrc_ground_truth_counts_lines_at_newlines() -> None:
    assert ilsvrc_meta.parse_ground_truth("1\n2\x0c\n3\n", "gt") == [1, 2, 3]
