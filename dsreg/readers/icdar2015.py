"""ICDAR 2015 Robust Reading Challenge 4 (incidental scene text): word crops and scene-text localisation.

`icdar2015_words` (Task 4.3) pairs `word_N.png` crops with a ground-truth file of `word_N.png, "label"`
lines; `icdar2015_localization` (Task 4.1) pairs `img_N.jpg` scene images with `gt_img_N.txt` files of
quadrilaterals and transcriptions (`icdar_gt` parses both exactly). A split names the sources holding
its images and its ground truth, each the vendor zip or its unpacked folder; the images may sit in a
top folder of their own. Pairing is strict: a ground-truth entry naming a missing image, or an image
that no ground truth names, is an error naming both, never a row silently dropped.

Rows come in the ground truth's order (words) or by image number (localisation); images are stored as
their original bytes, each decoded once with Pillow to prove it is whole (`reader.args.check: header`
reads only the header). Tasks are runs of `chunk` consecutive rows.
"""

from __future__ import annotations

import re
import weakref
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.icdar_gt import gt_lines, quad, word_label
from dsreg.readers.image_folder import _checked_image
from dsreg.sourcetree import SourceTree

_IMAGE = re.compile(r"(?:.*/)?(img_(\d+)\.jpg)", re.IGNORECASE)
_GT = re.compile(r"(?:.*/)?gt_(img_(\d+))\.txt", re.IGNORECASE)
_FIX_PAIRS = "use the vendor's complete archives (or their complete unpacked folders) for this split"

CHECK = Arg(
    "check",
    "str",
    "decode: decode every image once to prove it is whole; header: read only its header (faster)",
    default="decode",
    choices=("decode", "header"),
)
CHUNK = Arg("chunk", "int", "rows per preparation task", default=1000)
IMAGES = Arg("images", "str", "the source holding the split's images (the vendor zip or its folder)", required=True)
GT = Arg("gt", "str", "the source holding the split's ground truth (a zip, a folder or the file)", required=True)


def named_source(sources: Mapping[str, SourceTree], name: str, split: str, role: str) -> SourceTree:
    """The source a split argument `role` names."""
    if name not in sources:
        raise DsregError(
            f"splits.{split}.args.{role} names the source {name!r}, which is not one of {sorted(sources)}",
            fix="name one of the recipe's sources",
        )
    return sources[name]


def _by_base_name(tree: SourceTree, names: list[str], what: str) -> dict[str, str]:
    """File name → member, for members that may sit in a top folder; one name in two folders is an error."""
    out: dict[str, str] = {}
    for member in names:
        base = member.rsplit("/", 1)[-1]
        if base in out:
            raise DsregError(
                f"two {what} are called {base!r}: {out[base]!r} and {member!r}",
                path=tree.path,
                fix="give each split's images as their own vendor zip or unpacked folder",
            )
        out[base] = member
    return out


def _unpaired(split: str, missing: list[str], unnamed: list[str]) -> DsregError:
    """The error for ground truth and images that do not pair up; each list holds ready-made descriptions."""
    parts = [f"{missing[0]}" + (f" ({len(missing)} such entries)" if len(missing) > 1 else "")] if missing else []
    if unnamed:
        parts.append(unnamed[0] + (f" ({len(unnamed)} such images)" if len(unnamed) > 1 else ""))
    return DsregError(
        f"split {split!r}: the images and the ground truth do not match: {'; '.join(parts)}", fix=_FIX_PAIRS
    )


