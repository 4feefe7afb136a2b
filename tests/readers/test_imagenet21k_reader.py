"""The ImageNet-21k reader: the tar of per-synset tars (plain and gzipped), labels over the sorted WNIDs, the
hash-chosen held-out validation split (fixed per synset, capped at half), the synset count check; and the
reader contract."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from dsreg.errors import DsregError
from dsreg.loading.dataset import open_dataset
from dsreg.manifest import Manifest
from dsreg.preparation import prepare
from dsreg.readers.imagenet21k import held_out, split_stream
from dsreg.recipe import RecipeConfig, load_recipe
from dsreg.registry import get_recipe
from dsreg.sourcetree import SourceTree
from dsreg.testing import Damaged, ReaderContract
from dsreg.testing import imagenet21k as fakes
from dsreg.testing.imagenet import tar_bytes

FAKE = fakes.fake_21k()
PER_CLASS = 3
HELD = {w: held_out(names, PER_CLASS) for w, names in FAKE.synsets.items()}
VAL_ROWS = sum(len(h) for h in HELD.values())
ROWS = {"train": len(FAKE.images) - VAL_ROWS, "validation": VAL_ROWS}


def _rows(manifest: Manifest, split: str) -> list[dict[str, Any]]:
    return [r for t in open_dataset(manifest.directory or "", split).arrow_tables() for r in t.to_pylist()]


def _recipe(dest: Path, config: str) -> RecipeConfig:
    """The shipped recipe with the fake's synset count and val_per_class, written under `dest`."""
    recipe = get_recipe("imagenet21k")
    data = dict(recipe.data)
    data["configs"] = {
        name: {**c, "reader": {"name": "imagenet21k", "args": {"synsets": len(FAKE.synsets), "val_per_class": 3}}}
        for name, c in recipe.data["configs"].items()
    }
    for name in data["configs"]:
        data["configs"][name]["splits"] = {
            split: {**spec, "args": {**spec["args"], "synsets_per_task": 2}}
            for split, spec in data["configs"][name]["splits"].items()
        }
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "imagenet21k.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return load_recipe(dest / "imagenet21k.yaml").config(config)


class TestImageNet21k(ReaderContract):
    reader = "imagenet21k"
    recipe = "imagenet21k/fall11"
    rows: ClassVar[dict[str, int]] = ROWS
    disjoint_splits = True
    sources: ClassVar[dict[str, Any] | None] = {
        "archive": {"manual": "generated", "filename": "fall11_whole.tar"},
        "words": {"manual": "generated", "filename": "words.txt"},
    }

    def recipe_data(self, source: Path) -> dict[str, Any]:
        data = super().recipe_data(source)
        data["reader"]["args"] = {"synsets": len(FAKE.synsets), "val_per_class": PER_CLASS}
        for spec in data["splits"].values():
            spec["args"]["synsets_per_task"] = 2
        return data

    def make_source(self, dest: Path) -> Path:
        return fakes.make_21k(dest, FAKE)

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        fewer = fakes.fake_21k(sizes=(7, 1, 4, 12))
        yield Damaged("a synset tar missing", fakes.make_21k(dest / "fewer", fewer), "holds 4 synset tars, not the 5")
        garbled = fakes.fake_21k()
        name = garbled.synsets[next(reversed(garbled.synsets))][1]
        garbled.images[name] = b"\xff\xd8 not a jpeg"
        yield Damaged("an image that does not decode", fakes.make_21k(dest / "garbled", garbled), name)
        twice, wnid = fakes.fake_21k(), sorted(FAKE.synsets)[3]
        twice.synsets[wnid].append(twice.synsets[wnid][0])  # a tar appended to: both copies would become rows
        yield Damaged("a synset tar holding a name twice", fakes.make_21k(dest / "twice", twice), "two members named")
        misfiled = fakes.fake_21k()  # an image of another synset in a synset tar would be labelled as that synset
        stray = misfiled.synsets[sorted(FAKE.synsets)[0]][0]
        misfiled.synsets[wnid].insert(1, stray)
        yield Damaged(
            "a synset tar holding an image of another synset",
            fakes.make_21k(dest / "misfiled", misfiled),
            f"{wnid}.tar holds {stray!r}",
        )
        empty = fakes.fake_21k()
        empty.synsets[wnid] = []
        yield Damaged("an empty synset tar", fakes.make_21k(dest / "empty", empty), f"{wnid}.tar holds no images")
        unnamed = fakes.make_21k(dest / "unnamed", FAKE)
        lines = (unnamed / "words.txt").read_text().splitlines(keepends=True)
        (unnamed / "words.txt").write_text("".join(line for line in lines if not line.startswith(wnid)))
        yield Damaged(
            "a synset table without one of the synsets", unnamed, f"no words for 1 synsets of the archive: {wnid}"
        )
        hidden = fakes.make_21k(dest / "hidden", FAKE)  # tarfile ends a listing silently at a damaged header
        archive = hidden / fakes.ARCHIVES["fall11"]
        tree = SourceTree.open(archive)
        members = [(name, tree.read_bytes(name)) for name in tree.names()]
        with tarfile.open(fileobj=io.BytesIO(members[3][1])) as inner:
            second = inner.getmembers()[1].offset
        damaged = members[3][1][:second] + b"\x01" * 512 + members[3][1][second + 512 :]
        archive.write_bytes(tar_bytes([*members[:3], (members[3][0], damaged), *members[4:]]))
        yield Damaged("a damaged header inside a synset tar", hidden, f"{members[3][0]} is truncated or corrupt")
        again = fakes.make_21k(dest / "again", FAKE)  # one synset twice, in another folder: one copy was dropped
        (again / fakes.ARCHIVES["fall11"]).write_bytes(tar_bytes([*members, (f"more/{members[0][0]}", members[0][1])]))
        yield Damaged("a synset tar twice", again, f"two tars of synset {members[0][0][:-4]}")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Manifest]:
    base = tmp_path_factory.mktemp("in21k")
    out = {}
    for release in ("fall11", "winter21"):
        source = fakes.make_21k(base / release, FAKE, release)
        out[release] = prepare(_recipe(base / "recipes", release), source=source, root=base / f"root-{release}")
    return out


