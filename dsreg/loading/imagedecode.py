"""Decode encoded images on load into uint8 NCHW batches: ImageNet's train and eval crops, exact on resume.

`ImageDecode("train")` is the standard random-resized crop (area scale (0.08, 1), aspect ratio (3/4, 4/3),
ten tries then a center crop, as torchvision's `RandomResizedCrop`) to 224×224 plus a horizontal flip with
probability ½; `ImageDecode("eval")` resizes the shorter side to 256 and takes the center 224×224. The
randomness of row `i` in epoch `e` comes from ``numpy.random.default_rng([seed, e, i])`` alone, so a resumed
run, any number of workers and any batch composition crop every image exactly the same way.

Two decoders, picked by `backend` ("auto": torchvision when installed, else Pillow), both crop and resize
bilinearly with antialiasing: `torchvision.io.decode_jpeg` + `resized_crop` was the fastest measured on
ImageNet-sized JPEGs (benchmarks/imagenet.py: ~950 vs ~700 img/s per core for Pillow; simplejpeg decodes at
torchvision's speed); Pillow decodes with JPEG DCT scaling (`Image.draft`: libjpeg-turbo decodes straight to
½, ¼ or ⅛ size when the crop still gets its output resolution from it), which wins on large photos. The two
differ by a few grey levels per pixel, so one training run should keep one backend. Output is uint8 (written
into `out` when given: torch's workers pass a shared-memory batch); normalise on the device. Both crop the
stored pixels (an EXIF orientation is not applied, by either, nor by the device path) and reduce 16-bit images
to their high byte.
`dsreg.loading.devicedecode` decodes whole batches on a GPU (nvJPEG) with the same crops.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dsreg.errors import DsregError

MODES = ("train", "eval")
BACKENDS = ("auto", "torchvision", "pillow")
# a user decode: (encoded values, epoch, row indices) → a uint8 (N, C, H, W) array
DecodeFn = Callable[[np.ndarray, int, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ImageDecode:
    """Decode column `column` of each batch for training ("train") or evaluation ("eval"); see the module doc."""

    mode: str = "train"
    size: int = 224
    resize: int = 256
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    seed: int = 0
    column: str = "image"
    draft: bool = True
    backend: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise DsregError(f"decode mode {self.mode!r} is not one of {', '.join(MODES)}", fix='use "train" or "eval"')
        if self.backend not in BACKENDS:
            raise DsregError(f"decode backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.backend == "auto":
            object.__setattr__(self, "backend", "torchvision" if _has_torchvision() else "pillow")
        if self.size < 1 or self.resize < self.size:
            raise DsregError(f"decode size {self.size} and resize {self.resize} need 1 <= size <= resize")

    def __call__(
        self, values: np.ndarray, epoch: int, indices: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Rows `indices` (their encoded `values`) decoded for `epoch` into `out` (a fresh array if None)."""
        shape = (len(values), 3, self.size, self.size)
        if out is None:
            out = np.empty(shape, dtype=np.uint8)
        elif out.shape != shape or out.dtype != np.uint8:
            raise DsregError(f"decode output must be uint8 {shape}, got {out.dtype} {out.shape}")
        for row, (data, index) in enumerate(zip(values, np.asarray(indices).tolist(), strict=True)):
            self._decode_into(out[row], data, epoch, index)
        return out

    def box(self, width: int, height: int, epoch: int, index: int) -> tuple[tuple[float, float, float, float], bool]:
        """The crop box (left, top, right, bottom) of row `index` in `epoch`, and whether to flip it."""
        if self.mode == "eval":
            return center_box(width, height, self.size / self.resize), False
        rng = np.random.default_rng([self.seed, epoch, index])
        box = random_resized_box(width, height, self.scale, self.ratio, rng)
        return box, self.flip and bool(rng.random() < 0.5)

    def decode_one(self, data: bytes, epoch: int, index: int) -> np.ndarray:
        """One image → uint8 (3, size, size)."""
        out = np.empty((3, self.size, self.size), dtype=np.uint8)
        self._decode_into(out, data, epoch, index)
        return out

    def _decode_into(self, out: np.ndarray, data: bytes, epoch: int, index: int) -> None:
        try:
            if self.backend == "torchvision":
                import torch

                # torch's flip + copy is ~6x faster than numpy's copy of a reversed view
                torch.from_numpy(out).copy_(self._torchvision(data, epoch, index))
            else:
                np.copyto(out, self._pillow(data, epoch, index))
        except Exception as err:
            raise undecodable(index, err) from None

    def crop(self, image: Any, epoch: int, index: int) -> Any:
        """A decoded uint8 (3, H, W) torch tensor (on any device) → its (3, size, size) crop for `epoch`, flipped
        when drawn so: the torchvision backend's step after decoding, shared with the batched device path."""
        import torch
        from torchvision.transforms.v2 import functional

        if image.dtype != torch.uint8:  # a 16-bit PNG decodes to uint16: scale it (keep the high byte), never wrap
            image = functional.to_dtype(image, torch.uint8, scale=True)
        (left, top, right, bottom), flip = self.box(image.shape[2], image.shape[1], epoch, index)
        top_, left_ = round(top), round(left)
        height, width = max(round(bottom) - top_, 1), max(round(right) - left_, 1)
        out = functional.resized_crop(image, top_, left_, height, width, [self.size, self.size], antialias=True)
        return out.flip(-1) if flip else out

    def _torchvision(self, data: bytes, epoch: int, index: int) -> Any:
        import torch
        from torchvision.io import ImageReadMode, decode_image

        image = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
        return self.crop(image, epoch, index)

    def _pillow(self, data: bytes, epoch: int, index: int) -> np.ndarray:
        from PIL import Image

        image: Image.Image = Image.open(io.BytesIO(data))
        if image.mode.startswith("I;16"):  # 16-bit grayscale: keep the high byte, as for 16-bit RGB (convert clips)
            image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
        width, height = image.size
        box, flip = self.box(width, height, epoch, index)
        box = self._drafted(image, box, width, height)
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        out = rgb.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box)
        pixels = np.asarray(out)
        if flip:
            pixels = pixels[:, ::-1]
        return pixels.transpose(2, 0, 1)

    def _drafted(self, image: Any, box: tuple[float, float, float, float], width: int, height: int) -> Any:
        """Let libjpeg decode at the smallest DCT scale that keeps ≥ `size` pixels across the crop; `box` rescaled."""
        if not self.draft or image.format != "JPEG":
            return box
        crop = min(box[2] - box[0], box[3] - box[1])
        factor = max(crop / self.size, 1.0)  # how much the crop may shrink and still cover the output
        image.draft("RGB", (math.ceil(width / factor), math.ceil(height / factor)))
        sx, sy = image.size[0] / width, image.size[1] / height
        return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def undecodable(index: int, err: Exception) -> DsregError:
    """The error for row `index` whose image does not decode."""
    return DsregError(
        f"row {index}: the image does not decode: {type(err).__name__}: {err}",
        fix="check the prepared data with `dsreg verify`; a damaged shard must be prepared again",
    )


