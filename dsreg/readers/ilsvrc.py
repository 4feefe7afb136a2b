"""ILSVRC2012 (ImageNet-1k) from the official tars + devkit or from the Kaggle tree, detected automatically.

Official: `ILSVRC2012_img_train.tar` (1000 inner `<wnid>.tar`, one task each, streamed from the outer
tar), `ILSVRC2012_img_val.tar` and the test tar (flat; tasks of `images_per_task` images in name order),
`ILSVRC2012_devkit_t12.tar.gz` (`meta.mat`, validation ground truth). Kaggle: `ILSVRC/Data/CLS-LOC/
{train/<wnid>,val,test}/`, `LOC_synset_mapping.txt`, `LOC_val_solution.csv` (one task per class
directory, val/test as above). Images are stored as shipped; the CMYK JPEGs and the PNG named `.JPEG`
are re-encoded to RGB JPEG (`dsreg.readers.imagefix`) and listed in the manifest.
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, EncodedImage, Features
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.ilsvrc_meta import (
    Classes,
    parse_ground_truth,
    parse_meta,
    parse_synset_mapping,
    parse_val_solution,
)
from dsreg.readers.imagefix import ImageFixes
from dsreg.readers.tar_of_tars import check_synset_image, iter_class_tar
from dsreg.sourcetree import DirectoryTree, SourceTree

COLUMNS = ("image", "label", "file_name", "height", "width")
KAGGLE_DATA = "ILSVRC/Data/CLS-LOC"
KAGGLE_MAPPING = "LOC_synset_mapping.txt"
KAGGLE_SOLUTION = "LOC_val_solution.csv"
_SETS = ("train", "val", "test")
_IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def _is_image(name: str) -> bool:
    return name.lower().endswith(_IMAGE_SUFFIXES)


def _chunks(names: list[str], size: int) -> list[list[str]]:
    return [names[i : i + size] for i in range(0, len(names), size)]


def _chunk_ids(count: int, size: int) -> list[str]:
    return [f"images-{i:06d}" for i in range(0, count, size)]


def _chunk_of(task: str, names: list[str], size: int) -> list[str]:
    start = int(task.rsplit("-", 1)[-1])
    return names[start : start + size]


class _Layout(ABC):
    """One raw layout: its classes, the files of each set, and where labels come from."""

    name: ClassVar[str]
    words_from: ClassVar[str]  # which file the class words come from, for the manifest

    @abstractmethod
    def classes(self) -> tuple[Classes, str]:
        """The 1000 classes and the file they were read from."""

    @abstractmethod
    def train_tasks(self) -> list[str]:
        """The train classes present (WNIDs, sorted), one task each."""

    @abstractmethod
    def train_images(self, wnid: str) -> Iterator[tuple[str, bytes, str]]:
        """(file name, bytes, location for messages) of one class's train images, each checked to be named after
        the class (`check_synset_image`): one of another class would be labelled wrong."""

    @abstractmethod
    def flat_names(self, part: str) -> list[str]:
        """The image members of the flat `val` or `test` set, sorted by file name."""

    @abstractmethod
    def flat_image(self, part: str, member: str) -> tuple[str, bytes, str]:
        """(file name, bytes, location) of one member of a flat set."""

    @abstractmethod
    def val_labels(self) -> tuple[dict[str, str], str]:
        """Validation file name → WNID, and the file the labels come from."""


# devkit tree → its classes and meta.mat's location: meta.mat is decompressed and parsed once per opened tree (a
# tree is opened afresh for every preparation, and once per worker), not on every task and listing
_DEVKIT_CLASSES: weakref.WeakKeyDictionary[SourceTree, tuple[Classes, str]] = weakref.WeakKeyDictionary()


class _Official(_Layout):
    """The vendor's tars and devkit."""

    name = "official"
    words_from = "ILSVRC2012_devkit_t12.tar.gz: data/meta.mat"

    def __init__(self, trees: Mapping[str, SourceTree]):
        self.trees = trees

    def _tree(self, key: str) -> SourceTree:
        if key not in self.trees:
            raise DsregError(
                f"this split needs the {key!r} source, which the recipe's config does not give",
                fix="use the recipe config that includes it",
            )
        return self.trees[key]

    def classes(self) -> tuple[Classes, str]:
        tree = self._tree("devkit")
        if tree not in _DEVKIT_CLASSES:
            member = tree.find("data/meta.mat")
            where = tree.location(member)
            _DEVKIT_CLASSES[tree] = parse_meta(tree.read_bytes(member), where), where
        return _DEVKIT_CLASSES[tree]

    def train_tasks(self) -> list[str]:
        tree = self._tree("train")
        inner = [n for n in tree.names() if n.endswith(".tar")]
        if not inner:
            raise DsregError(
                "the train source holds no inner <wnid>.tar archives",
                path=tree.path,
                fix="pass the vendor's ILSVRC2012_img_train.tar (a tar of 1000 per-class tars)",
            )
        return sorted(n.rsplit("/", 1)[-1][: -len(".tar")] for n in inner)

    def train_images(self, wnid: str) -> Iterator[tuple[str, bytes, str]]:
        tree = self._tree("train")
        member = tree.find(f"{wnid}.tar")
        for name, data in iter_class_tar(tree, member, wnid):
            yield name, data, f"{tree.location(member)}::{name}"

    def flat_names(self, part: str) -> list[str]:
        tree = self._tree(part)
        names = sorted((n for n in tree.names() if _is_image(n)), key=lambda n: n.rsplit("/", 1)[-1])
        repeated = [a for a, b in pairwise(names) if a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]]
        if repeated:
            raise DsregError(
                f"the {part} archive holds {repeated[0].rsplit('/', 1)[-1]!r} twice (in different folders)",
                path=tree.path,
                fix="the archive is not the vendor's: use the vendor's file",
            )
        return names

    def flat_image(self, part: str, member: str) -> tuple[str, bytes, str]:
        tree = self._tree(part)
        return member.rsplit("/", 1)[-1], tree.read_bytes(member), tree.location(member)

    def val_labels(self) -> tuple[dict[str, str], str]:
        classes, _ = self.classes()
        tree = self._tree("devkit")
        member = tree.find("data/ILSVRC2012_validation_ground_truth.txt")
        where = tree.location(member)
        ids = parse_ground_truth(tree.read_bytes(member).decode("ascii", "replace"), where)
        return {f"ILSVRC2012_val_{n:08d}.JPEG": classes.wnid_of_id[i] for n, i in enumerate(ids, 1)}, where


