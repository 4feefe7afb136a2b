"""What the two-channel telephone corpora (Switchboard, eval2000) share: their 8 kHz int16 audio feature,
their two named sources, reading a conversation's SPHERE file and cutting a segment from one of its sides."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from dsreg.audio.sphere import parse_header, read_sphere
from dsreg.errors import DsregError
from dsreg.features import Audio, Features
from dsreg.sourcetree import SourceTree

RATE = 8000
OVERSHOOT = RATE // 2  # samples a segment may end past its side's audio, cut there (Kaldi's max_overshoot 0.5 s)


def cut(seconds: float, frames: int) -> int:
    """The sample a segment time falls on (rounded half up), clamped to the side's length."""
    return min(math.floor(seconds * RATE + 0.5), frames)


class Conversation:
    """Both sides of one conversation (side A is channel 1, side B channel 2), read from its SPHERE member."""

    def __init__(self, tree: SourceTree, member: str):
        where = tree.location(member)
        data = tree.read_bytes(member)
        samples, rate = read_sphere(data, where=where)
        self.fields: dict[str, Any] = parse_header(data, where).fields  # the SPHERE header, e.g. conversation_id
        if samples.shape[0] != 2 or rate != RATE:
            raise DsregError(
                f"a conversation must be 2 channels at 8 kHz, this is {samples.shape[0]} at {rate} Hz",
                path=where,
                fix="this is not a conversation file of the LDC release: give the release's own .sph files",
            )
        self._samples = samples
        self._where = where

    def segment(self, side: str, start: float, end: float) -> np.ndarray:
        """The samples of side `side` ("A" or "B") from `start` to `end` seconds, cut as `cut` says.

        A segment that starts at or after the end of the audio, or ends `OVERSHOOT` samples or more past it (the
        segments Kaldi's extract-segments drops), is refused: its words are not in the audio, which is cut short
        or of another conversation. A smaller overshoot is cut at the end, as Kaldi cuts it."""
        channel = self._samples[0 if side == "A" else 1]
        frames = len(channel)
        if math.floor(start * RATE + 0.5) >= frames or math.floor(end * RATE + 0.5) >= frames + OVERSHOOT:
            raise DsregError(
                f"the segment {start}–{end} s of side {side} is past the end of the audio ({frames / RATE:.3f} s)",
                path=self._where,
                fix="the conversation's audio is truncated or not this conversation's: copy it again from the release",
            )
        return channel[cut(start, frames) : cut(end, frames)]


def check_features(features: Features, columns: tuple[str, ...], corpus: str, recipe: str) -> None:
    """Refuse features other than exactly `columns` with 8 kHz int16 audio, naming the recipe to copy from."""
    if sorted(features.names()) != sorted(columns):
        raise DsregError(
            f"the {corpus} reader fills the columns {list(columns)}, but the features are {features.names()}",
            fix=f"declare exactly these features in the recipe (see recipes/{recipe})",
        )
    audio = features["audio"]
    if not isinstance(audio, Audio) or audio.dtype != "int16" or audio.sample_rate != RATE:
        raise DsregError(
            f"features.audio is {audio.to_json()}, but {corpus} is 8 kHz (stored as int16 PCM)",
            fix="declare audio as {type: audio, dtype: int16, sample_rate: 8000}",
        )


def source(sources: Mapping[str, SourceTree], name: str, reader: str, releases: str) -> SourceTree:
    """The source `name` of a reader that reads exactly `audio` and `transcripts` (`releases` says which is which)."""
    if set(sources) != {"audio", "transcripts"}:
        raise DsregError(
            f"the {reader} reader reads the sources 'audio' and 'transcripts', the recipe gives {sorted(sources)}",
            fix=f"name the recipe's sources {releases}",
        )
    return sources[name]
