"""Switchboard-1 Release 2 (LDC97S62) cut into utterances by the ISIP/MS-State "ms98" transcripts.

Two sources: ``audio`` (the ``sw0NNNN.sph`` conversations, two-channel 8 kHz µ-law with embedded shorten)
and ``transcripts`` (``swb_ms98_transcriptions/<NN>/<NNNN>/sw<NNNN><A|B>-ms98-a-trans.text``), each found
anywhere in its source, in any letter case. Side A is channel 1, side B channel 2; a segment
``<start> <end>`` in seconds covers samples ``floor(start·8000 + ½) … floor(end·8000 + ½)`` (an end less
than 0.5 s past the audio is cut there; a segment further past it, whose words are not in the audio, is
refused). Tokens: ``[silence]`` and ``<b_aside>``/``<e_aside>`` are dropped, ``[noise]``, ``[laughter]`` and
``[vocalized-noise]`` kept, ``[laughter-WORD]`` becomes ``WORD``, partial words keep their spoken part
(``WOR[D]-`` → ``WOR-``, ``-[W]ORD`` → ``-ORD``); a segment left empty is skipped. Utterances are ordered by
Kaldi's id ``sw0NNNN-S_<start cs>-<end cs>``; the first ``hold_out`` (4,000, as Kaldi's ``train_dev``) form
the held-out split. `max_duplicates` (Kaldi's ``train_nodup``: ``utils/data/remove_dup_utts.sh 300``) keeps
at most that many utterances of any one transcript in the rest, the first in id order; the held-out split is
left whole, as Kaldi leaves ``train_dev``. One task per conversation.
"""

from __future__ import annotations

import math
import re
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.readers import Arg, Output, Reader
from dsreg.sourcetree import SourceTree
from dsreg.speech.conversations import Conversation, check_features, source
from dsreg.vendorlines import vendor_lines

_TRANSCRIPT = re.compile(r"(?:^|/)sw(\d{4})([ab])-ms98-a-trans\.text$", re.I)
_AUDIO = re.compile(r"(?:^|/)sw0?(\d{4})\.sph$", re.I)
_DROPPED = {"[silence]", "<b_aside>", "<e_aside>"}
_LAUGHTER_WORD = re.compile(r"^\[laughter-(.+)\]$")
_PARTIAL_END = re.compile(r"^(.*?)\[[^\]]*\]-$")  # wor[d]- → wor-
_PARTIAL_START = re.compile(r"^-\[[^\]]*\](.*)$")  # -[w]ord → -ord
_COLUMNS = ("id", "audio", "conversation", "side", "start", "end", "text")
_FIX = "copy the file again from the ms98 transcript release (ISIP, switchboard_word_alignments.tar.gz)"


def normalize_tokens(words: list[str]) -> list[str]:
    """The ms98 tokens as the recipe keeps them (see the module docstring)."""
    out = []
    for word in words:
        if word in _DROPPED:
            continue
        laughing = _LAUGHTER_WORD.match(word)
        if laughing:
            word = laughing.group(1)
        partial = _PARTIAL_END.match(word) or _PARTIAL_START.match(word)
        if partial:
            word = partial.group(1) + "-" if word.endswith("-") else "-" + partial.group(1)
        out.append(word)
    return out


@dataclass(frozen=True)
class Segment:
    """One kept utterance of one side."""

    conversation: int
    side: str  # "A" or "B"
    start: float
    end: float
    text: str

    @property
    def id(self) -> str:
        """Kaldi's ``swbd1_data_prep.sh`` id: centiseconds as awk's ``int(100*t+0.5)`` (a tie rounds up, not even)."""
        return f"sw0{self.conversation}-{self.side}_{int(100 * self.start + 0.5):06d}-{int(100 * self.end + 0.5):06d}"


