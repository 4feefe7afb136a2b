"""Small prepared datasets for the loading tests: a CIFAR-shaped one over several shards and record batches
(rows carry their number in `id`, and their pixels derive from it), and a ragged text/token one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dsreg
import dsreg.storage.arrow_shards as arrow_shards
from dsreg import ClassLabel, Features, Image, Scalar, Sequence, Text
from dsreg.manifest import Manifest

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


@pytest.fixture
def cifar(root: Path, monkeypatch: pytest.MonkeyPatch) -> Manifest:
    """train 2500 rows (3 shards of ~4 record batches), test 500 (ids from 10000), validation 300 (from 20000)."""
    monkeypatch.setattr(arrow_shards, "MAX_BATCH_BYTES", 400_000)
    splits = {"train": cifar_rows(2500, 0), "test": cifar_rows(500, 10000), "validation": cifar_rows(300, 20000)}
    return dsreg.write_dataset("cifar", splits, CIFAR, root=root, shard_size=1, supervised_keys=("image", "label"))


@pytest.fixture
def tokens(root: Path) -> Manifest:
    """3000 rows of token sequences of length 1..97 (`token_length`), 1500 rows per shard."""
    return dsreg.write_dataset("tokens", {"train": token_rows(3000)}, TOKENS, root=root, shard_size=100_000)
