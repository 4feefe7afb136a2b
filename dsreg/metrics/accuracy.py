"""Top-k classification accuracy (ImageNet, CIFAR): the share of rows whose true class is among the k best scored.

Predictions are a class index per row (top-1 only) or a row of scores per row (logits or probabilities, one
per class; top-k for every k in `top_k`). Ties in scores are broken by the lower class index, as
`torch.topk`/`numpy.argsort(kind="stable")` on negated scores do, so a score is a function of the file alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, Scalar
from dsreg.metrics import Metric, Score
from dsreg.readers import Arg


class Accuracy(Metric):
    """Top-k accuracy of class predictions (labels, or a score per class: logits or probabilities)."""

    version = "1"
    arguments = (
        Arg("top_k", "list[int]", "the k of each top-k value reported with scores; the first ranks", default=[1, 5]),
    )

    def __init__(self, name: str, args: Any, reference: Any):
        super().__init__(name, args, reference)
        if not isinstance(reference, Scalar) or reference.numpy_dtype().kind not in "iu":
            raise DsregError(
                f"metric {name!r} needs an integer class column as reference, not {reference!r}",
                fix="point evaluation.reference at a class_label column",
            )
        if not self.args["top_k"] or min(self.args["top_k"]) < 1:
            raise DsregError(
                f"evaluation.args.top_k is {self.args['top_k']!r}", fix="list positive integers, e.g. [1, 5]"
            )
        self.ks = sorted(set(self.args["top_k"]))
        self.classes = reference.num_classes if isinstance(reference, ClassLabel) and reference.names else None

    def prediction(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if re.fullmatch(r"-?[0-9]+", text):  # str.isdigit() also admits '³', which int() refuses
                value = int(text)
            else:
                try:
                    value = [float(v) for v in text.replace(",", " ").split()]
                except ValueError:
                    raise DsregError(
                        f"{where}: prediction {value!r} is neither a class index nor a list of scores",
                        fix="write a class index (e.g. 3) or one score per class",
                    ) from None
        if isinstance(value, bool) or not isinstance(value, (int, list)):
            raise DsregError(
                f"{where}: prediction {value!r} is neither a class index nor a list of scores",
                fix="write a class index (e.g. 3) or a list with one score per class",
            )
        if isinstance(value, int):
            self._check_label(value, where)
            return value
        if not value or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise DsregError(
                f"{where}: scores {value!r} are not a non-empty list of numbers", fix="one number per class"
            )
        if self.classes is not None and len(value) != self.classes:
            raise DsregError(
                f"{where}: {len(value)} scores, but the reference has {self.classes} classes",
                fix="write one score per class, in class-index order",
            )
        scores = np.asarray(value, dtype=np.float64)
        if not np.isfinite(scores).all():
            raise DsregError(f"{where}: a score is NaN or infinite", fix="write finite scores")
        return scores

    def _check_label(self, label: int, where: str) -> None:
        if label < 0 or (self.classes is not None and label >= self.classes):
            top = f"0..{self.classes - 1}" if self.classes is not None else "a non-negative integer"
            raise DsregError(f"{where}: class index {label} is out of range", fix=f"class indices are {top}")

    def from_array(self, array: np.ndarray, path: Path) -> list[Any]:
        if array.ndim == 1 and array.dtype.kind in "iu":
            for i, label in enumerate(array.tolist()):
                self._check_label(int(label), f"row {i}")
            return [int(v) for v in array.tolist()]
        if array.ndim == 2 and array.dtype.kind in "iuf" and array.shape[1] > 0:
            if self.classes is not None and array.shape[1] != self.classes:
                raise DsregError(
                    f".npy has {array.shape[1]} scores per row, but the reference has {self.classes} classes",
                    path=path,
                    fix="save one score per class, in class-index order",
                )
            scores = np.asarray(array, dtype=np.float64)
            if not np.isfinite(scores).all():
                row = int(np.flatnonzero(~np.isfinite(scores).all(axis=1))[0])
                raise DsregError(f"row {row} has a score that is NaN or infinite", path=path, fix="save finite scores")
            return list(scores)  # one view per row of a single array
        raise DsregError(
            f".npy of shape {array.shape} and dtype {array.dtype} is neither labels (n,) nor scores (n, classes)",
            path=path,
            fix="save an integer array of class indices, or a float array of one score per class per row",
        )

    def compute(self, references: Sequence[Any] | np.ndarray, predictions: Sequence[Any]) -> Score:
        truth = np.asarray(references, dtype=np.int64)
        if truth.size and truth.min() < 0:
            raise DsregError(
                f"{int((truth < 0).sum())} reference rows are unlabelled (-1)",
                fix="evaluate on a split whose labels are public",
            )
        kinds = {isinstance(p, np.ndarray) for p in predictions}
        if len(kinds) > 1:
            raise DsregError("predictions mix class indices and score lists", fix="write one kind for every row")
        n = len(truth)
        if n == 0:
            raise DsregError("the split has no rows to evaluate")
        if kinds == {False}:
            labels = np.asarray(predictions, dtype=np.int64)
            values = {"top1": float((labels == truth).mean())}
            return Score(values, "top1", True, f"accuracy|v{self.version}|labels|top1", {"rows": n})
        widths = [len(p) for p in predictions]
        if len(set(widths)) > 1:
            row = next(i for i, w in enumerate(widths) if w != widths[0])
            raise DsregError(
                f"row {row} has {widths[row]} scores, row 0 has {widths[0]}",
                fix="write one score per class on every row",
            )
        scores = np.stack(predictions)
        if scores.shape[1] <= truth.max():
            raise DsregError(f"scores have {scores.shape[1]} columns but a reference class is {truth.max()}")
        order = np.argsort(-scores, axis=1, kind="stable")
        rank = np.argmax(order == truth[:, None], axis=1)  # where the true class falls in the ranking
        values = {f"top{k}": float((rank < k).mean()) for k in self.ks}
        primary = f"top{self.ks[0]}"
        signature = f"accuracy|v{self.version}|scores|{'+'.join(f'top{k}' for k in self.ks)}|ties:lower-index"
        return Score(values, primary, True, signature, {"rows": n})
