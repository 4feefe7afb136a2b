"""`image_folder`: a class-per-directory tree of images, stored encoded (the original bytes) with their size.

An image's class is the name of the folder it sits in (`train/cat/0001.jpg` → `cat`). A split is a
top-level folder (`splits.<split>.args.folder: train`), file patterns (`splits.<split>.files`), or a list
file in the source naming one image path per line (`splits.<split>.args.list`). Images are the files
ending in .jpg, .jpeg, .png, .bmp or .webp, in any case; other files are ignored, but an image that is not
directly in a class folder is an error, never silently left out.

Class names are the features' `class_label` names in their order; a class_label declared without names
takes the sorted folder names of all splits (and the manifest records them). Columns filled: the
`encoded_image` feature, the `class_label` feature, and if declared `height` and `width` (scalars) and
`path` (text: the image's path in the source). Every image is decoded once with Pillow to prove it is
whole (`reader.args.check: header` reads only its header, much faster, catching fewer faults). Images are
stored as their original bytes, except BMP, re-encoded losslessly as PNG (torchvision cannot decode BMP).
One task per class folder of a split, in class order; files sorted within it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, EncodedImage, Features, Scalar, Text
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.layout import FILES, SOURCE, split_files, split_tree, text_lines
from dsreg.sourcetree import SourceTree

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_CHECKS = ("decode", "header")


def is_image(name: str) -> bool:
    return name.lower().endswith(EXTENSIONS)


def _folder(name: str) -> str:
    """The folder an image sits in ("" at the top of the source)."""
    return name.rsplit("/", 1)[0] if "/" in name else ""


def _class_of(folder: str) -> str:
    """A folder's class: its own name (`train/cat` → `cat`)."""
    return folder.rsplit("/", 1)[-1]


# tree → (split, its arguments) → folder → its images; a tree is opened afresh for every preparation
_INDEX: weakref.WeakKeyDictionary[SourceTree, dict[str, dict[str, list[str]]]] = weakref.WeakKeyDictionary()


def _only(features: Features, kind: type, role: str) -> str | None:
    names = [n for n, f in features.items() if type(f) is kind]
    if len(names) > 1:
        raise DsregError(
            f"the image_folder reader fills one {role} column, the features have {len(names)}: {names}",
            fix=f"declare a single {kind.__name__} feature",
        )
    return names[0] if names else None


