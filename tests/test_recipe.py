from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dsreg import DsregError
from dsreg.recipe import load_recipe
from dsreg.registry import recipe_dirs
from dsreg.sizes import parse_size

SHIPPED = Path(str(recipe_dirs()[-1]))
CIFAR10 = SHIPPED / "cifar10.yaml"


def _variant(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(CIFAR10.read_text())
    edit(data)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_every_shipped_recipe_loads_and_resolves_every_config() -> None:
    names = sorted(p.stem for p in SHIPPED.glob("*.yaml"))
    assert {"cifar10", "cifar100"} <= set(names)
    for name in names:
        recipe = load_recipe(SHIPPED / f"{name}.yaml")
        for config in recipe.config_names:
            resolved = recipe.config(config)
            assert resolved.full_name == f"{recipe.name}/{config}:{recipe.version}"
            assert len(resolved.digest) == 64


def test_configs_override_top_level_fields() -> None:
    recipe = load_recipe(CIFAR10)
    python, binary = recipe.config("python"), recipe.config("binary")
    assert recipe.default_config == "python"
    assert python.reader == "cifar_python" and binary.reader == "cifar_binary"
    assert python.features == binary.features
    assert python.sources["archive"].md5 and binary.sources["archive"].sha256
    assert python.digest != binary.digest
    assert python.shard_size == 64 * 2**20


def test_a_typo_names_the_file_the_key_path_and_the_likely_key(tmp_path: Path) -> None:
    path = _variant(tmp_path, lambda d: d["configs"]["python"].update(readr=d["configs"]["python"].pop("reader")))
    with pytest.raises(DsregError) as err:
        load_recipe(path)
    message = str(err.value)
    assert str(path) in message
    assert "configs.python.readr" in message
    assert "did you mean 'reader'" in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.update(version="one"), "at version"),
        (lambda d: d["features"]["label"].update(type="clas_label"), "unknown feature type 'clas_label'"),
        (lambda d: d.update(supervised_keys=["image", "lable"]), "did you mean 'label'"),
        (lambda d: d["configs"]["python"]["reader"].update(name="cifar_pyton"), "unknown reader 'cifar_pyton'"),
        (lambda d: d["configs"]["python"]["sources"]["archive"].pop("md5"), "configs.python.sources.archive"),
        (lambda d: d.update(default_config="nope"), "default_config 'nope'"),
        (
            lambda d: (
                d["splits"].update({}) if "splits" in d else d["configs"]["binary"]["splits"].update(train={"rows": -1})
            ),
            "rows",
        ),
        (lambda d: d.update(steps=[{"name": "shuffle_pixels"}]), "unknown step 'shuffle_pixels'"),
        # a misspelt split left every split uncleaned without a word
        (
            lambda d: d.update(steps=[{"name": "clean_parallel", "args": {"columns": ["a"], "splits": ["trian"]}}]),
            r"step clean_parallel names the split\(s\) \['trian'\]",
        ),
        (
            lambda d: d.update(steps=[{"name": "clean_parallel", "args": {"columns": ["a"], "splits": "train"}}]),
            "not a list of split names",
        ),
        (
            lambda d: d.update(steps=[{"name": "sentencepiece", "args": {"columns": ["a"], "split": "tarin"}}]),
            r"\['tarin'\], which the recipe does not have",
        ),
        # a direction loading could not honour: not text columns, not a pair
        (
            lambda d: d["configs"]["binary"]["splits"]["test"].update(direction=["label", "image"]),
            r"splits.test.direction is \['label', 'image'\]: 'label' is not a text column",
        ),
        (lambda d: d["configs"]["binary"]["splits"]["test"].update(direction=["de"]), "direction"),
        (lambda d: d.update(version="1.0.0-rc.lock"), "is named like dsreg's own"),
        # the keyword 'all' (every split) would shadow it: loading 'all' read train's rows with it
        (
            lambda d: d["configs"]["binary"]["splits"].update(all=d["configs"]["binary"]["splits"]["test"]),
            "splits.all: 'all' is the split expression for every split",
        ),
    ],
)
def test_invalid_recipes_fail_with_a_useful_message(tmp_path: Path, edit, expected: str) -> None:
    path = _variant(tmp_path, edit)
    with pytest.raises(DsregError, match=expected) as err:
        load_recipe(path)
    assert str(path) in str(err.value)


def test_yaml_never_executes_code_and_duplicates_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(DsregError, match="not valid YAML"):
        load_recipe(evil)
    assert not marker.exists()
    dup = tmp_path / "dup.yaml"
    dup.write_text(CIFAR10.read_text() + "\nversion: 9.9.9\n")
    with pytest.raises(DsregError, match="duplicate key 'version'"):
        load_recipe(dup)


