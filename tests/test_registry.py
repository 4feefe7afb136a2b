from __future__ import annotations

from pathlib import Path

import pytest

import dsreg
from dsreg import DsregError, Features, Scalar
from dsreg.registry import Ref, find_prepared, get_recipe, list_recipes, parse_ref
from dsreg.roots import search_roots, writable_root

FEATURES = Features({"x": Scalar()})


def test_references_parse() -> None:
    assert parse_ref("cifar10") == Ref("cifar10")
    assert parse_ref("wmt14/de-en") == Ref("wmt14", "de-en")
    assert parse_ref("wmt14/de-en:1.2.0") == Ref("wmt14", "de-en", "1.2.0")
    assert parse_ref("cifar10:1.0.0") == Ref("cifar10", None, "1.0.0")
    with pytest.raises(DsregError, match="NAME/CONFIG:VERSION"):
        parse_ref("CIFAR 10")


def test_unknown_recipe_suggests_the_close_one() -> None:
    with pytest.raises(DsregError, match="Did you mean 'cifar10'"):
        get_recipe("cifar01")


def test_user_recipe_dirs_come_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = (Path(dsreg.__file__).parent.parent / "recipes" / "cifar10.yaml").read_text()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "cifar10.yaml").write_text(shipped.replace("version: 1.0.0", "version: 2.0.0"))
    monkeypatch.setenv("DSREG_RECIPES", str(mine))
    assert list_recipes()["cifar10"].version == "2.0.0"


def test_root_search_path_and_first_writable_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("DSREG_ROOT", f"{blocked / 'sub'}:{a}:{b}")
    assert search_roots() == [blocked / "sub", a, b]
    assert writable_root() == a
    monkeypatch.setenv("DSREG_ROOT", str(blocked / "sub"))
    with pytest.raises(DsregError, match="none of the dataset roots is writable"):
        writable_root()


def test_prepared_datasets_are_found_across_roots_newest_version_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    dsreg.write_dataset("nums", {"train": [{"x": 1}]}, FEATURES, root=a, version="1.2.0")
    dsreg.write_dataset("nums", {"train": [{"x": 1}, {"x": 2}]}, FEATURES, root=b, version="1.10.0")
    dsreg.write_dataset("nums", {"train": [{"x": 1}]}, FEATURES, root=b, config="other")
    monkeypatch.setenv("DSREG_ROOT", f"{a}:{b}")
    assert find_prepared("nums/default").version == "1.10.0"
    assert find_prepared("nums/default:1.2.0").directory == a / "nums" / "default" / "1.2.0"
    assert find_prepared("nums/other").config == "other"
    with pytest.raises(DsregError, match="versions that exist: 1.2.0, 1.10.0"):
        find_prepared("nums/default:3.0.0")
    with pytest.raises(DsregError, match="dsreg prepare cifar10"):
        find_prepared("cifar10")


def test_a_staging_cache_first_in_the_path_never_receives_preparations(tmp_path: Path, monkeypatch) -> None:
    cache, shared = tmp_path / "node-cache", tmp_path / "shared"
    (cache / ".staging").mkdir(parents=True)
    monkeypatch.setenv("DSREG_ROOT", f"{cache}:{shared}")
    assert writable_root() == shared
    assert search_roots()[0] == cache  # but loading still prefers the local copy
