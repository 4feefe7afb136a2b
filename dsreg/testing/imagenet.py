"""Fake ILSVRC2012 in both raw layouts (official tars + devkit, Kaggle tree), deterministic and small.

Images are real JPEGs (Pillow), so decoders and the bad-file repair see what they see in the vendor
data: among the train images are a grayscale JPEG (kept as is), a CMYK JPEG and a PNG named `.JPEG`
(both re-encoded), named like two of the real bad files. The devkit `meta.mat` is written by
`scipy.io.savemat` with the vendor's struct fields, the 1000 leaf classes numbered by ILSVRC2012_ID in
a shuffled order (never the sorted-WNID order, as in the real devkit), plus a few inner synsets.
`make_official` and `make_kaggle` write the same images and labels, described by the returned
`FakeImageNet`.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

_MTIME = 1335000000  # a fixed member time (April 2012), so archives are byte-identical run to run
CMYK_NAME = "n01739381_1309.JPEG"  # the real names of one CMYK train image and of the PNG named .JPEG
PNG_NAME = "n02105855_2933.JPEG"
GRAY_NAME = "n01440764_2.JPEG"


def recipe_wnids() -> tuple[str, ...]:
    """The 1000 sorted WNIDs of the shipped imagenet2012 recipe (the class index order)."""
    text = resources.files("dsreg.recipes").joinpath("imagenet2012.yaml").read_text(encoding="utf-8")
    return tuple(yaml.safe_load(text)["features"]["label"]["names"])


def unverified_recipe(dest: Path) -> Path:
    """The shipped imagenet2012 recipe written to `dest` without the vendor md5s, so fakes can be prepared."""
    text = resources.files("dsreg.recipes").joinpath("imagenet2012.yaml").read_text(encoding="utf-8")
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "imagenet2012.yaml"
    path.write_text("".join(line for line in text.splitlines(True) if not line.strip().startswith("md5:")))
    return path


def checked_recipe(dest: Path, md5s: Mapping[str, str]) -> Path:
    """The shipped imagenet2012 recipe written to `dest` with the md5 of each file named in `md5s` (vendor file
    name → md5) in place of the vendor's, so a generated copy is verified the way the real files are; the
    other sources keep the vendor's md5 (which a generated file never matches)."""
    text = resources.files("dsreg.recipes").joinpath("imagenet2012.yaml").read_text(encoding="utf-8")
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "imagenet2012.yaml"
    lines, current = [], ""
    for line in text.splitlines(True):
        key, _, value = line.strip().partition(":")
        if key == "filename":
            current = value.strip()
        elif key == "md5" and current in md5s:
            line = f"{line[: line.index('md5:')]}md5: {md5s[current]}\n"
        lines.append(line)
    path.write_text("".join(lines))
    return path


@dataclass
class FakeImageNet:
    """What a fake holds: file name → WNID for train and validation, test names, and every image's bytes."""

    wnids: tuple[str, ...]
    words: dict[str, str]
    ilsvrc_id: dict[str, int]  # WNID → the devkit's ILSVRC2012_ID (1..1000)
    train: dict[str, str] = field(default_factory=dict)
    val: dict[str, str] = field(default_factory=dict)
    test: list[str] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    reencoded: tuple[str, ...] = (CMYK_NAME, PNG_NAME)

    def label(self, file_name: str) -> int:
        """The class index a row must carry (-1 for test)."""
        wnid = self.train.get(file_name) or self.val.get(file_name)
        return -1 if wnid is None else self.wnids.index(wnid)


def _jpeg(rng: np.random.Generator, mode: str = "RGB", size: tuple[int, int] = (40, 30), fmt: str = "JPEG") -> bytes:
    from PIL import Image

    channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def fake_imagenet(
    train_classes: int = 3, per_class: int = 3, val: int = 6, test: int = 3, seed: int = 0
) -> FakeImageNet:
    """The content of a fake: `train_classes` (≥ 1) classes, the first n01440764, with `per_class` images
    each, plus the grayscale, CMYK and PNG images in their own classes; `val` and `test` images."""
    wnids = recipe_wnids()
    rng = np.random.default_rng(seed)
    shuffled = [str(w) for w in rng.permutation(wnids)]
    fake = FakeImageNet(
        wnids=wnids,
        words={w: f"fake class {i}, {w}" for i, w in enumerate(wnids)},
        ilsvrc_id={w: i for i, w in enumerate(shuffled, 1)},
    )
    picked = sorted({wnids[0], *(str(w) for w in rng.choice(wnids[1:], train_classes - 1, replace=False))})
    for wnid in picked:
        for n in range(1, per_class + 1):
            name = f"{wnid}_{10000 + n}.JPEG"
            fake.train[name], fake.images[name] = wnid, _jpeg(rng, size=(int(rng.integers(30, 60)), 30))
    for name, blob in (
        (GRAY_NAME, _jpeg(rng, "L")),
        (CMYK_NAME, _jpeg(rng, "CMYK")),
        (PNG_NAME, _jpeg(rng, "RGB", fmt="PNG")),
    ):
        fake.train[name], fake.images[name] = name[:9], blob
    for n in range(1, val + 1):
        name = f"ILSVRC2012_val_{n:08d}.JPEG"
        fake.val[name], fake.images[name] = str(rng.choice(wnids)), _jpeg(rng)
    for n in range(1, test + 1):
        name = f"ILSVRC2012_test_{n:08d}.JPEG"
        fake.test.append(name)
        fake.images[name] = _jpeg(rng)
    return fake


