"""Phone error rate (TIMIT): edit distance between phone sequences over reference phones, after 39-folding.

The standard TIMIT protocol (Lee & Hon 1989, as Kaldi scores it) folds both hypothesis and reference from 61
(or 48) labels to 39 and deletes the glottal stop ``q`` before aligning; PER is corpus-level: total
substitutions + deletions + insertions over the total number of reference phones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import Feature, Struct, Text
from dsreg.features import Sequence as SequenceFeature
from dsreg.metrics import Metric, Score
from dsreg.metrics.text_recognition import levenshtein, read_text_lines
from dsreg.readers import Arg
from dsreg.speech.phones import fold


def token_edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (each distinct token becomes one code point)."""
    codes: dict[str, str] = {}
    ref = "".join(codes.setdefault(t, chr(0xE000 + len(codes))) for t in reference)
    hyp = "".join(codes.setdefault(t, chr(0xE000 + len(codes))) for t in hypothesis)
    return levenshtein(ref, hyp)


def phone_error_rate(
    references: Iterable[Sequence[str]], hypotheses: Iterable[Sequence[str]], *, fold39: bool = True
) -> float:
    """Corpus PER: total edits / total reference phones, both sides folded to 39 labels (``q`` deleted) first."""
    edits = phones = 0
    for row, (ref, hyp) in enumerate(zip(references, hypotheses, strict=True)):
        if fold39:
            ref_list, hyp_list = _folded(ref, row, "reference"), _folded(hyp, row, "hypothesis")
        else:
            ref_list, hyp_list = list(ref), list(hyp)
        edits += token_edit_distance(ref_list, hyp_list)
        phones += len(ref_list)
    if phones == 0:
        raise DsregError("every reference is empty, so the phone error rate is undefined")
    return edits / phones


def _folded(phones: Sequence[str], row: int, side: str) -> list[str]:
    """`phones` folded to 39 labels; a label that is none of TIMIT's is refused naming the row and the label."""
    try:
        return fold(phones, 39)
    except KeyError as err:
        raise DsregError(
            f"row {row}: the {side} phone {err.args[0]!r} is not a TIMIT 61-, 48- or 39-phone label",
            fix="write TIMIT's lower-case labels (h#, aa, ...), or set fold: false to compare the labels as they are",
        ) from None


def _phones(value: Any) -> list[str]:
    """Phone labels of a reference value: a list of strings, or a sequence of {start, end, phone} structs."""
    if isinstance(value, Mapping):  # struct of arrays
        return [str(p) for p in value["phone"]]
    return [str(v["phone"]) if isinstance(v, Mapping) else str(v) for v in value]


class PhoneErrorRate(Metric):
    """Phone error rate after folding hypothesis and reference to TIMIT's 39 phones (q deleted); corpus-level."""

    version = "1"
    arguments = (Arg("fold", "bool", "fold both sides from 61/48 labels to the 39 scoring labels first", default=True),)
    native_suffixes: ClassVar[tuple[str, ...]] = (".txt",)

    def __init__(self, name: str, args: Any, reference: Feature | Sequence[Feature]):
        super().__init__(name, args, reference)
        element = reference.feature if isinstance(reference, SequenceFeature) else None
        if not (
            isinstance(element, Text) or (isinstance(element, Struct) and isinstance(element.fields.get("phone"), Text))
        ):
            raise DsregError(
                f"metric {name!r} needs a phone sequence as reference (text, or structs with a 'phone' field)",
                fix="point evaluation.reference at the phones column",
            )

    def prediction(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise DsregError(f"{where}: {value!r} is not a phone sequence", fix="give phones as a list or a spaced string")

    def read_native(self, path: Path) -> list[Any]:
        return [line.split() for line in read_text_lines(path)]

    def compute(self, references: Sequence[Any] | np.ndarray, predictions: Sequence[Any]) -> Score:
        refs = [_phones(r) for r in references]
        fold39 = bool(self.args["fold"])
        per = phone_error_rate(refs, predictions, fold39=fold39)
        count = sum(len(fold(r, 39) if fold39 else r) for r in refs)
        signature = f"per|v{self.version}|{'fold39' if fold39 else 'nofold'}"
        return Score({"per": per}, "per", False, signature, {"reference_phones": count, "rows": len(refs)})
