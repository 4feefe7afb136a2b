"""The frame header of a JPEG, read by walking its marker segments: what a reader needs to keep an image's bytes
unchecked by a decoder (size, precision, colour components) and what a loader needs to pick a decoder
(baseline or progressive coding), in a few microseconds and without decoding anything.
"""

from __future__ import annotations

from dataclasses import dataclass

# start-of-frame markers (every coding): 0xC4 (DHT), 0xC8 (JPG) and 0xCC (DAC) share the range but are not frames
FRAMES = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
_RESTARTS = frozenset(range(0xD0, 0xD8))  # RSTn stand alone, without a length
_TEM = 0x01  # stands alone too, but Pillow does not read it
_START_OF_SCAN = 0xDA
_QUANTIZATION = 0xDB
# segments Pillow reads or skips: frames, DHT, JPG, DAC, DQT, DNL, DRI, DHP, EXP, APPn, JPGn, COM
_PILLOW_SEGMENTS = frozenset((*FRAMES, 0xC4, 0xC8, 0xCC, *range(0xDB, 0xFF)))


@dataclass(frozen=True)
class JpegFrame:
    """A JPEG's start-of-frame header: its coding marker (0xC0 baseline, 0xC1 extended, 0xC2 progressive, …),
    sample precision in bits, size, and number of colour components (1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK)."""

    marker: int
    precision: int
    height: int
    width: int
    components: int


def _whole_quantization_tables(tables: bytes | memoryview) -> bool:
    """Whether a DQT segment's payload is whole tables of 64 entries (8- or 16-bit), as Pillow requires."""
    while len(tables):
        size = 1 + 64 * (1 if tables[0] >> 4 == 0 else 2)
        if len(tables) < size:
            return False
        tables = tables[size:]
    return True


def jpeg_frame(data: bytes | memoryview, *, as_pillow: bool = False) -> JpegFrame | None:
    """The frame header of the JPEG `data`, from its segments up to the first scan; None when `data` is not a
    JPEG or its header is malformed (a segment running past the end, a scan before any frame, two frames, a
    frame whose length disagrees with its components, a zero size). With `as_pillow`, also None for a segment
    Pillow does not read or a DQT segment that is not whole tables: a header that passes is one Pillow opens."""
    view = memoryview(data)
    if len(view) < 4 or view[0] != 0xFF or view[1] != 0xD8:
        return None
    frame: JpegFrame | None = None
    pos, end = 2, len(view)
    while pos + 4 <= end:
        if view[pos] != 0xFF:
            return None
        marker = view[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _RESTARTS or (marker == _TEM and not as_pillow):
            pos += 2
            continue
        length = (view[pos + 2] << 8) | view[pos + 3]
        if length < 2 or pos + 2 + length > end:
            return None
        if marker == _START_OF_SCAN:
            return frame
        payload = view[pos + 4 : pos + 2 + length]
        if as_pillow and (
            marker not in _PILLOW_SEGMENTS or (marker == _QUANTIZATION and not _whole_quantization_tables(payload))
        ):
            return None
        if marker in FRAMES:
            if frame is not None or length < 8 or length != 8 + 3 * payload[5]:
                return None
            height, width = (payload[1] << 8) | payload[2], (payload[3] << 8) | payload[4]
            if height == 0 or width == 0:
                return None
            frame = JpegFrame(marker, payload[0], height, width, payload[5])
        pos += 2 + length
    return None