def _has_torchvision() -> bool:
    try:
        import torchvision.io  # noqa: F401
    except ImportError:
        return False
    return True


def random_resized_box(
    width: int, height: int, scale: Sequence[float], ratio: Sequence[float], rng: np.random.Generator
) -> tuple[float, float, float, float]:
    """torchvision's RandomResizedCrop box (left, top, right, bottom): ten tries, then the center crop fallback."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return (left, top, left + w, top + h)
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return (left, top, left + w, top + h)


def center_box(width: int, height: int, fraction: float) -> tuple[float, float, float, float]:
    """The center square covering `fraction` of the shorter side (eval: 224/256 after resizing to 256)."""
    side = min(width, height) * fraction
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


def resolve_decode(decode: str | ImageDecode | DecodeFn | None, seed: int = 0) -> ImageDecode | DecodeFn | None:
    """`decode=` of `load`: "train"/"eval" (with the loader's seed), an `ImageDecode`, or a user function."""
    if decode is None or isinstance(decode, ImageDecode) or callable(decode):
        return decode
    if isinstance(decode, str):
        return ImageDecode(decode, seed=seed)
    raise DsregError(f"decode={decode!r} is not a mode, an ImageDecode or a function", fix='use "train" or "eval"')


def decode_column(decode: ImageDecode | DecodeFn) -> str:
    """The column a decode replaces (`image` for user functions)."""
    return decode.column if isinstance(decode, ImageDecode) else "image"
