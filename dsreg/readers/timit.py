"""TIMIT (LDC93S1) from its LDC tree: utterances with audio, speaker facts, prompt, word and phone alignments.

The tree ``{TRAIN,TEST}/DR<n>/<sex><id>/<utt>.{WAV,PHN,WRD,TXT}`` is found wherever it sits in the source
(``TIMIT/``, ``timit/``, ``data/`` or nothing above it) and in any letter case. A split takes one part and,
optionally, a speaker list: the recipe's Kaldi protocol lists the 50 dev and 24 core-test speakers. Sample
offsets are clamped to the audio (a real file ends one sample past it); a line ending more than 10 ms
past the audio is refused (a truncated .WAV), as
is a .WAV whose header's utterance_id names another utterance. Phones come at 61 labels with their
48- and 39-label folds (``q`` deleted there). One task per dialect region.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from dsreg.audio.sphere import parse_header, read_sphere
from dsreg.errors import DsregError
from dsreg.features import Audio, Features
from dsreg.readers import Arg, Output, Reader
from dsreg.sourcetree import SourceTree
from dsreg.speech.phones import PHONES_61, fold_phone
from dsreg.vendorlines import vendor_lines

_FILE = re.compile(r"(?:^|/)(train|test)/dr([1-8])/([fm][a-z]{3}[0-9])/(s[aix][0-9]+)\.(wav|phn|wrd|txt)$", re.I)
_EXTENSIONS = ("wav", "phn", "wrd", "txt")
_COLUMNS = ("id", "audio", "speaker", "dialect_region", "sex", "text", "words", "phones", "phones_48", "phones_39")
_FIX = "copy the file again from the TIMIT distribution (LDC93S1)"
LATE = 160  # samples (10 ms) a .TXT/.WRD/.PHN line may end past the audio; the real MRVG0/SA1.TXT ends 1 past


@dataclass
class _Speaker:
    part: str
    region: int
    utterances: dict[str, dict[str, str]] = field(default_factory=dict)  # utt → extension → member


def _index(tree: SourceTree) -> dict[str, _Speaker]:
    """Speaker (lower case) → where it is and its utterances' members; refuses two copies of a file.

    Every task asks, so the index is kept per list of member names (what it is computed from).
    """
    return _index_names(str(tree.path), tuple(tree.names()))


@functools.lru_cache(maxsize=4)
def _index_names(path: str, names: tuple[str, ...]) -> dict[str, _Speaker]:
    speakers: dict[str, _Speaker] = {}
    for name in names:
        match = _FILE.search(name)
        if match is None:
            continue
        part, region, speaker, utt, ext = (g.lower() for g in match.groups())
        entry = speakers.setdefault(speaker, _Speaker(part, int(region)))
        if (entry.part, entry.region) != (part, int(region)):
            raise DsregError(
                f"speaker {speaker} appears under {entry.part}/dr{entry.region} and {part}/dr{region}",
                path=f"{path}::{name}",
                fix="give a source holding one copy of TIMIT",
            )
        files = entry.utterances.setdefault(utt, {})
        if ext in files:
            raise DsregError(
                f"two copies of {speaker}/{utt}.{ext}: {files[ext]} and {name}",
                path=path,
                fix="give a source holding one copy of TIMIT",
            )
        files[ext] = name
    if not speakers:
        raise DsregError(
            "no TIMIT utterances found (expected TRAIN|TEST/DR<n>/<speaker>/<utt>.WAV/.PHN/.WRD/.TXT, any case)",
            path=path,
            fix="give the TIMIT distribution (LDC93S1) directory or archive as the source",
        )
    return speakers


def _lines(tree: SourceTree, member: str) -> list[tuple[int, int, str, int]]:
    """``<begin> <end> <label>`` lines as (begin, end, label, line number)."""
    where = tree.location(member)
    try:
        text = tree.read_bytes(member).decode("ascii")
    except UnicodeDecodeError as err:
        raise DsregError(f"not ASCII text at byte {err.start}", path=where, fix=_FIX) from None
    out = []
    for number, line in enumerate(vendor_lines(text), 1):
        if not line.strip():
            continue
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise DsregError(f"line {number} is not '<begin> <end> <label>': {line!r}", path=where, fix=_FIX)
        begin, end = int(parts[0]), int(parts[1])
        if end < begin:
            raise DsregError(f"line {number} ends ({end}) before it begins ({begin})", path=where, fix=_FIX)
        out.append((begin, end, parts[2].strip(), number))
    return out


class Timit(Reader):
    """TIMIT (LDC93S1) from its LDC tree in any case: audio, speaker, region, sex, prompt, word and phone alignments."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "include_sa",
            "bool",
            "keep the two SA sentences every speaker reads (Kaldi's protocol drops them)",
            default=False,
        ),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("part", "str", "the LDC part the split's speakers come from", required=True, choices=("train", "test")),
        Arg("speakers", "list[str]", "the split's speakers (lower case); empty: every speaker of the part", default=[]),
    )

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        if sorted(features.names()) != sorted(_COLUMNS):
            raise DsregError(
                f"the timit reader fills the columns {list(_COLUMNS)}, but the features are {features.names()}",
                fix="declare exactly these features in the recipe (see recipes/timit.yaml)",
            )
        audio = features["audio"]
        if not isinstance(audio, Audio) or audio.dtype != "int16" or audio.sample_rate != 16000:
            raise DsregError(
                f"features.audio is {audio.to_json()}, but TIMIT is 16-bit PCM at 16 kHz",
                fix="declare audio as {type: audio, dtype: int16, sample_rate: 16000}",
            )

    def _speakers(self, tree: SourceTree, split: str, split_args: Mapping[str, Any]) -> dict[str, _Speaker]:
        """The split's speakers and where they are; a listed speaker missing from the part is an error."""
        index = _index(tree)
        part = split_args["part"]
        wanted = [s.lower() for s in split_args["speakers"]] or sorted(s for s, e in index.items() if e.part == part)
        missing = [s for s in wanted if s not in index or index[s].part != part]
        if missing:
            raise DsregError(
                f"split {split}: {len(missing)} listed speaker(s) are not in the {part} part of the source: "
                + ", ".join(missing[:10]),
                path=tree.path,
                fix="give the complete TIMIT distribution (all 630 speakers)",
            )
        return {s: index[s] for s in wanted}

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        speakers = self._speakers(_tree(sources), split, split_args)
        return [f"dr{region}" for region in sorted({s.region for s in speakers.values()})]

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree = _tree(sources)
        speakers = self._speakers(tree, split, split_args)
        for speaker in sorted(s for s, e in speakers.items() if f"dr{e.region}" == task):
            entry = speakers[speaker]
            for utt in sorted(entry.utterances):
                if utt.startswith("sa") and not self.args["include_sa"]:
                    continue
                yield self._utterance(tree, speaker, entry, utt)

    def _utterance(self, tree: SourceTree, speaker: str, entry: _Speaker, utt: str) -> dict[str, Any]:
        files = entry.utterances[utt]
        absent = [ext.upper() for ext in _EXTENSIONS if ext not in files]
        if absent:
            some = next(iter(files.values()))
            raise DsregError(
                f"utterance {speaker}/{utt} has no {', '.join(absent)} file", path=tree.location(some), fix=_FIX
            )
        where = tree.location(files["wav"])
        data = tree.read_bytes(files["wav"])
        samples, rate = read_sphere(data, where=where)
        declared = str(parse_header(data, where).fields.get("utterance_id", f"{speaker[1:]}_{utt}")).strip().lower()
        if declared != f"{speaker[1:]}_{utt}":
            raise DsregError(
                f"the .WAV of {speaker}/{utt} says it is utterance {declared!r} (its SPHERE utterance_id), not "
                f"{speaker[1:]}_{utt}: its audio would be paired with another utterance's text and alignments",
                path=where,
                fix=_FIX,
            )
        if samples.shape[0] != 1 or rate != 16000:
            raise DsregError(
                f"TIMIT audio must be mono 16 kHz, this is {samples.shape[0]} channels at {rate} Hz", path=where
            )
        frames = samples.shape[1]
        prompt = _lines(tree, files["txt"])
        if len(prompt) != 1:
            raise DsregError("a .TXT file holds one '<begin> <end> <prompt>' line", path=tree.location(files["txt"]))
        words = _lines(tree, files["wrd"])
        phones = _lines(tree, files["phn"])
        for ext, lines in (("txt", prompt), ("wrd", words), ("phn", phones)):
            _check_ends(lines, frames, tree.location(files[ext]))
        for _, _, label, number in phones:
            if label not in PHONES_61:
                raise DsregError(
                    f"line {number}: {label!r} is not one of TIMIT's 61 phones",
                    path=tree.location(files["phn"]),
                    fix=_FIX,
                )
        row: dict[str, Any] = {
            "id": f"{speaker}_{utt}",
            "audio": samples[0],
            "speaker": speaker,
            "dialect_region": f"dr{entry.region}",
            "sex": speaker[0],
            "text": prompt[0][2],
            "words": _aligned(words, frames, "word"),
            "phones": _aligned(phones, frames, "phone"),
        }
        for level in (48, 39):
            folded = [(b, e, fold_phone(p, level), n) for b, e, p, n in phones]
            row[f"phones_{level}"] = _aligned([(b, e, p, n) for b, e, p, n in folded if p is not None], frames, "phone")
        return row


