"""check_image's fast header walk agrees with Pillow: the size of the JPEGs it keeps, and it never keeps what
Pillow would not open as an 8-bit L or RGB JPEG (those go to Pillow, which keeps, re-encodes or refuses them)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsreg.errors import DsregError
from dsreg.readers.imagefix import check_image, plain_jpeg_size
from dsreg.testing import imagenet as fakes

REAL = Path(os.environ.get("DSREG_REALDATA") or Path(__file__).resolve().parents[3] / "shared" / "realdata")
FAKE = fakes.fake_imagenet()


def _pillow_view(data: bytes) -> tuple[int, int] | None:
    """(height, width) if Pillow opens `data` as an L or RGB JPEG; None if it opens it otherwise or not at all."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            kept = image.format == "JPEG" and image.mode in ("L", "RGB")
            return (image.size[1], image.size[0]) if kept else None
    except Exception:
        return None


def _samples() -> list[bytes]:
    real = REAL / "imagenet" / "sample_jpegs"
    return list(FAKE.images.values()) + ([p.read_bytes() for p in sorted(real.iterdir())] if real.is_dir() else [])


def test_the_header_walk_gives_pillows_answer_on_every_sample() -> None:
    kept = 0
    for data in _samples():
        size = plain_jpeg_size(data)
        assert size == _pillow_view(data)
        kept += size is not None
        checked = check_image(data, "x::y", "y")
        assert (checked.height, checked.width) == (size or (checked.height, checked.width))
    assert kept >= len(FAKE.images) - 2  # all but the CMYK JPEG and the PNG


def test_what_the_header_walk_does_not_keep_goes_to_pillow() -> None:
    cmyk, png = FAKE.images[fakes.CMYK_NAME], FAKE.images[fakes.PNG_NAME]
    assert plain_jpeg_size(cmyk) is None and plain_jpeg_size(png) is None
    assert check_image(cmyk, "x::c", "c").fixed is not None and check_image(png, "x::p", "p").fixed is not None
    with pytest.raises(DsregError, match="not a decodable image"):
        check_image(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 40, "x::g", "g")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(FAKE.images) - 1), at=st.integers(0, 700), value=st.integers(0, 255), cut=st.booleans())
def test_a_damaged_header_is_never_kept_unless_pillow_keeps_it_too(index: int, at: int, value: int, cut: bool) -> None:
    data = bytearray(list(FAKE.images.values())[index])
    if cut:
        del data[at:]
    elif at < len(data):
        data[at] = value
    size = plain_jpeg_size(bytes(data))
    if size is not None:
        assert size == _pillow_view(bytes(data))


def _with_frame(data: bytes, marker: int | None = None, height: int | None = None, width: int | None = None) -> bytes:
    """`data` (a baseline JPEG) with its start-of-frame marker, height or width rewritten."""
    out = bytearray(data)
    at = out.index(b"\xff\xc0")
    if marker is not None:
        out[at + 1] = marker
    if height is not None:
        out[at + 5 : at + 7] = height.to_bytes(2, "big")
    if width is not None:
        out[at + 7 : at + 9] = width.to_bytes(2, "big")
    return bytes(out)


def test_a_jpeg_cut_short_after_its_header_is_refused_not_kept() -> None:
    # its header walks fine (height and width), but no decoder reads it: the loaders would fail on it mid-training
    whole = FAKE.images["ILSVRC2012_val_00000001.JPEG"]
    for cut in (len(whole) // 2, len(whole) - 2):
        with pytest.raises(DsregError, match=r"x::cut is not a decodable image: .*truncated"):
            check_image(whole[:cut], "x::cut", "cut")
    kept = check_image(whole, "x::whole", "whole")
    assert kept.data == whole and kept.fixed is None


def test_a_truncated_jpeg_is_refused_even_where_pillow_is_told_to_load_truncated_images(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # training scripts often set it globally
    whole = FAKE.images["ILSVRC2012_val_00000001.JPEG"]
    with pytest.raises(DsregError, match="x::cut is not a decodable image: the JPEG ends inside its image data"):
        check_image(whole[: len(whole) // 2], "x::cut", "cut")


def _with_exif_thumbnail(data: bytes) -> bytes:
    """`data` (a JPEG) with an APP1 EXIF segment holding a small JPEG thumbnail (IFD1), as cameras write it: the
    thumbnail's own start-of-scan and end-of-image markers come before the main image's."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="JPEG")
    thumbnail = out.getvalue()
    ifd0 = (0).to_bytes(2, "little") + (14).to_bytes(4, "little")  # no entries; IFD1 follows at offset 14
    entries = b"".join(
        tag.to_bytes(2, "little") + (4).to_bytes(2, "little") + (1).to_bytes(4, "little") + value.to_bytes(4, "little")
        for tag, value in ((0x0201, 44), (0x0202, len(thumbnail)))  # thumbnail offset and length
    )
    ifd1 = (2).to_bytes(2, "little") + entries + (0).to_bytes(4, "little")
    payload = b"Exif\x00\x00" + b"II*\x00" + (8).to_bytes(4, "little") + ifd0 + ifd1 + thumbnail
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:2] + app1 + data[2:]


def test_a_jpeg_cut_inside_its_scans_is_refused_even_after_an_exif_thumbnail_that_ends_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the thumbnail's end-of-image comes after the thumbnail's start-of-scan: only the main image's last scan counts
    from PIL import ImageFile

    whole = _with_exif_thumbnail(FAKE.images["ILSVRC2012_val_00000001.JPEG"])
    kept = check_image(whole, "x::whole", "whole")
    assert kept.data == whole and kept.fixed is None
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    main_scan = whole.rindex(b"\xff\xda")
    cut = whole[: (main_scan + len(whole)) // 2]
    assert cut.rfind(b"\xff\xd9") > cut.find(b"\xff\xda")  # the thumbnail ends whole inside the cut file
    with pytest.raises(DsregError, match="x::cut is not a decodable image: the JPEG ends inside its image data"):
        check_image(cut, "x::cut", "cut")


def test_bytes_after_the_end_of_image_are_decoded_once_and_kept_as_shipped() -> None:
    padded = FAKE.images["ILSVRC2012_val_00000001.JPEG"] + b"\x00\x00trailer"
    assert plain_jpeg_size(padded) is None  # not plain: Pillow decodes it in full, and it does decode
    checked = check_image(padded, "x::p", "p")
    assert checked.data == padded and checked.fixed is None and (checked.height, checked.width) == _pillow_view(padded)


@pytest.mark.parametrize("marker", [0xC3, 0xC5, 0xC7, 0xCB])  # lossless, hierarchical, arithmetic lossless
def test_a_jpeg_coding_the_decoders_refuse_is_refused_when_prepared(marker: int) -> None:
    # the header walk alone would keep these 8-bit 3-component frames; torchvision and Pillow refuse them on load
    odd = _with_frame(FAKE.images["ILSVRC2012_val_00000001.JPEG"], marker=marker)
    assert plain_jpeg_size(odd) is None
    with pytest.raises(DsregError, match="x::odd is not a decodable image"):
        check_image(odd, "x::odd", "odd")


def test_a_header_claiming_a_decompression_bomb_is_refused() -> None:
    bomb = _with_frame(FAKE.images["ILSVRC2012_val_00000001.JPEG"], height=60000, width=60000)
    assert plain_jpeg_size(bomb) is None  # 3.6 Gpixel: left to Pillow, whose limit refuses it before decoding
    with pytest.raises(DsregError, match="x::bomb is not a decodable image: DecompressionBombError"):
        check_image(bomb, "x::bomb", "bomb")
