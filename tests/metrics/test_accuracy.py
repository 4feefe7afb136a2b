"""Top-k accuracy equals a brute-force count (rank of the true class, ties to the lower index), on random
scores with many ties, and refuses what it cannot score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, Scalar
from dsreg.metrics.accuracy import Accuracy


def _reference_top_k(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Row by row: the true class is in the top k when fewer than k classes beat it (ties: the lower index wins)."""
    hits = 0
    for row, y in zip(scores.tolist(), truth.tolist(), strict=True):
        better = sum(1 for c, s in enumerate(row) if s > row[y] or (s == row[y] and c < y))
        hits += better < k
    return hits / len(truth)


def test_top_k_equals_a_brute_force_count_with_ties() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 7, size=500)
    scores = rng.integers(0, 4, size=(500, 7)).astype(np.float32)  # coarse values: many ties
    metric = Accuracy("accuracy", {"top_k": [1, 3, 5]}, ClassLabel(names=list("abcdefg")))
    score = metric.compute(truth, [metric.prediction(row.tolist(), "x") for row in scores])
    assert score.values == {f"top{k}": pytest.approx(_reference_top_k(scores, truth, k)) for k in (1, 3, 5)}
    assert 0 < score.values["top1"] < score.values["top3"] < score.values["top5"] < 1
    assert score.primary == "top1" and score.higher_is_better


def test_labels_give_top_1_only_and_csv_text_is_read() -> None:
    metric = Accuracy("accuracy", {}, ClassLabel(names=["a", "b", "c"]))
    preds = [metric.prediction(text, "x") for text in ["0", " 2 ", "1"]]
    assert preds == [0, 2, 1]
    assert metric.compute(np.array([0, 1, 1]), preds).values == {"top1": pytest.approx(2 / 3)}
    scores = metric.prediction("0.1 0.5 0.4", "x")
    assert scores.tolist() == [0.1, 0.5, 0.4]
    assert metric.compute(np.array([1]), [scores]).values == {"top1": 1.0, "top5": 1.0}


def test_what_accuracy_refuses() -> None:
    metric = Accuracy("accuracy", {}, ClassLabel(names=["a", "b"]))
    with pytest.raises(DsregError, match="where: class index -1 is out of range"):
        metric.prediction(-1, "where")
    with pytest.raises(DsregError, match="where: a score is NaN or infinite"):
        metric.prediction([0.5, float("nan")], "where")
    with pytest.raises(DsregError, match="row 1 has a score that is NaN"):
        metric.from_array(np.array([[0.0, 1.0], [np.inf, 0.0]]), Path("p.npy"))
    with pytest.raises(DsregError, match="3 scores per row, but the reference has 2 classes"):
        metric.from_array(np.zeros((4, 3)), Path("p.npy"))
    with pytest.raises(DsregError, match="are not a non-empty list of numbers"):
        metric.prediction([], "where")
    with pytest.raises(DsregError, match="needs an integer class column"):
        Accuracy("accuracy", {}, Scalar(dtype="float32"))
    with pytest.raises(DsregError, match="1 reference rows are unlabelled"):
        metric.compute(np.array([-1, 0]), [0, 0])
    with pytest.raises(DsregError, match="no rows to evaluate"):
        metric.compute(np.array([], dtype=np.int64), [])


@pytest.mark.parametrize("text", ["--3", "³", "1-2", "-"])
def test_csv_text_that_is_no_number_is_refused_naming_it(text: str) -> None:
    metric = Accuracy("accuracy", {}, ClassLabel(names=["a", "b", "c"]))
    with pytest.raises(DsregError, match=f"where: prediction '{text}' is neither a class index nor a list of scores"):
        metric.prediction(text, "where")


def test_score_lists_of_different_lengths_are_refused_without_class_names() -> None:
    """With a plain integer reference nothing fixes the number of classes up front; np.stack raised a bare error."""
    metric = Accuracy("accuracy", {}, Scalar(dtype="int64"))
    scores = [metric.prediction([0.1, 0.9], "a"), metric.prediction([0.1, 0.2, 0.7], "b")]
    with pytest.raises(DsregError, match="row 1 has 3 scores, row 0 has 2"):
        metric.compute(np.array([1, 2]), scores)
