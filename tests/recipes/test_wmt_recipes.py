"""The shipped WMT recipes: wmt14 prepared from vendor-layout archives downloaded from a local server, loaded in
either direction; the WMT 2021–2024 recipes cover sacrebleu's pairs, each with its own columns."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import yaml

import dsreg
from dsreg.errors import DsregError
from dsreg.preparation import prepare
from dsreg.registry import get_recipe, recipe_dirs
from dsreg.testing.http_server import LocalHTTPServer
from dsreg.testing.wmt import make_wmt14_archives, write_wmt_xml

REFERENCE = Path(__file__).resolve().parents[2] / "manifests" / "reference"


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    raw = tmp_path_factory.mktemp("wmt14-vendor")
    return raw, make_wmt14_archives(raw, "fr-en")


def _served_recipe(recipes: Path, raw: Path, server: LocalHTTPServer, config: str) -> None:
    """The shipped wmt14 recipe with every source of `config` downloading a generated archive from `server`,
    the generated files' size and sha256 injected in place of the vendor's."""
    data = yaml.safe_load((recipe_dirs()[-1] / "wmt14.yaml").read_text(encoding="utf-8"))
    cfg = data["configs"][config]
    for name, spec in cfg["sources"].items():
        filename = spec.get("filename") or spec["urls"][0].rsplit("/", 1)[1]
        archive = raw / filename
        cfg["sources"][name] = {
            "urls": [server.url(archive.name)],
            "size": archive.stat().st_size,
            "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
        }
    for split in cfg["splits"].values():
        split.pop("rows", None)
    recipes.mkdir(parents=True, exist_ok=True)
    (recipes / "wmt14.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_wmt14_fr_en_downloads_verifies_and_loads_in_either_direction(
    archives, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    raw, want = archives
    with LocalHTTPServer(raw) as server:
        _served_recipe(tmp_path / "recipes", raw, server, "fr-en")
        monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
        manifest = prepare("wmt14/fr-en", check_counts=False)
        fetched = {r.path for r in server.requests}
    assert {"training-giga-fren.tar", "training-parallel-un.tgz", "test-filtered.tgz"} <= fetched
    assert {s["provenance"] for s in manifest.sources} == {"vendor-verified"}
    # five corpora × 4 pairs, the empty-sided pair dropped and counted
    kept = [r for r in want["train"] if r["fr"] and r["en"]]
    assert manifest.splits["train"].rows == len(kept) == 19
    assert manifest.metadata["dropped"]["train"] == {"clean_parallel: empty": 1}
    assert manifest.splits["test"].rows == 12
    assert (manifest.splits["test_filtered_fr_en"].rows, manifest.splits["test_filtered_en_fr"].rows) == (8, 9)
    ds = dsreg.open("wmt14/fr-en", "train")
    assert list(ds.take(np.arange(3))["fr"]) == [r["fr"] for r in kept[:3]]

    torch = pytest.importorskip("torch")
    del torch
    forward = next(iter(dsreg.load("wmt14/fr-en", "test", "torch", batch_size=4, source="fr", target="en")))
    backward = next(iter(dsreg.load("wmt14/fr-en", "test", "torch", batch_size=4, source="en", target="fr")))
    assert forward["source"] == backward["target"] == [r["fr"] for r in want["test"][:4]]
    assert forward["target"] == backward["source"] == [r["en"] for r in want["test"][:4]]


def test_each_filtered_newstest2014_is_read_in_its_own_direction_only(
    archives, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    """The filtered release holds other segments for fr→en and en→fr: each direction is its own split, and
    reading one in the other direction (which gave the fr→en selection as the en→fr test set) is refused."""
    from dsreg.evaluation.run import evaluate

    raw, want = archives
    with LocalHTTPServer(raw) as server:
        _served_recipe(tmp_path / "recipes", raw, server, "fr-en")
        monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
        prepare("wmt14/fr-en", check_counts=False)
    for split, (src, tgt) in {"test_filtered_fr_en": ("fr", "en"), "test_filtered_en_fr": ("en", "fr")}.items():
        batch = next(iter(dsreg.load("wmt14/fr-en", split, "numpy", batch_size=100, source=src, target=tgt)))
        assert list(batch["source"]) == [r[src] for r in want[split]]
        assert list(batch["target"]) == [r[tgt] for r in want[split]]
    with pytest.raises(DsregError, match="holds the fr→en direction only") as err:
        dsreg.load("wmt14/fr-en", "test_filtered_fr_en", "numpy", source="en", target="fr")
    assert "use split 'test_filtered_en_fr'" in str(err.value)
    with pytest.raises(DsregError, match="use split 'test_filtered_fr_en'"):
        dsreg.load("wmt14/fr-en", "test_filtered_en_fr[:50%]", "numpy", source="fr", target="en")
    with pytest.raises(DsregError, match="holds the"):  # every split of an expression is checked
        dsreg.load("wmt14/fr-en", "all", "numpy", source="fr", target="en")
    assert dsreg.load("wmt14/fr-en", "test+test_filtered_en_fr", "numpy", source="en", target="fr") is not None
    # scoring: the references of a one-direction split are its target's
    hyps = [r["fr"] for r in want["test_filtered_en_fr"]]
    scored = evaluate("wmt14/fr-en", "test_filtered_en_fr", hyps, reference="fr")
    assert scored.score.values["bleu"] == pytest.approx(100)
    with pytest.raises(DsregError, match="its references are 'fr', not 'en'") as err:
        evaluate("wmt14/fr-en", "test_filtered_en_fr", hyps)  # the recipe's default reference is en
    assert "pass reference='fr'" in str(err.value)
    with pytest.raises(DsregError, match="use split 'test_filtered_en_fr'"):
        evaluate("wmt14/fr-en", "test_filtered_fr_en", hyps, reference="fr")


def test_wmt14_filtered_splits_read_sacrebleus_files_for_each_direction() -> None:
    sacrebleu = pytest.importorskip("sacrebleu.dataset")
    langpairs = sacrebleu.DATASETS["wmt14"].langpairs
    recipe = get_recipe("wmt14")
    for name in recipe.config_names:
        config, xx = recipe.config(name), name[:2]
        assert [s for s in config.splits if s.startswith("test")] == [
            "test",
            f"test_filtered_{xx}_en",
            f"test_filtered_en_{xx}",
        ]
        assert config.splits["test"].direction is None  # the full set serves both directions
        for src, tgt in ((xx, "en"), ("en", xx)):
            split = config.splits[f"test_filtered_{src}_{tgt}"]
            (part,) = split.args["parts"]
            assert split.direction == (src, tgt) and part["source"] == "test_filtered"
            assert [part["files"][src], part["files"][tgt]] == langpairs[f"{src}-{tgt}"]


def test_a_recent_test_set_is_read_in_its_direction_only(tmp_path: Path, root: Path) -> None:
    """A 2021+ config's target column is a reference: read as a source, it would be translationese posing as
    the source of the reverse pair's test set."""
    prepare("wmt22/de-fr", source=_xml(tmp_path / "de-fr", "wmttest2022.de-fr.all.xml"), root=root)
    assert dsreg.load("wmt22/de-fr", "test", "numpy", source="de", target="fr", root=root) is not None
    with pytest.raises(DsregError, match="holds the de→fr direction only") as err:
        dsreg.load("wmt22/de-fr", "test", "numpy", source="fr", target="de", root=root)
    assert "prepare the fr-de config of wmt22" in str(err.value)