@pytest.mark.parametrize("release", ["fall11", "winter21"])
def test_labels_wnids_and_the_held_out_split(prepared: dict[str, Manifest], release: str) -> None:
    manifest = prepared[release]
    wnids = sorted(FAKE.synsets)
    assert manifest.metadata["reader"]["label_wnids"] == wnids
    assert manifest.metadata["reader"]["label_words"] == [FAKE.words[w] for w in wnids]
    assert manifest.metadata["counts_checked"] is False  # the recipe declares no split sizes
    train, val = _rows(manifest, "train"), _rows(manifest, "validation")
    assert sorted(r["file_name"] for r in train + val) == sorted(FAKE.images)
    for row in train + val:
        assert wnids[row["label"]] == row["wnid"] and row["file_name"].startswith(row["wnid"])
        if row["file_name"] != FAKE.cmyk:
            assert row["image"] == FAKE.images[row["file_name"]]
    for wnid, names in FAKE.synsets.items():
        got = {r["file_name"] for r in val if r["wnid"] == wnid}
        assert got == HELD[wnid] and len(got) == min(PER_CLASS, len(names) // 2)
    cmyk_split = "validation" if any(FAKE.cmyk in held for held in HELD.values()) else "train"
    assert [c["file_name"] for c in manifest.metadata["reader"]["changed"][cmyk_split]] == [FAKE.cmyk]


def test_both_releases_give_the_same_rows(prepared: dict[str, Manifest]) -> None:
    for split in ("train", "validation"):
        assert _rows(prepared["fall11"], split) == _rows(prepared["winter21"], split)


def test_split_stream_holds_out_exactly_the_smallest_hashes_in_one_pass() -> None:
    names = [f"n00000001_{i}.JPEG" for i in range(40)]
    for per_class in (0, 1, 5, 30):
        out = list(split_stream(((n, n.encode()) for n in names), per_class))
        assert sorted(n for _, n, _ in out) == sorted(names)
        assert {n for held, n, _ in out if held} == held_out(names, per_class)
    assert held_out(["a", "b", "c"], 10) == held_out(["c", "b", "a"], 10) and len(held_out(["a", "b", "c"], 10)) == 1


def test_shipped_recipe_checks_the_release_synset_count(tmp_path: Path) -> None:
    source = fakes.make_21k(tmp_path / "src", FAKE)
    with pytest.raises(DsregError, match="holds 5 synset tars, not the 21841 of this release"):
        prepare("imagenet21k/fall11", source=source, root=tmp_path / "root")
    assert not list((tmp_path / "root").rglob("manifest.json"))
