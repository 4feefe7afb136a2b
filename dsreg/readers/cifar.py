"""CIFAR-10/100 readers for the vendor's python-pickle and binary distributions.

One task per batch file; each yields one record batch built with whole-array numpy operations: the
planar N×3072 rows become N×32×32×3 HWC images by one reshape and transpose. Files are found by name
suffix in the single source, so the vendor tar.gz, its unpacked directory and a copy without the top
folder all work. The pickles are loaded with `safe_loads`, never `pickle.load`.

`cifar_python` reads `cifar-10-python.tar.gz` / `cifar-100-python.tar.gz`, `cifar_binary` reads
`cifar-10-binary.tar.gz` / `cifar-100-binary.tar.gz`; their arguments are declared on `_CifarReader`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, Features, Tensor
from dsreg.readers import Arg, Output, Reader
from dsreg.safe_pickle import safe_loads
from dsreg.sourcetree import SourceTree
from dsreg.vendorlines import vendor_lines

_SIDE = 32
_PIXELS = _SIDE * _SIDE * 3
_REDOWNLOAD = "delete the source and download it again from the vendor (or a verified mirror)"


@dataclass(frozen=True)
class _Variant:
    """What differs between CIFAR-10 and CIFAR-100, keyed by the label column names of the features."""

    name: str
    classes: Mapping[str, int]  # label column → number of classes
    pickle_keys: Mapping[str, str]  # label column → key of a python batch
    meta_file: str  # python meta pickle
    meta_keys: Mapping[str, str]  # label column → key of the label names in the meta pickle
    names_files: Mapping[str, str]  # label column → binary distribution's names file
    record_labels: tuple[str, ...]  # label columns in the order of a binary record's label bytes


_VARIANTS = {
    "cifar10": _Variant(
        name="cifar10",
        classes={"label": 10},
        pickle_keys={"label": "labels"},
        meta_file="batches.meta",
        meta_keys={"label": "label_names"},
        names_files={"label": "batches.meta.txt"},
        record_labels=("label",),
    ),
    "cifar100": _Variant(
        name="cifar100",
        classes={"label": 100, "coarse_label": 20},
        pickle_keys={"label": "fine_labels", "coarse_label": "coarse_labels"},
        meta_file="meta",
        meta_keys={"label": "fine_label_names", "coarse_label": "coarse_label_names"},
        names_files={"label": "fine_label_names.txt", "coarse_label": "coarse_label_names.txt"},
        record_labels=("coarse_label", "label"),  # the vendor's order: coarse byte, then fine byte
    ),
}


def _corrupt(where: str, problem: str) -> DsregError:
    return DsregError(f"{problem}: the file is truncated or corrupt", path=where, fix=_REDOWNLOAD)


def _check_features(features: Features, variant: _Variant) -> dict[str, ClassLabel]:
    """The recipe's features must be exactly the columns this reader fills; returns the label features."""
    expected = {"image", *variant.classes}
    if set(features.names()) != expected:
        raise DsregError(
            f"the {variant.name} reader fills the columns {sorted(expected)}, but the features are {features.names()}",
            fix=f"declare exactly the features {sorted(expected)} in the recipe",
        )
    image = features["image"]
    if not isinstance(image, Tensor) or image.shape != (_SIDE, _SIDE, 3) or image.dtype != "uint8":
        raise DsregError(
            f"features.image is {image.to_json()}, but CIFAR images are 32×32×3 uint8",
            fix="declare image as {type: image, shape: [32, 32, 3], dtype: uint8}",
        )
    labels: dict[str, ClassLabel] = {}
    for column in variant.classes:
        feature = features[column]
        if not isinstance(feature, ClassLabel):
            raise DsregError(f"features.{column} must be a class_label", fix="declare it with type class_label")
        labels[column] = feature
    return labels


def _single_tree(sources: Mapping[str, SourceTree]) -> SourceTree:
    if len(sources) != 1:
        raise DsregError(
            f"the CIFAR readers read exactly one source, the recipe gives {len(sources)}: {sorted(sources)}",
            fix="list one source: the vendor archive (or its unpacked directory)",
        )
    return next(iter(sources.values()))


def _split_files(split: str, split_args: Mapping[str, Any]) -> list[str]:
    files = split_args.get("files")
    if (
        not isinstance(files, Sequence)
        or isinstance(files, str)
        or not files
        or not all(isinstance(f, str) and f for f in files)
    ):
        raise DsregError(
            f"splits.{split}.args.files must be a non-empty list of batch file names, got {files!r}",
            fix="list the split's files, e.g. [data_batch_1, data_batch_2] or [test_batch.bin]",
        )
    if len(set(files)) != len(files):
        raise DsregError(f"splits.{split}.args.files lists a file twice: {list(files)}", fix="list each file once")
    return list(files)


def _text(value: Any) -> Any:
    """Python 2 strings load as bytes: decode them, leave everything else as it is."""
    return value.decode("latin1") if isinstance(value, bytes) else value


def _labels(values: Any, rows: int, classes: int, where: str, key: str) -> np.ndarray:
    """A list or array of labels as int64, checked for length and range."""
    labels = np.asarray(values)
    if labels.ndim != 1 or len(labels) != rows or (rows and labels.dtype.kind not in "iu"):
        raise _corrupt(where, f"{key!r} should be {rows} integer labels, got {labels.dtype} of shape {labels.shape}")
    if rows and (labels.min() < 0 or labels.max() >= classes):
        raise _corrupt(where, f"{key!r} has labels outside 0..{classes - 1} (from {labels.min()} to {labels.max()})")
    return labels.astype(np.int64, copy=False)


