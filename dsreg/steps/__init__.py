"""Preprocessing steps a recipe lists, applied in order to the reader's output before sharding.

A step is a function of (its args, the stream of items, the task's `StepContext`) → stream of items,
where an item is an example dict or a record batch; steps are registered by the name recipes use. A step
that drops rows counts them in `context.dropped` ("<step>: <reason>" → rows); preparation adds the counts
of every task and records them per split in the manifest (`metadata.dropped`).

A step may also depend on the features it gets (`bind_steps` completes its arguments from them before any
task runs: the sample rate of the audio it resamples), record what it did in the manifest's
`metadata.steps` (`step_records`: the options of a feature extractor, defaults included), add columns
(`step_features` gives the features after every step) and learn something
from the data before any task runs (`get_fitter`: a tokenizer trained on a sample of train), saving files
that are published beside the shards and recorded, with their sha256, in the manifest's `assets`.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Features

Item: TypeAlias = Mapping[str, Any] | pa.RecordBatch


@dataclass
class StepContext:
    """What a step knows of the task it runs in: the split, and the rows it dropped and why."""

    split: str
    dropped: Counter[str] = field(default_factory=Counter)


Step: TypeAlias = Callable[[Mapping[str, Any], Iterator[Item], StepContext], Iterator[Item]]


@dataclass(frozen=True)
class FitInput:
    """What a fitting step learns from: the rows of a split after the earlier steps (a fresh iterator per call),
    and the directory its files go to (inside the version being prepared)."""

    rows: Callable[[str], Iterator[Mapping[str, Any]]]
    directory: Path


# (step args, fit input) → (arguments the tasks get in addition, [(file in the directory, role)])
Fitter: TypeAlias = Callable[[Mapping[str, Any], FitInput], tuple[dict[str, Any], list[tuple[str, str]]]]


def _select(args: Mapping[str, Any], items: Iterator[Item], context: StepContext) -> Iterator[Item]:
    """Keep only `args.columns` (e.g. a fine-labels-only variant of CIFAR-100)."""
    columns = list(args.get("columns") or [])
    if not columns:
        raise DsregError("step 'select' needs args.columns, a non-empty list of column names")
    for item in items:
        if isinstance(item, pa.RecordBatch):
            yield item.select(columns)
        else:
            yield {name: item[name] for name in columns}


def _rename(args: Mapping[str, Any], items: Iterator[Item], context: StepContext) -> Iterator[Item]:
    """Rename columns with `args.mapping` (old → new), so a reader's names can match a house style."""
    mapping = dict(args.get("mapping") or {})
    for item in items:
        if isinstance(item, pa.RecordBatch):
            yield item.rename_columns([mapping.get(n, n) for n in item.schema.names])
        else:
            yield {mapping.get(k, k): v for k, v in item.items()}


# name → the step, or "module:function" of a step imported on first use (so `import dsreg` stays light)
_STEPS: dict[str, Step | str] = {
    "select": _select,
    "rename": _rename,
    "clean_parallel": "dsreg.steps.cleaning:clean_parallel",
    "sentencepiece": "dsreg.steps.sentencepiece:apply",
    "resample": "dsreg.steps.resample:apply",
    "fbank": "dsreg.steps.kaldi:fbank",
    "mfcc": "dsreg.steps.kaldi:mfcc",
}


# name → "module:function" of (args, features) → the features after the step, for steps that change them or
# check them before any task runs
_FEATURES: dict[str, str] = {
    "clean_parallel": "dsreg.steps.cleaning:output_features",
    "sentencepiece": "dsreg.steps.sentencepiece:output_features",
    "resample": "dsreg.steps.resample:output_features",
    "fbank": "dsreg.steps.kaldi:fbank_features",
    "mfcc": "dsreg.steps.kaldi:mfcc_features",
}
# name → "module:function" of (args, features before the step) → the complete arguments the tasks run with, for
# steps that depend on their input's features; these steps' complete arguments are recorded in the manifest
_BINDERS: dict[str, str] = {
    "resample": "dsreg.steps.resample:bind",
    "fbank": "dsreg.steps.kaldi:bind_fbank",
    "mfcc": "dsreg.steps.kaldi:bind_mfcc",
}
# name → "module:function" of the step's `Fitter`, for steps that learn from the data before the tasks run
_FITTERS: dict[str, str] = {"sentencepiece": "dsreg.steps.sentencepiece:fit"}


def _imported(spec: str) -> Any:
    module, function = spec.split(":")
    return getattr(importlib.import_module(module), function)


def get_fitter(name: str) -> Fitter | None:
    """The step's fitter, or None for a step that learns nothing before the tasks run."""
    spec = _FITTERS.get(name)
    fitter: Fitter | None = None if spec is None else _imported(spec)
    return fitter


def bind_step(name: str, args: dict[str, Any], features: Features) -> dict[str, Any]:
    """The step's arguments completed from `features`, the features it gets (unchanged for most steps)."""
    binder = _BINDERS.get(name)
    return args if binder is None else dict(_imported(binder)(args, features))


def bind_steps(
    steps: tuple[tuple[str, dict[str, Any]], ...], features: Features
) -> tuple[tuple[str, dict[str, Any]], ...]:
    """Every step's arguments completed from the features it gets, given the reader's."""
    bound = []
    for name, args in steps:
        args = bind_step(name, args, features)
        bound.append((name, args))
        if name in _FEATURES:
            features = _imported(_FEATURES[name])(args, features)
    return tuple(bound)


def step_features(steps: tuple[tuple[str, dict[str, Any]], ...], features: Features) -> Features:
    """The features of the rows the steps write, given the reader's."""
    for name, args in bind_steps(steps, features):
        if name in _FEATURES:
            features = _imported(_FEATURES[name])(args, features)
    return features


def step_records(steps: tuple[tuple[str, dict[str, Any]], ...]) -> list[dict[str, Any]]:
    """What the manifest records of the bound steps that depend on their input: name and complete arguments."""
    return [{"step": name, "args": args} for name, args in steps if name in _BINDERS]


def get_step(name: str) -> Step:
    try:
        step = _STEPS[name]
    except KeyError:
        raise DsregError(f"unknown step {name!r}", fix=f"use one of: {', '.join(sorted(_STEPS))}") from None
    if isinstance(step, str):
        step = _STEPS[name] = _imported(step)
    return step


def apply_steps(
    steps: tuple[tuple[str, dict[str, Any]], ...], items: Iterator[Item], context: StepContext
) -> Iterator[Item]:
    for name, args in steps:
        items = get_step(name)(args, items, context)
    return items
