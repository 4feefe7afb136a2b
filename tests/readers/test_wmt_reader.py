"""The `wmt` reader: WMT14 parts from several vendor archives and formats; SGML read raw; TSV and TMX."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from generic_fakes import damaged_copy, fails_and_publishes_nothing, rows, use_recipes, write_recipe

from dsreg.errors import DsregError
from dsreg.preparation import prepare
from dsreg.sourcetree import SourceTree
from dsreg.testing import Damaged, ReaderContract
from dsreg.testing import wmt as fakes
from dsreg.testing.wmt import make_wmt14_archives

SOURCES = ["europarl", "commoncrawl", "news_commentary", "dev", "test_full", "test_filtered"]
ARCHIVES = {
    "europarl": "training-parallel-europarl-v7.tgz",
    "commoncrawl": "training-parallel-commoncrawl.tgz",
    "news_commentary": "training-parallel-nc-v9.tgz",
    "dev": "test.tgz",
    "test_full": "test-full.tgz",
    "test_filtered": "test-filtered.tgz",
}


def _replace_member(archive: Path, member: str, data: bytes) -> None:
    """Rewrite `archive` (a .tgz) with `member`'s content replaced."""
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    members[member] = data
    fakes._tgz(archive, members)


class TestWmt14DeEnContract(ReaderContract):
    reader = "wmt"
    recipe = "wmt14/de-en"
    # 3 corpora × 4 pairs, one with an empty side dropped by the recipe's clean_parallel step
    rows: ClassVar[dict[str, int]] = {
        "train": 11,
        "validation": 12,
        "test": 12,
        "test_filtered_de_en": 8,
        "test_filtered_en_de": 9,
    }
    sources: ClassVar[dict[str, Any]] = {name: {"manual": "generated", "filename": ARCHIVES[name]} for name in SOURCES}

    def make_source(self, dest: Path) -> Path:
        make_wmt14_archives(dest, "de-en")
        return dest

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        short = damaged_copy(source, dest, "one side short")
        _replace_member(short / ARCHIVES["europarl"], "training/europarl-v7.de-en.de", b"eins\nzwei\n")
        yield Damaged("a training file with fewer lines than its pair", short, "different line counts")
        sgml = damaged_copy(source, dest, "reference of another test set")
        _replace_member(
            sgml / ARCHIVES["test_full"],
            "test-full/newstest2014-deen-ref.en.sgm",
            b'<doc docid="x">\n<seg id="1">a</seg>\n</doc>\n',
        )
        yield Damaged("a reference file with other segments than its source", sgml, "segments")
        missing = damaged_copy(source, dest, "no dev archive")
        (missing / ARCHIVES["dev"]).unlink()
        yield Damaged("a missing archive", missing, "test.tgz")


