"""Word error rate the NIST way: sclite (``-F -D``) after ``csrfilt.sh -dh`` with the GLM, as Hub5 is scored.

References are STM segments (the rows); both sides pass through `dsreg.speech.glm.filter_transcript` (the GLM's
``stm`` rules on references, its ``ctm`` rules on hypotheses), then are aligned segment by segment with sclite's
costs by `dsreg.metrics.alignment`. Hypotheses are a CTM, whose words are placed in segments by time as sclite
places them, or one text per segment keyed by the row id. WER is corpus-level — (S + D + I) / reference words,
a fraction — for the whole split and for each subset (eval2000: ``swbd`` and ``callhome``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import Feature, Scalar, Text
from dsreg.metrics import Metric, Score, WholeSplit
from dsreg.metrics.alignment import Counts, align, network
from dsreg.readers import Arg
from dsreg.speech.ctm import CtmWord, read_ctm
from dsreg.speech.glm import Glm, filter_transcript, read_glm
from dsreg.speech.stm import StmSegment, parse_stm

if TYPE_CHECKING:
    from dsreg.manifest import Manifest

LAYOUT_FIX = (
    "set evaluation.reference to [text] (per-segment text only), [text, conversation, side, start, end] or "
    "[text, subset, conversation, side, start, end] (CTM accepted, WER per subset)"
)
SHOWN = 5


@dataclass(frozen=True)
class Segment:
    """One reference row as the metric reads it."""

    text: str
    subset: str | None = None
    file: str = ""
    channel: str = ""
    start: float = 0.0
    end: float = 0.0


@dataclass(frozen=True)
class Filtered:
    """A hypothesis already filtered word by word (CTM words placed in a segment), ready to align."""

    text: str


class WordErrorRate(Metric):
    """Word error rate as NIST sclite scores Hub5 (GLM, optional words, fragments), overall and per subset."""

    version = "1"
    arguments = (
        Arg(
            "glm", "str", "role of the dataset's asset holding the GLM applied to both sides (empty: none)", default=""
        ),
        Arg(
            "stm",
            "str",
            "role of the dataset's asset holding the STM, whose IGNORE_TIME_SEGMENT_IN_SCORING regions drop the "
            "CTM words in them (empty: none)",
            default="",
        ),
        Arg("ignore_words", "list[str]", "words removed from both sides before aligning (any case)", default=[]),
    )
    native_suffixes: ClassVar[tuple[str, ...]] = (".ctm",)

    def __init__(self, name: str, args: Any, reference: Feature | Sequence[Feature]):
        super().__init__(name, args, reference)
        kinds = [reference] if isinstance(reference, Feature) else list(reference)
        texts = [Text] * (len(kinds) - 2) + [Scalar, Scalar] if len(kinds) in (5, 6) else [Text]
        if len(kinds) not in (1, 5, 6) or not all(isinstance(f, kind) for f, kind in zip(kinds, texts, strict=True)):
            raise DsregError(f"metric {name!r} cannot use the reference columns {kinds}", fix=LAYOUT_FIX)
        self.columns = len(kinds)
        self.glm: Glm | None = None
        self.ignored: list[StmSegment] = []
        self.drop = frozenset(str(w).upper() for w in self.args["ignore_words"] or [])
        self.placement: dict[str, Any] = {}  # how `assign` placed a CTM's words, reported with the score

    def attach(self, manifest: Manifest) -> None:
        super().attach(manifest)
        if self.args["glm"]:
            self.glm = read_glm(manifest.asset_path(self.args["glm"]), manifest.read_asset(self.args["glm"]))
        if self.args["stm"]:
            path = manifest.asset_path(self.args["stm"])
            text = manifest.read_asset(self.args["stm"]).decode("latin-1")
            self.ignored = [s for s in parse_stm(text, str(path), keep_ignored=True) if s.ignored]

    def prediction(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise DsregError(f"{where}: hypothesis {value!r} is not a string", fix="write the recognised words")
        return value

    def read_native(self, path: Path) -> WholeSplit:
        words = read_ctm(path)
        return WholeSplit(words, f"{len(words)} CTM words of {path}")

    def _segment(self, value: Any) -> Segment:
        if self.columns == 1:
            return Segment(str(value))
        values = list(value)
        subset = str(values.pop(1)) if self.columns == 6 else None
        text, file, channel, start, end = values
        return Segment(str(text), subset, str(file).lower(), str(channel).upper(), float(start), float(end))

    def assign(self, references: Sequence[Any] | np.ndarray, predictions: WholeSplit) -> list[Any]:
        """Each segment's CTM words, placed as sclite places them (see `place_words`), filtered word by word."""
        if self.columns == 1:
            raise DsregError(
                f"metric {self.name!r} cannot place {predictions.what} without segment times", fix=LAYOUT_FIX
            )
        segments = [self._segment(r) for r in references]
        placement = place_words(segments, self.ignored, predictions.value, self.glm, self.dataset or "the split")
        self.placement = placement.summary(segments)
        return [Filtered(" ".join(units)) for units in placement.units]

    def compute(self, references: Sequence[Any] | np.ndarray, predictions: Sequence[Any]) -> Score:
        totals: dict[str, Counts] = {"all": Counts()}
        rows: dict[str, int] = {"all": 0}
        for value, hypothesis in zip(references, predictions, strict=True):
            segment = self._segment(value)
            ref = filter_transcript(segment.text, self.glm, "stm")
            hyp = (
                hypothesis.text if isinstance(hypothesis, Filtered) else filter_transcript(hypothesis, self.glm, "ctm")
            )
            counts = align(network(ref, self.drop), network(hyp, self.drop))
            for key in ("all", *((segment.subset,) if segment.subset else ())):
                totals[key] = totals.get(key, Counts()) + counts
                rows[key] = rows.get(key, 0) + 1
        if totals["all"].reference_words == 0:
            raise DsregError("no reference words in the split, so the word error rate is undefined")
        values = {"wer": totals["all"].errors / totals["all"].reference_words}
        for key in sorted(k for k in totals if k != "all"):
            if totals[key].reference_words:
                values[f"wer_{key}"] = totals[key].errors / totals[key].reference_words
        details: dict[str, Any] = {key: _counts(totals[key], rows[key]) for key in totals}
        if self.placement:
            details["ctm"] = self.placement
            silent = self.placement["sides_without_words"]
            if silent:
                details["warning"] = (
                    f"the CTM has no word at all for conversation side(s) {', '.join(silent)}: their segments "
                    "are scored as deletions (a CTM cut short, or missing a file?)"
                )
        return Score(values, "wer", False, self.signature(), details)

    def signature(self) -> str:
        parts = [
            f"wer|v{self.version}",
            f"glm:{self.glm.signature if self.glm else 'none'}",
            f"ignore-regions:{'stm' if self.args['stm'] else 'none'}",
            "sclite:sub4/ins3/del3|-D|-F|csrfilt:-dh|case:insensitive|ctm:midpoint",
        ]
        if self.drop:
            parts.append("drop:" + ",".join(sorted(self.drop)))
        return "|".join(parts)