class ImageFolderReader(Reader):
    """A class-per-folder tree of JPEG/PNG/BMP/WebP images, stored encoded with their size; one task per class."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "check",
            "str",
            "decode: decode every image once to prove it is whole; header: read only its header (faster)",
            default="decode",
            choices=_CHECKS,
        ),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("folder", "str", "the split's top-level folder, holding one folder per class"),
        Arg("list", "str", "a file in the source listing the split's image paths, one per line"),
        FILES,
        SOURCE,
    )

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        image = _only(features, EncodedImage, "encoded_image")
        if image is None:
            raise DsregError(
                "the image_folder reader needs an encoded_image feature", fix="declare {type: encoded_image}"
            )
        self.image: str = image
        self.label = _only(features, ClassLabel, "class_label")
        label = None if self.label is None else features[self.label]
        self.classes = {} if not isinstance(label, ClassLabel) else {n: i for i, n in enumerate(label.names)}
        self.check = self.args["check"]
        extra = {"height": Scalar, "width": Scalar, "path": Text}
        for name, feature in features.items():
            if name in (self.image, self.label):
                continue
            if name not in extra or type(feature) is not extra[name]:
                raise DsregError(
                    f"the image_folder reader cannot fill the feature {name!r} ({feature.kind})",
                    fix="declare only the encoded_image, a class_label, and optionally height and width "
                    "(scalar) and path (text)",
                )

    def _folders(
        self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]
    ) -> dict[str, list[str]]:
        """The split's folders → their images, sorted; listed once per open tree, not once per task."""
        tree = split_tree(sources, split, split_args, "image_folder")
        key = json.dumps([split, split_args], sort_keys=True, default=str)
        cached = _INDEX.setdefault(tree, {})
        if key not in cached:
            index: dict[str, list[str]] = {}
            for name in self._list_images(tree, split, split_args):
                index.setdefault(_folder(name), []).append(name)
            cached[key] = index
        return cached[key]

    def _list_images(self, tree: SourceTree, split: str, split_args: Mapping[str, Any]) -> list[str]:
        folder, listing = split_args.get("folder"), split_args.get("list")
        given = [k for k, v in (("folder", folder), ("list", listing), ("files", split_args.get("files"))) if v]
        if len(given) != 1:
            raise DsregError(
                f"split {split!r} must give exactly one of folder, list or files, it gives {given or 'none'}",
                fix=f"e.g. splits.{split}.args.folder: {split}",
            )
        if folder:
            prefix = str(folder).strip("/") + "/"
            images = [n for n in tree.names() if n.startswith(prefix) and is_image(n)]
            misplaced = [n for n in images if n.count("/") != prefix.count("/") + 1]
            if misplaced:
                raise DsregError(
                    f"split {split!r}: the image {misplaced[0]!r} is not directly in a class folder "
                    f"({len(misplaced)} such images)",
                    path=tree.path,
                    fix=f"lay the split out as {prefix}<class>/<image>, or list its images with splits.{split}.files",
                )
        elif listing:
            images = self._listed(tree, str(listing))
        else:
            images = [n for n in split_files(tree, split, split_args) if is_image(n)]
        if not images:
            raise DsregError(
                f"split {split!r} has no images (files ending in {', '.join(EXTENSIONS)}, in any case)",
                path=tree.path,
                fix=f"lay the split out as <folder>/<class>/<image>, or correct splits.{split}",
            )
        unfiled = [n for n in images if "/" not in n]
        if unfiled and self.label is not None:
            raise DsregError(
                f"split {split!r}: the image {unfiled[0]!r} is at the top of the source, in no class folder",
                path=tree.path,
                fix="put every image in the folder of its class",
            )
        return sorted(images)

    def _listed(self, tree: SourceTree, listing: str) -> list[str]:
        members = set(tree.names())
        out = []
        for number, text in text_lines(tree, listing):
            name = text.strip()
            if not name:
                continue
            if name not in members or not is_image(name):
                problem = "is not an image file name" if name in members else "is not in the source"
                raise DsregError(
                    f"line {number}: {name!r} {problem}",
                    path=tree.location(listing),
                    fix="list image paths from the top of the source, one per line",
                )
            out.append(name)
        return out

    def resolve_features(self, sources: Mapping[str, SourceTree], splits: Mapping[str, Mapping[str, Any]]) -> Features:
        """A class_label without names takes the sorted class folder names of every split."""
        if self.label is None or self.classes:
            return self.features
        classes = sorted(
            {_class_of(folder) for split, args in splits.items() for folder in self._folders(sources, split, args)}
        )
        columns = dict(self.features.items())
        columns[self.label] = dataclasses.replace(columns[self.label], names=tuple(classes))
        return Features(columns)

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """One task per class folder, in class order; every folder must name a declared class."""
        folders = sorted(self._folders(sources, split, split_args))
        if self.label is None:
            return folders
        unknown = sorted({_class_of(f) for f in folders} - set(self.classes))
        if unknown:
            raise DsregError(
                f"split {split!r} has images in the folder(s) {unknown[:5]}, which are not class names",
                path=split_tree(sources, split, split_args, "image_folder").path,
                fix=f"add them to features.{self.label}.names, or leave the names out to take the folder names",
            )
        return sorted(folders, key=lambda f: (self.classes[_class_of(f)], f))

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree = split_tree(sources, split, split_args, "image_folder")
        for name in self._folders(sources, split, split_args)[task]:
            data, width, height = _checked_image(tree.read_bytes(name), tree.location(name), self.check)
            example: dict[str, Any] = {self.image: data, "height": height, "width": width, "path": name}
            if self.label is not None:
                example[self.label] = self.classes[_class_of(task)]
            yield {column: example[column] for column in self.features.names()}


def _checked_image(data: bytes, where: str, check: str) -> tuple[bytes, int, int]:
    """(bytes to store, width, height): the original bytes, except BMP, which is re-encoded losslessly as PNG
    because the loaders' decoders (torchvision's) do not read BMP. The size comes from the header; with
    check "decode" the whole image is decoded too."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DsregError("the image_folder reader needs Pillow", fix="pip install 'dsreg[image]' (or pillow)") from None

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if check == "decode" or image.format == "BMP":
                image.load()
            if image.format == "BMP":
                png = io.BytesIO()
                image.save(png, format="PNG")
                data = png.getvalue()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DsregError(
            f"the image does not decode: {err}",
            path=where,
            fix="replace the file with a readable image, or remove it from the split",
        ) from None
    return data, width, height
