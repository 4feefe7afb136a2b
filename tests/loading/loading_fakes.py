"""Row generators for the loading tests' fake datasets; each row's values derive from its number `id`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from dsreg import ClassLabel, Features, Image, Scalar, Sequence, Text

CIFAR = Features({"image": Image(shape=(32, 32, 3)), "label": ClassLabel(names=tuple("abcdefghij")), "id": Scalar()})
TOKENS = Features({"tokens": Sequence(dtype="int32"), "text": Text(), "id": Scalar()})


def cifar_label(i: int) -> int:
    """Unequal class counts: class 0 takes every third row."""
    return 0 if i % 3 == 0 else i % 10


def cifar_image(i: int) -> np.ndarray:
    return ((np.arange(32 * 32 * 3) + i) % 251).astype(np.uint8).reshape(32, 32, 3)


def cifar_rows(n: int, first: int) -> Iterator[dict[str, Any]]:
    for i in range(first, first + n):
        yield {"image": cifar_image(i), "label": cifar_label(i), "id": i}


def token_length(i: int) -> int:
    return 1 + (i * 7919) % 97


def token_rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"tokens": np.arange(token_length(i), dtype=np.int32) + i, "text": "x" * (i % 13), "id": i}