def _counts(counts: Counts, segments: int) -> dict[str, int]:
    return {
        "reference_words": counts.reference_words,
        "correct": counts.correct,
        "substitutions": counts.substitutions,
        "deletions": counts.deletions,
        "insertions": counts.insertions,
        "errors": counts.errors,
        "segments": segments,
    }


def _units(word: CtmWord, glm: Glm | None) -> list[tuple[float, str]]:
    """A CTM word after the GLM, as csrfilt rewrites a CTM: an alternation stays one unit (its midpoint the
    latest of its words'), other words share the original span evenly; each with its midpoint."""
    text = filter_transcript(word.word, glm, "ctm")
    if not text:
        return []
    if "{" in text:
        alternatives = [a.replace("{", " ").replace("}", " ").split() for a in text.split("/")]
        latest = max(word.start + word.duration * (2 * len(a) - 1) / (2 * len(a)) for a in alternatives if a)
        return [(latest, text)]
    tokens = text.split()
    share = word.duration / len(tokens)
    return [(word.start + share * (i + 0.5), token) for i, token in enumerate(tokens)]


@dataclass(frozen=True)
class Placement:
    """What `place_words` did: each segment's filtered units, and the words dropped in ignored regions."""

    units: list[list[str]]
    words: int
    dropped: int

    def summary(self, segments: Sequence[Segment]) -> dict[str, Any]:
        """Counts for the score's details, with the conversation sides that got no word at all (all deletions)."""
        sides = {(s.file, s.channel) for s in segments}
        heard = {(s.file, s.channel) for s, units in zip(segments, self.units, strict=True) if units}
        silent = sorted(f"{f} {c}" for f, c in sides - heard)
        return {
            "words": self.words,
            "dropped_in_ignored_regions": self.dropped,
            "segments_without_words": sum(not units for units in self.units),
            "sides_without_words": silent[:SHOWN]
            + ([f"and {len(silent) - SHOWN} more"] if len(silent) > SHOWN else []),
        }


def place_words(
    segments: Sequence[Segment],
    ignored: Sequence[StmSegment],
    words: Sequence[CtmWord],
    glm: Glm | None,
    what: str = "the split",
) -> Placement:
    """The filtered hypothesis units of each segment, as sclite's ``segment_hyp_for_utt`` places them.

    Per conversation side, segments (and ignored regions) in time order, words in begin-time order: a word goes
    to the first segment not yet passed whose end is after its midpoint, so a word between two segments goes to
    the later one; the side's last segment takes every word left. Words placed in an ignored region are dropped.
    A word on a side with no segment in `what` is an error naming the first few such sides."""
    sides: dict[tuple[str, str], list[tuple[float, float, int | None]]] = {}
    for index, segment in enumerate(segments):
        sides.setdefault((segment.file, segment.channel), []).append((segment.start, segment.end, index))
    for region in ignored:
        if (region.file, region.channel) in sides:
            sides[(region.file, region.channel)].append((region.start, region.end, None))
    by_side: dict[tuple[str, str], list[CtmWord]] = {}
    for word in words:
        by_side.setdefault((word.file, word.channel), []).append(word)
    unknown = sorted(k for k in by_side if k not in sides)
    if unknown:
        shown = ", ".join(f"{f} {c}" for f, c in unknown[:SHOWN]) + (
            f" and {len(unknown) - SHOWN} more" if len(unknown) > SHOWN else ""
        )
        raise DsregError(
            f"the CTM has words for {len(unknown)} conversation side(s) with no segment in {what}: {shown}",
            fix="score the split these conversations belong to, or remove their words (file and channel as the STM "
            "spells them, e.g. 'en_4156 A')",
        )
    placed: list[list[str]] = [[] for _ in segments]
    dropped = 0
    for key, side_words in by_side.items():
        spans = sorted(sides[key], key=lambda s: (s[0], s[1]))
        current = 0
        for word in sorted(side_words, key=lambda w: w.start):
            for midpoint, unit in _units(word, glm):
                while current < len(spans) - 1 and midpoint >= spans[current][1]:
                    current += 1
                target = spans[current][2]
                if target is None:
                    dropped += 1
                else:
                    placed[target].append(unit)
    return Placement(placed, len(words), dropped)
