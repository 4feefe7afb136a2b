"""Audio on load as `int16` (as stored) or `float32` in [-1, 1), converted where the batch is fetched.

Speech corpora are stored as int16 PCM (half the bytes of float32, and exactly what the LDC ships);
``load(..., audio_dtype="float32")`` scales each sample by 1/32768 as torchaudio does, in the loader's
threads or torch's workers. The scaling is exact: every float32 equals its int16 divided by 32768.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import Audio, Features

AUDIO_DTYPES = ("int16", "float32")
SCALE = np.float32(1 / 32768)


@dataclass(frozen=True)
class AudioDecode:
    """Convert the int16 audio `columns` of a batch to float32 (the callable `fetch_batch` applies)."""

    columns: tuple[str, ...]

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        for name in self.columns:
            batch[name] = to_float32(batch[name])
        return batch

    def features(self, features: Features) -> Features:
        """`features` as the batches hold them: the converted columns as float32 audio."""
        out = dict(features.items())
        for name in self.columns:
            audio = features[name]
            assert isinstance(audio, Audio)
            out[name] = Audio("float32", audio.sample_rate, audio.channels)
        return Features(out)


def to_float32(rows: np.ndarray) -> np.ndarray:
    """An object column of int16 rows (any shape) as float32 rows scaled to [-1, 1)."""
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        out[i] = np.multiply(row, SCALE, dtype=np.float32)
    return out


def resolve_audio(audio_dtype: Any, features: Features) -> AudioDecode | None:
    """`audio_dtype=` of `load`: None or "int16" keep int16 audio as stored; "float32" converts every int16
    audio column. A float audio column cannot become int16 (it would lose precision): refused."""
    if audio_dtype is None:
        return None
    name = str(np.dtype(audio_dtype)) if isinstance(audio_dtype, (np.dtype, type)) else audio_dtype
    if name not in AUDIO_DTYPES:
        raise DsregError(f"audio_dtype={audio_dtype!r}", fix=f"use one of: {', '.join(AUDIO_DTYPES)}")
    audio = {n: f for n, f in features.items() if isinstance(f, Audio)}
    if not audio:
        raise DsregError(
            f"audio_dtype={name!r} applies to audio columns, and the columns read have none",
            fix=f"drop audio_dtype, or read an audio column (columns: {', '.join(features.names())})",
        )
    wrong = {n: f.dtype for n, f in audio.items() if f.dtype not in ("int16", name)}
    if wrong:
        raise DsregError(
            f"audio columns {wrong} cannot be delivered as {name}: only int16 audio converts (to float32)",
            fix="drop audio_dtype to read the audio as stored",
        )
    columns = tuple(n for n, f in audio.items() if f.dtype != name)
    return AudioDecode(columns) if columns else None
