"""Each generic reader's example recipe in docs/examples/ prepares, with `dsreg prepare --source`, from its
fake layout in dsreg.testing, and loads back with exactly the generated values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from generic_fakes import EXAMPLES, rows, stored_as_generated

from dsreg.cli import EXIT_OK, main
from dsreg.recipe import load_recipe
from dsreg.registry import list_prepared
from dsreg.testing import audio_folder, image_folder, table, text_lines

DOCS = EXAMPLES.parent / "recipes.md"


def _prepare(monkeypatch, capsys, name: str, source: Path, *extra: str) -> str:
    monkeypatch.setenv("DSREG_RECIPES", str(EXAMPLES))
    try:
        code = main(["prepare", name, "--source", str(source), *extra])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert code == EXIT_OK, out + err
    return out


def test_every_example_is_documented_and_valid() -> None:
    examples = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    assert examples == ["digits-speech.yaml", "news-de-en.yaml", "pets.yaml", "reviews.yaml"]
    text = DOCS.read_text(encoding="utf-8")
    for name in examples:
        assert f"docs/examples/{name}" in text
        load_recipe(EXAMPLES / name)


def test_image_folder_example(tmp_path: Path, monkeypatch, capsys, root) -> None:
    want = image_folder.make_image_folder(tmp_path / "pets", {"train": 4, "val": 2})
    out = _prepare(monkeypatch, capsys, "pets", tmp_path / "pets")
    assert "train: 12 rows" in out and "val: 6 rows" in out
    (manifest,) = list_prepared()
    assert manifest.features["label"].names == image_folder.CLASSES
    for split in ("train", "val"):
        got = rows("pets", split)
        assert [(r["path"], r["label"], r["height"], r["width"]) for r in got] == [
            (w["path"], w["label"], w["height"], w["width"]) for w in want[split]
        ]
        assert all(stored_as_generated(g["image"], w) for g, w in zip(got, want[split], strict=True))


def test_table_example(tmp_path: Path, monkeypatch, capsys, root) -> None:
    want = table.make_reviews(tmp_path / "reviews")
    _prepare(monkeypatch, capsys, "reviews", tmp_path / "reviews")
    (manifest,) = list_prepared()
    assert manifest.metadata["counts_checked"] is False  # train and validation declare no official count
    for split in ("train", "validation", "test"):
        got = rows("reviews", split)
        assert [(r["text"], r["label"], r["tokens"]) for r in got] == [
            (w["text"], w["label"], w["tokens"]) for w in want[split]
        ]
        assert np.array_equal([r["stars"] for r in got], np.array([w["stars"] for w in want[split]], np.float32))


def test_text_lines_example(tmp_path: Path, monkeypatch, capsys, root) -> None:
    want = text_lines.make_parallel(tmp_path / "news")
    _prepare(monkeypatch, capsys, "news-de-en", tmp_path / "news")
    assert rows("news-de-en", "train") == want["train"]
    assert rows("news-de-en", "test") == want["test"]


def test_audio_folder_example(tmp_path: Path, monkeypatch, capsys, root) -> None:
    want = audio_folder.make_audio_folder(tmp_path / "speech")
    _prepare(monkeypatch, capsys, "digits-speech", tmp_path / "speech")
    for split in ("train", "test"):
        got = rows("digits-speech", split)
        assert [(r["transcript"], audio_folder.SPEAKERS[r["speaker"]]) for r in got] == [
            (w["transcript"], w["speaker"]) for w in want[split]
        ]
        for g, w in zip(got, want[split], strict=True):
            assert np.array_equal(np.asarray(g["audio"], dtype=np.float32), w["audio"])


@pytest.mark.parametrize(("name", "workers"), [("pets", "2"), ("reviews", "1")])
def test_preparing_twice_gives_identical_shards(tmp_path: Path, monkeypatch, capsys, name: str, workers: str) -> None:
    """Also in worker processes (spawned: readers and their tasks pickle)."""
    make = {"pets": image_folder.make_image_folder, "reviews": table.make_reviews}[name]
    make(tmp_path / "src")
    digests = []
    for attempt, count in (("a", "1"), ("b", workers)):
        monkeypatch.setenv("DSREG_ROOT", str(tmp_path / attempt))
        _prepare(monkeypatch, capsys, name, tmp_path / "src", "--workers", count)
        (manifest,) = list_prepared()
        digests.append({s: [sh.sha256 for sh in info.shards] for s, info in manifest.splits.items()})
    assert digests[0] == digests[1]
