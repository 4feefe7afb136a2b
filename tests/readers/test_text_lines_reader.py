"""The `text_lines` reader: one file or line-aligned files; lines kept exactly; unequal files refused."""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from generic_fakes import (
    damaged_copy,
    example,
    example_splits,
    fails_and_publishes_nothing,
    rows,
    use_recipes,
    write_recipe,
)

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.preparation import prepare
from dsreg.readers import get_reader
from dsreg.sourcetree import SourceTree
from dsreg.testing import Damaged, ReaderContract, text_lines

PARALLEL = {"de": {"type": "text"}, "en": {"type": "text"}}


def _recipe(tmp_path: Path, monkeypatch, splits: dict, features: dict | None = None, args: dict | None = None):
    reader = {"name": "text_lines", **({"args": args} if args else {})}
    write_recipe(tmp_path / "recipes", "lines", reader, features or PARALLEL, splits)
    use_recipes(monkeypatch, tmp_path / "recipes")


def test_one_file_one_example_per_line_exactly(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    lines = ["first", "", "  spaced  ", "tab\there", "ünïcode ☃", "carriage\r", "last without newline"]
    (source / "a.txt").write_bytes("\n".join(lines).encode())
    (source / "b.txt").write_bytes(b"\xef\xbb\xbfbom\r\nstripped\r\n")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "*.txt", "rows": 9}}, features={"sentence": {"type": "text"}})
    prepare("lines", source=source)
    got = [r["sentence"] for r in rows("lines", "train")]
    # a \r before the \n is a line end; nothing else is stripped; a BOM is dropped
    assert got == [
        "first",
        "",
        "  spaced  ",
        "tab\there",
        "ünïcode ☃",
        "carriage",
        "last without newline",
        "bom",
        "stripped",
    ]


def test_unicode_line_separators_do_not_split_lines(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("one\u2028still one\x0cand\x1cmore\nTwo\n", encoding="utf-8")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "a.txt", "rows": 2}}, features={"s": {"type": "text"}})
    prepare("lines", source=source)
    assert [r["s"] for r in rows("lines", "train")] == ["one\u2028still one\x0cand\x1cmore", "Two"]


def test_a_parallel_corpus_pairs_lines_by_extension(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    want = text_lines.make_parallel(source, train_rows=9, test_rows=2)
    _recipe(tmp_path, monkeypatch, {"train": {"files": "train.*", "rows": 9}, "test": {"files": "newstest.*"}})
    prepare("lines", source=source)
    assert rows("lines", "train") == want["train"]
    assert rows("lines", "test") == want["test"]


def test_groups_of_aligned_files_are_tasks_in_sorted_order(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for stem in ("b", "a"):
        (source / "part").mkdir(parents=True, exist_ok=True)
        (source / "part" / f"{stem}.src").write_text(f"{stem}1\n{stem}2\n")
        (source / "part" / f"{stem}.tgt").write_text(f"{stem.upper()}1\n{stem.upper()}2\n")
    reader = get_reader("text_lines")({"columns": {"src": "de", "tgt": "en"}}, Features.from_json(PARALLEL))
    sources = {"c": SourceTree.open(source)}
    args = {"files": ["part/a.src", "part/a.tgt", "part/b.src", "part/b.tgt"]}
    assert reader.tasks(sources, "train", args) == ["part/a", "part/b"]
    assert list(reader.read(sources, "train", args, "part/b")) == [{"de": "b1", "en": "B1"}, {"de": "b2", "en": "B2"}]


def test_unequal_line_counts_name_both_files_and_counts(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.de").write_text("a\nb\nc\n")
    (source / "train.en").write_bytes(gzip.compress(b"A\nB\nC\nD\nE\n"))
    (source / "train.en").rename(source / "train.en.gz")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "train.*"}})
    fails_and_publishes_nothing(
        "lines",
        source,
        f"{source / 'train.de'}: 3 lines",
        f"{source / 'train.en.gz'}: 5 lines",
        "different line counts",
    )


def test_a_group_missing_a_side_is_refused(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.de").write_text("a\n")
    (source / "train.fr").write_text("a\n")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "train.*"}})
    fails_and_publishes_nothing("lines", source, "'train.fr'", "extension 'fr', which names no feature")
    (source / "train.fr").unlink()
    fails_and_publishes_nothing("lines", source, "train.* of split 'train' have no file for ['en']")


def test_two_files_for_one_side_of_a_group_are_refused(tmp_path: Path, monkeypatch, root) -> None:
    """`train.de` beside a `train.de.gz` (a copy unpacked next to its archive): one of them was silently
    ignored, whichever sorted last."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.de").write_text("a\nb\n")
    (source / "train.de.gz").write_bytes(gzip.compress(b"x\ny\n"))
    (source / "train.en").write_text("A\nB\n")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "train.*"}})
    fails_and_publishes_nothing("lines", source, "two files for 'de' in the group train.*", "'train.de.gz'")


def test_bad_utf8_names_file_and_line(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.de").write_bytes(b"gut\nsch\xf6n\n")
    (source / "train.en").write_text("good\nnice\n")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "train.*"}})
    fails_and_publishes_nothing("lines", source, str(source / "train.de"), "line 2 is not valid UTF-8")


def test_only_text_features(tmp_path: Path, monkeypatch) -> None:
    _recipe(tmp_path, monkeypatch, {"train": {"files": "x"}}, features={"n": {"type": "scalar"}})
    with pytest.raises(DsregError, match="fills text columns only"):
        prepare("lines", source=tmp_path)


_NEWS = example("news-de-en")


class TestTextLinesContract(ReaderContract):
    """The reader contract on the documented example (docs/examples/news-de-en.yaml)."""

    reader = "text_lines"
    features: ClassVar[dict[str, Any]] = _NEWS["features"]
    splits: ClassVar[dict[str, dict[str, Any]]] = example_splits(_NEWS)
    rows: ClassVar[dict[str, int]] = {"train": 7, "test": 3}

    def make_source(self, dest: Path) -> Path:
        text_lines.make_parallel(dest / "news")
        return dest / "news"

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        bad = damaged_copy(source, dest, "one line more")
        with (bad / "newstest.en").open("a") as f:
            f.write("an extra line\n")
        yield Damaged("parallel files of unequal length", bad, "newstest.en: 4 lines")
        bad = damaged_copy(source, dest, "latin1")
        (bad / "newstest.de").write_bytes("Gr\u00fc\u00dfe\n".encode("latin-1") * 3)
        yield Damaged("text that is not UTF-8", bad, "newstest.de: line 1 is not valid UTF-8")


def test_a_parallel_corpus_inside_a_tar_gz(tmp_path: Path, monkeypatch, root) -> None:
    want = text_lines.make_parallel(tmp_path / "news", train_rows=3000, test_rows=2)
    archive = tmp_path / "news.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "news", arcname="news")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "news/train.*"}, "test": {"files": "news/newstest.*"}})
    prepare("lines", source=archive)
    assert rows("lines", "train") == want["train"]
