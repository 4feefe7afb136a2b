"""ImageNet-21k (fall 2011 `fall11_whole.tar`, winter 2021 `winter21_whole.tar.gz`): a tar of per-synset tars.

One task per group of `synsets_per_task` inner tars (in WNID order), so `--workers` and `--array` split the
21,841 / 19,167 synsets into independent tasks; each inner tar is streamed one image at a time (bounded
memory), each image checked to be named `<wnid>_<number>.JPEG` after its tar (`iter_class_tar`: one of
another synset would be labelled wrong). Labels index the sorted WNIDs of the archive; the WNIDs and their
words (from the `words.txt` synset → words table, a declared source) are in the manifest (`metadata.reader`).

Held-out validation: ImageNet-21k has no official split. Each synset with n images holds out the
min(`val_per_class`, n // 2) images whose file names have the smallest SHA-256, so the choice depends only
on the file names: the same in every run, every release that keeps the names, and whatever the task split.
Both splits read each synset tar once, in one streaming pass that holds at most `val_per_class` images.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, EncodedImage, Features, Text
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.imagefix import ImageFixes
from dsreg.readers.tar_of_tars import iter_class_tar
from dsreg.sourcetree import SourceTree
from dsreg.vendorlines import vendor_lines

COLUMNS = ("image", "label", "wnid", "file_name", "height", "width")
_WNID_TAR = re.compile(r"(?:^|/)(n\d{8})\.tar$")
_SETS = ("train", "validation")


def _digest(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def held_out(names: list[str], per_class: int) -> set[str]:
    """The names a synset holds out: the min(`per_class`, n // 2) with the smallest SHA-256 of their UTF-8 bytes."""
    return set(sorted(names, key=_digest)[: min(per_class, len(names) // 2)])


def split_stream(items: Iterator[tuple[str, bytes]], per_class: int) -> Iterator[tuple[bool, str, bytes]]:
    """(held out?, name, bytes) for a synset's images in one pass, holding at most `per_class` images in memory.

    A max-heap keeps the smallest hashes seen so far; an image pushed out of it (or never in it) is train data
    and is yielded at once. At the end the heap's min(`per_class`, n // 2) smallest are the held-out images
    (yielded in storage order, after the rest of the heap, which goes back to train): `held_out` exactly.
    """
    heap: list[tuple[bytes, int, str, bytes]] = []  # (inverted digest, position, name, bytes)
    count = 0
    for count, (name, data) in enumerate(items, 1):
        entry = (bytes(255 - b for b in _digest(name)), count, name, data)
        if per_class <= 0:
            yield False, name, data
        elif len(heap) < per_class:
            heapq.heappush(heap, entry)
        else:
            _, _, out_name, out_data = heapq.heappushpop(heap, entry)
            yield False, out_name, out_data
    ranked = sorted(heap, reverse=True)  # smallest digest first
    keep = min(per_class, count // 2)
    for _, _, name, data in sorted(ranked[keep:], key=lambda e: e[1]):
        yield False, name, data
    for _, _, name, data in sorted(ranked[:keep], key=lambda e: e[1]):
        yield True, name, data


def _synset_tars(tree: SourceTree) -> dict[str, str]:
    """WNID → inner tar member name, for every `<wnid>.tar` of the archive (each WNID once)."""
    found: dict[str, str] = {}
    for name in tree.names():
        match = _WNID_TAR.search(name)
        if match and match.group(1) in found:
            raise DsregError(
                f"the archive holds two tars of synset {match.group(1)}: {found[match.group(1)]!r} and {name!r}",
                path=tree.path,
                fix="the archive is not the vendor's: use the complete vendor file",
            )
        if match:
            found[match.group(1)] = name
    return dict(sorted(found.items()))


def _words(tree: SourceTree) -> dict[str, str]:
    """The `words.txt` table: `<wnid>\\t<words>` per line."""
    member = tree.find("words.txt")
    out = {}
    for line in vendor_lines(tree.read_bytes(member).decode("utf-8")):
        wnid, _, words = line.partition("\t")
        if wnid.strip():
            out[wnid.strip()] = words.strip()
    return out


class ImageNet21k(Reader):
    """ImageNet-21k (fall11, winter21): a tar of per-synset tars, with a hash-chosen held-out validation split."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("synsets", "int", "how many synset tars the release holds (checked)", required=True),
        Arg("val_per_class", "int", "images held out per synset, at most half of it", default=10),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "set",
            "str",
            "train (all but the held-out images) or validation (the held-out ones)",
            required=True,
            choices=_SETS,
        ),
        Arg("synsets_per_task", "int", "synset tars per task", default=100),
    )

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        if tuple(sorted(features.names())) != tuple(sorted(COLUMNS)):
            raise DsregError(
                f"the imagenet21k reader fills the columns {list(COLUMNS)}, but the features are {features.names()}",
                fix=f"declare exactly the features {list(COLUMNS)} in the recipe",
            )
        if not isinstance(features["image"], EncodedImage) or not isinstance(features["wnid"], Text):
            raise DsregError("features.image must be an encoded_image and features.wnid text")
        if not isinstance(features["label"], ClassLabel) or features["label"].names:
            raise DsregError(
                "features.label must be a class_label without names (the archive's sorted WNIDs are the classes)",
                fix="declare label as {type: class_label}; the WNIDs and words go to the manifest",
            )
        self._fixes = ImageFixes()

    def _archive(self, sources: Mapping[str, SourceTree]) -> tuple[SourceTree, dict[str, str]]:
        if "archive" not in sources:
            raise DsregError("the imagenet21k reader reads the source named 'archive'", fix="name the tar 'archive'")
        tree = sources["archive"]
        tars = _synset_tars(tree)
        if len(tars) != self.args["synsets"]:
            raise DsregError(
                f"the archive holds {len(tars)} synset tars, not the {self.args['synsets']} of this release",
                path=tree.path,
                fix="the archive is incomplete or another release: use the complete vendor file",
            )
        return tree, tars

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """Groups of `synsets_per_task` WNIDs, named by their first WNID and size."""
        _, tars = self._archive(sources)
        size = int(split_args["synsets_per_task"])
        if size < 1:
            raise DsregError(f"splits.{split}.args.synsets_per_task is {size}", fix="use a positive number")
        wnids = list(tars)
        return [f"{wnids[i]}+{len(wnids[i : i + size])}" for i in range(0, len(wnids), size)]

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree, tars = self._archive(sources)
        wnids = list(tars)
        first, _, count = task.partition("+")
        start = wnids.index(first)
        validation = split_args["set"] == "validation"
        for label, wnid in enumerate(wnids[start : start + int(count)], start):
            member = tars[wnid]
            for held, name, data in split_stream(iter_class_tar(tree, member, wnid), int(self.args["val_per_class"])):
                if held != validation:
                    continue
                image = self._fixes.columns(data, f"{tree.location(member)}::{name}", name)
                yield {**image, "label": label, "wnid": wnid, "file_name": name}

    def notes(self) -> list[dict[str, Any]]:
        """The images this instance re-encoded (CMYK, PNG...), in reading order."""
        return self._fixes.records()

    def describe(self, sources: Mapping[str, SourceTree]) -> dict[str, Any]:
        """The archive's sorted WNIDs (label order) and their words from `words.txt`, which must name them all."""
        tree, tars = self._archive(sources)
        if "words" not in sources:
            return {"label_wnids": list(tars), "label_words": [""] * len(tars)}
        words = _words(sources["words"])
        missing = [w for w in tars if w not in words]
        if missing:
            raise DsregError(
                f"the synset table {sources['words'].location(sources['words'].find('words.txt'))} has no words "
                f"for {len(missing)} synsets of the archive: {', '.join(missing[:5])}",
                path=sources["words"].path,
                fix=f"use the words.txt of the release of {tree.path.name} (its table lists every synset)",
            )
        return {"label_wnids": list(tars), "label_words": [words[w] for w in tars]}
