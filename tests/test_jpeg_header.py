"""`jpeg_frame` reads a JPEG's frame header by walking its segments: the coding, precision, size and components
of real encodings, None for anything that is not a well-formed JPEG header, and, as Pillow would judge it, None
for segments Pillow does not read or a quantization segment that is not whole tables."""

from __future__ import annotations

import io

import numpy as np
import pytest

from dsreg.jpeg_header import JpegFrame, jpeg_frame


def _encode(width: int, height: int, mode: str = "RGB", fmt: str = "JPEG", **save: object) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(width * height).integers(0, 255, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(out, format=fmt, quality=90, **save)
    return out.getvalue()


@pytest.mark.parametrize(
    ("mode", "save", "expected"),
    [
        ("RGB", {}, JpegFrame(0xC0, 8, 120, 200, 3)),
        ("L", {}, JpegFrame(0xC0, 8, 120, 200, 1)),
        ("CMYK", {}, JpegFrame(0xC0, 8, 120, 200, 4)),
        ("RGB", {"progressive": True}, JpegFrame(0xC2, 8, 120, 200, 3)),
    ],
)
def test_the_frame_of_real_encodings(mode: str, save: dict[str, object], expected: JpegFrame) -> None:
    data = _encode(200, 120, mode, **save)
    assert jpeg_frame(data) == expected
    assert jpeg_frame(data, as_pillow=True) == expected
    assert jpeg_frame(memoryview(data)) == expected


def test_what_is_not_a_well_formed_jpeg_header_has_no_frame() -> None:
    good = _encode(64, 48)
    sof = good.index(b"\xff\xc0")
    two_frames = good[:sof] + good[sof : sof + 19] + good[sof:]
    wrong_length = bytearray(good)
    wrong_length[sof + 9] = 4  # four components announced in a frame segment sized for three
    zero_height = bytearray(good)
    zero_height[sof + 5 : sof + 7] = b"\x00\x00"
    scan_first = b"\xff\xd8\xff\xda\x00\x08" + bytes(6) + good[2:]
    for data in (
        b"",
        b"\xff\xd8",
        good[:20],
        _encode(64, 48, fmt="PNG"),
        b"not an image at all",
        two_frames,
        bytes(wrong_length),
        bytes(zero_height),
        scan_first,
        good[:sof] + b"\xff\xe1\xff\xff" + good[sof:],  # a segment running past the end
    ):
        assert jpeg_frame(data) is None


def test_as_pillow_refuses_what_pillow_does_not_read() -> None:
    good = _encode(64, 48)
    tem = good[:2] + b"\xff\x01" + good[2:]  # a standalone TEM marker
    dqt = good.index(b"\xff\xdb")
    cut_table = good[:dqt] + b"\xff\xdb\x00\x23\x00" + bytes(32) + good[dqt:]  # half a quantization table
    for data in (tem, cut_table):
        assert jpeg_frame(data) == JpegFrame(0xC0, 8, 48, 64, 3)
        assert jpeg_frame(data, as_pillow=True) is None