def test_every_recent_test_split_declares_its_pairs_direction() -> None:
    for name in ("wmt21", "wmt22", "wmt23", "wmt24"):
        recipe = get_recipe(name)
        for config in recipe.config_names:
            resolved = recipe.config(config)
            direction = (resolved.reader_args["source_language"], resolved.reader_args["target_language"])
            assert resolved.splits["test"].direction == direction == tuple(config.split("-")), (name, config)


def test_a_direction_needs_two_language_columns(archives, tmp_path: Path, monkeypatch, root: Path) -> None:
    raw, _ = archives
    with LocalHTTPServer(raw) as server:
        _served_recipe(tmp_path / "recipes", raw, server, "fr-en")
        monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
        prepare("wmt14/fr-en", check_counts=False)
    with pytest.raises(DsregError, match="'de' is not a language column"):
        dsreg.load("wmt14/fr-en", "test", "numpy", source="de", target="en")
    with pytest.raises(DsregError, match="two different languages"):
        dsreg.load("wmt14/fr-en", "test", "numpy", source="en")


@pytest.mark.parametrize(("name", "pairs"), [("wmt21", 20), ("wmt22", 21), ("wmt23", 14), ("wmt24", 11)])
def test_recent_test_sets_have_one_config_per_sacrebleu_pair(name: str, pairs: int) -> None:
    sacrebleu = pytest.importorskip("sacrebleu.dataset")
    recipe = get_recipe(name)
    assert sorted(recipe.config_names) == sorted(sacrebleu.DATASETS[name].langpairs)
    assert len(recipe.config_names) == pairs
    for config in recipe.config_names:
        resolved = recipe.config(config)
        src, tgt = config.split("-")
        assert resolved.features.names() == [src, tgt, f"{tgt}_refs", "doc_id", "collection", "domain", "origlang"]
        assert list(resolved.splits) == ["test"]
        assert resolved.sources["release"].md5 == sacrebleu.DATASETS[name].md5[0]
        assert resolved.evaluation == {**resolved.evaluation, "metric": "bleu", "reference": f"{tgt}_refs"}


