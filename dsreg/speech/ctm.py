"""NIST CTM (time-marked conversation) hypotheses: ``<file> <channel> <begin> <duration> <word> [<confidence>]``.

``;;`` lines are comments, blank lines are skipped; the file name is lower-cased and the channel upper-cased
(the STM's spellings). The ``<ALT_BEGIN>``/``<ALT>``/``<ALT_END>`` extension is for reference CTMs and is
refused in a hypothesis, as are negative or non-finite times; each refusal names the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from dsreg.errors import DsregError
from dsreg.vendorlines import vendor_lines

FIX = "write one '<file> <channel> <begin> <duration> <word> [<confidence>]' per line (NIST CTM)"


@dataclass(frozen=True)
class CtmWord:
    """One hypothesis word with its time span on a conversation side."""

    file: str
    channel: str
    start: float
    duration: float
    word: str

    @property
    def midpoint(self) -> float:
        return self.start + self.duration / 2


def parse_ctm(text: str, where: str | Path) -> list[CtmWord]:
    """The words of a CTM file in file order."""
    words = []
    for number, line in enumerate(vendor_lines(text), 1):
        if not line.strip() or line.lstrip().startswith(";;"):
            continue
        parts = line.split()
        if not 5 <= len(parts) <= 6:
            raise DsregError(
                f"line {number} has {len(parts)} fields, not 5 or 6: {line.strip()!r}", path=where, fix=FIX
            )
        try:
            start, duration = float(parts[2]), float(parts[3])
            if len(parts) == 6:
                float(parts[5])
        except ValueError:
            raise DsregError(
                f"line {number}: a time or confidence is not a number: {line.strip()!r}", path=where, fix=FIX
            ) from None
        if not (math.isfinite(start) and math.isfinite(duration) and start >= 0 and duration >= 0):
            raise DsregError(
                f"line {number}: begin {parts[2]} / duration {parts[3]} is not a time span", path=where, fix=FIX
            )
        if parts[4].upper().startswith("<ALT"):
            raise DsregError(
                f"line {number}: {parts[4]} alternations belong in reference CTMs, not in a hypothesis",
                path=where,
                fix="write the single best word sequence",
            )
        words.append(CtmWord(parts[0].lower(), parts[1].upper(), start, duration, parts[4]))
    return words


def read_ctm(path: Path) -> list[CtmWord]:
    """A CTM file (UTF-8; a byte-order mark is ignored)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DsregError(f"not UTF-8 text (byte {err.start})", path=path, fix="save the CTM as UTF-8") from None
    return parse_ctm(text, path)