# ----------------------------------------------------------------------------------------------- writing


def tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    """A plain tar of `members` (name, bytes) with fixed metadata, as GNU tar writes it (end blocks included)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), _MTIME, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def meta_mat(fake: FakeImageNet) -> bytes:
    """A devkit `meta.mat`: the vendor's `synsets` struct array, leaves first by ILSVRC2012_ID, then inner nodes."""
    from scipy.io import savemat

    fields = [
        "ILSVRC2012_ID",
        "WNID",
        "words",
        "gloss",
        "num_children",
        "children",
        "wordnet_height",
        "num_train_images",
    ]
    by_id = sorted(fake.ilsvrc_id.items(), key=lambda item: item[1])
    inner = [
        (1001, "n00001740", "entity", [1002, 1003]),
        (1002, "n00002137", "abstraction", [1]),
        (1003, "n00002684", "object", [2]),
    ]
    synsets = np.zeros((len(by_id) + len(inner),), dtype=[(f, object) for f in fields])
    for row, (wnid, ilsvrc_id) in enumerate(by_id):
        synsets[row] = (ilsvrc_id, wnid, fake.words[wnid], f"gloss of {wnid}", 0, np.zeros((0,), np.uint8), 0, 1300)
    for row, (ilsvrc_id, wnid, words, ids) in enumerate(inner, len(by_id)):
        synsets[row] = (ilsvrc_id, wnid, words, "", len(ids), np.array(ids, np.uint16), 3, 0)
    out = io.BytesIO()
    savemat(out, {"synsets": synsets})
    return out.getvalue()


def _gz(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write(data)
    return out.getvalue()


def official_files(fake: FakeImageNet, dest: Path, *, test: bool = True) -> dict[str, Path]:
    """Write the vendor's files into `dest`; returns them by source key (train, val, devkit, test)."""
    dest.mkdir(parents=True, exist_ok=True)
    by_class: dict[str, list[str]] = {}
    for name, wnid in fake.train.items():
        by_class.setdefault(wnid, []).append(name)
    inner = [
        (f"{w}.tar", tar_bytes([(n, fake.images[n]) for n in sorted(names)])) for w, names in sorted(by_class.items())
    ]
    gt = "".join(f"{fake.ilsvrc_id[fake.val[name]]}\n" for name in sorted(fake.val))
    devkit = [
        ("ILSVRC2012_devkit_t12/COPYING", b"fake devkit generated by dsreg.testing\n"),
        ("ILSVRC2012_devkit_t12/data/meta.mat", meta_mat(fake)),
        ("ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt", gt.encode()),
    ]
    files = {
        "train": ("ILSVRC2012_img_train.tar", tar_bytes(inner)),
        "val": ("ILSVRC2012_img_val.tar", tar_bytes([(n, fake.images[n]) for n in sorted(fake.val)])),
        "devkit": ("ILSVRC2012_devkit_t12.tar.gz", _gz(tar_bytes(devkit))),
    }
    if test:
        files["test"] = (
            "ILSVRC2012_img_test_v10102019.tar",
            tar_bytes([(f"test/{n}", fake.images[n]) for n in fake.test]),
        )
    out = {}
    for key, (name, data) in files.items():
        (dest / name).write_bytes(data)
        out[key] = dest / name
    return out


def make_official(dest: Path, fake: FakeImageNet | None = None, *, test: bool = True) -> Path:
    """The official files of `fake` (default `fake_imagenet()`) in the directory `dest`, returned."""
    official_files(fake or fake_imagenet(), dest, test=test)
    return dest


def make_kaggle(dest: Path, fake: FakeImageNet | None = None) -> Path:
    """The Kaggle tree of `fake` under `dest` (which is returned): CLS-LOC folders, mapping and CSV."""
    fake = fake or fake_imagenet()
    data = dest / "ILSVRC" / "Data" / "CLS-LOC"
    for name, wnid in fake.train.items():
        (data / "train" / wnid).mkdir(parents=True, exist_ok=True)
        (data / "train" / wnid / name).write_bytes(fake.images[name])
    for part, names in (("val", list(fake.val)), ("test", fake.test)):
        (data / part).mkdir(parents=True, exist_ok=True)
        for name in names:
            (data / part / name).write_bytes(fake.images[name])
    (dest / "LOC_synset_mapping.txt").write_text("".join(f"{w} {fake.words[w]}\n" for w in fake.wnids))
    rows = "".join(f"{n[:-5]},{w} 1 2 30 20 {w} 3 4 10 10 \n" for n, w in sorted(fake.val.items()))
    (dest / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + rows)
    return dest


def rows_by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Prepared rows keyed by file name (each name once)."""
    out = {row["file_name"]: row for row in rows}
    if len(out) != len(rows):
        raise ValueError("a file name repeats among the rows")
    return out