def _publisher(citation: str) -> str:
    """Who published a cited count: the repository or dataset the URL names (its first two path parts)."""
    parts = urlsplit(citation.split()[0])
    path = [p for p in parts.path.split("/") if p and p != "datasets"]
    return "/".join([parts.netloc, *path[:2]])


@pytest.mark.parametrize("name", ["wmt21", "wmt22", "wmt23", "wmt24"])
def test_a_recent_pairs_count_is_declared_only_where_two_publishers_agree(name: str) -> None:
    """A count from one publisher is a lead, not a fact: it stays unchecked; each declared one cites two."""
    ref = json.loads((REFERENCE / f"{name}.json").read_text(encoding="utf-8"))
    recipe = get_recipe(name)
    declared = {c: recipe.config(c).splits["test"].rows for c in recipe.config_names}
    cited = {pair: {_publisher(c) for c in citations} for pair, citations in ref["count_sources"].items()}
    assert set(cited) == {pair for pair, rows in declared.items() if rows is not None}
    assert all(len(publishers) >= 2 for publishers in cited.values()), cited
    for pair, lead in ref["uncorroborated"].items():
        assert declared[pair] is None and "NOT checked" in recipe.config(pair).description, pair
        assert isinstance(lead["test"], int) and lead["source"].startswith("https://")


def test_a_wmt22_copy_of_another_size_is_refused_and_the_exact_size_is_checked(tmp_path: Path, root: Path) -> None:
    """cs-en declares 1,448: the reader's count (segments with a reference; test suites, system outputs and a
    reference-less segment left out) must equal it, else nothing is published."""
    short = tmp_path / "short"
    want = write_wmt_xml(short / "wmttest2022.cs-en.all.xml", "cs", "en", extra=1439)
    assert len(want) == 1447
    with pytest.raises(DsregError, match=r"test: 1447 rows, expected 1448\); nothing was published"):
        prepare("wmt22/cs-en", source=short, root=root)
    assert not list(root.rglob("manifest.json"))

    exact = tmp_path / "exact"
    assert len(write_wmt_xml(exact / "wmttest2022.cs-en.all.xml", "cs", "en", extra=1440)) == 1448
    manifest = prepare("wmt22/cs-en", source=exact, root=root)
    assert manifest.splits["test"].rows == 1448 and manifest.metadata["counts_checked"] is True
    unchecked = prepare("wmt22/de-fr", source=_xml(tmp_path / "de-fr", "wmttest2022.de-fr.all.xml"), root=root)
    assert unchecked.splits["test"].rows == 8 and unchecked.metadata["counts_checked"] is False


def _xml(dest: Path, name: str) -> Path:
    src, tgt = name.split(".")[1].split("-")
    write_wmt_xml(dest / name, src, tgt)
    return dest


def test_wmt14_test_sets_carry_sacrebleus_checksums() -> None:
    sacrebleu = pytest.importorskip("sacrebleu.dataset")
    config = get_recipe("wmt14").config("de-en")
    assert config.sources["test_full"].md5 == sacrebleu.DATASETS["wmt14/full"].md5[0]
    assert config.sources["test_filtered"].md5 == sacrebleu.DATASETS["wmt14"].md5[0]
    assert config.sources["dev"].md5 == sacrebleu.DATASETS["wmt13"].md5[0]
    assert (config.splits["validation"].rows, config.splits["test"].rows) == (3000, 3003)


def test_vocabulary_sizes_are_configs_of_their_own() -> None:
    recipe = get_recipe("wmt14")
    steps = {name: dict(recipe.config(name).steps) for name in ("de-en", "de-en-spm32k", "de-en-spm8k-separate")}
    assert "sentencepiece" not in steps["de-en"]
    assert (steps["de-en-spm32k"]["sentencepiece"]["vocab_size"], steps["de-en-spm32k"]["sentencepiece"]["joint"]) == (
        32000,
        True,
    )
    assert steps["de-en-spm8k-separate"]["sentencepiece"]["joint"] is False


def test_info_shows_the_columns_the_sentencepiece_step_adds() -> None:
    info = dsreg.info("wmt14/de-en-spm32k")
    assert info["features"]["de_ids"] == {"type": "sequence", "dtype": "int32"}
    assert "de_ids" not in dsreg.info("wmt14/de-en")["features"]
