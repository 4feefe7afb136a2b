"""NIST STM (segment time mark) references: ``<file> <channel> <speaker> <begin> <end> [<tags>] <text>``.

Shared by the eval2000 reader (which keeps the scored segments as rows) and the `wer` metric (which also needs
the ``IGNORE_TIME_SEGMENT_IN_SCORING`` regions to drop the hypothesis words that fall in them, as sclite does).
``;;`` lines are comments; the optional ``<...>`` label field is skipped; the file name is lower-cased and the
channel upper-cased, the spellings the readers and the CTM matching use.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dsreg.errors import DsregError
from dsreg.vendorlines import vendor_lines

IGNORE = "IGNORE_TIME_SEGMENT_IN_SCORING"
_TAGS = re.compile(r"^<[^>]*>$")
_FIX = "copy the STM again from its release (LDC2002T43 for eval2000)"


@dataclass(frozen=True)
class StmSegment:
    """One STM line; `ignored` marks an IGNORE_TIME_SEGMENT_IN_SCORING region (no text, not scored)."""

    file: str
    channel: str
    speaker: str
    start: float
    end: float
    text: str
    ignored: bool = False

    @property
    def subset(self) -> str:
        """The Hub5'00 half: ``swbd`` for the Switchboard-2 files (``sw_*``), else ``callhome`` (``en_*``)."""
        return "swbd" if self.file.startswith("sw") else "callhome"

    @property
    def id(self) -> str:
        return f"{self.file}-{self.channel}_{round(self.start * 100):06d}-{round(self.end * 100):06d}"


def parse_stm(text: str, where: str, *, keep_ignored: bool = False) -> list[StmSegment]:
    """The segments of an STM file in file order: the scored ones, and with `keep_ignored` the ignored regions."""
    out = []
    for number, line in enumerate(vendor_lines(text), 1):
        if not line.strip() or line.startswith(";;"):
            continue
        parts = line.split()
        try:
            file, channel, speaker, start, end = parts[0], parts[1].upper(), parts[2], float(parts[3]), float(parts[4])
        except (IndexError, ValueError):
            raise DsregError(
                f"line {number} is not '<file> <channel> <speaker> <begin> <end> [<tags>] <text>': {line!r}",
                path=where,
                fix=_FIX,
            ) from None
        if channel not in ("A", "B") or not (0 <= start <= end) or not math.isfinite(end):
            raise DsregError(
                f"line {number}: channel {parts[1]!r} or span {start}–{end} s is invalid", path=where, fix=_FIX
            )
        words = parts[5:]
        if words and _TAGS.match(words[0]):
            words = words[1:]
        ignored = IGNORE in words
        if ignored and not keep_ignored:
            continue
        out.append(StmSegment(file.lower(), channel, speaker, start, end, "" if ignored else " ".join(words), ignored))
    return out
