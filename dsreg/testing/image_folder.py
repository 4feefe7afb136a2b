"""A fake class-per-directory image tree, as `image_folder` reads it, deterministic from a seed.

`make_image_folder` writes `<split>/<class>/<n>.<ext>` with images of varying sizes in every format the
reader accepts (JPEG, PNG, BMP, WebP, some with upper-case extensions), plus a README that is not an
image, and returns the rows it wrote per split in the reader's order (class order, then file name).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = ("cat", "dog", "fox")
_FORMATS = (("JPEG", ".jpg"), ("PNG", ".png"), ("BMP", ".BMP"), ("WEBP", ".webp"), ("JPEG", ".JPEG"))


def encode_image(pixels: np.ndarray, fmt: str) -> bytes:
    """The bytes of an RGB image in `fmt` (a Pillow format name), identical from run to run."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return out.getvalue()


def make_image_folder(
    dest: str | os.PathLike[str],
    splits: dict[str, int] | None = None,
    classes: tuple[str, ...] = CLASSES,
    seed: int = 0,
) -> dict[str, list[dict[str, Any]]]:
    """Write `splits` (split → images per class) under `dest`; return split → rows in reader order.

    Each row is {path, label (class index in sorted order), image (the file's bytes), pixels, height, width}.
    """
    root = Path(dest)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict[str, Any]]] = {}
    for split, per_class in (splits or {"train": 4, "val": 2}).items():
        rows[split] = []
        for label, name in sorted(enumerate(classes), key=lambda c: c[1]):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                fmt, ext = _FORMATS[(i + label) % len(_FORMATS)]
                height, width = 5 + i + label, 7 + 2 * i
                pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
                data = encode_image(pixels, fmt)
                (folder / f"{i:04d}{ext}").write_bytes(data)
                path = f"{split}/{name}/{i:04d}{ext}"
                rows[split].append(
                    {
                        "path": path,
                        "label": sorted(classes).index(name),
                        "image": data,
                        "pixels": pixels,
                        "height": height,
                        "width": width,
                    }
                )
        rows[split].sort(key=lambda r: (r["label"], r["path"]))
        (root / split / "README.txt").write_text("not an image: the reader skips it\n")
    return rows
