"""Fake ICDAR 2015 Challenge 4 sources in the vendor's exact layouts and ground-truth quirks.

`make_words` writes the Task 4.3 files: `ch4_training_word_images_gt.zip` (`word_N.png` + `gt.txt`),
`ch4_test_word_images_gt.zip` and `Challenge4_Test_Task3_GT.txt`; `make_localization` the Task 4.1 ones:
`ch4_training_images.zip`, `ch4_training_localization_transcription_gt.zip`, `ch4_test_images.zip` and
`Challenge4_Test_Task1_GT.zip`. Ground truth has a UTF-8 BOM and CRLF line ends; labels hold commas,
backslash-escaped quotes, a lone backslash, non-ASCII letters and a Unicode line separator; localisation
lines hold `###` don't-care regions and transcriptions with commas. With `unpacked=True` each zip is written
as the folder of the same name without `.zip`. Both return split → the rows the reader must produce.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

WORD_LABELS = (
    "Genaxis Theatre",
    "36,000,000",
    '"Hi"',
    "CAFÉ",
    "Straße",
    "C:\\",
    "a, b",
    " padded ",
    "line\u2028sep",
    "###",
    "x",
    "62-03",
)
TRAIN_ZIP, TEST_ZIP, TEST_GT = (
    "ch4_training_word_images_gt.zip",
    "ch4_test_word_images_gt.zip",
    ("Challenge4_Test_Task3_GT.txt"),
)
LOCALIZATION = {
    "train": ("ch4_training_images.zip", "ch4_training_localization_transcription_gt.zip"),
    "test": ("ch4_test_images.zip", "Challenge4_Test_Task1_GT.zip"),
}
_BOM = b"\xef\xbb\xbf"


def image_bytes(index: int, fmt: str, size: tuple[int, int] = (12, 8)) -> bytes:
    """A small image whose pixels depend on `index`, encoded as `fmt` (PNG or JPEG)."""
    from PIL import Image

    image = Image.new("RGB", size, ((index * 37) % 256, (index * 91) % 256, (index * 13) % 256))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def escaped(label: str) -> str:
    """A label as the vendor writes it in a ground-truth line: quoted, inner quotes backslash-escaped."""
    return '"' + label.replace('"', '\\"') + '"'


def gt_file(lines: list[str]) -> bytes:
    """A ground-truth file's bytes: BOM, then the lines with CRLF ends."""
    return _BOM + "".join(line + "\r\n" for line in lines).encode("utf-8")


def _write(dest: Path, archive: str, files: dict[str, bytes], unpacked: bool) -> None:
    """`files` as the zip `archive` under `dest`, or as its unpacked folder."""
    if unpacked:
        folder = dest / archive.removesuffix(".zip")
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return
    with zipfile.ZipFile(dest / archive, "w") as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2015, 1, 1, 0, 0, 0)), data)


def make_words(
    dest: str | os.PathLike[str], train: int = 12, test: int = 5, *, unpacked: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Write the three Task 4.3 sources under `dest`; return split → rows ({image, text, file_name})."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[dict[str, Any]]] = {}
    for split, count, offset in (("train", train, 0), ("test", test, 5)):
        rows: list[dict[str, Any]] = [
            {
                "image": image_bytes(i + 100 * (split == "test"), "PNG"),
                "text": WORD_LABELS[(i + offset) % len(WORD_LABELS)],
                "file_name": f"word_{i + 1}.png",
            }
            for i in range(count)
        ]
        lines = gt_file([f"{r['file_name']}, {escaped(r['text'])}" for r in rows])
        images = {r["file_name"]: r["image"] for r in rows}
        if split == "train":
            _write(root, TRAIN_ZIP, {**images, "gt.txt": lines}, unpacked)
        else:
            _write(root, TEST_ZIP, images, unpacked)
            (root / TEST_GT).write_bytes(lines)
        out[split] = rows
    return out


_REGIONS = (
    ((377, 117), (463, 117), (465, 130), (378, 130), "Genaxis Theatre"),
    ((493, 115), (519, 115), (519, 131), (493, 131), "[06]"),
    ((374, 155), (409, 155), (409, 170), (374, 170), "###"),
    ((-2, 10), (40, 8), (41, 30), (0, 31), "1,000,000"),
    ((5, 5), (9, 5), (9, 9), (5, 9), "Café"),
)


def make_localization(
    dest: str | os.PathLike[str], train: int = 11, test: int = 3, *, unpacked: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Write the four Task 4.1 sources under `dest`; return split → rows ({image, file_name, words}) by number."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[dict[str, Any]]] = {}
    for split, count in (("train", train), ("test", test)):
        images, gts, rows = {}, {}, []
        for n in range(1, count + 1):
            regions = [_REGIONS[(n + k) % len(_REGIONS)] for k in range(n % 4)]  # img_4, img_8: no words
            lines = [",".join(f"{x},{y}" for x, y in r[:4]) + "," + str(r[4]) for r in regions]
            images[f"img_{n}.jpg"] = image_bytes(n + 1000 * (split == "test"), "JPEG", (16, 12))
            gts[f"gt_img_{n}.txt"] = gt_file(lines)
            words = [
                {"points": [list(p) for p in r[:4]], "text": "" if r[4] == "###" else r[4], "dont_care": r[4] == "###"}
                for r in regions
            ]
            rows.append({"image": images[f"img_{n}.jpg"], "file_name": f"img_{n}.jpg", "words": words})
        image_zip, gt_zip = LOCALIZATION[split]
        _write(root, image_zip, images, unpacked)
        _write(root, gt_zip, gts, unpacked)
        out[split] = rows
    return out