def test_a_yaml_merge_key_shares_fields_and_a_key_repeated_beside_it_is_still_refused(tmp_path: Path) -> None:
    text = CIFAR10.read_text()
    text = text.replace("  python:\n", "  python: &python\n").replace("  binary:\n", "  binary:\n    <<: *python\n", 1)
    merged = tmp_path / "cifar10.yaml"
    merged.write_text(text)
    recipe = load_recipe(merged)  # binary's own keys override what it merges from python, as YAML says
    assert recipe.config("binary").reader == "cifar_binary" and recipe.config("binary").sources["archive"].sha256
    twice = tmp_path / "twice.yaml"
    twice.write_text(text.replace("    <<: *python\n", "    <<: *python\n    reader: {name: cifar_python}\n", 1))
    with pytest.raises(DsregError, match="duplicate key 'reader'"):
        load_recipe(twice)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda t: t.replace("  binary:\n", "  no:\n"), "configs"),  # Norwegian: YAML reads a bare no as false
        (lambda t: t.replace("version: 1.0.0", "version: 1.0"), "version"),
        (
            lambda t: t.replace("      test:\n        rows: 10000\n", "      2017:\n        rows: 10000\n", 1),
            "configs.python.splits",
        ),
    ],
)
def test_a_bare_yaml_word_read_as_a_boolean_or_number_is_told_to_be_quoted(tmp_path: Path, edit, where) -> None:
    path = tmp_path / "cifar10.yaml"
    path.write_text(edit(CIFAR10.read_text()))
    with pytest.raises(DsregError, match=f"at {where}.*is not of type 'string'") as err:
        load_recipe(path)
    assert err.value.fix is not None and "quote" in err.value.fix


def test_unknown_config_lists_the_valid_ones() -> None:
    with pytest.raises(DsregError, match="use one of: python, binary"):
        load_recipe(CIFAR10).config("pickle")


def test_sizes_parse() -> None:
    assert parse_size("64MiB") == 64 * 2**20 and parse_size("1.5 GB") == 1_500_000_000
    with pytest.raises(DsregError):
        parse_size("lots")


def _generic(data: dict) -> None:
    """CIFAR-10 with configs resolved by name: `python-<variant>` fills the reader's variant."""
    python = data["configs"]["python"]
    data["generic_config"] = {
        "pattern": "^python-(cifar10|cifar100)$",
        "config": {
            "description": "Variant {config}.",
            "sources": python["sources"],
            "reader": {"name": "cifar_python", "args": {"variant": "{config}"}},
            "splits": python["splits"],
        },
    }


def test_a_generic_config_resolves_an_undeclared_name_by_pattern(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        _generic(data)
        data["generic_config"]["config"]["reader"]["args"]["variant"] = "cifar10"
        data["generic_config"]["config"]["splits"] = {"train": {"optional": True, "args": {"files": ["{config}"]}}}

    recipe = load_recipe(_variant(tmp_path, edit))
    config = recipe.config("python-cifar100")
    assert config.config == "python-cifar100" and config.description.endswith("Variant python-cifar100.")
    assert config.splits["train"].args["files"] == ["python-cifar100"]  # {config} filled in at any depth
    assert config.splits["train"].rows is None and config.splits["train"].optional
    assert config.digest != recipe.config("python-cifar10").digest != recipe.config("python").digest
    assert recipe.config_names == ["python", "binary"]  # generic names are not listed as declared configs
    with pytest.raises(DsregError, match=r"(?s)no config 'python-cifar1000'.*any name matching \^python-"):
        recipe.config("python-cifar1000")


def test_a_generic_config_is_checked_when_the_recipe_loads(tmp_path: Path) -> None:
    path = _variant(tmp_path, _generic)  # variant "{config}" is not one of cifar10, cifar100 for any name
    with pytest.raises(DsregError, match=r"reader\.args\.variant is 'generic_config'"):
        load_recipe(path)
    path = _variant(tmp_path, lambda d: d.update(generic_config={"pattern": "([", "config": {}}))
    with pytest.raises(DsregError, match=r"generic_config\.pattern is not a regular expression"):
        load_recipe(path)
    path = _variant(tmp_path, lambda d: d.update(generic_config={"pattern": "x", "config": {"reader_": {}}}))
    with pytest.raises(DsregError, match="unknown key 'reader_'"):
        load_recipe(path)
