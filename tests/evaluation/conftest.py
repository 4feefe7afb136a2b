"""Small prepared datasets with an `evaluation` block, written with `write_dataset` into the test's root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dsreg

ROWS = 10


def labels(n: int = ROWS) -> list[int]:
    return [(i * 7) % 3 for i in range(n)]


@pytest.fixture
def toy(root: Path) -> Callable[..., dsreg.Dataset]:
    """`toy(version=..., top_k=..., shift=...)` writes toy/default:VERSION: a `test` split of ROWS rows, labels
    `labels()` (+ `shift`), scored by accuracy; returns the opened split."""

    def make(version: str = "1.0.0", top_k: list[int] | None = None, shift: int = 0) -> dsreg.Dataset:
        feats = dsreg.Features({"x": dsreg.Scalar(dtype="float32"), "label": dsreg.ClassLabel(names=["a", "b", "c"])})
        rows = [{"x": float(i), "label": (y + shift) % 3} for i, y in enumerate(labels())]
        evaluation: dict[str, Any] = {"metric": "accuracy", "notes": "top-1 on test"}
        if top_k is not None:
            evaluation["args"] = {"top_k": top_k}
        dsreg.write_dataset(
            "toy",
            {"test": rows, "train": rows[:4]},
            feats,
            version=version,
            supervised_keys=("x", "label"),
            evaluation=evaluation,
            root=root,
        )
        return dsreg.open(f"toy/default:{version}", "test", root=root)

    return make


@pytest.fixture
def named(root: Path) -> dsreg.Dataset:
    """named/default:1.0.0: rows keyed by their own `file_name` column (`img-0.png` …), labels `labels()`."""
    feats = dsreg.Features({"file_name": dsreg.Text(), "label": dsreg.ClassLabel(names=["a", "b", "c"])})
    rows = [{"file_name": f"img-{i}.png", "label": y} for i, y in enumerate(labels())]
    dsreg.write_dataset(
        "named",
        {"test": rows},
        feats,
        evaluation={"metric": "accuracy", "id": "file_name", "reference": "label"},
        root=root,
    )
    return dsreg.open("named", "test", root=root)


@pytest.fixture
def truth() -> list[int]:
    """The labels of the toy and named test splits, in split order."""
    return labels()


@pytest.fixture
def record_files(root: Path) -> Callable[[], list[Path]]:
    """Lists every file under `<root>/_scores` (records and anything left behind)."""
    return lambda: sorted(p for p in (root / "_scores").rglob("*") if p.is_file())