class _PairedReader(Reader):
    """What both ICDAR 2015 readers share: checked image bytes, tasks as row chunks, indexes per open tree."""

    arguments: ClassVar[tuple[Arg, ...]] = (CHECK, CHUNK)
    columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        if set(features.names()) != set(self.columns):
            raise DsregError(
                f"the {type(self).__name__} reader fills the columns {list(self.columns)}, "
                f"the features are {features.names()}",
                fix=f"declare exactly the features {list(self.columns)}",
            )
        if self.args["chunk"] < 1:
            raise DsregError(f"reader.args.chunk is {self.args['chunk']}", fix="give a positive number of rows")

    def _index(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[Any]:
        """The split's rows to read, in order (parsed once per open tree)."""
        images = named_source(sources, split_args["images"], split, "images")
        key = repr((type(self).__name__, split, sorted(split_args.items())))
        cached = _CACHE.setdefault(images, {})
        if key not in cached:
            cached[key] = self._pairs(images, named_source(sources, split_args["gt"], split, "gt"), split, split_args)
        return cached[key]

    @abstractmethod
    def _pairs(self, images: SourceTree, gt: SourceTree, split: str, split_args: Mapping[str, Any]) -> list[Any]:
        """The split's rows to read, each naming its image member and its ground truth, checked to pair up."""

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        count = len(self._index(sources, split, split_args))
        chunk = self.args["chunk"]
        return [f"{start:06d}" for start in range(0, count, chunk)]

    def _chunk(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Any:
        start = int(task)
        return self._index(sources, split, split_args)[start : start + self.args["chunk"]]

    def _image(self, tree: SourceTree, member: str) -> bytes:
        data, _, _ = _checked_image(tree.read_bytes(member), tree.location(member), self.args["check"])
        return data


# images tree → (reader, split, arguments) → the split's rows; a tree is opened afresh for every preparation
_CACHE: weakref.WeakKeyDictionary[SourceTree, dict[str, list[Any]]] = weakref.WeakKeyDictionary()


class Icdar2015Words(_PairedReader):
    """ICDAR 2015 Task 4.3 word crops (`word_N.png`) with their labels, in ground-truth order; exact labels."""

    columns = ("image", "text", "file_name")
    split_arguments: ClassVar[tuple[Arg, ...]] = (
        IMAGES,
        GT,
        Arg("gt_file", "str", "the ground-truth file's name (found in any folder of the gt source)", required=True),
    )

    def _pairs(
        self, images: SourceTree, gt: SourceTree, split: str, split_args: Mapping[str, Any]
    ) -> list[tuple[str, str, str]]:
        """(file name, member, label) per ground-truth line; every PNG named exactly once."""
        gt_name = gt.find(split_args["gt_file"], case_insensitive=True)
        where = gt.location(gt_name)
        labels: list[tuple[str, str]] = []
        seen: dict[str, int] = {}  # image name → its line
        for number, line in gt_lines(gt.read_bytes(gt_name), where):
            name, label = word_label(line, number, where)
            if name in seen:
                raise DsregError(
                    f"line {number} names {name!r} again (first on line {seen[name]})", path=where, fix=_FIX_PAIRS
                )
            seen[name] = number
            labels.append((name, label))
        pngs = _by_base_name(images, [n for n in images.names() if n.lower().endswith(".png")], "images")
        missing = [
            f"line {seen[name]} of {where} names {name!r}, which is not in {images.path}"
            for name, _ in labels
            if name not in pngs
        ]
        unnamed = [
            f"{pngs[name]!r} in {images.path} is named by no line of {where}"
            for name in sorted(set(pngs) - set(seen), key=_natural)
        ]
        if missing or unnamed:
            raise _unpaired(split, missing, unnamed)
        return [(name, pngs[name], label) for name, label in labels]

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        images = named_source(sources, split_args["images"], split, "images")
        for name, member, label in self._chunk(sources, split, split_args, task):
            yield {"image": self._image(images, member), "text": label, "file_name": name}


class Icdar2015Localization(_PairedReader):
    """ICDAR 2015 Task 4.1 scene images (`img_N.jpg`) with their quadrilaterals, transcriptions and don't-care flags."""

    columns = ("image", "file_name", "words")
    split_arguments: ClassVar[tuple[Arg, ...]] = (IMAGES, GT)

    def _pairs(
        self, images: SourceTree, gt: SourceTree, split: str, split_args: Mapping[str, Any]
    ) -> list[tuple[str, str, str]]:
        """(image file name, image member, gt member) per image, by image number; every image has its gt file."""
        jpgs = _by_base_name(images, [n for n in images.names() if _IMAGE.fullmatch(n)], "images")
        gts: dict[str, str] = {}
        for member in gt.names():
            match = _GT.fullmatch(member)
            if match:
                gts[match.group(1) + ".jpg"] = member
        gt_of = {n.lower(): m for n, m in gts.items()}
        image_of = {n.lower(): n for n in jpgs}
        missing = [
            f"{gt.location(gts[n])} is the ground truth of {n!r}, which is not in {images.path}"
            for n in sorted(gts, key=_natural)
            if n.lower() not in image_of
        ]
        unnamed = [
            f"{jpgs[n]!r} in {images.path} has no ground truth gt_{n[:-4]}.txt in {gt.path}"
            for n in sorted(jpgs, key=_natural)
            if n.lower() not in gt_of
        ]
        if missing or unnamed:
            raise _unpaired(split, missing, unnamed)
        if not jpgs:
            raise DsregError(f"split {split!r} has no img_N.jpg images", path=images.path, fix=_FIX_PAIRS)
        return [(name, jpgs[name], gt_of[name.lower()]) for name in sorted(jpgs, key=_natural)]

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        images = named_source(sources, split_args["images"], split, "images")
        gt = named_source(sources, split_args["gt"], split, "gt")
        for name, member, gt_member in self._chunk(sources, split, split_args, task):
            where = gt.location(gt_member)
            quads = [quad(line, number, where) for number, line in gt_lines(gt.read_bytes(gt_member), where)]
            words = [{"points": [list(p) for p in q.points], "text": q.text, "dont_care": q.dont_care} for q in quads]
            yield {"image": self._image(images, member), "file_name": name, "words": words}


def _natural(name: str) -> tuple[Any, ...]:
    """Sort key putting `img_2` before `img_10`."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))
