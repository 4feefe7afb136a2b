"""`conll18_ud`: dependency parses scored by the CoNLL 2018 shared-task rules (LAS F1 first, UAS, UPOS …).

References are a treebank split's `tokens`, `upos`, `head`, `deprel` and `multiword` columns (the recipe's
`evaluation.reference`, in that order); predictions are one parse per gold sentence: a CoNLL-U file (native;
keyed by `# sent_id` when every sentence has one, else in split order) or JSON values
`{tokens, upos, head, deprel[, multiword]}` with label names. All sentences are scored as one document by
`dsreg.metrics.conll18.evaluate`, so a system's own tokenisation is aligned on characters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, Feature
from dsreg.features import Sequence as SequenceFeature
from dsreg.metrics import Metric, Score
from dsreg.metrics.conll18 import SCORES, conllu_rows, evaluate

REFERENCE = ("tokens", "upos", "head", "deprel", "multiword")
_REFERENCE_FIX = "declare evaluation.reference: [tokens, upos, head, deprel, multiword] in the recipe"
_PREDICTION_FIX = (
    'write {"tokens": [...], "upos": [...], "head": [...], "deprel": [...]} with label names '
    '(and "multiword": [{"start", "end", "form"}, ...] where tokens are split), or a CoNLL-U file'
)
_COLUMNS = ("tokens", "upos", "head", "deprel")


def _label_names(feature: Feature, column: str) -> tuple[str, ...]:
    if not (isinstance(feature, SequenceFeature) and isinstance(feature.feature, ClassLabel)):
        raise DsregError(f"reference column {column} is not a sequence of class labels", fix=_REFERENCE_FIX)
    return tuple(feature.feature.names)


class Conll18(Metric):
    """Dependency parsing by the CoNLL 2018 shared-task rules: LAS F1 (primary), UAS, UPOS, words, tokens."""

    version = "1"
    native_suffixes: ClassVar[tuple[str, ...]] = (".conllu",)

    def __init__(self, name: str, args: Mapping[str, Any], reference: Feature | Sequence[Feature]):
        super().__init__(name, args, reference)
        if isinstance(reference, Feature) or len(reference) != len(REFERENCE):
            raise DsregError(
                f"metric {name!r} reads the {len(REFERENCE)} reference columns {', '.join(REFERENCE)}",
                fix=_REFERENCE_FIX,
            )
        self.upos = _label_names(reference[1], "upos")
        self.deprel = _label_names(reference[3], "deprel")

    def prediction(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise DsregError(f"{where}: the prediction is not JSON", fix=_PREDICTION_FIX) from None
        if not isinstance(value, dict) or not set(_COLUMNS) <= set(value):
            raise DsregError(f"{where}: the prediction is not a parse with {', '.join(_COLUMNS)}", fix=_PREDICTION_FIX)
        lengths = {len(value[k]) if isinstance(value[k], list) else -1 for k in _COLUMNS}
        if len(lengths) != 1 or -1 in lengths or 0 in lengths:
            raise DsregError(
                f"{where}: {', '.join(_COLUMNS)} are not non-empty lists of one length", fix=_PREDICTION_FIX
            )
        return {**{k: value[k] for k in _COLUMNS}, "multiword": value.get("multiword") or []}

    def read_native(self, path: Path) -> list[tuple[str, Any]] | list[Any]:
        """The file's sentences keyed by `# sent_id` when every sentence has one, else in file order."""
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DsregError("not UTF-8", path=path, fix="CoNLL-U is UTF-8") from None
        rows = conllu_rows(text, str(path))
        ids = [row.pop("sent_id") for row in rows]
        if all(ids):
            return list(zip(ids, rows, strict=True))
        return rows

    def compute(self, references: Sequence[Any] | np.ndarray, predictions: Sequence[Any]) -> Score:
        gold = [
            {
                "tokens": tokens,
                "upos": [self.upos[i] for i in upos],
                "head": head,
                "deprel": [self.deprel[i] for i in deprel],
                "multiword": multiword,
            }
            for tokens, upos, head, deprel, multiword in references
        ]
        if not gold:
            raise DsregError("the split has no sentences to evaluate")
        scores = evaluate(gold, predictions)
        values = {name.lower(): scores[name].f1 for name in SCORES}
        for name in ("UPOS", "UAS", "LAS"):
            values[f"{name.lower()}_aligned_accuracy"] = scores[name].aligned_accuracy or 0.0
        details = {name: {"gold": s.gold, "system": s.system, "correct": s.correct} for name, s in scores.items()}
        signature = f"conll18_ud|v{self.version}|f1|deprel:universal|punct:included|align:characters"
        return Score(values, "las", True, signature, details)
