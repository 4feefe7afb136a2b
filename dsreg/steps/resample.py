"""`resample`: an audio column converted to another sample rate during preparation, with soxr.

Arguments: `sample_rate` (the target, required) and `column` (default `audio`). soxr's "VHQ" quality was
picked by benchmark (benchmarks/speech_audio.py): about 15× faster than torchaudio's Kaiser-windowed sinc
(its "kaiser_best" settings) and as clean (no aliasing above the new Nyquist, a flat passband). The
resampling runs in float32; int16 audio is rounded back to int16 (clipped at full scale, no dither, so the
output is the same on every run). A row of ``n`` frames becomes ``floor(n · target / source + ½)`` frames
(soxr's length: the nearest whole number, a half rounded up; torchaudio's ``resample`` gives the ceiling). The
feature's `sample_rate` becomes the target, and the manifest records the rates and the method under
`metadata.steps`. Rows are converted on all cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import Audio, Features
from dsreg.steps import Item, StepContext
from dsreg.steps.audio_rows import audio_feature, chunks_of_rows, needed

_KNOWN = {"sample_rate", "column", "source_rate", "dtype", "channels", "method"}
QUALITY = "VHQ"


def _check(args: Mapping[str, Any]) -> None:
    unknown = sorted(set(args) - _KNOWN)
    if unknown:
        raise DsregError(f"step resample has unknown arguments {unknown}", fix="use: sample_rate, column")
    rate = args.get("sample_rate")
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        raise DsregError(f"step resample: args.sample_rate is {rate!r}", fix="give the target rate in Hz, e.g. 16000")


def bind(args: Mapping[str, Any], features: Features) -> dict[str, Any]:
    """The arguments the tasks run with: the recipe's, plus the column's rate, dtype and channels."""
    _check(args)
    column = str(args.get("column", "audio"))
    audio = audio_feature("resample", column, features)
    if audio.dtype not in ("int16", "float32"):
        raise DsregError(f"step resample: audio {column!r} is {audio.dtype}", fix="resample int16 or float32 audio")
    method = f"soxr {version(needed('soxr', 'resample').__name__)} {QUALITY}"
    return {
        **args,
        "column": column,
        "source_rate": audio.sample_rate,
        "dtype": audio.dtype,
        "channels": audio.channels,
        "method": method,
    }


def output_features(args: Mapping[str, Any], features: Features) -> Features:
    """The features with the column's sample rate set to the target."""
    bound = bind(args, features)
    column = bound["column"]
    out = dict(features.items())
    out[column] = Audio(bound["dtype"], int(bound["sample_rate"]), int(bound["channels"]))
    return Features(out)


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """One row — ``(frames,)`` or ``(channels, frames)``, int16 or float32 — at `target_rate`, same dtype."""
    if source_rate == target_rate:
        return samples
    soxr = needed("soxr", "resample")
    frames = np.asarray(samples, dtype=np.float32).T  # soxr takes (frames, channels)
    out = soxr.resample(np.ascontiguousarray(frames), source_rate, target_rate, quality=QUALITY).T
    if samples.dtype == np.int16:
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    return np.ascontiguousarray(out, dtype=np.float32)


def apply(args: Mapping[str, Any], items: Iterator[Item], context: StepContext) -> Iterator[Item]:
    """Every row's `column` at the target rate, chunks of rows converted on all cores."""
    if "source_rate" not in args:
        raise DsregError("step resample ran before it was bound to the features", fix="prepare through dsreg.prepare")
    column, source, target = args["column"], int(args["source_rate"]), int(args["sample_rate"])
    with ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="dsreg-resample") as pool:
        for chunk in chunks_of_rows(items):
            converted = pool.map(lambda row: resample(np.asarray(row[column]), source, target), chunk)
            for row, samples in zip(chunk, converted, strict=True):
                row[column] = samples
            yield from chunk
