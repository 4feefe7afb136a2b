"""`dsreg.scores`: ranked best first per benchmark (lower-is-better metrics too), filtered, flagged when computed
on another dataset version or another preparation of the same version."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import dsreg
from dsreg.evaluation.records import new_record, write_record
from dsreg.evaluation.table import ranked
from dsreg.lifecycle import remove


def _wrong(truth: list[int], n: int) -> list[int]:
    """Predictions with exactly the first `n` rows wrong."""
    return [(y + 1) % 3 if i < n else y for i, y in enumerate(truth)]


def test_best_first_with_ties_to_the_earlier_submission(toy, truth) -> None:
    toy()
    for model, wrong in [("b", 3), ("a", 1), ("c", 3), ("d", 0)]:
        dsreg.evaluate("toy", "test", _wrong(truth, wrong), model=model, submit=True)
    df = dsreg.scores()
    assert isinstance(df, pd.DataFrame)
    assert list(df["model"]) == ["d", "a", "b", "c"] and list(df["rank"]) == [1, 2, 3, 4]
    assert list(df["score"]) == [1.0, 0.9, 0.7, 0.7] and list(df["top1"]) == [1.0, 0.9, 0.7, 0.7]
    assert set(df["benchmark"]) == {"toy/default test accuracy"} and not df["stale"].any()
    assert {"user", "time", "manifest_sha256", "signature", "notes", "version"} <= set(df.columns)
    assert str(df["time"].dtype).startswith("datetime64")


def test_lower_is_better_metrics_rank_ascending(root: Path) -> None:
    dataset = {"name": "ocr", "config": "default", "version": "1.0.0", "manifest_sha256": "0" * 64}
    metric = {"name": "cer", "version": "2", "signature": "s", "primary": "cer", "higher_is_better": False}
    for model, cer in [("x", 0.3), ("y", 0.1), ("z", 0.2)]:
        write_record(new_record(model=model, dataset=dataset, split="test", metric=metric, values={"cer": cer}))
    assert [e.record["model"] for e in ranked()] == ["y", "z", "x"]
    stale = {e.stale for e in ranked()}
    assert stale == {"ocr/default is no longer prepared"}


def test_records_ranked_by_different_values_are_ranked_apart(root: Path) -> None:
    """A recipe whose word_accuracy ranks case-insensitive from one version on: its records rank by another value
    than the older ones. They were ranked together, 0.7 (case-insensitive) above 0.6 (case-sensitive), under the
    first record's heading."""
    from dsreg.evaluation.html import render

    dataset = {"name": "icdar", "config": "words", "version": "1.0.0", "manifest_sha256": "0" * 64}
    metric = {"name": "word_accuracy", "version": "1", "signature": "s", "higher_is_better": True}
    for model, primary, values in [
        ("sensitive", "word_accuracy", {"word_accuracy": 0.6, "word_accuracy_ci": 0.9}),
        ("insensitive", "word_accuracy_ci", {"word_accuracy": 0.5, "word_accuracy_ci": 0.7}),
        ("insensitive-2", "word_accuracy_ci", {"word_accuracy": 0.4, "word_accuracy_ci": 0.8}),
    ]:
        record = new_record(
            model=model, dataset=dataset, split="test", metric={**metric, "primary": primary}, values=values
        )
        write_record(record)
    entries = ranked()
    assert [(e.benchmark, e.rank, e.record["model"]) for e in entries] == [
        ("icdar/words test word_accuracy by word_accuracy", 1, "sensitive"),
        ("icdar/words test word_accuracy by word_accuracy_ci", 1, "insensitive-2"),
        ("icdar/words test word_accuracy by word_accuracy_ci", 2, "insensitive"),
    ]
    assert "ranked by word_accuracy_ci" in render(entries)


def test_filters_by_name_config_version_and_split(toy, truth) -> None:
    toy()
    dsreg.evaluate("toy", "test", truth, model="on-test", submit=True)
    dsreg.evaluate("toy", "train", truth[:4], model="on-train", submit=True)
    toy(version="1.1.0")
    dsreg.evaluate("toy", "test", truth, model="newer", submit=True)
    assert sorted(dsreg.scores("toy")["model"]) == ["newer", "on-test", "on-train"]
    assert list(dsreg.scores(split="train")["model"]) == ["on-train"]
    assert sorted(dsreg.scores("toy/default:1.0.0")["model"]) == ["on-test", "on-train"]
    assert dsreg.scores("toy/other").empty and dsreg.scores("nothing").empty
    assert list(dsreg.scores("nothing").columns)[:3] == ["benchmark", "rank", "model"]


def test_scores_on_an_older_version_or_another_preparation_are_flagged(toy, truth, root: Path) -> None:
    toy()
    dsreg.evaluate("toy", "test", truth, model="old", submit=True)
    toy(version="1.1.0")
    dsreg.evaluate("toy", "test", truth, model="current", submit=True)
    flags = {e.record["model"]: e.stale for e in ranked()}
    assert flags == {"current": None, "old": "computed on 1.0.0; latest prepared is 1.1.0"}
    remove("toy/default:1.1.0", root)
    toy(version="1.1.0", shift=1)  # the same version prepared again, other bytes
    flags = {e.record["model"]: e.stale for e in ranked()}
    assert flags["current"] == "computed on another preparation of 1.1.0 (manifest digest differs)"
    df = dsreg.scores()
    assert df.set_index("model")["stale"].to_dict() == {"current": True, "old": True}


def test_scores_from_another_version_of_the_metric_are_flagged(toy, truth) -> None:
    toy()
    result = dsreg.evaluate("toy", "test", truth)
    dataset, metric = result.record["dataset"], {**result.record["metric"], "version": "0"}
    write_record(new_record(model="older-metric", dataset=dataset, split="test", metric=metric, values={"top1": 1.0}))
    dsreg.evaluate("toy", "test", truth, model="current", submit=True)
    flags = {e.record["model"]: e.stale for e in ranked()}
    assert flags == {"current": None, "older-metric": "computed with accuracy v0; the installed metric is v1"}
