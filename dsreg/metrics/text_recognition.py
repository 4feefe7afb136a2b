"""Text recognition (ICDAR, IAM): character error rate and word accuracy.

CER is corpus-level, as IAM/HTR results are reported: the sum over rows of the Levenshtein distance between
prediction and reference, in Unicode code points after normalisation, divided by the sum of the reference
lengths. An empty reference adds its prediction's length to the edits and nothing to the denominator; a split
whose references are all empty has no CER. Word accuracy is ICDAR's "correctly recognised words": the share of
rows whose prediction equals the reference exactly, case-sensitive and case-insensitive.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import Feature, Text
from dsreg.metrics import Metric, Score
from dsreg.readers import Arg
from dsreg.vendorlines import vendor_lines

NORMALIZATIONS = ("NFC", "NFKC", "NFD", "NFKD", "none")


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of code points), by Hyyrö's bit-parallel algorithm:
    one pass over `b` with `len(a)`-bit integers, exact like the textbook dynamic programme."""
    if not a or not b:
        return len(a) + len(b)
    m = len(a)
    mask, high = (1 << m) - 1, 1 << (m - 1)
    peq: dict[str, int] = {}
    for i, char in enumerate(a):
        peq[char] = peq.get(char, 0) | (1 << i)
    pv, mv, score = mask, 0, m
    for char in b:
        eq = peq.get(char, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & mask)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
    return score


def read_text_lines(path: Path) -> list[str]:
    """A plain-text file's lines, exactly: UTF-8 (a leading byte-order mark dropped), split on '\\n' (a '\\r'
    before it dropped), nothing else stripped."""
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is not text
    except UnicodeDecodeError as err:
        raise DsregError(
            f"not UTF-8 text ({err.reason} at byte {err.start})", path=path, fix="save it as UTF-8"
        ) from None
    return vendor_lines(text)


class _TextMetric(Metric):
    """Shared by CER and word accuracy: a text reference, a string prediction, Unicode normalisation."""

    native_suffixes: ClassVar[tuple[str, ...]] = (".txt",)

    def __init__(self, name: str, args: Any, reference: Feature | Sequence[Feature]):
        super().__init__(name, args, reference)
        if not isinstance(reference, Text):
            raise DsregError(
                f"metric {name!r} needs one text column as reference, not {reference!r}",
                fix="point evaluation.reference at the transcription column",
            )

    def prediction(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise DsregError(f"{where}: transcription {value!r} is not a string", fix="write the recognised text")
        return value

    def read_native(self, path: Path) -> list[Any]:
        return read_text_lines(path)

    def normalize(self, text: str) -> str:
        form = self.args["normalization"]
        return text if form == "none" else unicodedata.normalize(form, text)


NORMALIZATION = Arg(
    "normalization", "str", "Unicode normalisation of both sides first", default="NFC", choices=NORMALIZATIONS
)


class CharacterErrorRate(_TextMetric):
    """Character error rate: total edit distance over total reference characters (corpus-level, lower is better)."""

    version = "2"  # 2: casefolded text is normalised again
    arguments = (
        NORMALIZATION,
        Arg("ignore_case", "bool", "compare case-folded text (str.casefold)", default=False),
        Arg("collapse_whitespace", "bool", "strip, and turn each run of whitespace into one space", default=False),
    )

    def _prepare(self, text: str) -> str:
        text = self.normalize(text)
        if self.args["collapse_whitespace"]:
            text = " ".join(text.split())
        # casefolding can leave text unnormalised ('ΐ' folds to three code points): normalise again
        return self.normalize(text.casefold()) if self.args["ignore_case"] else text

    def compute(self, references: Sequence[Any] | np.ndarray, predictions: Sequence[Any]) -> Score:
        refs = [self._prepare(str(r)) for r in references]
        hyps = [self._prepare(p) for p in predictions]
        edits = sum(levenshtein(r, h) for r, h in zip(refs, hyps, strict=True))
        chars = sum(len(r) for r in refs)
        if chars == 0:
            raise DsregError(
                "every reference is empty, so the character error rate is undefined",
                fix="evaluate a split with transcriptions",
            )
        options = f"{self.args['normalization']}|case:{'insensitive' if self.args['ignore_case'] else 'sensitive'}"
        options += "|space:collapsed" if self.args["collapse_whitespace"] else "|space:kept"
        details = {"edits": edits, "reference_chars": chars, "rows": len(refs)}
        return Score({"cer": edits / chars}, "cer", False, f"cer|v{self.version}|{options}", details)


class WordAccuracy(_TextMetric):
    """Word accuracy: the share of rows recognised exactly, case-sensitive and case-insensitive (ICDAR)."""

    version = "1"
    arguments = (
        NORMALIZATION,
        Arg(
            "rank_by",
            "str",
            "which value ranks submissions (ICDAR's challenges rank case-sensitive)",
            default="case_sensitive",
            choices=("case_insensitive", "case_sensitive"),
        ),
    )

    def compute(self, references: Sequence[Any] | np.ndarray, predictions: Sequence[Any]) -> Score:
        pairs = [(self.normalize(str(r)), self.normalize(p)) for r, p in zip(references, predictions, strict=True)]
        if not pairs:
            raise DsregError("the split has no rows to evaluate")
        exact = sum(r == p for r, p in pairs) / len(pairs)
        folded = sum(self.normalize(r.casefold()) == self.normalize(p.casefold()) for r, p in pairs) / len(pairs)
        values = {"word_accuracy": exact, "word_accuracy_ci": folded}
        primary = "word_accuracy_ci" if self.args["rank_by"] == "case_insensitive" else "word_accuracy"
        signature = f"word_accuracy|v{self.version}|{self.args['normalization']}|casefold"
        return Score(values, primary, True, signature, {"rows": len(pairs)})