def test_wmt14_rows_keep_raw_ampersands_and_document_metadata(tmp_path: Path, monkeypatch, root) -> None:
    want = make_wmt14_archives(tmp_path / "raw", "de-en")
    recipes = tmp_path / "recipes"
    data = TestWmt14DeEnContract().recipe_data(tmp_path / "raw")
    data["name"] = "w14"
    recipes.mkdir()
    (recipes / "w14.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    use_recipes(monkeypatch, recipes)
    manifest = prepare("w14", source=tmp_path / "raw")
    test = rows("w14", "test")
    assert test == want["test"]
    assert any("&" in r["en"] and "&amp;" not in r["en"] for r in test)  # never unescaped, never escaped
    assert test[2]["de"] == fakes.sentence("de", 2, "sgml ")  # spaces around a <seg>'s text are stripped
    assert {r["doc_id"] for r in test} == {"1-paper.de", "2-paper.en", "3-paper.de"}
    train = rows("w14", "train")
    assert train == [{**r, "doc_id": "", "genre": "", "origlang": ""} for r in want["train"] if r["de"]]
    assert manifest.metadata["dropped"] == {
        "train": {"clean_parallel: empty": 1},
        "test": {},
        "test_filtered_de_en": {},
        "test_filtered_en_de": {},
        "validation": {},
    }
    # the filtered release's two directions: their own files, their own segments
    assert rows("w14", "test_filtered_de_en") == want["test_filtered_de_en"]
    assert rows("w14", "test_filtered_en_de") == want["test_filtered_en_de"]
    assert len(want["test_filtered_de_en"]) != len(want["test_filtered_en_de"])
    assert manifest.splits["test_filtered_de_en"].direction == ("de", "en")
    assert manifest.splits["test_filtered_en_de"].direction == ("en", "de")
    assert manifest.splits["test"].direction is None


def _parts_recipe(tmp_path: Path, monkeypatch, part: dict[str, Any], langs: tuple[str, str] = ("cs", "en")) -> None:
    features = {lang: {"type": "text"} for lang in langs}
    reader = {"name": "wmt", "args": {"languages": list(langs)}}
    part = {"name": "p", "source": "data", **part}
    write_recipe(tmp_path / "recipes", "par", reader, features, {"train": {"args": {"parts": [part]}}})
    use_recipes(monkeypatch, tmp_path / "recipes")


PAIRS = [{"cs": fakes.sentence("cs", i), "en": fakes.sentence("en", i)} for i in range(5)]


def test_tsv_reads_the_declared_fields(tmp_path: Path, monkeypatch, root) -> None:
    fakes.write_tsv(tmp_path / "src" / "czeng.tsv", PAIRS, ("cs", "en"))
    _parts_recipe(tmp_path, monkeypatch, {"format": "tsv", "file": "czeng.tsv", "columns": {"cs": 2, "en": 3}})
    prepare("par", source=tmp_path / "src")
    assert rows("par", "train") == PAIRS


def test_a_short_tsv_line_names_file_and_line(tmp_path: Path, monkeypatch, root) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "c.tsv").write_text("1\t0\ta\tb\n2\t0\tonly three\n", encoding="utf-8")
    _parts_recipe(tmp_path, monkeypatch, {"format": "tsv", "file": "c.tsv", "columns": {"cs": 2, "en": 3}})
    fails_and_publishes_nothing("par", tmp_path / "src", "line 2", "c.tsv")


def test_tmx_pairs_units_by_primary_language_and_skips_incomplete_units(tmp_path: Path, monkeypatch, root) -> None:
    fakes.write_tmx(tmp_path / "src" / "corpus.tmx", PAIRS)
    _parts_recipe(tmp_path, monkeypatch, {"format": "tmx", "file": "corpus.tmx"})
    prepare("par", source=tmp_path / "src")
    assert rows("par", "train") == fakes.tmx_rows(PAIRS)


def test_invalid_tmx_is_an_error_naming_the_file(tmp_path: Path, monkeypatch, root) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bad.tmx").write_text("<tmx><body><tu>", encoding="utf-8")
    _parts_recipe(tmp_path, monkeypatch, {"format": "tmx", "file": "bad.tmx"})
    fails_and_publishes_nothing("par", tmp_path / "src", "bad.tmx", "not valid TMX")


def test_a_part_without_files_for_every_language_is_refused(tmp_path: Path, monkeypatch, root) -> None:
    (tmp_path / "src").mkdir()
    _parts_recipe(tmp_path, monkeypatch, {"format": "text", "files": {"cs": "a.cs"}})
    fails_and_publishes_nothing("par", tmp_path / "src", "parts[0]", "needs files")


def test_sgml_outside_a_doc_and_without_segments_are_errors(tmp_path: Path) -> None:
    src = tmp_path / "s"
    src.mkdir()
    (src / "a.sgm").write_text('<seg id="1">orphan</seg>\n', encoding="utf-8")
    (src / "b.sgm").write_text('<doc docid="d">\n</doc>\n', encoding="utf-8")
    from dsreg.readers.translation_formats import sgml_segments

    tree = SourceTree.open(src)
    with pytest.raises(DsregError, match="outside any <doc>"):
        sgml_segments(tree, "a.sgm")
    with pytest.raises(DsregError, match="no <seg>"):
        sgml_segments(tree, "b.sgm")


def test_features_other_than_languages_and_metadata_are_refused() -> None:
    from dsreg.features import Features
    from dsreg.readers.wmt import WmtReader

    features = Features.from_json({"cs": {"type": "text"}, "en": {"type": "text"}, "score": {"type": "text"}})
    with pytest.raises(DsregError, match="score"):
        WmtReader({"languages": ["cs", "en"]}, features)
