"""The ILSVRC2012 class lists and validation labels: devkit `meta.mat` + ground truth, or Kaggle's text files.

Class index convention (torchvision, Kaggle, TFDS): the 1000 leaf WNIDs sorted → 0..999. The devkit
numbers classes by ILSVRC2012_ID (1..1000, *not* in WNID order) and its ground truth lists one ID per
validation image; mapping those IDs straight to indices is the classic off-by-mapping bug, so every
label goes ID → WNID → sorted index here.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from dsreg.errors import DsregError
from dsreg.vendorlines import vendor_lines

CLASSES = 1000
_WNID = re.compile(r"^n\d{8}$")
_REDOWNLOAD = "the file is damaged or not the vendor's: copy or download it again"


@dataclass(frozen=True)
class Classes:
    """The 1000 classes sorted by WNID, with their words; `wnid_of_id` maps ILSVRC2012_ID (1..1000) → WNID.
    Read-only throughout (a reader shares one across its tasks)."""

    wnids: tuple[str, ...]
    words: tuple[str, ...]
    wnid_of_id: Mapping[int, str]

    def index(self, wnid: str) -> int:
        return self.wnids.index(wnid)

    def index_map(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.wnids)}


def _bad(where: str, problem: str) -> DsregError:
    return DsregError(problem, path=where, fix=_REDOWNLOAD)


def _scipy_loadmat() -> Any:
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DsregError(
            "reading the ILSVRC devkit's meta.mat needs scipy, which is not installed",
            fix="pip install 'dsreg[imagenet]'",
        ) from None
    return loadmat


def parse_meta(data: bytes, where: str) -> Classes:
    """The leaf classes of a devkit `data/meta.mat` (struct array `synsets`, leaves have num_children == 0)."""
    try:
        mat = _scipy_loadmat()(io.BytesIO(data), squeeze_me=True)
        synsets = mat["synsets"]
        rows = [(int(s["ILSVRC2012_ID"]), str(s["WNID"]), str(s["words"]), int(s["num_children"])) for s in synsets]
    except DsregError:
        raise
    except Exception as err:
        raise _bad(where, f"cannot read the synsets of meta.mat: {type(err).__name__}: {err}") from None
    leaves = sorted((i, w, words) for i, w, words, children in rows if children == 0)
    ids = [i for i, _, _ in leaves]
    if ids != list(range(1, CLASSES + 1)):
        raise _bad(where, f"meta.mat has {len(leaves)} leaf synsets, not the {CLASSES} with ILSVRC2012_ID 1..{CLASSES}")
    return _classes([(w, words) for _, w, words in leaves], where, {i: w for i, w, _ in leaves})


def _classes(pairs: list[tuple[str, str]], where: str, wnid_of_id: dict[int, str]) -> Classes:
    bad = [w for w, _ in pairs if not _WNID.match(w)]
    if bad or len({w for w, _ in pairs}) != len(pairs):
        raise _bad(where, f"the class list has malformed or repeated WNIDs: {bad[:3] or 'repeats'}")
    ordered = sorted(pairs)
    return Classes(tuple(w for w, _ in ordered), tuple(words for _, words in ordered), MappingProxyType(wnid_of_id))


def parse_ground_truth(text: str, where: str) -> list[int]:
    """`ILSVRC2012_validation_ground_truth.txt`: one ILSVRC2012_ID per line, for val images 1, 2, 3, ..."""
    ids: list[int] = []
    for number, line in enumerate(vendor_lines(text), 1):
        value = line.strip()
        if not value.isdigit() or not 1 <= int(value) <= CLASSES:
            raise _bad(where, f"line {number} is {line!r}, not an ILSVRC2012_ID in 1..{CLASSES}")
        ids.append(int(value))
    return ids


def parse_synset_mapping(text: str, where: str) -> Classes:
    """Kaggle's `LOC_synset_mapping.txt`: `<wnid> <words>` per line, already in sorted-WNID (class index) order."""
    pairs = []
    for number, line in enumerate(vendor_lines(text), 1):
        if not line.strip():
            continue
        wnid, _, words = line.strip().partition(" ")
        if not _WNID.match(wnid):
            raise _bad(where, f"line {number} does not start with a WNID: {line!r}")
        pairs.append((wnid, words.strip()))
    if len(pairs) != CLASSES:
        raise _bad(where, f"it lists {len(pairs)} classes, not {CLASSES}")
    if [w for w, _ in pairs] != sorted(w for w, _ in pairs):
        raise _bad(where, "its WNIDs are not in sorted order, so line order is not the class index")
    return _classes(pairs, where, {})


def parse_val_solution(text: str, where: str) -> dict[str, str]:
    """Kaggle's `LOC_val_solution.csv` (`ImageId,PredictionString`): image id → its class, the WNID every one of
    its boxes (`<wnid> x_min y_min x_max y_max`, repeated) names. An image listed twice or whose boxes name
    different classes has no single label: an error, never the first or last one silently."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header != ["ImageId", "PredictionString"]:
        raise _bad(where, f"the header is {header}, not ['ImageId', 'PredictionString']")
    labels: dict[str, str] = {}
    for number, row in enumerate(rows, 2):
        tokens = row[1].split() if len(row) == 2 else []
        if not tokens or len(tokens) % 5 or not all(_WNID.match(t) for t in tokens[::5]):
            raise _bad(where, f"line {number} is not an image id and boxes of 5 tokens, each led by a WNID: {row}")
        classes = set(tokens[::5])
        if len(classes) > 1:
            raise _bad(where, f"line {number}: the boxes of {row[0]} name different classes {sorted(classes)}")
        if row[0] in labels:
            raise _bad(where, f"line {number} lists {row[0]} again (it has one line per image)")
        labels[row[0]] = tokens[0]
    return labels
