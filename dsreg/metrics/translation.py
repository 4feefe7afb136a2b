"""BLEU and chrF of translations (WMT), computed by sacrebleu itself, against every reference of each segment.

The recorded signature is sacrebleu's own (`nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`), so
a score states its tokenizer, casing, smoothing and sacrebleu version, as WMT papers report it. References
are a text column, a sequence-of-text column (several references per segment) or several text columns; a
segment may have fewer references than others (sacrebleu's variable-reference mode). Predictions are one
detokenized hypothesis per segment; the native format is sacrebleu's: plain text, one line per segment in
split order (`.txt`, `.detok`; lines read as sacrebleu reads them, trailing whitespace removed).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import Feature, Text
from dsreg.features import Sequence as SequenceFeature
from dsreg.metrics import Metric, Score
from dsreg.readers import Arg


def _is_text(feature: Feature) -> bool:
    return isinstance(feature, Text) or (isinstance(feature, SequenceFeature) and isinstance(feature.feature, Text))


def read_lines(path: Path) -> list[str]:
    """A plain-text file's lines as sacrebleu reads a system output: UTF-8, split on '\\n', trailing space stripped;
    a leading byte order mark is dropped (sacrebleu would glue it to the first hypothesis's first word)."""
    try:
        with open(path, encoding="utf-8-sig", newline="\n") as f:
            return [line.rstrip() for line in f]
    except UnicodeDecodeError as err:
        raise DsregError(
            f"not UTF-8 text ({err.reason} at byte {err.start})", path=path, fix="save it as UTF-8"
        ) from None


class _Sacrebleu(Metric):
    """Shared by BLEU and chrF: text predictions, references of every row gathered into sacrebleu's streams."""

    native_suffixes: ClassVar[tuple[str, ...]] = (".txt", ".detok")
    value_name: ClassVar[str]

    def __init__(self, name: str, args: Any, reference: Feature | Sequence[Feature]):
        super().__init__(name, args, reference)
        features = list(reference) if isinstance(reference, (list, tuple)) else [reference]
        if not all(isinstance(f, Feature) and _is_text(f) for f in features):
            raise DsregError(
                f"metric {name!r} needs text references, not {features!r}",
                fix="point evaluation.reference at a text column, a sequence of text, or a list of text columns",
            )

    def prediction(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise DsregError(f"{where}: hypothesis {value!r} is not a string", fix="write the detokenized translation")
        return value

    def read_native(self, path: Path) -> list[Any]:
        return read_lines(path)

    @staticmethod
    def streams(references: Sequence[Any] | np.ndarray) -> list[list[str | None]]:
        """Per-row references → sacrebleu's reference streams, padded with None where a row has fewer.

        A row is one text, a list or tuple of them (several columns), or a numpy array of them (a sequence
        column as `Dataset.take` returns it); a row's items may be such lists or arrays again."""
        rows: list[list[str]] = []
        several = (list, tuple, np.ndarray)
        for i, value in enumerate(references):
            items = value if isinstance(value, several) else [value]
            flat = [r for item in items for r in (item if isinstance(item, several) else [item]) if r is not None]
            if not flat:
                raise DsregError(f"row {i} has no reference", fix="every segment needs at least one reference")
            rows.append([str(r) for r in flat])
        width = max((len(r) for r in rows), default=0)
        return [[row[k] if k < len(row) else None for row in rows] for k in range(width)]

    def compute(self, references: Sequence[Any] | np.ndarray, predictions: Sequence[Any]) -> Score:
        if not len(predictions):
            raise DsregError("the split has no rows to evaluate")
        scorer = self.scorer()
        result = scorer.corpus_score(list(predictions), self.streams(references))
        signature = str(scorer.get_signature())
        return Score({self.value_name: float(result.score)}, self.value_name, True, signature, {"text": str(result)})

    @abstractmethod
    def scorer(self) -> Any:
        """The sacrebleu metric object, configured from `self.args`."""


class Bleu(_Sacrebleu):
    """Corpus BLEU by sacrebleu (0-100), against every reference; the signature is sacrebleu's."""

    version = "1"
    value_name = "bleu"
    arguments = (
        Arg("tokenize", "str", "sacrebleu tokenizer: 13a (WMT default), intl, zh, ja-mecab, char, none", default="13a"),
        Arg("lowercase", "bool", "case-insensitive BLEU", default=False),
        Arg("smooth_method", "str", "sacrebleu smoothing", default="exp", choices=("exp", "floor", "add-k", "none")),
    )

    def scorer(self) -> Any:
        from sacrebleu.metrics import BLEU

        try:
            return BLEU(
                tokenize=self.args["tokenize"],
                lowercase=self.args["lowercase"],
                smooth_method=self.args["smooth_method"],
            )
        except (RuntimeError, KeyError, ValueError) as err:
            raise DsregError(
                f"sacrebleu refuses the arguments {self.args}: {err}", fix="see `dsreg list --metrics`"
            ) from None


class Chrf(_Sacrebleu):
    """Corpus chrF (or chrF++ with word_order 2) by sacrebleu (0-100), against every reference."""

    version = "1"
    value_name = "chrf"
    arguments = (
        Arg("char_order", "int", "character n-gram order", default=6),
        Arg("word_order", "int", "word n-gram order: 0 for chrF, 2 for chrF++", default=0, choices=(0, 1, 2)),
        Arg("beta", "int", "recall weight", default=2),
        Arg("lowercase", "bool", "case-insensitive chrF", default=False),
        Arg("whitespace", "bool", "keep whitespace in character n-grams", default=False),
    )

    def scorer(self) -> Any:
        from sacrebleu.metrics import CHRF

        return CHRF(
            char_order=self.args["char_order"],
            word_order=self.args["word_order"],
            beta=self.args["beta"],
            lowercase=self.args["lowercase"],
            whitespace=self.args["whitespace"],
        )
