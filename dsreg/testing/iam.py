"""A fake IAM Handwriting Database in the distributed layout: `lines.tgz`, `ascii.tgz` and both split files.

`lines.tgz` holds `a01/a01-000u/a01-000u-00.png`; `ascii.tgz` holds `lines.txt` (its `#` header, `ok`/`err`
lines, words joined by `|`, quotes written `&quot;`) and `forms.txt`; `splits.zip` the Aachen split as form
ids (`train.uttlist` …) and `largeWriterIndependentTextLineRecognitionTask.zip` IAM's own as line ids
(`trainset.txt` …). `make_iam` returns config → split → the rows the reader must produce, in list order.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from dsreg.testing.icdar2015 import image_bytes

HEADER = """#--- lines.txt ---------------------------------------------------------------#
#
# iam database line information
#
# format: a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell|from
#
#     a01-000u-00  -> line id for form a01-000u
#     ok              -> result of word segmentation
#                            ok: line is correctly segmented
#                            err: segmentation of line has one or more errors
#
"""
# form id, writer id, lines as (segmentation, words as IAM writes them, the text the reader must give)
FORMS: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "a01-000u",
        "000",
        (
            ("ok", "A|MOVE|to|stop|Mr.|Gaitskell|from", "A MOVE to stop Mr. Gaitskell from"),
            ("err", "nominating|any|more|Labour|life|Peers", "nominating any more Labour life Peers"),
        ),
    ),
    (
        "a01-003",
        "001",
        (
            ("ok", "&quot;|I|agree|&quot;|,|said|Mr.|Smith|&amp;|Co", '" I agree " , said Mr. Smith & Co'),
            ("ok", "M|Ps|tomorrow|.", "M Ps tomorrow ."),
            ("ok", "Straße|#1", "Straße #1"),
        ),
    ),
    ("b04-011", "002", (("ok", "in|1958", "in 1958"), ("err", "it's|a|#|mark", "it's a # mark"))),
    ("c03-096f", "003", (("ok", "The|end", "The end"),)),
)
AACHEN = {"train": ("a01-000u", "a01-003"), "validation": ("b04-011",), "test": ("c03-096f",)}
OFFICIAL = {
    "train": ("a01-003-02", "a01-000u-00", "a01-000u-01"),
    "validation1": ("b04-011-00",),
    "validation2": ("b04-011-01",),
    "test": ("c03-096f-00", "a01-003-00"),
}
OFFICIAL_FILES = {
    "train": "trainset.txt",
    "validation1": "validationset1.txt",
    "validation2": "validationset2.txt",
    "test": "testset.txt",
}


def _tgz(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_000_000_000
            tar.addfile(info, io.BytesIO(data))


def _zip(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2002, 1, 1, 0, 0, 0)), data)


def make_iam(dest: str | os.PathLike[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Write the four IAM files under `dest`; return config (aachen, official) → split → expected rows."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    images: dict[str, bytes] = {}
    entries, forms = [], []
    for number, (form, writer, lines) in enumerate(FORMS):
        forms.append(f"{form} {writer} 2 prt 7 5 52 36")
        for index, (seg, words, text) in enumerate(lines):
            line_id = f"{form}-{index:02d}"
            image = image_bytes(number * 10 + index, "PNG", (40 + index, 9))
            images[f"{form.split('-')[0]}/{form}/{line_id}.png"] = image
            entries.append(f"{line_id} {seg} 154 19 408 746 1661 89 {words}")
            rows[line_id] = {
                "image": image,
                "text": text,
                "line_id": line_id,
                "form_id": form,
                "writer_id": writer,
                "segmentation_ok": seg == "ok",
            }
    _tgz(root / "lines.tgz", images)
    forms_txt = "#--- forms.txt ---#\n" + "".join(f + "\n" for f in forms)
    _tgz(
        root / "ascii.tgz",
        {"lines.txt": (HEADER + "".join(e + "\n" for e in entries)).encode(), "forms.txt": forms_txt.encode()},
    )
    _zip(
        root / "splits.zip",
        {f"{split}.uttlist": "".join(f + "\n" for f in ids).encode() for split, ids in AACHEN.items()},
    )
    _zip(
        root / "largeWriterIndependentTextLineRecognitionTask.zip",
        {OFFICIAL_FILES[split]: "".join(i + "\n" for i in ids).encode() for split, ids in OFFICIAL.items()},
    )
    aachen = {
        split: [rows[line] for form in ids for line in sorted(rows) if line.rsplit("-", 1)[0] == form]
        for split, ids in AACHEN.items()
    }
    official = {split: [rows[line] for line in ids] for split, ids in OFFICIAL.items()}
    return {"aachen": aachen, "official": official}
