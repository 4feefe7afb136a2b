"""Check vendor image bytes and repair the few that are not RGB or grayscale JPEG, deterministically.

A handful of corpora ship images that most decoders mishandle: ILSVRC2012's train set holds 22 CMYK
JPEGs and one PNG named `.JPEG`. `check_image` reads only the header of a good JPEG (its bytes are kept
as they are) and re-encodes anything else that decodes (CMYK, YCCK, PNG, ...) to an RGB JPEG with fixed
settings, returning a record of the change for the manifest. Bytes that do not decode are an error.
A plain JPEG — 8-bit, 1 or 3 components, Huffman-coded baseline or progressive (what every decoder, nvJPEG
included, reads), ending with its end-of-image marker and under Pillow's decompression-bomb limit — is
recognised by walking its marker segments up to the scan, without Pillow (a few microseconds). Anything else
goes to Pillow, which decodes it in full: a JPEG cut short (no end-of-image marker), one in a coding the
loaders' decoders refuse (lossless, hierarchical) or a header claiming more pixels than Pillow allows is
refused here, not found at load time after `verify` said the data was fine.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from dsreg.errors import DsregError
from dsreg.jpeg_header import jpeg_frame

# the modes a JPEG may have and still be kept byte-identical: every decoder reads these right
KEPT_MODES = ("RGB", "L")
REENCODE_QUALITY = 95
# start-of-frame markers of the codings kept unchecked: Huffman baseline, extended sequential, progressive
PLAIN_CODINGS = frozenset({0xC0, 0xC1, 0xC2})
END_OF_IMAGE = b"\xff\xd9"
START_OF_SCAN = b"\xff\xda"
# above Pillow's default MAX_IMAGE_PIXELS (its decompression-bomb warning), Pillow judges the image
PLAIN_PIXELS = 89_478_485


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


def plain_jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) of a plain JPEG (see the module doc), kept as shipped without decoding; None for anything
    else (left to Pillow to judge by decoding it)."""
    frame = jpeg_frame(data, as_pillow=True)
    if frame is None or frame.marker not in PLAIN_CODINGS or frame.precision != 8 or frame.components not in (1, 3):
        return None
    if not data.endswith(END_OF_IMAGE) or frame.height * frame.width > PLAIN_PIXELS:
        return None
    return frame.height, frame.width


def check_image(data: bytes, where: str, file_name: str) -> CheckedImage:
    """Keep an RGB/grayscale JPEG as it is; re-encode any other decodable image to RGB JPEG; refuse the rest.

    `where` names the member in errors (`archive::inner::member`); `file_name` is the row's name, used
    in the re-encoding record. Only a plain JPEG's header is parsed, so this costs microseconds; anything else
    is decoded in full by Pillow (a JPEG it decodes to L or RGB is kept as shipped too).
    """
    size = plain_jpeg_size(data)
    if size is not None:
        return CheckedImage(data, *size)
    image_module = _pillow()
    try:
        with image_module.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.load()  # the whole image: a truncated or unsupported one fails here, not at load time
            if image.format == "JPEG" and data.rfind(END_OF_IMAGE) < data.rfind(START_OF_SCAN):
                # cut inside its scans: refused even where ImageFile.LOAD_TRUNCATED_IMAGES let Pillow fill it in.
                # The last scan, not the first: an EXIF thumbnail (APP1) holds a whole JPEG before the main image's
                raise _undecodable(where, "the JPEG ends inside its image data (no end-of-image marker after it)")
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


class ImageFixes:
    """A reader's vendor images checked by `check_image`, with the re-encodings this instance made in reading
    order (what its `notes` report); a pickled copy starts empty, as each worker reports its own."""

    def __init__(self) -> None:
        self._records: list[dict[str, Any]] = []

    def __getstate__(self) -> dict[str, Any]:
        return {"_records": []}

    def columns(self, data: bytes, where: str, file_name: str) -> dict[str, Any]:
        """The `image`, `height` and `width` of a row holding `data`, recording its re-encoding if it needed one."""
        checked = check_image(data, where, file_name)
        if checked.fixed is not None:
            self._records.append(checked.fixed)
        return {"image": checked.data, "height": checked.height, "width": checked.width}

    def records(self) -> list[dict[str, Any]]:
        """The re-encodings so far, in reading order."""
        return list(self._records)