class _Kaggle(_Layout):
    """The Kaggle localization-challenge tree (unpacked)."""

    name = "kaggle"
    words_from = KAGGLE_MAPPING

    def __init__(self, base: Path):
        self.base = base
        self.tree = DirectoryTree(base)

    def _text(self, name: str) -> tuple[str, str]:
        return self.tree.read_bytes(name).decode("utf-8"), self.tree.location(name)

    def classes(self) -> tuple[Classes, str]:
        text, where = self._text(KAGGLE_MAPPING)
        return parse_synset_mapping(text, where), where

    def _dir(self, part: str) -> Path:
        path = self.base / KAGGLE_DATA / part
        if not path.is_dir():
            raise DsregError(
                f"the Kaggle tree has no {KAGGLE_DATA}/{part} directory",
                path=self.base,
                fix="unpack the whole Kaggle archive, or pass the official tars instead",
            )
        return path

    def train_tasks(self) -> list[str]:
        return sorted(p.name for p in self._dir("train").iterdir() if p.is_dir())

    def train_images(self, wnid: str) -> Iterator[tuple[str, bytes, str]]:
        tree = DirectoryTree(self._dir("train") / wnid)
        for name in tree.names():
            if _is_image(name):
                base = name.rsplit("/", 1)[-1]
                check_synset_image(wnid, base, f"the class folder {tree.path}", tree.path)
                yield base, tree.read_bytes(name), tree.location(name)

    def flat_names(self, part: str) -> list[str]:
        tree = DirectoryTree(self._dir(part))
        return sorted(n for n in tree.names() if _is_image(n) and "/" not in n)

    def flat_image(self, part: str, member: str) -> tuple[str, bytes, str]:
        tree = DirectoryTree(self._dir(part))
        return member, tree.read_bytes(member), tree.location(member)

    def val_labels(self) -> tuple[dict[str, str], str]:
        text, where = self._text(KAGGLE_SOLUTION)
        return {f"{image}.JPEG": wnid for image, wnid in parse_val_solution(text, where).items()}, where


def _kaggle_base(trees: Mapping[str, SourceTree]) -> Path | None:
    """The Kaggle tree's top (the given directory or one folder down), if the sources are one."""
    for tree in trees.values():
        if not isinstance(tree, DirectoryTree):
            continue
        candidates = [tree.path, *sorted(p for p in tree.path.iterdir() if p.is_dir())]
        for base in candidates:
            if (base / KAGGLE_MAPPING).is_file() and (base / KAGGLE_DATA).is_dir():
                return base
    return None


