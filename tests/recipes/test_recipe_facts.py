"""The cited facts of the text and speech recipes (manifests/reference/{wmt14,ud,eval2000,switchboard}.json): vendor
archives downloadable and pinned where a checksum is published, manual where none is, label sets covering the
treebanks' own relation subtypes, and the checksums actually enforced on a copy that is not the vendor's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dsreg.errors import DsregError
from dsreg.preparation import prepare
from dsreg.readers.conllu import UNIVERSAL_RELATIONS
from dsreg.registry import get_recipe
from dsreg.testing.ud import make_release
from dsreg.testing.wmt import make_wmt14_archives

REFERENCE = Path(__file__).resolve().parents[2] / "manifests" / "reference"


def _reference(name: str) -> dict:
    return json.loads((REFERENCE / f"{name}.json").read_text(encoding="utf-8"))


def test_wmt14_training_archives_download_from_statmt_pinned_by_sha256_and_czeng_stays_manual() -> None:
    archives = _reference("wmt14")["archives"]
    recipe = get_recipe("wmt14")
    for name in recipe.config_names:
        config = recipe.config(name)
        for key, source in config.sources.items():
            if key == "czeng":
                assert source.manual and not source.urls, name
                continue
            assert source.manual is None and source.urls[0].startswith("https://www.statmt.org/"), (name, key)
            assert archives[source.file_name] == {
                k: v for k, v in {"size": source.size, "md5": source.md5, "sha256": source.sha256}.items() if v
            }
        assert ("czeng" in config.sources) == (name == "cs-en-czeng")


def test_wmt14_train_counts_are_checked_only_under_the_peer_builders_empty_rule() -> None:
    """The HF/TFDS counts drop a pair only when a side is the empty string; a checked train count with the
    whitespace rule would refuse a correct copy holding whitespace-only lines."""
    recipe = get_recipe("wmt14")
    for name in recipe.config_names:
        config = recipe.config(name)
        steps = dict(config.steps)
        assert steps["clean_parallel"]["drop_empty"] == "exact", name
        assert steps["clean_parallel"]["splits"] == ["train"], name
        assert config.splits["train"].rows == _reference("wmt14")["splits"][name]["train"]


def test_a_wmt14_copy_that_is_not_the_vendors_archive_is_refused(tmp_path: Path, root: Path) -> None:
    make_wmt14_archives(tmp_path / "raw", "de-en")
    with pytest.raises(DsregError, match=r"training-parallel-\S+ .*sha256: expected") as err:
        prepare("wmt14/de-en", source=tmp_path / "raw", root=root)
    assert "differs from the vendor's file" in str(err.value)
    assert not list(root.rglob("manifest.json"))


def test_ud_release_downloads_from_lindat_pinned_by_sha256(tmp_path: Path, root: Path) -> None:
    ref = _reference("ud")
    release = get_recipe("ud").config("en_ewt").sources["release"]
    assert list(release.urls) == [ref["release_url"]] and release.manual is None
    assert {release.file_name: {"sha256": release.sha256}} == ref["archives"]
    archive, _ = make_release(tmp_path / "raw", {"en_pud": {"test": 3}})
    with pytest.raises(DsregError, match="differs from the vendor's file"):
        prepare("ud/en_pud", source=archive, root=root, check_counts=False)
    assert not list(root.rglob("manifest.json"))


@pytest.mark.parametrize("treebank", ["en_ewt", "fr_gsd", "de_gsd", "cs_pdt", "en_pud", "fr_sequoia", "ja_gsd"])
def test_ud_deprel_vocabulary_is_the_releases_relation_set_for_every_treebank(treebank: str) -> None:
    """Declared and generic configs share the 455 labels derived from the validator's table (udtools 0.1.3)."""
    vocabulary = _reference("ud")["deprel_vocabulary"]
    names = get_recipe("ud").config(treebank).features["deprel"].feature.names  # type: ignore[attr-defined]
    assert list(names) == vocabulary["labels"] == sorted(vocabulary["labels"])
    assert len(names) == vocabulary["count"] == 455
    assert (vocabulary["package"], vocabulary["version"], vocabulary["file"]) == (
        "udtools",
        "0.1.3",
        "udtools/data/deprels.json",
    )
    assert vocabulary["file_sha256"] == "313da9f6e57c30241c4ee5e9520698ca95dcef924c01bd986e4ea2337769ab3b"
    assert set(UNIVERSAL_RELATIONS) <= set(names)
    assert all(re.fullmatch(r"[a-z]+(:[a-z]+)?", n) and n.split(":")[0] in UNIVERSAL_RELATIONS for n in names)
    # fr, cs and en subtypes; Abkhaz obj:lo, disallowed only after 2.16 (it became iobj:lo), is kept
    assert {"dislocated:obj", "det:numgov", "obl:unmarked", "obj:lo", "iobj:lo"} <= set(names)
    assert "nsubj:madeup" not in names and "auxpass" not in names  # UD v1 labels are not relations of 2.x


def test_ud_recipe_version_counts_the_deprel_vocabulary_change() -> None:
    assert get_recipe("ud").version == "2.16.1"  # 2.16.0 declared 100 names: other label ids


@pytest.mark.parametrize("treebank", ["en_ewt", "fr_gsd", "de_gsd", "cs_pdt"])
def test_ud_deprel_labels_cover_every_subtype_the_treebank_uses(treebank: str) -> None:
    names = set(get_recipe("ud").config(treebank).features["deprel"].feature.names)  # type: ignore[attr-defined]
    used = _reference("ud")["deprel_subtypes_used"][treebank]
    assert used and all(":" in label for label in used)
    assert sorted(set(used) - names) == []


def test_eval2000_count_is_the_two_scored_halves() -> None:
    ref = _reference("eval2000")
    config = get_recipe("eval2000").config("stm")
    assert config.splits["test"].rows == ref["splits"]["test"] == sum(ref["subsets"].values())
    assert ref["reference_words"]["all"] == ref["reference_words"]["swbd"] + ref["reference_words"]["callhome"]
    assert ref["segments_with_ignored"] > ref["splits"]["test"]


def test_switchboard_transcripts_stay_manual_without_a_published_checksum() -> None:
    ref = _reference("switchboard")
    config = get_recipe("switchboard").config("ms98")
    transcripts = config.sources["transcripts"]
    assert ref["transcripts_checksum"] is None and not transcripts.urls and transcripts.manual
    assert all(url in transcripts.manual for url in ref["transcripts_urls"])
    assert {s: spec.rows for s, spec in config.splits.items()} == ref["splits"]
