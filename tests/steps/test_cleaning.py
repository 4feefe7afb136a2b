"""`clean_parallel`: empty sides, maximum length and length ratio dropped and counted; other splits untouched."""

from __future__ import annotations

import pyarrow as pa
import pytest

from dsreg.errors import DsregError
from dsreg.steps import StepContext, apply_steps

PAIRS = [
    {"de": "ein Satz", "en": "a sentence"},
    {"de": "   ", "en": "only spaces on the other side"},
    {"de": "", "en": ""},
    {"de": "eins zwei drei vier fünf sechs", "en": "one two three four five six"},
    {"de": "kurz", "en": "one two three four five"},
    {"de": "noch ein Satz", "en": "another sentence"},
]


def _run(args: dict, split: str = "train", items=None) -> tuple[list, dict]:
    context = StepContext(split)
    out = list(apply_steps((("clean_parallel", {"columns": ["de", "en"], **args}),), iter(items or PAIRS), context))
    return out, dict(context.dropped)


def test_each_reason_is_counted_once_in_order() -> None:
    kept, dropped = _run({"max_length": 5, "max_ratio": 3})
    assert kept == [PAIRS[0], PAIRS[5]]
    assert dropped == {"clean_parallel: empty": 2, "clean_parallel: too long": 1, "clean_parallel: length ratio": 1}


def test_only_empty_sides_by_default() -> None:
    kept, dropped = _run({})
    assert kept == [PAIRS[0], PAIRS[3], PAIRS[4], PAIRS[5]]
    assert dropped == {"clean_parallel: empty": 2}


def test_keeping_empty_lines_when_asked() -> None:
    kept, dropped = _run({"drop_empty": False})
    assert kept == PAIRS and dropped == {}


def test_exact_drops_only_empty_strings_as_the_peer_builders_do() -> None:
    odd = [{"de": "\u00a0", "en": "no-break space only"}, {"de": "\r", "en": "a lone carriage return"}]
    kept, dropped = _run({"drop_empty": "exact"}, items=[*PAIRS, *odd])
    assert kept == [PAIRS[0], PAIRS[1], PAIRS[3], PAIRS[4], PAIRS[5], *odd]
    assert dropped == {"clean_parallel: empty": 1}


def test_splits_not_named_pass_through_untouched() -> None:
    kept, dropped = _run({"splits": ["train"], "max_length": 1}, split="test")
    assert kept == PAIRS and dropped == {}


def test_record_batches_are_cleaned_row_by_row() -> None:
    batch = pa.RecordBatch.from_pylist(PAIRS)
    kept, dropped = _run({}, items=[batch])
    assert kept == [PAIRS[0], PAIRS[3], PAIRS[4], PAIRS[5]]
    assert dropped == {"clean_parallel: empty": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"max_lenght": 3}, "unknown arguments"),
        ({"columns": ["de"]}, "needs args.columns"),
        ({"max_ratio": 0}, "not a positive number"),
        ({"max_length": True}, "not a positive number"),
        ({"drop_empty": "yes"}, "not true, false or 'exact'"),
    ],
)
def test_bad_arguments_are_refused(args: dict, message: str) -> None:
    with pytest.raises(DsregError, match=message):
        _run(args)


def test_columns_that_are_not_text_features_are_refused_before_any_task() -> None:
    from dsreg.features import Features, Scalar, Text
    from dsreg.steps import step_features

    features = Features({"de": Text(), "en": Text(), "n": Scalar(dtype="int64")})
    steps = (("clean_parallel", {"columns": ["de", "en"]}),)
    assert step_features(steps, features) == features
    for columns in (["de", "eng"], ["de", "n"]):
        with pytest.raises(DsregError, match=rf"columns \['{columns[1]}'\] are not text features"):
            step_features((("clean_parallel", {"columns": columns}),), features)
