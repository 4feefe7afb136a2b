"""Hub5'00 English evaluation (eval2000: LDC2002S09 audio + LDC2002T43 transcripts) cut by the official STM.

Two sources: ``audio`` (``hub5e_00/english/<file>.sph``, two-channel 8 kHz SPHERE) and ``transcripts`` (the
reference ``hub5e00.english.000405.stm``, found anywhere, any case). Each STM line ``<file> <channel>
<speaker> <begin> <end> [<tags>] <text>`` is one row, cut from its channel (A = channel 1, B = channel 2)
at samples ``floor(t·8000 + ½)`` (an end less than 0.5 s past the audio is cut there, a segment further past it
refused); lines marked ``IGNORE_TIME_SEGMENT_IN_SCORING`` are not scored
and not kept. Each row is tagged ``swbd`` (files ``sw_*``: the 20 Switchboard-2 conversations) or
``callhome`` (files ``en_*``: the 20 CallHome conversations), the halves WER is reported on. The text is the
STM's, markup included (``(%HESITATION)``, ``{A / AN}``): scoring applies the GLM. One task per file. The STM
and the Hub5 GLM (``en20000405_hub5.glm``, in the same ``reference/`` folder) are published as the dataset's
assets ``stm`` and ``glm``: the `wer` metric reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.readers import Arg, Output, Reader, ReaderAsset
from dsreg.sourcetree import SourceTree
from dsreg.speech.conversations import Conversation, check_features, source
from dsreg.speech.stm import StmSegment, parse_stm

_STM_NAME = re.compile(r"(?:^|/)hub5e00\.english\.000405\.stm$", re.I)
_GLM_NAME = re.compile(r"(?:^|/)en20000405_hub5\.glm$", re.I)
_AUDIO = re.compile(r"(?:^|/)((?:sw|en)_\d{4})\.sph$", re.I)
_COLUMNS = ("id", "audio", "conversation", "side", "speaker", "subset", "start", "end", "text")
_FIX = "copy hub5e00.english.000405.stm again from LDC2002T43"


class Eval2000(Reader):
    """Hub5'00 English (eval2000) cut by the official STM segments, each tagged swbd or callhome."""

    arguments: ClassVar[tuple[Arg, ...]] = ()
    split_arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("subset", "str", "which half: swbd, callhome, or all", default="all", choices=("all", "swbd", "callhome")),
    )

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        check_features(features, _COLUMNS, "eval2000", "eval2000.yaml")

    def assets(self, sources: Mapping[str, SourceTree]) -> list[ReaderAsset]:
        """The reference STM (role ``stm``: its ignored regions) and the Hub5 GLM (role ``glm``), for `wer`."""
        tree = _source(sources, "transcripts")
        return [
            ReaderAsset("hub5e00.english.000405.stm", tree.read_bytes(self._stm_name(tree)), "stm"),
            ReaderAsset("en20000405_hub5.glm", tree.read_bytes(_one(tree, _GLM_NAME, "en20000405_hub5.glm")), "glm"),
        ]

    def _stm_name(self, tree: SourceTree) -> str:
        return _one(tree, _STM_NAME, "hub5e00.english.000405.stm")

    def _segments(self, sources: Mapping[str, SourceTree], split_args: Mapping[str, Any]) -> list[StmSegment]:
        tree = _source(sources, "transcripts")
        name = self._stm_name(tree)
        where = tree.location(name)
        try:
            text = tree.read_bytes(name).decode("ascii")
        except UnicodeDecodeError as err:
            raise DsregError(f"not ASCII text at byte {err.start}", path=where, fix=_FIX) from None
        subset = split_args["subset"]
        return [s for s in parse_stm(text, where) if subset in ("all", s.subset)]

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        files = sorted({s.file for s in self._segments(sources, split_args)})
        audio = _audio_files(_source(sources, "audio"))
        missing = [f for f in files if f not in audio]
        if missing:
            raise DsregError(
                f"{len(missing)} STM file(s) have no audio: " + ", ".join(f"{f}.sph" for f in missing[:10]),
                path=_source(sources, "audio").path,
                fix="give the complete LDC2002S09 audio (hub5e_00/english) as the audio source",
            )
        return files

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree = _source(sources, "audio")
        conversation = Conversation(tree, _audio_files(tree)[task])
        segments = sorted((s for s in self._segments(sources, split_args) if s.file == task), key=lambda s: s.id)
        for segment in segments:
            yield {
                "id": segment.id,
                "audio": conversation.segment(segment.channel, segment.start, segment.end),
                "conversation": segment.file,
                "side": segment.channel,
                "speaker": segment.speaker,
                "subset": segment.subset,
                "start": segment.start,
                "end": segment.end,
                "text": segment.text,
            }


def _one(tree: SourceTree, pattern: re.Pattern[str], name: str) -> str:
    """The one member of the transcripts source named `name` (any folder, any case)."""
    hits = [n for n in tree.names() if pattern.search(n)]
    if len(hits) != 1:
        raise DsregError(
            f"expected one {name} in the transcripts source, found {len(hits)}: {hits[:3]}",
            path=tree.path,
            fix="give LDC2002T43 (2000_hub5_eng_eval_tr, whose reference/ folder holds the STM and the GLM) as the "
            "transcripts source",
        )
    return hits[0]


def _audio_files(tree: SourceTree) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in tree.names():
        match = _AUDIO.search(name)
        if match is None:
            continue
        key = match.group(1).lower()
        if key in found:
            raise DsregError(f"two copies of {key}.sph: {found[key]} and {name}", path=tree.path)
        found[key] = name
    return found


def _source(sources: Mapping[str, SourceTree], name: str) -> SourceTree:
    return source(sources, name, "eval2000", "audio (LDC2002S09) and transcripts (LDC2002T43)")
