"""ICDAR Robust Reading ground-truth text files, parsed exactly: word labels and quadrilateral annotations.

Both kinds start with a UTF-8 byte order mark and end lines with CRLF (LF alone is accepted too). Lines
are split at `\n` only, never at other Unicode separators a label may hold, and blank lines are skipped.

- Word recognition (Task 3): `word_1.png, "Genaxis Theatre"`. The name ends at the first `, `; the rest is
  the label in double quotes, in which a quote is escaped by a backslash (`"\\"Hi\\""` → `"Hi"`); any other
  backslash is the label's own character. Labels may hold commas (`"36,000,000"`).
- Localisation (Task 1): `x1,y1,x2,y2,x3,y3,x4,y4,transcription`, clockwise from the top left; the
  transcription is everything after the eighth comma (commas included); `###` marks a region that is not
  to be scored ("don't care"), which is a flag, not a transcription.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

from dsreg.errors import DsregError

DONT_CARE = "###"
_FIX = "restore the vendor's original file (this line differs from the ICDAR format)"


def gt_lines(data: bytes, where: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without its line end) of every non-blank line of a ground-truth file."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DsregError(
                f"line {number} is not valid UTF-8 (byte {err.start + 1} of the line: {err.reason})",
                path=where,
                fix=_FIX,
            ) from None
        if text.strip():
            yield number, text


def word_label(line: str, number: int, where: str) -> tuple[str, str]:
    """(image file name, label) of a word-recognition line `name, "label"`."""
    name, sep, rest = line.partition(", ")
    if not sep or not name.strip() or len(rest) < 2 or not rest.startswith('"') or not rest.endswith('"'):
        raise DsregError(f'line {number} is not `<image>, "<label>"`: {line[:80]!r}', path=where, fix=_FIX)
    return name.strip(), rest[1:-1].replace('\\"', '"')


@dataclass(frozen=True)
class Quad:
    """One annotated region: 4 (x, y) corners, its transcription ("" when don't-care) and the don't-care flag."""

    points: tuple[tuple[int, int], ...]
    text: str
    dont_care: bool


def quad(line: str, number: int, where: str) -> Quad:
    """The region of a localisation line `x1,y1,…,x4,y4,transcription`."""
    parts = line.split(",", 8)
    if len(parts) != 9:
        raise DsregError(
            f"line {number} has {len(parts) - 1} commas, not the 8 coordinates and a transcription: {line[:80]!r}",
            path=where,
            fix=_FIX,
        )
    try:
        coords = [int(p.strip()) for p in parts[:8]]
    except ValueError:
        raise DsregError(
            f"line {number}: the coordinates {parts[:8]} are not all integers", path=where, fix=_FIX
        ) from None
    text = parts[8]
    points = tuple((coords[i], coords[i + 1]) for i in range(0, 8, 2))
    return Quad(points, "" if text == DONT_CARE else text, text == DONT_CARE)
