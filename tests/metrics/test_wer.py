"""The `wer` metric on hand-computed cases: GLM mappings, case, optional words, alternations, CTM words placed
in segments by time as sclite places them, per-subset numbers, empty references, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dsreg.errors import DsregError
from dsreg.features import Scalar, Text
from dsreg.metrics import WholeSplit
from dsreg.metrics.wer import WordErrorRate
from dsreg.speech.ctm import parse_ctm
from dsreg.speech.glm import parse_glm
from dsreg.speech.stm import parse_stm
from dsreg.testing.eval2000 import GLM

LAYOUT = [Text(), Text(), Text(), Text(), Scalar(dtype="float64"), Scalar(dtype="float64")]


def metric(glm: str | None = GLM, **args: Any) -> WordErrorRate:
    m = WordErrorRate("wer", args, LAYOUT)
    m.glm = parse_glm(glm, name="en20000405_hub5.glm") if glm else None
    return m


def row(
    text: str, subset: str = "swbd", file: str = "sw_1", side: str = "A", start: float = 0, end: float = 1
) -> tuple:
    return (text, subset, file, side, start, end)


def score(refs: list[str], hyps: list[str], glm: str | None = GLM) -> dict[str, int]:
    result = metric(glm).compute([row(r) for r in refs], hyps)
    return result.details["all"]


def test_glm_contraction_spelling_and_hesitation() -> None:
    # contraction: the hypothesis's I'M may stand for I AM (hypothesis-side rule)
    assert score(["I AM here"], ["i'm here"])["errors"] == 0
    assert score(["I'M here"], ["i'm here"])["errors"] == 0
    # spelling variant mapped on both sides
    assert score(["it's okay"], ["it's ok"])["errors"] == 0
    assert score(["ALRIGHT then"], ["all right then"])["errors"] == 0
    # hesitations become optional: a missing or an extra one costs nothing
    assert score(["well (%HESITATION) yes"], ["well yes"]) == _c(2, 0, 0, 0, 1)
    assert score(["well yes"], ["well um yes"]) == _c(2, 0, 0, 0, 1)
    assert score(["well (%HESITATION) yes"], ["well uh yes"]) == _c(3, 0, 0, 0, 1)
    # without the GLM the same hypotheses are errors
    assert score(["I AM here"], ["i'm here"], glm=None)["errors"] == 2
    assert score(["well yes"], ["well um yes"], glm=None)["insertions"] == 1


def _c(correct: int, sub: int, dele: int, ins: int, segments: int) -> dict[str, int]:
    return {
        "reference_words": correct + sub + dele,
        "correct": correct,
        "substitutions": sub,
        "deletions": dele,
        "insertions": ins,
        "errors": sub + dele + ins,
        "segments": segments,
    }


def test_case_insensitive() -> None:
    assert score(["We Do That"], ["wE dO tHAT"])["errors"] == 0


def test_optional_words_and_alternations() -> None:
    assert score(["(you) know {a / an} apple"], ["know an apple"]) == _c(3, 0, 0, 0, 1)
    assert score(["(you) know {a / an} apple"], ["you know the apple"]) == _c(3, 1, 0, 0, 1)
    assert score(["yes {um / @} no"], ["yes no"]) == _c(2, 0, 0, 0, 1)


def test_empty_references_and_hypotheses() -> None:
    # an empty reference segment: its hypothesis words are insertions, it adds no reference words
    assert score(["", "a b"], ["x y", "a b"]) == _c(2, 0, 0, 2, 2)
    # an empty hypothesis: every reference word deleted
    assert score(["a b c"], [""]) == _c(0, 0, 3, 0, 1)
    with pytest.raises(DsregError, match="no reference words"):
        score(["", "(uh)"], ["x", ""])


def test_per_subset_values() -> None:
    refs = [
        row("we do that every year", "swbd", "sw_1"),
        row("right", "swbd", "sw_1", "B"),
        row("oh yeah", "callhome", "en_1"),
        row("i am okay", "callhome", "en_1", "B"),
    ]
    hyps = ["we do this every year", "right", "oh", "i'm ok fine"]
    result = metric().compute(refs, hyps)
    # swbd: 6 words, 1 sub; callhome: 5 words, 1 del + 1 ins; all: 11 words, 3 errors
    assert result.values == pytest.approx({"wer": 3 / 11, "wer_swbd": 1 / 6, "wer_callhome": 2 / 5})
    assert result.details["swbd"] == _c(5, 1, 0, 0, 2)
    assert result.details["callhome"] == _c(4, 0, 1, 1, 2)
    assert result.primary == "wer" and not result.higher_is_better
    assert result.signature.startswith("wer|v1|glm:en20000405_hub5.glm@")


SEGMENTS = [  # sw_1 side A: 1.0-2.0 "a b", ignored 2.5-3.0, 3.0-4.0 "c d"; side B: 0.0-1.0 "e"
    row("a b", "swbd", "sw_1", "A", 1.0, 2.0),
    row("c d", "swbd", "sw_1", "A", 3.0, 4.0),
    row("e", "swbd", "sw_1", "B", 0.0, 1.0),
]
IGNORED = parse_stm("sw_1 A x 2.5 3.0 IGNORE_TIME_SEGMENT_IN_SCORING\n", "r.stm", keep_ignored=True)


def placed(ctm: str, ignored: bool = True) -> list[str]:
    m = metric(None)
    m.ignored = IGNORED if ignored else []
    return [p.text for p in m.assign(SEGMENTS, WholeSplit(parse_ctm(ctm, "h.ctm"), "test"))]


def test_placement_is_reported_with_the_score() -> None:
    m = metric(None)
    m.ignored = IGNORED
    hyps = m.assign(SEGMENTS, WholeSplit(parse_ctm("sw_1 A 1.2 0.2 a\nsw_1 A 2.6 0.2 noise\n", "h"), "t"))
    details = m.compute(SEGMENTS, hyps).details
    assert details["ctm"] == {
        "words": 2,
        "dropped_in_ignored_regions": 1,
        "segments_without_words": 2,
        "sides_without_words": ["sw_1 B"],
    }


def test_ctm_words_go_to_segments_by_midpoint() -> None:
    ctm = (
        "sw_1 A 0.2 0.2 before\n"  # before the first segment: the first segment
        "sw_1 A 1.1 0.2 a\n"
        "sw_1 A 1.8 0.4 b\n"  # midpoint 2.0 = the end: the next span (here the ignored region), dropped
        "sw_1 A 2.1 0.2 gap\n"  # between segments (midpoint 2.2, before the ignored region): the ignored region
        "sw_1 A 2.6 0.2 noise\n"  # inside the ignored region: dropped
        "sw_1 A 3.5 0.2 c\n"
        "sw_1 A 5.0 0.2 after\n"  # after the last segment: the last segment
        "sw_1 B 0.5 0.2 e\n"
    )
    assert placed(ctm) == ["BEFORE A", "C AFTER", "E"]
    # without the STM's ignored regions, the words in them go to the next segment
    assert placed(ctm, ignored=False) == ["BEFORE A", "B GAP NOISE C AFTER", "E"]


def test_ctm_words_are_filtered_one_by_one_and_sorted_by_time() -> None:
    m = metric()
    ctm = "sw_1 A 1.5 0.2 i'm\nsw_1 A 1.1 0.2 uh-huh\nsw_1 A 3.2 0.1 UH\n"
    got = [p.text for p in m.assign(SEGMENTS, WholeSplit(parse_ctm(ctm, "h.ctm"), "test"))]
    assert got == ["UH HUH {I AM / I'M}", "(%HESITATION)", ""]
    # a hyphen split shares the word's span: UH-HUH at 1.9-2.1 puts UH (mid 1.95) in the segment, HUH (2.05) past it
    got = [p.text for p in m.assign(SEGMENTS[:2], WholeSplit(parse_ctm("sw_1 A 1.9 0.2 uh-huh\n", "h"), "t"))]
    assert got == ["UH", "HUH"]


def test_a_segment_without_words_is_all_deletions() -> None:
    m = metric(None)
    hyps = m.assign(SEGMENTS, WholeSplit(parse_ctm("sw_1 A 1.2 0.2 a\nsw_1 A 1.5 0.2 b\n", "h"), "t"))
    result = m.compute(SEGMENTS, hyps)
    assert result.details["all"] == _c(2, 0, 3, 0, 3)  # "c d" and "e" deleted; side B has no words at all


def test_unknown_files_and_channels_are_errors_naming_them() -> None:
    m = metric(None)
    ctm = "sw_1 A 1.2 0.2 a\nsw_9 A 1 1 x\nsw_1 C 1 1 y\nen_2 B 1 1 z\n"
    with pytest.raises(
        DsregError, match=r"3 conversation side\(s\) with no segment in the split: en_2 B, sw_1 C, sw_9 A"
    ):
        m.assign(SEGMENTS, WholeSplit(parse_ctm(ctm, "h"), "t"))


def test_the_speech_recipes_bind_the_metric() -> None:
    from dsreg.evaluation.spec import bind_metric
    from dsreg.registry import get_recipe

    for name, columns, drop in (("eval2000", 6, frozenset()), ("switchboard", 5, {"[NOISE]", "[LAUGHTER]"})):
        config = get_recipe(name).config(None)
        bound = bind_metric(config.evaluation, config.features, config.supervised_keys)
        assert isinstance(bound.metric, WordErrorRate) and bound.id_column == "id"
        assert bound.metric.columns == columns and drop <= bound.metric.drop
    assert bound.metric.args["glm"] == ""  # switchboard: no GLM


def test_reference_layouts() -> None:
    text_only = WordErrorRate("wer", {}, Text())
    assert text_only.compute(["a b"], ["a c"]).values == {"wer": 0.5}
    with pytest.raises(DsregError, match="without segment times"):
        text_only.assign(["a b"], WholeSplit([], "nothing"))
    five = WordErrorRate("wer", {"ignore_words": ["[noise]"]}, LAYOUT[:1] + LAYOUT[2:])
    result = five.compute([("[noise] a b", "sw_1", "A", 0.0, 1.0)], ["a b [NOISE]"])
    assert result.values == {"wer": 0.0} and result.signature.endswith("|drop:[NOISE]")
    with pytest.raises(DsregError, match="cannot use the reference columns"):
        WordErrorRate("wer", {}, [Text(), Text()])
    with pytest.raises(DsregError, match="cannot use the reference columns"):
        WordErrorRate("wer", {}, [Text(), Text(), Text(), Scalar(dtype="float64"), Text()])


def test_predictions_are_strings() -> None:
    with pytest.raises(DsregError, match="is not a string"):
        metric().prediction(["a"], "x line 1")


def test_native_ctm(tmp_path: Path) -> None:
    path = tmp_path / "h.ctm"
    path.write_text("sw_1 A 1.2 0.2 a\n")
    native = metric().read_native(path)
    assert isinstance(native, WholeSplit) and len(native.value) == 1 and "1 CTM words" in native.what
