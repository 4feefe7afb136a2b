"""The `image_folder` reader: class folders, every image format, original bytes with their size, bad images refused."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
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
    stored_as_generated,
    use_recipes,
    write_recipe,
)

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.preparation import prepare
from dsreg.readers import get_reader
from dsreg.sourcetree import SourceTree
from dsreg.testing import Damaged, ReaderContract, image_folder

FEATURES = {
    "image": {"type": "encoded_image"},
    "label": {"type": "class_label"},
    "height": {"type": "scalar", "dtype": "int32"},
    "width": {"type": "scalar", "dtype": "int32"},
    "path": {"type": "text"},
}
BY_FOLDER = {"train": {"args": {"folder": "train"}}, "val": {"args": {"folder": "val"}}}


def _recipe(tmp_path: Path, monkeypatch, splits: dict | None = None, features: dict | None = None, args=None):
    reader = {"name": "image_folder", **({"args": args} if args else {})}
    write_recipe(tmp_path / "recipes", "imgs", reader, features or FEATURES, splits or BY_FOLDER)
    use_recipes(monkeypatch, tmp_path / "recipes")


def _packed(source: Path, kind: str) -> Path:
    if kind == "directory":
        return source
    if kind == "tar.gz":
        out = source.with_name("imgs.tar.gz")
        with tarfile.open(out, "w:gz") as tar:
            tar.add(source, arcname=".")
        return out
    out = source.with_name("imgs.zip")
    with zipfile.ZipFile(out, "w") as z:
        for path in sorted(source.rglob("*")):
            z.write(path, path.relative_to(source).as_posix())
    return out


@pytest.mark.parametrize("kind", ["directory", "tar.gz", "zip"])
def test_every_image_round_trips_with_class_and_size(tmp_path: Path, monkeypatch, root, kind: str) -> None:
    want = image_folder.make_image_folder(tmp_path / "src", {"train": 5, "val": 2})
    _recipe(tmp_path, monkeypatch)
    manifest = prepare("imgs", source=_packed(tmp_path / "src", kind))
    assert manifest.features["label"].names == ("cat", "dog", "fox")  # the sorted folder names, recorded
    assert {s: manifest.splits[s].rows for s in ("train", "val")} == {"train": 15, "val": 6}
    for split in ("train", "val"):
        got = rows("imgs", split)
        assert [r["path"] for r in got] == [w["path"] for w in want[split]]  # class order, then file name
        assert all(stored_as_generated(g["image"], w) for g, w in zip(got, want[split], strict=True))
        assert [(r["label"], r["height"], r["width"]) for r in got] == [
            (w["label"], w["height"], w["width"]) for w in want[split]
        ]
    extensions = {Path(r["path"]).suffix for r in rows("imgs", "train")}
    assert extensions == {".jpg", ".png", ".BMP", ".webp", ".JPEG"}


def test_declared_class_names_set_the_order(tmp_path: Path, monkeypatch, root) -> None:
    want = image_folder.make_image_folder(tmp_path / "src", {"train": 2})
    features = {**FEATURES, "label": {"type": "class_label", "names": ["fox", "cat", "dog", "unseen"]}}
    _recipe(tmp_path, monkeypatch, {"train": {"args": {"folder": "train"}, "rows": 6}}, features)
    prepare("imgs", source=tmp_path / "src")
    got = rows("imgs", "train")
    names = ["fox", "cat", "dog"]
    assert [r["path"].split("/")[1] for r in got] == [n for n in names for _ in range(2)]  # declared order
    assert [r["label"] for r in got] == [0, 0, 1, 1, 2, 2]
    by_path = {w["path"]: w for w in want["train"]}
    assert sorted(by_path) == sorted(r["path"] for r in got)
    assert all(stored_as_generated(r["image"], by_path[r["path"]]) for r in got)


def test_a_folder_that_is_not_a_declared_class_is_refused(tmp_path: Path, monkeypatch, root) -> None:
    image_folder.make_image_folder(tmp_path / "src", {"train": 1})
    features = {**FEATURES, "label": {"type": "class_label", "names": ["cat", "dog"]}}
    _recipe(tmp_path, monkeypatch, {"train": {"args": {"folder": "train"}}}, features)
    fails_and_publishes_nothing("imgs", tmp_path / "src", "folder(s) ['fox'], which are not class names")


def test_splits_by_pattern_and_by_list_file(tmp_path: Path, monkeypatch, root) -> None:
    want = image_folder.make_image_folder(tmp_path / "src", {"all": 3})
    listed = [w["path"] for w in want["all"] if "/0001." in w["path"]]
    (tmp_path / "src" / "val.txt").write_text("\n".join(reversed(listed)) + "\n\n")
    splits = {"train": {"files": "all/*/000[02].*", "rows": 6}, "val": {"args": {"list": "val.txt"}, "rows": 3}}
    _recipe(tmp_path, monkeypatch, splits)
    prepare("imgs", source=tmp_path / "src")
    assert [r["path"] for r in rows("imgs", "val")] == sorted(listed)
    train = rows("imgs", "train")
    assert [r["path"] for r in train] == [w["path"] for w in want["all"] if Path(w["path"]).stem in ("0000", "0002")]


def test_tasks_are_class_folders_in_class_order(tmp_path: Path) -> None:
    image_folder.make_image_folder(tmp_path / "src", {"train": 1})
    features = Features.from_json({**FEATURES, "label": {"type": "class_label", "names": ["fox", "cat", "dog"]}})
    reader = get_reader("image_folder")({}, features)
    assert reader.tasks({"s": SourceTree.open(tmp_path / "src")}, "train", {"folder": "train"}) == [
        "train/fox",
        "train/cat",
        "train/dog",
    ]


@pytest.mark.parametrize("check", ["decode", "header"])
def test_a_file_that_is_not_an_image_names_the_file(tmp_path: Path, monkeypatch, root, check: str) -> None:
    image_folder.make_image_folder(tmp_path / "src", {"train": 2})
    bad = tmp_path / "src" / "train" / "dog" / "0001.png"
    bad.write_bytes(b"<html>not found</html>")
    _recipe(tmp_path, monkeypatch, {"train": {"args": {"folder": "train"}}}, args={"check": check})
    fails_and_publishes_nothing("imgs", tmp_path / "src", str(bad), "the image does not decode")


def test_a_truncated_image_is_caught_by_decoding(tmp_path: Path, monkeypatch, root) -> None:
    image_folder.make_image_folder(tmp_path / "src", {"train": 2})
    bad = tmp_path / "src" / "train" / "cat" / "0000.jpg"
    data = image_folder.encode_image(__import__("numpy").full((64, 64, 3), 7, dtype="uint8"), "JPEG")
    bad.write_bytes(data[: len(data) // 2])
    _recipe(tmp_path, monkeypatch, {"train": {"args": {"folder": "train"}}})
    fails_and_publishes_nothing("imgs", tmp_path / "src", str(bad), "the image does not decode")


def test_an_empty_split_folder_and_a_listed_stranger_are_errors(tmp_path: Path, monkeypatch, root) -> None:
    image_folder.make_image_folder(tmp_path / "src", {"train": 1})
    shutil.rmtree(tmp_path / "src" / "train")
    (tmp_path / "src" / "train").mkdir()
    _recipe(tmp_path, monkeypatch, {"train": {"args": {"folder": "train"}}})
    fails_and_publishes_nothing("imgs", tmp_path / "src", "split 'train' has no images")
    image_folder.make_image_folder(tmp_path / "src", {"train": 1})
    (tmp_path / "src" / "list.txt").write_text("train/cat/0000.jpg\ntrain/cat/missing.jpg\n")
    _recipe(tmp_path, monkeypatch, {"train": {"args": {"list": "list.txt"}}})
    fails_and_publishes_nothing(
        "imgs", tmp_path / "src", "list.txt", "line 2: 'train/cat/missing.jpg' is not in the source"
    )


def test_features_it_cannot_fill_are_refused(tmp_path: Path, monkeypatch) -> None:
    _recipe(tmp_path, monkeypatch, features={**FEATURES, "caption": {"type": "text"}})
    with pytest.raises(DsregError, match="cannot fill the feature 'caption'"):
        prepare("imgs", source=tmp_path)


_PETS = example("pets")


class TestImageFolderContract(ReaderContract):
    """The reader contract on the documented example (docs/examples/pets.yaml)."""

    reader = "image_folder"
    reader_args: ClassVar[dict[str, Any]] = _PETS["reader"]["args"]
    features: ClassVar[dict[str, Any]] = _PETS["features"]
    splits: ClassVar[dict[str, dict[str, Any]]] = example_splits(_PETS)
    rows: ClassVar[dict[str, int]] = {"train": 12, "val": 6}
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        image_folder.make_image_folder(dest / "pets")
        return dest / "pets"

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        bad = damaged_copy(source, dest, "not an image")
        (bad / "val" / "dog" / "0001.BMP").write_bytes(b"BM but not really a bitmap")
        yield Damaged("a file that is not an image", bad, "0001.BMP: the image does not decode")
        bad = damaged_copy(source, dest, "truncated")
        data = (bad / "train" / "fox" / "0003.jpg").read_bytes()
        (bad / "train" / "fox" / "0003.jpg").write_bytes(data[: len(data) // 2])
        yield Damaged("a truncated JPEG", bad, "0003.jpg: the image does not decode")


def test_images_outside_class_folders_are_refused_not_skipped(tmp_path: Path, monkeypatch, root) -> None:
    image_folder.make_image_folder(tmp_path / "src", {"train": 1})
    nested = tmp_path / "src" / "train" / "cat" / "extra" / "1.png"
    nested.parent.mkdir()
    shutil.copy(tmp_path / "src" / "train" / "cat" / "0000.jpg", nested)
    _recipe(tmp_path, monkeypatch, {"train": {"args": {"folder": "train"}}})
    fails_and_publishes_nothing("imgs", tmp_path / "src", "'train/cat/extra/1.png' is not directly in a class folder")
    nested.unlink()
    shutil.copy(tmp_path / "src" / "train" / "cat" / "0000.jpg", tmp_path / "src" / "top.jpg")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "**/*.jpg"}})
    fails_and_publishes_nothing("imgs", tmp_path / "src", "'top.jpg' is at the top of the source, in no class folder")


def test_jpeg_png_webp_keep_their_bytes_and_bmp_becomes_a_png_of_the_same_pixels(tmp_path: Path, monkeypatch, root):
    want = image_folder.make_image_folder(tmp_path / "src", {"train": 5})
    _recipe(tmp_path, monkeypatch, {"train": {"args": {"folder": "train"}}})
    prepare("imgs", source=tmp_path / "src")
    got = {r["path"]: r["image"] for r in rows("imgs", "train")}
    bmp = [w for w in want["train"] if w["path"].endswith(".BMP")]
    assert bmp and all(got[w["path"]] != w["image"] and got[w["path"]].startswith(b"\x89PNG") for w in bmp)
    assert all(got[w["path"]] == w["image"] for w in want["train"] if not w["path"].endswith(".BMP"))