def layout_of(trees: Mapping[str, SourceTree]) -> _Layout:
    """The layout the opened sources are in: the Kaggle tree if one is found, else the official files."""
    base = _kaggle_base(trees)
    return _Kaggle(base) if base is not None else _Official(trees)


def check_features(features: Features, reader: str) -> ClassLabel:
    """The features must be exactly the columns the ImageNet readers fill; returns the label feature."""
    if tuple(sorted(features.names())) != tuple(sorted(COLUMNS)):
        raise DsregError(
            f"the {reader} reader fills the columns {list(COLUMNS)}, but the features are {features.names()}",
            fix=f"declare exactly the features {list(COLUMNS)} in the recipe",
        )
    if not isinstance(features["image"], EncodedImage):
        raise DsregError("features.image must be an encoded_image", fix="declare image as {type: encoded_image}")
    label = features["label"]
    if not isinstance(label, ClassLabel):
        raise DsregError("features.label must be a class_label", fix="declare it with type class_label")
    return label


def check_names(label: ClassLabel, wnids: tuple[str, ...], where: str) -> None:
    """The recipe's class names must be the source's sorted WNIDs, exactly."""
    if label.names == wnids:
        return
    if len(label.names) != len(wnids):
        detail = f"the recipe has {len(label.names)} classes, the source {len(wnids)}"
    else:
        i = next(i for i, (a, b) in enumerate(zip(label.names, wnids, strict=True)) if a != b)
        detail = f"class {i} is {label.names[i]!r} in the recipe but {wnids[i]!r} in the source"
    raise DsregError(
        f"the recipe's class names differ from the source's sorted WNIDs: {detail}",
        path=where,
        fix="list in features.label.names exactly the source's WNIDs, sorted",
    )


class Ilsvrc2012(Reader):
    """ILSVRC2012 classification images from the official tars + devkit or the Kaggle tree (auto-detected)."""

    split_arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("set", "str", "which vendor set the split holds", required=True, choices=_SETS),
        Arg("images_per_task", "int", "images per task of the flat val and test sets", default=1000),
    )

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        self.label = check_features(features, "ilsvrc2012")
        self._fixes = ImageFixes()

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """Classes present (train) or chunks of images (val, test); checks the class list first."""
        layout = layout_of(sources)
        classes, where = layout.classes()
        check_names(self.label, classes.wnids, where)
        if split_args["set"] == "train":
            unknown = sorted(set(layout.train_tasks()) - set(classes.wnids))
            if unknown:
                raise DsregError(
                    f"the train set has classes that are not among the 1000: {unknown[:5]}",
                    path=where,
                    fix="the train data and the class list are from different releases: use matching files",
                )
            return layout.train_tasks()
        size = self._size(split, split_args)
        return _chunk_ids(len(layout.flat_names(split_args["set"])), size)

    @staticmethod
    def _size(split: str, split_args: Mapping[str, Any]) -> int:
        size = int(split_args["images_per_task"])
        if size < 1:
            raise DsregError(f"splits.{split}.args.images_per_task is {size}", fix="use a positive number")
        return size

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        layout = layout_of(sources)
        part = split_args["set"]
        if part == "train":
            index = self.label.str2int(task)
            for name, data, where in layout.train_images(task):  # each named after its class (`check_synset_image`)
                yield self._row(data, index, name, where)
            return
        indices = {wnid: i for i, wnid in enumerate(self.label.names)}
        labels: dict[str, str] = {}
        if part == "val":
            labels, labels_where = layout.val_labels()
        for member in _chunk_of(task, layout.flat_names(part), self._size(split, split_args)):
            name, data, where = layout.flat_image(part, member)
            label = -1
            if part == "val":
                if name not in labels:
                    raise DsregError(
                        f"validation image {where} has no label in {labels_where}",
                        path=where.split("::")[0],
                        fix="the validation images and the labels are from different releases: use matching files",
                    )
                label = indices[labels[name]]
            yield self._row(data, label, name, where)

    def _row(self, data: bytes, label: int, name: str, where: str) -> dict[str, Any]:
        return {**self._fixes.columns(data, where, name), "label": label, "file_name": name}

    def notes(self) -> list[dict[str, Any]]:
        """The images this instance re-encoded, in reading order."""
        return self._fixes.records()

    def describe(self, sources: Mapping[str, SourceTree]) -> dict[str, Any]:
        """The layout read and each class's words (from the devkit or Kaggle's mapping), in label order."""
        layout = layout_of(sources)
        classes, _ = layout.classes()
        return {"layout": layout.name, "label_words": list(classes.words), "label_words_from": layout.words_from}
