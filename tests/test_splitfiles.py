"""Splits declared by file patterns: glob semantics, sorted results, clear errors; the recipe keys that declare them."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import yaml

from dsreg.errors import DsregError
from dsreg.recipe import SplitSpec, load_recipe
from dsreg.registry import recipe_dirs
from dsreg.sourcetree import SourceTree
from dsreg.splitfiles import match_files, pattern_regex, split_reader_args

NAMES = ["b.jsonl", "a.jsonl", "a.json", "train/x.jsonl", "train/sub/y.jsonl", "train/z.txt", "Test.JSONL"]


@pytest.fixture
def tree(tmp_path: Path) -> SourceTree:
    for name in NAMES:
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_text("x\n")
    return SourceTree.open(tmp_path / "src")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.jsonl", ["a.jsonl", "b.jsonl"]),  # * stays in its folder; case matters
        ("train/*.jsonl", ["train/x.jsonl"]),
        ("train/**/*.jsonl", ["train/sub/y.jsonl", "train/x.jsonl"]),  # **/ is zero or more folders
        ("**/*.jsonl", ["a.jsonl", "b.jsonl", "train/sub/y.jsonl", "train/x.jsonl"]),
        ("?.json*", ["a.json", "a.jsonl", "b.jsonl"]),
        ("[ab].jsonl", ["a.jsonl", "b.jsonl"]),
        ("[!a].jsonl", ["b.jsonl"]),
        ("/train/z.txt", ["train/z.txt"]),
    ],
)
def test_patterns_match_like_globs_and_sort(tree: SourceTree, pattern: str, expected: list[str]) -> None:
    assert match_files(tree, (pattern,)) == expected


def test_several_patterns_union_without_duplicates(tree: SourceTree) -> None:
    assert match_files(tree, ("a.*", "*.jsonl")) == ["a.json", "a.jsonl", "b.jsonl"]


def test_regex_characters_in_a_pattern_are_literal() -> None:
    assert pattern_regex("a+b(1).txt").fullmatch("a+b(1).txt")
    assert not pattern_regex("a.txt").fullmatch("abtxt")
    assert pattern_regex("[^x].txt").fullmatch("^.txt") and not pattern_regex("[^x].txt").fullmatch("y.txt")


def test_a_pattern_matching_nothing_names_the_pattern_and_the_source(tree: SourceTree, tmp_path: Path) -> None:
    with pytest.raises(
        DsregError, match=r"the file pattern 'valid/\*.jsonl' matches none of the source's 7 files"
    ) as err:
        match_files(tree, ("*.jsonl", "valid/*.jsonl"))
    assert str(tmp_path / "src") in str(err.value)


def test_patterns_resolve_inside_archives(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("data/2.csv", "data/10.csv", "data/1.csv"):
            (tmp_path / "f").write_text("x\n")
            tar.add(tmp_path / "f", arcname=name)
    assert match_files(SourceTree.open(archive), ("data/*.csv",)) == ["data/1.csv", "data/10.csv", "data/2.csv"]


def test_split_reader_args_add_files_and_source(tree: SourceTree) -> None:
    spec = SplitSpec("train", None, {"x": 1}, ("train/*.jsonl",), None)
    assert split_reader_args(spec, {"data": tree}) == {"x": 1, "files": ["train/x.jsonl"]}
    named = SplitSpec("train", None, {}, ("a.*",), "data")
    assert split_reader_args(named, {"other": tree, "data": tree}) == {"files": ["a.json", "a.jsonl"], "source": "data"}
    assert split_reader_args(SplitSpec("t", 3, {"files": ["a"]}), {"data": tree}) == {"files": ["a"]}


def _recipe(tmp_path: Path, splits: dict, sources: int = 1) -> Path:
    data = yaml.safe_load((recipe_dirs()[-1] / "cifar10.yaml").read_text())
    for config in data["configs"].values():
        config["splits"] = splits
        if sources == 2:
            config["sources"]["other"] = dict(config["sources"]["archive"])
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_recipe_declares_files_and_may_leave_out_rows(tmp_path: Path) -> None:
    config = load_recipe(
        _recipe(tmp_path, {"train": {"files": "*.bin"}, "test": {"files": ["t.bin"], "rows": 4}})
    ).config()
    assert config.splits["train"] == SplitSpec("train", None, {"files": None}, ("*.bin",), None)
    assert config.splits["test"].rows == 4 and config.splits["test"].files == ("t.bin",)


@pytest.mark.parametrize(
    ("splits", "sources", "expected"),
    [
        ({"train": {"files": "*.bin", "args": {"files": ["x"]}}}, 1, "both files .patterns. and args.files"),
        ({"train": {"files": "*.bin"}}, 2, "does not say which of the 2 sources"),
        ({"train": {"files": "*.bin", "source": "nope"}}, 2, "splits.train.source is 'nope', which is not a source"),
        ({"train": {"rows": 1, "source": "archive"}}, 1, "source is given without files"),
        ({"train": {"files": "*.bin", "source": "other"}}, 2, "reader 'cifar_python' does not take a source"),
        ({"train": {"files": []}}, 1, "splits.train.files"),
        ({"train": {"files": "*", "rowz": 1}}, 1, "unknown key 'rowz'"),
    ],
)
def test_wrong_split_declarations_name_the_file_and_key(tmp_path: Path, splits, sources, expected) -> None:
    path = _recipe(tmp_path, splits, sources)
    with pytest.raises(DsregError, match=expected) as err:
        load_recipe(path)
    assert str(path) in str(err.value)


# shipped configs whose official counts were not available for some splits (None: every split); their
# descriptions say the counts are NOT checked
UNKNOWN_COUNTS: dict[tuple[str, str], set[str] | None] = {
    ("ud.yaml", "cs_pdt"): None,
    **{
        ("wmt14.yaml", pair): {f"test_filtered_{pair[:2]}_en", f"test_filtered_en_{pair[:2]}"}
        for pair in ("cs-en", "de-en", "fr-en", "de-en-spm32k", "de-en-spm8k-separate")
    },
    ("wmt14.yaml", "cs-en-czeng"): {"train", "test_filtered_cs_en", "test_filtered_en_cs"},
    # ImageNet-21k's held-out split sizes depend on every synset's size, which is not published
    ("imagenet21k.yaml", "fall11"): None,
    ("imagenet21k.yaml", "winter21"): None,
    # Switchboard's train count follows the token rules; no peer publishes it for these rules
    ("switchboard.yaml", "ms98"): {"train"},
    # train_nodup counts duplicates on this recipe's transcripts, not Kaldi's mapped words
    ("switchboard.yaml", "ms98_nodup"): {"train"},
}
# WMT22 and WMT23: a pair's count is known only where two published counts agree; the others (null there)
for _name in ("wmt22", "wmt23"):
    _ref = json.loads((Path(__file__).parent.parent / "manifests" / "reference" / f"{_name}.json").read_text())
    UNKNOWN_COUNTS.update({(f"{_name}.yaml", p): {"test"} for p, s in _ref["splits"].items() if s["test"] is None})
# shipped recipes none of whose per-config counts are known (the WMT 2021 and 2024 test sets; READ 2016's lines)
UNKNOWN_RECIPES = {"wmt21.yaml", "wmt24.yaml", "read2016.yaml"}


def test_shipped_recipes_keep_exact_counts() -> None:
    for path in sorted(recipe_dirs()[-1].glob("*.yaml")):
        recipe = load_recipe(path)
        for name in recipe.config_names:
            config = recipe.config(name)
            unknown = UNKNOWN_COUNTS.get(
                (path.name, name), set(config.splits) if path.name in UNKNOWN_RECIPES else set()
            )
            unknown = set(config.splits) if unknown is None else unknown
            if unknown:
                assert "NOT checked" in config.description, f"{path.name} {name}: say which counts are NOT checked"
            for split in config.splits.values():
                if split.name in unknown:
                    assert split.rows is None, f"{path.name} {name} {split.name} has a count: take it off the list"
                else:
                    assert split.rows is not None, f"{path.name} {name} {split.name} has no official row count"
