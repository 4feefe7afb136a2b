"""Decode a whole batch of encoded images on a device: nvJPEG on a GPU, with `ImageDecode`'s crops.

`decode_batch` hands the batch's baseline and progressive JPEGs with 1 or 3 colour components to one batched
`torchvision.io.decode_jpeg(list, device=...)` call (nvJPEG on CUDA); CMYK/YCCK JPEGs, other JPEG codings and
other formats (PNG) decode on the CPU with `decode_image` and move over. Every image then gets the crop its
(seed, epoch, index) draws (`ImageDecode.crop`, torchvision's `resized_crop` + flip on the device), into one
uint8 (N, 3, size, size) tensor on the device. The same function runs on ``device="cpu"``, where it equals
the per-image torchvision path exactly; on a GPU nvJPEG's IDCT differs from libjpeg-turbo's by a few grey
levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dsreg.jpeg_header import jpeg_frame
from dsreg.loading.imagedecode import ImageDecode, undecodable

if TYPE_CHECKING:
    import torch

# start-of-frame markers nvJPEG decodes: baseline, extended sequential and progressive Huffman coding
_DEVICE_FRAMES = frozenset({0xC0, 0xC1, 0xC2})


def on_device(data: bytes | memoryview) -> bool:
    """Whether nvJPEG decodes this image (an 8-bit Huffman-coded JPEG with 1 or 3 components)."""
    frame = jpeg_frame(data)
    return frame is not None and frame.marker in _DEVICE_FRAMES and frame.precision == 8 and frame.components in (1, 3)


def decode_batch(
    decode: ImageDecode, values: Sequence[bytes] | np.ndarray, epoch: int, indices: np.ndarray, device: Any
) -> torch.Tensor:
    """The encoded `values` of rows `indices`, decoded on `device` for `epoch` → uint8 (N, 3, size, size) there."""
    import torch
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    target = torch.device(device)
    encoded = [torch.frombuffer(bytearray(v), dtype=torch.uint8) for v in values]
    rows = np.asarray(indices).tolist()
    batched = [i for i, v in enumerate(values) if on_device(v)]
    images: list[torch.Tensor | None] = [None] * len(encoded)
    if batched:
        try:
            decoded = decode_jpeg([encoded[i] for i in batched], mode=ImageReadMode.RGB, device=target)
        except RuntimeError:  # find the row to name: decode them one by one
            decoded = [_one(encoded[i], rows[i], target) for i in batched]
        for i, image in zip(batched, decoded, strict=True):
            images[i] = image
    out = torch.empty((len(encoded), 3, decode.size, decode.size), dtype=torch.uint8, device=target)
    for row, (image, index) in enumerate(zip(images, rows, strict=True)):
        if image is None:
            try:
                image = decode_image(encoded[row], mode=ImageReadMode.RGB).to(target)
            except RuntimeError as err:
                raise undecodable(index, err) from None
        out[row] = decode.crop(image, epoch, index)
    return out


def _one(encoded: torch.Tensor, index: int, device: torch.device) -> torch.Tensor:
    """One image of a batch the batched call refused: on the device if it decodes there, else on the CPU (as the
    per-image path would: nvJPEG refuses a few JPEGs libjpeg-turbo reads), else an error naming its row."""
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    try:
        image: torch.Tensor = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        try:
            image = decode_image(encoded, mode=ImageReadMode.RGB).to(device)
        except RuntimeError as err:
            raise undecodable(index, err) from None
    return image