def _check_ends(lines: list[tuple[int, int, str, int]], frames: int, where: str) -> None:
    """Refuse a line ending more than `LATE` samples past the audio: the .WAV is cut short or another
    utterance's, and clamping would pair the words and phones with audio that does not hold them."""
    for _, end, _, number in lines:
        if end > frames + LATE:
            raise DsregError(
                f"line {number} ends at sample {end}, {end - frames} past the end of the audio ({frames} samples)",
                path=where,
                fix="the utterance's .WAV is truncated or not its own: " + _FIX,
            )


def _aligned(lines: list[tuple[int, int, Any, int]], frames: int, key: str) -> dict[str, Any]:
    """Struct-of-arrays of an alignment, offsets clamped to the audio's `frames`."""
    begins = np.minimum(np.array([b for b, _, _, _ in lines], dtype=np.int64), frames).astype(np.int32)
    ends = np.minimum(np.array([e for _, e, _, _ in lines], dtype=np.int64), frames).astype(np.int32)
    return {"start": begins, "end": ends, key: [label for _, _, label, _ in lines]}


def _tree(sources: Mapping[str, SourceTree]) -> SourceTree:
    if len(sources) != 1:
        raise DsregError(
            f"the timit reader reads exactly one source, the recipe gives {len(sources)}: {sorted(sources)}",
            fix="list one source: the TIMIT distribution directory or archive",
        )
    return next(iter(sources.values()))
