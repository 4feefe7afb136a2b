"""Helpers for the generic readers' tests: a recipe of our own over a local folder, prepared and read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import dsreg
from dsreg.errors import DsregError
from dsreg.preparation import prepare
from dsreg.registry import list_prepared

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def write_recipe(
    recipes: Path,
    name: str,
    reader: dict[str, Any],
    features: dict[str, Any],
    splits: dict[str, Any],
    **extra: Any,
) -> Path:
    """A recipe `name` whose one manual source is the folder given as --source."""
    data = {
        "name": name,
        "version": "1.0.0",
        "description": f"test corpus {name}",
        "sources": {"data": {"manual": "pass the folder with --source", "filename": name}},
        "reader": reader,
        "features": features,
        "splits": splits,
        **extra,
    }
    recipes.mkdir(parents=True, exist_ok=True)
    path = recipes / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def use_recipes(monkeypatch: pytest.MonkeyPatch, recipes: Path) -> None:
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))


def rows(name: str, split: str) -> list[dict[str, Any]]:
    """Every row of a prepared split as plain Python values (arrays become lists)."""
    ds = dsreg.open(name, split)
    batch = ds.take(np.arange(len(ds)))
    out = []
    for i in range(len(ds)):
        row = {}
        for column, values in batch.items():
            value = values[i]
            row[column] = value.tolist() if isinstance(value, np.ndarray | np.generic) else value
        out.append(row)
    return out


def fails_and_publishes_nothing(name: str, source: Path, *needles: str) -> DsregError:
    """Prepare `name` from `source`: it must fail with a DsregError whose text holds every needle, and
    publish nothing."""
    with pytest.raises(DsregError) as caught:
        prepare(name, source=source)
    message = str(caught.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert [m for m in list_prepared() if m.name == name] == []
    return caught.value


def example(name: str) -> dict[str, Any]:
    """A documented example recipe (docs/examples/NAME.yaml), parsed."""
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def example_splits(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An example's splits without their `rows` (the contract states the rows itself)."""
    return {name: {k: v for k, v in spec.items() if k != "rows"} for name, spec in data["splits"].items()}


def damaged_copy(source: Path, dest: Path, what: str) -> Path:
    """A copy of the source folder under dest/<what>, to damage."""
    import shutil

    copy = dest / what.replace(" ", "-")
    shutil.copytree(source, copy)
    return copy


def stored_as_generated(stored: bytes, row: dict[str, Any]) -> bool:
    """Whether a prepared image is what image_folder must store for a generated row: the file's own bytes,
    or for a BMP a PNG of exactly its pixels."""
    import io

    from PIL import Image

    if not row["path"].lower().endswith(".bmp"):
        return stored == row["image"]
    with Image.open(io.BytesIO(stored)) as image:
        return image.format == "PNG" and np.array_equal(np.asarray(image), row["pixels"])
