"""Check vendor image bytes and repair the few that are not RGB or grayscale JPEG, deterministically.

A handful of corpora ship images that most decoders mishandle: ILSVRC2012's train set holds 22 CMYK
JPEGs and one PNG named `.JPEG`. `check_image` reads only the header of a good JPEG (its bytes are kept
as they are) and re-encodes anything else that decodes (CMYK, YCCK, PNG, ...) to an RGB JPEG with fixed
settings, returning a record of the change for the manifest. Bytes that do not decode are an error.
A well-formed 8-bit JPEG with 1 or 3 components (what Pillow opens as L or RGB) is recognised by walking
its marker segments up to the scan, without Pillow (a few microseconds); anything else goes to Pillow.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from dsreg.errors import DsregError

# the modes a JPEG may have and still be kept byte-identical: every decoder reads these right
KEPT_MODES = ("RGB", "L")
REENCODE_QUALITY = 95


@dataclass(frozen=True)
class CheckedImage:
    """An image ready to store: its bytes, size, and the record of a re-encoding (None if kept as shipped)."""

    data: bytes
    height: int
    width: int
    fixed: dict[str, Any] | None = None


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise DsregError(
            "reading images needs Pillow, which is not installed", fix="pip install 'dsreg[imagenet]'"
        ) from None
    return Image


def _undecodable(where: str, problem: str) -> DsregError:
    return DsregError(
        f"{where} is not a decodable image: {problem}",
        path=where.split("::", 1)[0],
        fix="the archive is damaged or not the vendor's: copy or download it again",
    )


_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
_STANDALONE = frozenset(range(0xD0, 0xD8))
# segments Pillow reads or skips: frames, DHT, DAC, DQT, DNL, DRI, DHP, EXP, APPn, JPGn, COM (others: Pillow decides)
_SEGMENTS = frozenset((*_SOF, 0xC4, 0xC8, 0xCC, *range(0xDB, 0xE0), *range(0xE0, 0xFF)))


def _good_quantization_tables(tables: bytes) -> bool:
    """Whether a DQT segment's payload is whole tables of 64 entries (8- or 16-bit), as Pillow requires."""
    while tables:
        size = 1 + 64 * (1 if tables[0] >> 4 == 0 else 2)
        if len(tables) < size:
            return False
        tables = tables[size:]
    return True


def plain_jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) of a JPEG whose segments are well formed up to its first scan and whose frame is 8-bit
    with 1 or 3 components, the ones kept as shipped; None for anything else (left to Pillow to judge)."""
    if data[:2] != b"\xff\xd8":
        return None
    size: tuple[int, int] | None = None
    i, end = 2, len(data)
    while i + 4 <= end:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2 or i + 2 + length > end:
            return None
        if marker == 0xDA:  # start of scan: the header is complete
            return size
        if marker not in _SEGMENTS:
            return None
        if marker == 0xDB and not _good_quantization_tables(data[i + 4 : i + 2 + length]):
            return None
        if marker in _SOF:
            if size is not None or length < 8:
                return None
            precision, height, width, components = data[i + 4], data[i + 5 : i + 7], data[i + 7 : i + 9], data[i + 9]
            if precision != 8 or components not in (1, 3) or length != 8 + 3 * components:
                return None
            size = int.from_bytes(height, "big"), int.from_bytes(width, "big")
            if 0 in size:
                return None
        i += 2 + length
    return None


def check_image(data: bytes, where: str, file_name: str) -> CheckedImage:
    """Keep an RGB/grayscale JPEG as it is; re-encode any other decodable image to RGB JPEG; refuse the rest.

    `where` names the member in errors (`archive::inner::member`); `file_name` is the row's name, used
    in the re-encoding record. Only a kept JPEG's header is parsed, so this costs microseconds.
    """
    size = plain_jpeg_size(data)
    if size is not None:
        return CheckedImage(data, *size)
    image_module = _pillow()
    try:
        with image_module.open(io.BytesIO(data)) as image:
            width, height = image.size
            if image.format == "JPEG" and image.mode in KEPT_MODES:
                return CheckedImage(data, height, width)
            was = f"{image.format} {image.mode}"
            rgb = image.convert("RGB")
    except DsregError:
        raise
    except Exception as err:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ValueError...
        raise _undecodable(where, f"{type(err).__name__}: {err}") from None
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=REENCODE_QUALITY, subsampling=0, optimize=False, progressive=False)
    fixed = out.getvalue()
    record = {
        "file_name": file_name,
        "was": was,
        "now": "JPEG RGB",
        "sha256_shipped": hashlib.sha256(data).hexdigest(),
        "sha256_stored": hashlib.sha256(fixed).hexdigest(),
    }
    return CheckedImage(fixed, height, width, record)
