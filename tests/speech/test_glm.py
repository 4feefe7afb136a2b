"""GLM rules as rfilter1 applies them and the csrfilt -dh filtering around them: bracketed and bare strings,
contexts, file order, input-dependent sections, headers, case, hyphens, optional words; bad files refused."""

from __future__ import annotations

import pytest

from dsreg.errors import DsregError
from dsreg.speech.glm import filter_transcript, parse_glm
from dsreg.testing.eval2000 import GLM

RULES = """;; comment line
* name "t.glm"
* copy_no_hit = 'T'
GONNA   => GOING TO ;; context-free: rewrites inside words too
COLOUR  => COLOR  / [ ] __ [ ]
[ OK ]  => [ OKAY ]
FALKNER => FAULKNER / [WILLIAM ] __
T.      => TEE / __ [ SHIRT]
UH      => (%HESITATION) / [ ] __ [ ]
A       => Y / [ ] __ [ ]
QA      => Q1 / [ ] __
QAB     => Q2 / [ ] __ [ ]
;; INPUT_DEPENDENT_APPLICATION = "ctm"
[HE'S]  => [{HE IS / HE HAS}] / [ ] __ [ ]
"""


def test_rules_parse_with_brackets_contexts_and_sections() -> None:
    glm = parse_glm(RULES, "t.glm", name="t.glm")
    by_lhs = {r.lhs: r for r in glm.rules}
    assert (by_lhs["GONNA"].rhs, by_lhs["GONNA"].left, by_lhs["GONNA"].right) == ("GOING TO", "", "")
    assert (by_lhs["COLOUR"].left, by_lhs["COLOUR"].right) == (" ", " ")
    assert by_lhs[" OK "].rhs == " OKAY "  # brackets keep their spaces
    assert (by_lhs["FALKNER"].left, by_lhs["FALKNER"].right) == ("WILLIAM ", "")
    assert (by_lhs["T."].left, by_lhs["T."].right) == ("", " SHIRT")
    assert by_lhs["HE'S"].rhs == "{HE IS / HE HAS}" and by_lhs["HE'S"].kinds == "ctm"
    assert by_lhs["UH"].kinds is None
    assert glm.signature.startswith("t.glm@") and len(glm.signature) == len("t.glm@") + 12


def test_rewrite_semantics() -> None:
    glm = parse_glm(RULES)
    assert filter_transcript("gonna go", glm, "stm") == "GOING TO GO"
    assert filter_transcript("gonnas", glm, "stm") == "GOING TOS"  # no context: inside words too
    assert filter_transcript("colour colours", glm, "stm") == "COLOR COLOURS"  # context: whole words only
    assert filter_transcript("william falkner falkner", glm, "stm") == "WILLIAM FAULKNER FALKNER"
    assert filter_transcript("t. shirt t. rex", glm, "stm") == "TEE SHIRT T. REX"
    assert filter_transcript("qab a", glm, "stm") == "Q1B Y"  # the first matching rule in file order, not the longest
    assert filter_transcript("ok", glm, "stm") == "OKAY"
    # hypothesis-only rules apply to ctm input, not to the reference
    assert filter_transcript("he's here", glm, "ctm") == "{HE IS / HE HAS} HERE"
    assert filter_transcript("he's here", glm, "stm") == "HE'S HERE"


def test_case_is_ignored() -> None:
    glm = parse_glm(RULES.lower())
    assert filter_transcript("Colour COLOUR colour", glm, "stm") == "COLOR COLOR COLOR"


def test_hyphens_optional_words_and_hesitations() -> None:
    glm = parse_glm(RULES)
    assert filter_transcript("uh-huh well-known th- -ing", None, "stm") == "UH HUH WELL KNOWN TH- -ING"
    assert filter_transcript("( you know ) so", None, "stm") == "(YOU) (KNOW) SO"
    assert filter_transcript("(you know) (th-)", None, "stm") == "(YOU) (KNOW) (TH-)"
    # the hesitation rule makes a bare "uh" optional and leaves an already optional one optional once
    assert filter_transcript("uh (uh) um", glm, "stm") == "(%HESITATION) (%HESITATION) UM"
    with pytest.raises(DsregError, match="unbalanced or nested"):
        filter_transcript("(so (nested))", None, "stm")
    with pytest.raises(DsregError, match="unbalanced or nested"):
        filter_transcript("so )", None, "stm")


def test_copy_no_hit_false_drops_what_no_rule_matches() -> None:
    glm = parse_glm("* copy_no_hit = 'F'\nA => A\n[ ] => [ ]\n")
    assert filter_transcript("abc a", glm, "stm") == "A A"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NO ARROW HERE\n", "line 1 is not a rule"),
        ("[ ] =>\n[A => B\n", "line 2: unclosed '\\['"),
        ("A => [B] C __ D\n", "expected '/ C __ D'"),
        ("A => [B] / C D\n", "has no '__'"),
        ("* case_sensitive = 'T'\n", "case-sensitive GLMs"),
        ("* copy_no_hit = 'maybe'\n", "neither T nor F"),
        ("[] => B\n", "rewrites the empty string"),
        (';; INPUT_DEPENDENT_APPLICATION = "(ctm"\nA => B\n', "line 1: the INPUT_DEPENDENT_APPLICATION regex"),
    ],
)
def test_bad_glm_lines_are_refused_by_line(text: str, message: str) -> None:
    with pytest.raises(DsregError, match=message):
        parse_glm(text, "bad.glm")


def test_the_generated_glm_parses() -> None:
    glm = parse_glm(GLM)
    assert filter_transcript("i'm ok uh", glm, "ctm") == "{I AM / I'M} OKAY (%HESITATION)"
    assert filter_transcript("i'm ok uh", glm, "stm") == "I'M OKAY (%HESITATION)"


def test_one_and_two_character_rules_keep_file_order() -> None:
    glm = parse_glm("AB => 2\nA => 1\nAC => 3\n")
    assert filter_transcript("ab ac a", glm, "stm") == "2 1C 1"


def test_lines_of_the_nist_glms() -> None:
    """Lines as they stand in NIST's English GLMs: leading apostrophes, comments with quotes, quoted strings."""
    glm = parse_glm(
        """'CAUSE => BECAUSE ;; per AHD
'EM => THEM
ADVISER => ADVISOR / [ ] __  ;; actually, "adviser' is preferred
OK => O. K. / [ ] __ [ ] ;; per AHD (can't allow O. K.)
DOWN SYNDROME => DOWN'S SYNDROME ;; per AHD
'HI THERE' => 'HELLO' / ' ' __
"""
    )
    assert [(r.lhs, r.rhs, r.left, r.right) for r in glm.rules] == [
        ("'CAUSE", "BECAUSE", "", ""),
        ("'EM", "THEM", "", ""),
        ("ADVISER", "ADVISOR", " ", ""),
        ("OK", "O. K.", " ", " "),
        ("DOWN SYNDROME", "DOWN'S SYNDROME", "", ""),
        ("HI THERE", "HELLO", " ", ""),
    ]
    assert filter_transcript("'cause i saw 'em ok", glm, "stm") == "BECAUSE I SAW THEM O. K."
