"""What the audio steps share: the audio column they work on, and rows gathered in chunks for the cores."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Audio, Features
from dsreg.steps import Item

CHUNK = 256  # rows per chunk: enough to keep every core busy, little held in memory


def needed(module: str, step: str) -> ModuleType:
    """`module` imported, or a DsregError saying the step needs it (a missing or broken install)."""
    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as err:  # torchaudio built for another torch fails with OSError
        raise DsregError(
            f"step {step} needs {module}, which does not import: {err}",
            fix="pip install 'dsreg[audio]' (torchaudio must match the installed torch's version)",
        ) from None


def audio_feature(step: str, column: str, features: Features) -> Audio:
    """The audio feature of `column`, or a DsregError naming the step and the columns there are."""
    feature = features.columns.get(column)
    if not isinstance(feature, Audio):
        audio = [n for n, f in features.items() if isinstance(f, Audio)]
        raise DsregError(
            f"step {step}: column {column!r} is not an audio column",
            fix=f"set args.column to one of the audio columns: {', '.join(audio) or 'none'}",
        )
    return feature


def chunks_of_rows(items: Iterator[Item], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """The items' rows as lists of at most `size` dicts (a reader's dicts are its own: changed in place)."""
    chunk: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, pa.RecordBatch):
            chunk.extend(item.to_pylist())
        else:
            chunk.append(item if isinstance(item, dict) else dict(item))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
