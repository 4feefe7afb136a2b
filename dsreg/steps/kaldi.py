"""`fbank` and `mfcc`: Kaldi-compatible features (`torchaudio.compliance.kaldi`) precomputed into the shards.

Arguments: `column` (the audio, default `audio`), `output` (the new column, default `fbank` / `mfcc`) and any
option of `torchaudio.compliance.kaldi.fbank` / `.mfcc` — `num_mel_bins`, `frame_length` and `frame_shift`
(ms), `num_ceps`, `use_energy`, `low_freq`, `high_freq`, `window_type`, `snip_edges`, … — with Kaldi's
defaults. `dither` must stay 0: dithering draws random noise, and the shards must be the same on every run
(dither at training time instead). The sample frequency is the audio feature's.

Samples go in at int16 scale, as Kaldi reads them (float audio is multiplied by 32768), so the features
equal Kaldi's `compute-fbank-feats` / `compute-mfcc-feats`. Each row gets `output` as float32 frames × bins
(a sequence of fixed-size vectors: its length, in frames, is what `max_tokens` budgets). A row shorter than
one frame has no features; it is dropped and counted, as Kaldi leaves it out. The manifest records every
option (defaults included) under `metadata.steps`. Rows are computed on all cores, one thread of torch each,
so the result does not depend on the machine's core count.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from typing import Any

import numpy as np

from dsreg.errors import DsregError
from dsreg.features import Features, Sequence, Tensor
from dsreg.steps import Item, StepContext
from dsreg.steps.audio_rows import audio_feature, chunks_of_rows, needed

_OWN = {"column", "output"}
_BOUND = {"options", "bins", "scale", "method"}  # what `bind` adds
_FIXED = {"waveform", "channel", "sample_frequency"}  # set by the step, not the recipe


def _kaldi(kind: str) -> Callable[..., Any]:
    function: Callable[..., Any] = getattr(needed("torchaudio.compliance.kaldi", kind), kind)
    return function


def _defaults(kind: str) -> dict[str, Any]:
    """Every option of torchaudio's Kaldi `kind` function the recipe may set, with its default."""
    parameters = inspect.signature(_kaldi(kind)).parameters.values()
    return {p.name: p.default for p in parameters if p.name not in _FIXED}


def bind(kind: str, args: Mapping[str, Any], features: Features) -> dict[str, Any]:
    """The arguments the tasks run with: the column, the output, every option and the number of bins."""
    defaults = _defaults(kind)
    bound = {k: v for k, v in dict(args.get("options") or {}).items() if k != "sample_frequency"}
    given = {**bound, **{k: v for k, v in args.items() if k not in _OWN | _BOUND}}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise DsregError(
            f"step {kind} has unknown arguments {unknown}",
            fix=f"use column, output or an option of torchaudio.compliance.kaldi.{kind}: {', '.join(defaults)}",
        )
    for name, value in given.items():
        default = defaults[name]
        if type(value) is not type(default) and not (isinstance(default, float) and type(value) is int):
            raise DsregError(
                f"step {kind}: args.{name} is {value!r}", fix=f"give a {type(default).__name__}, like {default!r}"
            )
    if given.get("dither", 0.0) != 0:
        raise DsregError(
            f"step {kind}: dither {given['dither']!r} would draw random noise into the shards",
            fix="leave dither at 0 (the shards must be the same on every run); dither at training time instead",
        )
    column = str(args.get("column", "audio"))
    output = str(args.get("output", kind))
    audio = audio_feature(kind, column, features)
    if audio.channels != 1:
        raise DsregError(
            f"step {kind}: audio {column!r} has {audio.channels} channels; Kaldi features are computed on one",
            fix="store each channel as its own mono audio column",
        )
    if output in features and output != column:
        raise DsregError(f"step {kind}: column {output!r} already exists", fix="set args.output to a new name")
    options = {**defaults, **given, "sample_frequency": float(audio.sample_rate)}
    options = {k: float(v) if isinstance(defaults.get(k), float) else v for k, v in options.items()}
    bins = int(options["num_ceps"]) if kind == "mfcc" else int(options["num_mel_bins"]) + bool(options["use_energy"])
    return {
        "column": column,
        "output": output,
        "options": options,
        "bins": bins,
        "scale": 1.0 if audio.dtype == "int16" else 32768.0,
        "method": f"torchaudio {version('torchaudio')} compliance.kaldi.{kind}",
    }


def output_features(kind: str, args: Mapping[str, Any], features: Features) -> Features:
    """The features plus `output`: float32 frames × bins."""
    bound = bind(kind, args, features)
    return Features({**dict(features.items()), bound["output"]: Sequence(Tensor((bound["bins"],), "float32"))})


def window_samples(options: Mapping[str, Any]) -> int:
    """Samples in one analysis window (what a row must have for one frame), as Kaldi computes it."""
    return int(options["sample_frequency"] * options["frame_length"] * 0.001)


def features_of(kind: str, samples: np.ndarray, options: Mapping[str, Any], scale: float = 1.0) -> np.ndarray:
    """The Kaldi `kind` features of one mono waveform: float32 (frames, bins)."""
    import torch

    waveform = torch.from_numpy(np.asarray(samples, dtype=np.float32).reshape(1, -1))
    if scale != 1.0:
        waveform = waveform * scale
    with torch.inference_mode():
        out: np.ndarray = _kaldi(kind)(waveform, **options).numpy()
    return np.ascontiguousarray(out, dtype=np.float32)


def _apply(kind: str, args: Mapping[str, Any], items: Iterator[Item], context: StepContext) -> Iterator[Item]:
    import torch

    if "options" not in args:
        raise DsregError(f"step {kind} ran before it was bound to the features", fix="prepare through dsreg.prepare")
    column, output, options, scale = args["column"], args["output"], args["options"], float(args["scale"])
    window = window_samples(options)

    def compute(row: dict[str, Any]) -> np.ndarray | None:
        samples = np.asarray(row[column])
        return None if samples.size < window else features_of(kind, samples, options, scale)

    threads = torch.get_num_threads()
    with ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix=f"dsreg-{kind}") as pool:
        for chunk in chunks_of_rows(items):
            torch.set_num_threads(1)  # one thread per row: the same sums in the same order on any machine
            try:
                computed = list(pool.map(compute, chunk))
            finally:
                torch.set_num_threads(threads)
            for row, values in zip(chunk, computed, strict=True):
                if values is None:
                    context.dropped[f"{kind}: shorter than one frame ({window} samples)"] += 1
                    continue
                row[output] = values
                yield row


def fbank(args: Mapping[str, Any], items: Iterator[Item], context: StepContext) -> Iterator[Item]:
    """Add log mel filterbank energies (`output`, default `fbank`) to every row."""
    return _apply("fbank", args, items, context)


def mfcc(args: Mapping[str, Any], items: Iterator[Item], context: StepContext) -> Iterator[Item]:
    """Add MFCCs (`output`, default `mfcc`) to every row."""
    return _apply("mfcc", args, items, context)


def bind_fbank(args: Mapping[str, Any], features: Features) -> dict[str, Any]:
    return bind("fbank", args, features)


def bind_mfcc(args: Mapping[str, Any], features: Features) -> dict[str, Any]:
    return bind("mfcc", args, features)


def fbank_features(args: Mapping[str, Any], features: Features) -> Features:
    return output_features("fbank", args, features)


def mfcc_features(args: Mapping[str, Any], features: Features) -> Features:
    return output_features("mfcc", args, features)
