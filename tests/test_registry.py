from __future__ import annotations

import re
from pathlib import Path

import pytest

import dsreg
from dsreg import DsregError, Features, Scalar
from dsreg.publish import make_writable
from dsreg.registry import Ref, find_prepared, get_recipe, list_recipes, parse_ref, prepared_versions
from dsreg.roots import search_roots, writable_root
from dsreg.versions import sort_versions

FEATURES = Features({"x": Scalar()})


def test_references_parse() -> None:
    assert parse_ref("cifar10") == Ref("cifar10")
    assert parse_ref("wmt14/de-en") == Ref("wmt14", "de-en")
    assert parse_ref("wmt14/de-en:1.2.0") == Ref("wmt14", "de-en", "1.2.0")
    assert parse_ref("cifar10:1.0.0") == Ref("cifar10", None, "1.0.0")
    with pytest.raises(DsregError, match="NAME/CONFIG:VERSION"):
        parse_ref("CIFAR 10")


def test_the_downloads_folder_is_no_dataset_name(root: Path) -> None:
    # <root>/downloads/ holds raw downloads: a dataset called so was never listed, and under a config sha256 or
    # md5 `dsreg gc` took its versions for unreferenced downloads and deleted them
    with pytest.raises(DsregError, match="'downloads' is the folder of raw downloads") as err:
        dsreg.write_dataset("downloads", {"train": [{"x": 1}]}, FEATURES, root=root, config="sha256")
    assert err.value.fix and not (root / "downloads").exists()
    with pytest.raises(DsregError, match="'downloads' is the folder of raw downloads"):
        parse_ref("downloads/md5:1.0.0")


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


@pytest.mark.parametrize("url", ["s3://bucket/datasets", "memory://shared", "file:///data/sets"])
def test_a_url_as_a_root_is_refused_not_split_into_a_relative_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    # DSREG_ROOT is split at ':', so s3://bucket/datasets was the roots 's3' and '//bucket/datasets', and
    # write_dataset published into ./s3 under the working directory (and open read from there)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DSREG_ROOT", f"{tmp_path / 'local'}:{url}")
    with pytest.raises(DsregError, match="DSREG_ROOT holds a URL") as err:
        dsreg.write_dataset("u", {"train": [{"x": 1}]}, FEATURES)
    assert url in str(err.value) and "dsreg.open(" in (err.value.fix or "")
    with pytest.raises(DsregError, match="--root holds a URL"):
        search_roots(url)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


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
    with pytest.raises(DsregError, match=r"versions that exist: 1\.2\.0, 1\.10\.0"):
        find_prepared("nums/default:3.0.0")
    with pytest.raises(DsregError, match="dsreg prepare cifar10"):
        find_prepared("cifar10")


def test_a_staging_cache_first_in_the_path_never_receives_preparations(tmp_path: Path, monkeypatch) -> None:
    cache, shared = tmp_path / "node-cache", tmp_path / "shared"
    (cache / ".staging").mkdir(parents=True)
    monkeypatch.setenv("DSREG_ROOT", f"{cache}:{shared}")
    assert writable_root() == shared
    assert search_roots()[0] == cache  # but loading still prefers the local copy


def _publish(root: Path, name: str, version: str = "1.0.0", config: str = "default") -> Path:
    dsreg.write_dataset(name, {"train": [{"x": 1}]}, FEATURES, root=root, version=version, config=config)
    return root / name / config / version


def test_open_reads_only_the_one_manifest_it_needs(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(12):
        _publish(root, f"neighbour-{i}")
    damaged = _publish(root, "damaged")
    make_writable(damaged)
    (damaged / "manifest.json").write_text("{ truncated")
    wanted = _publish(root, "wanted")
    import dsreg.registry as registry

    calls: list[Path] = []
    real = registry.read_manifest
    monkeypatch.setattr(registry, "read_manifest", lambda d: calls.append(Path(d)) or real(d))
    assert len(dsreg.open("wanted", "train")) == 1
    assert calls == [wanted]  # neither the neighbours nor the damaged one were read
    with pytest.raises(DsregError, match="manifest is not valid JSON"):
        dsreg.open("damaged")  # a damaged manifest is an error, never "not prepared"


def test_prereleases_sort_below_their_release(root: Path) -> None:
    assert sort_versions(["1.0.0", "1.10.0", "1.0.0-rc1", "1.2.0"]) == ["1.0.0-rc1", "1.0.0", "1.2.0", "1.10.0"]
    _publish(root, "nums", "1.0.0")
    _publish(root, "nums", "1.0.0-rc1")
    assert find_prepared("nums").version == "1.0.0"
    assert find_prepared("nums:1.0.0-rc1").version == "1.0.0-rc1"


def test_a_manifest_that_describes_another_place_is_refused(root: Path) -> None:
    directory = _publish(root, "nums")
    moved = root / "other" / "default" / "1.0.0"
    moved.parent.mkdir(parents=True)
    directory.rename(moved)
    with pytest.raises(
        DsregError, match=re.escape("manifest describes nums/default:1.0.0 but lies at other/default/1.0.0")
    ):
        find_prepared("other")


def test_in_progress_and_removed_directories_are_not_versions(root: Path) -> None:
    _publish(root, "nums", "1.0.0")
    (root / "nums" / "default" / "2.0.0.incomplete-abc").mkdir()
    (root / "nums" / "default" / "3.0.0.removing-abc").mkdir()
    assert prepared_versions("nums", "default") == ["1.0.0"]


def _broken_recipe_dir(tmp_path: Path) -> Path:
    shipped = (Path(dsreg.__file__).parent.parent / "recipes" / "cifar10.yaml").read_text()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "typo.yaml").write_text(shipped.replace("name: cifar10", "name: typo").replace("homepage:", "homepage_:"))
    (mine / "misnamed.yaml").write_text(shipped.replace("version: 1.0.0", "version: 9.0.0"))
    return mine


def test_one_broken_recipe_breaks_only_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSREG_RECIPES", str(_broken_recipe_dir(tmp_path)))
    assert get_recipe("cifar10").name == "cifar10" and get_recipe("cifar100").name == "cifar100"
    with pytest.raises(DsregError, match="unknown key 'homepage_'") as err:
        get_recipe("typo")
    assert err.value.path == str(tmp_path / "mine" / "typo.yaml")
    with pytest.raises(DsregError, match=r"recipe declares name 'cifar10' but its file is called 'misnamed\.yaml'"):
        get_recipe("misnamed")
    broken: list[DsregError] = []
    shipped = {p.stem for p in (Path(dsreg.__file__).parent.parent / "recipes").glob("*.yaml")}
    assert {"cifar10", "cifar100"} <= shipped and set(list_recipes(broken)) == shipped
    assert sorted(Path(str(e.path)).name for e in broken) == ["misnamed.yaml", "typo.yaml"]
    with pytest.raises(DsregError, match="misnamed"):
        list_recipes()  # without a list to collect them, browsing every recipe is strict