def _compare_names(column: str, recipe: Sequence[str], archive: Sequence[str], where: str) -> None:
    if tuple(recipe) == tuple(archive):
        return
    if len(recipe) != len(archive):
        detail = f"the recipe has {len(recipe)} names, the archive {len(archive)}"
    else:
        i = next(i for i, (a, b) in enumerate(zip(recipe, archive, strict=True)) if a != b)
        detail = f"name {i} is {recipe[i]!r} in the recipe but {archive[i]!r} in the archive"
    raise DsregError(
        f"the recipe's features.{column} names differ from the archive's label names: {detail}",
        path=where,
        fix=f"list in features.{column}.names exactly the archive's names, in its order",
    )


class _CifarReader(Reader):
    """What both distributions share: arguments, features, tasks and building the record batch."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("variant", "str", "which corpus the archive holds", required=True, choices=tuple(_VARIANTS)),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "files",
            "list[str]",
            "the split's batch files, each once (data_batch_1 … / test_batch / train / test, or their .bin)",
            required=True,
        ),
    )

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        self.variant = _VARIANTS[self.args["variant"]]
        self.label_features = _check_features(features, self.variant)

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """The split's batch files; checks first that they all exist and that the label names match."""
        tree = _single_tree(sources)
        files = _split_files(split, split_args)
        for name in files:
            tree.find(name)
        for column, (names, where) in self._archive_label_names(tree).items():
            _compare_names(column, self.label_features[column].names, names, where)
        return files

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree = _single_tree(sources)
        member = tree.find(task)
        pixels, labels = self._parse(tree.read_bytes(member), tree.location(member))
        yield self._record_batch(pixels, labels)

    def _record_batch(self, pixels: np.ndarray, labels: Mapping[str, np.ndarray]) -> pa.RecordBatch:
        columns = {"image": pixels.reshape(-1, 3, _SIDE, _SIDE).transpose(0, 2, 3, 1), **labels}
        arrays = [feature.to_arrow(columns[name]) for name, feature in self.features.items()]
        return pa.RecordBatch.from_arrays(arrays, schema=self.features.arrow_schema())

    @abstractmethod
    def _archive_label_names(self, tree: SourceTree) -> dict[str, tuple[list[str], str]]:
        """Label column → (the class names the archive itself lists, the file that lists them)."""

    @abstractmethod
    def _parse(self, data: bytes | bytearray, where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One batch file → (N×3072 planar uint8 pixels, label column → int64 labels)."""


def _load_dict(data: bytes | bytearray, where: str) -> dict[str, Any]:
    """A pickled dict with bytes (vendor) or str (peer fixtures) keys, keyed by str."""
    loaded = safe_loads(data, path=where)
    if not isinstance(loaded, dict):
        raise _corrupt(where, f"expected a pickled dict, found {type(loaded).__name__}")
    return {_text(k): v for k, v in loaded.items()}


def _require(batch: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in batch:
        raise _corrupt(where, f"no {key!r} entry (the entries are {sorted(batch)})")
    return batch[key]


class CifarPython(_CifarReader):
    """CIFAR-10/100 python-pickle archives: pickled dicts of planar pixels and labels."""

    def _archive_label_names(self, tree: SourceTree) -> dict[str, tuple[list[str], str]]:
        member = tree.find(self.variant.meta_file)
        where = tree.location(member)
        meta = _load_dict(tree.read_bytes(member), where)
        out = {}
        for column, key in self.variant.meta_keys.items():
            names = _require(meta, key, where)
            if not isinstance(names, list):
                raise _corrupt(where, f"{key!r} is not a list of names")
            out[column] = ([str(_text(n)) for n in names], where)
        return out

    def _parse(self, data: bytes | bytearray, where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        batch = _load_dict(data, where)
        pixels = _require(batch, "data", where)
        if (
            not isinstance(pixels, np.ndarray)
            or pixels.dtype != np.uint8
            or pixels.ndim != 2
            or pixels.shape[1] != _PIXELS
        ):
            found = (
                f"{pixels.dtype} array of shape {pixels.shape}"
                if isinstance(pixels, np.ndarray)
                else type(pixels).__name__
            )
            raise _corrupt(where, f"'data' should be an N×{_PIXELS} uint8 array, found {found}")
        labels = {
            column: _labels(_require(batch, key, where), len(pixels), self.variant.classes[column], where, key)
            for column, key in self.variant.pickle_keys.items()
        }
        return pixels, labels


class CifarBinary(_CifarReader):
    """CIFAR-10/100 binary archives: fixed-size records of label bytes, then planar pixels."""

    def _archive_label_names(self, tree: SourceTree) -> dict[str, tuple[list[str], str]]:
        out = {}
        for column, file in self.variant.names_files.items():
            member = tree.find(file)
            text = tree.read_bytes(member).decode("utf-8", "replace")
            out[column] = ([line.strip() for line in vendor_lines(text) if line.strip()], tree.location(member))
        return out

    def _parse(self, data: bytes | bytearray, where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        order = self.variant.record_labels
        size = len(order) + _PIXELS
        if not data or len(data) % size:
            raise _corrupt(where, f"{len(data)} bytes is not a whole number of {size}-byte CIFAR records")
        records = np.frombuffer(data, dtype=np.uint8).reshape(-1, size)
        labels = {
            column: _labels(records[:, i], len(records), self.variant.classes[column], where, f"{column} byte")
            for i, column in enumerate(order)
        }
        return records[:, len(order) :], labels
