"""Small prepared datasets for the loading tests: a CIFAR-shaped one over several shards and record batches
(rows carry their number in `id`, and their pixels derive from it), and a ragged text/token one."""

from __future__ import annotations

from pathlib import Path

import pytest
from loading_fakes import CIFAR, TOKENS, cifar_rows, token_rows

import dsreg
import dsreg.storage.arrow_shards as arrow_shards
from dsreg.manifest import Manifest


@pytest.fixture
def cifar(root: Path, monkeypatch: pytest.MonkeyPatch) -> Manifest:
    """train 2500 rows (3 shards of ~4 record batches), test 500 (ids from 10000), validation 300 (from 20000)."""
    monkeypatch.setattr(arrow_shards, "MAX_BATCH_BYTES", 400_000)
    splits = {"train": cifar_rows(2500, 0), "test": cifar_rows(500, 10000), "validation": cifar_rows(300, 20000)}
    return dsreg.write_dataset("cifar", splits, CIFAR, root=root, shard_size=1, supervised_keys=("image", "label"))


@pytest.fixture
def tokens(root: Path) -> Manifest:
    """3000 rows of token sequences of length 1..97 (`token_length`) over three shards."""
    return dsreg.write_dataset("tokens", {"train": token_rows(3000)}, TOKENS, root=root, shard_size=100_000)
