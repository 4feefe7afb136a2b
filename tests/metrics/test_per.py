"""PER after 39-folding, on hand-computed cases, and through the metric class the timit recipe declares."""

from __future__ import annotations

import pytest

from dsreg.errors import DsregError
from dsreg.features import Scalar, Sequence, Struct, Text
from dsreg.metrics import get_metric
from dsreg.metrics.per import phone_error_rate, token_edit_distance

REF = ["h#", "sh", "iy", "q", "hh", "ae", "dcl", "d", "h#"]  # 39-folded: sil sh iy hh ae sil d sil (8)
HYP = ["sil", "sh", "iy", "hh", "eh", "d", "sil", "z"]  # ae→eh, dcl deleted, z inserted: 3 edits


def test_hand_computed_per() -> None:
    assert token_edit_distance(["a", "b", "c"], ["a", "c", "d"]) == 2
    assert phone_error_rate([REF], [HYP]) == pytest.approx(3 / 8)
    assert phone_error_rate([REF, ["aa"]], [HYP, ["ao"]]) == pytest.approx(3 / 9)  # ao folds to aa: no edit
    assert phone_error_rate([["ix"]], [["ih"]], fold39=False) == 1.0
    with pytest.raises(DsregError, match="every reference is empty"):
        phone_error_rate([["q"]], [["aa"]])


def test_the_registered_metric_reads_alignment_structs() -> None:
    phones = Sequence(Struct({"start": Scalar("int32"), "end": Scalar("int32"), "phone": Text()}))
    metric = get_metric("per")("per", {}, phones)
    refs = [[{"start": i, "end": i + 1, "phone": p} for i, p in enumerate(REF)]]
    score = metric.compute(refs, [metric.prediction(" ".join(HYP), "row 0")])
    assert score.values == {"per": pytest.approx(3 / 8)} and score.primary == "per"
    assert score.signature == "per|v1|fold39" and not score.higher_is_better
    with pytest.raises(DsregError, match="not a phone sequence"):
        metric.prediction(3, "row 0")
    with pytest.raises(DsregError, match="needs a phone sequence"):
        get_metric("per")("per", {}, Text())


def test_a_label_that_is_no_timit_phone_is_named() -> None:
    """Upper-case or unknown labels raised a bare KeyError('H#') from the folding table."""
    with pytest.raises(DsregError, match=r"row 1: the hypothesis phone 'AA' is not a TIMIT"):
        phone_error_rate([["h#"], ["h#", "aa"]], [["h#"], ["H#", "AA"][1:]])
    with pytest.raises(DsregError, match=r"row 0: the reference phone 'xx'"):
        phone_error_rate([["xx"]], [["aa"]])
    assert phone_error_rate([["AA"]], [["AA"]], fold39=False) == 0.0