def _parse(data: bytes, where: str, conversation: int, side: str) -> list[Segment]:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as err:
        raise DsregError(f"not ASCII text at byte {err.start}", path=where, fix=_FIX) from None
    out = []
    for number, line in enumerate(vendor_lines(text), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            start, end = float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise DsregError(
                f"line {number} is not '<id> <start> <end> <words>': {line!r}", path=where, fix=_FIX
            ) from None
        if not (0 <= start <= end) or not math.isfinite(end):
            raise DsregError(f"line {number}: the segment {start}–{end} s is not a time span", path=where, fix=_FIX)
        if parts[0][:7].lower() != f"sw{conversation:04d}{side}".lower():
            raise DsregError(
                f"line {number} is utterance {parts[0]}, not one of sw{conversation:04d}{side} (the file's name): "
                "its side or conversation would be cut from the wrong audio",
                path=where,
                fix=_FIX,
            )
        words = normalize_tokens(parts[3:])
        if words:
            out.append(Segment(conversation, side, start, end, " ".join(words)))
    return out


_Key = tuple[str, tuple[str, ...], tuple[tuple[int, ...], ...]]  # path, names, the transcripts' file states
_SEGMENTS: dict[_Key, tuple[Segment, ...]] = {}
# an opened transcripts tree → its key, the files stat-ed once per tree: a preparation opens its sources afresh
# (and each pool worker once), so an edit between two preparations is seen without a stat of every file per task
_KEYS: weakref.WeakKeyDictionary[SourceTree, _Key] = weakref.WeakKeyDictionary()


def _segments(tree: SourceTree) -> tuple[Segment, ...]:
    """Every kept segment of every transcript, in Kaldi id order, parsed once per process and content (every
    task needs the global order for the hold-out); a transcript edited in place is parsed again."""
    key = _KEYS.get(tree)
    if key is None:
        names = tuple(tree.names())
        key = _KEYS[tree] = (str(tree.path), names, _file_states(tree, names))
    if key not in _SEGMENTS:
        _SEGMENTS.clear()
        _SEGMENTS[key] = _parse_all(tree, key[0], key[1])
    return _SEGMENTS[key]


def _file_states(tree: SourceTree, names: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    """Device, inode, size, mtime and ctime of each transcript of a directory, or of the archive: any write to
    them changes these (a ctime cannot be set back)."""
    root = Path(tree.path)
    files = [root / n for n in names if _TRANSCRIPT.search(n)] if root.is_dir() else [root]
    states = []
    for file in files:
        st = file.stat()
        states.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(states)


def _parse_all(tree: SourceTree, path: str, names: tuple[str, ...]) -> tuple[Segment, ...]:
    found: dict[tuple[int, str], str] = {}
    for name in names:
        match = _TRANSCRIPT.search(name)
        if match is None:
            continue
        key = (int(match.group(1)), match.group(2).upper())
        if key in found:
            raise DsregError(f"two transcripts of sw{key[0]}{key[1]}: {found[key]} and {name}", path=path)
        found[key] = name
    if not found:
        raise DsregError(
            "no ms98 transcripts found (expected sw<NNNN><A|B>-ms98-a-trans.text files)",
            path=path,
            fix="give the ms98 release (swb_ms98_transcriptions) as the transcripts source",
        )
    segments = [
        s for key in sorted(found) for s in _parse(tree.read_bytes(found[key]), tree.location(found[key]), *key)
    ]
    return tuple(sorted(segments, key=lambda s: s.id))


def without_duplicates(segments: Sequence[Segment], limit: int) -> list[Segment]:
    """The segments with at most `limit` of any one text, the first in order (Kaldi's remove_dup_utts.sh)."""
    if limit < 1:
        raise DsregError(f"max_duplicates is {limit}", fix="give 1 or more (Kaldi's train_nodup uses 300)")
    seen: Counter[str] = Counter()
    kept = []
    for segment in segments:
        seen[segment.text] += 1
        if seen[segment.text] <= limit:
            kept.append(segment)
    return kept


class Switchboard(Reader):
    """Switchboard-1 (LDC97S62) conversation sides cut into utterances at the ms98 segment times."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("hold_out", "int", "how many utterances, first in Kaldi id order, form the held-out split", default=4000),
        Arg(
            "max_duplicates",
            "int",
            "at most this many utterances of one transcript in the rest (Kaldi's train_nodup: 300); none: all",
        ),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("utterances", "str", "the held-out utterances or the rest", required=True, choices=("held_out", "rest")),
    )

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        check_features(features, _COLUMNS, "Switchboard", "switchboard.yaml")

    def _split(self, sources: Mapping[str, SourceTree], split_args: Mapping[str, Any]) -> list[Segment]:
        tree = _source(sources, "transcripts")
        every = _segments(tree)
        held = self.args["hold_out"]
        if split_args["utterances"] == "held_out":
            return list(every[:held])
        limit = self.args.get("max_duplicates")
        return list(every[held:]) if limit is None else without_duplicates(every[held:], limit)

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        conversations = sorted({s.conversation for s in self._split(sources, split_args)})
        audio = _audio_files(_source(sources, "audio"))
        missing = [c for c in conversations if c not in audio]
        if missing:
            raise DsregError(
                f"{len(missing)} conversation(s) have transcripts but no audio: "
                + ", ".join(f"sw0{c}.sph" for c in missing[:10]),
                path=_source(sources, "audio").path,
                fix="give the complete LDC97S62 audio as the audio source",
            )
        return [f"sw0{c}" for c in conversations]

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        conversation = int(task[3:])
        tree = _source(sources, "audio")
        audio = Conversation(tree, _audio_files(tree)[conversation])
        declared = str(audio.fields.get("conversation_id", conversation)).strip()
        if not declared.isdigit() or int(declared) != conversation:
            raise DsregError(
                f"sw0{conversation}.sph holds conversation {declared!r} (its SPHERE header's conversation_id): "
                "the transcripts of one conversation would be cut from another's audio",
                path=tree.location(_audio_files(tree)[conversation]),
                fix="give the LDC97S62 files under their own names",
            )
        for segment in self._split(sources, split_args):
            if segment.conversation != conversation:
                continue
            yield {
                "id": segment.id,
                "audio": audio.segment(segment.side, segment.start, segment.end),
                "conversation": f"sw0{conversation}",
                "side": segment.side,
                "start": segment.start,
                "end": segment.end,
                "text": segment.text,
            }


def _audio_files(tree: SourceTree) -> dict[int, str]:
    found: dict[int, str] = {}
    for name in tree.names():
        match = _AUDIO.search(name)
        if match is None:
            continue
        conversation = int(match.group(1))
        if conversation in found:
            raise DsregError(f"two copies of sw0{conversation}.sph: {found[conversation]} and {name}", path=tree.path)
        found[conversation] = name
    return found


def _source(sources: Mapping[str, SourceTree], name: str) -> SourceTree:
    return source(sources, name, "switchboard", "audio (LDC97S62) and transcripts (ms98)")
