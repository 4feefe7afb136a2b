"""`load`: a prepared split as batches in the framework of your choice, in one call."""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Mapping, Sequence
from typing import Any

from dsreg.errors import DsregError
from dsreg.frameworks import adapt, adapter_options, resolve
from dsreg.loading import arguments
from dsreg.loading.dataset import open_dataset
from dsreg.loading.imagedecode import DecodeFn, ImageDecode
from dsreg.loading.loader import Loader, Transform
from dsreg.loading.translation import SIDES, check_direction, pair_columns, pair_transform


def load(
    name: str | os.PathLike[str],
    split: str = "train",
    framework: str = "numpy",
    *,
    version: str | None = None,
    root: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
    last_batch: str | None = None,
    columns: Sequence[str] | Mapping[str, str] | None = None,
    transform: Transform | None = None,
    num_workers: int = 0,
    device: str | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    balance: str | None = None,
    max_tokens: int | None = None,
    length_column: str | list[str] | None = None,
    num_buckets: int = 16,
    within_buckets: str | None = None,
    source: str | None = None,
    target: str | None = None,
    decode: str | ImageDecode | DecodeFn | None = None,
    audio_dtype: str | None = None,
    **adapter_kwargs: Any,
) -> Any:
    """Batches of `split` of a prepared dataset for `framework` (numpy/np, torch/pt/pytorch, tf/tensorflow,
    keras, hf/datasets). Sampling options go to `Loader` (`batch_size` defaults to 32); `transform`, `num_workers`,
    `device` and any other keyword go to the framework's adapter, which applies `transform` to batches in its own
    types. A `datasets.Dataset` (hf) has rows, not batches: it takes the shuffled, partitioned epoch order and
    refuses batching options.

    `source`/`target` (language codes) read a parallel corpus in that direction as columns `source` and
    `target` (`dsreg.loading.translation`): token ids when prepared with them, padded with masks in torch
    and tf; `max_tokens` then budgets both sides. `within_buckets` (``shuffle`` or ``sorted``) orders rows inside
    a length bucket; its default is ``sorted`` for a pair (near-zero padding, as fairseq batches), else
    ``shuffle``. `decode` ("train", "eval", an `ImageDecode` or a function) turns the encoded image column into
    uint8 (N, 3, H, W) crops on load, in torch's workers (`dsreg.loading.imagedecode`). `audio_dtype` ("int16", as
    stored, or "float32", scaled by 1/32768 as torchaudio loads it) is the dtype audio arrives in, converted in the
    workers (`dsreg.loading.audiodecode`)."""
    if not isinstance(framework, str):
        raise DsregError(f"framework must be a name like 'torch', got {framework!r}")
    module = resolve(framework)  # fail on a missing framework before touching any data
    _check_keywords(module, adapter_kwargs)
    num_workers = arguments.integer("num_workers", num_workers, minimum=0)
    if module == "hf":
        _refuse_batching(
            batch_size=batch_size, drop_last=drop_last or None, last_batch=last_batch, max_tokens=max_tokens
        )
    pair = None
    if source is not None or target is not None:
        if columns is not None:
            raise DsregError("columns= and source=/target= cannot be combined", fix="give one of them")
        probe = open_dataset(name, split, version=version, root=root)
        pair = pair_columns(probe.features, source, target)
        check_direction(probe.manifest, split, str(source), str(target))
        length_column = list(SIDES) if length_column is None else length_column
        transform = pair_transform(module, transform)
    dataset = open_dataset(name, split, version=version, root=root, columns=pair if pair is not None else columns)
    if (
        module == "hf"
        and isinstance(balance, str)
        and balance in dataset.features
        and dataset.features[balance].fixed_shape
    ):
        # rows, not batches: runs of one row per class (batch_size None), so ds.iter(batch_size=k * classes) is
        # balanced
        batch_size = None
    else:
        batch_size = 32 if batch_size is None else batch_size
    loader = Loader(
        dataset,
        batch_size,
        shuffle=shuffle,
        seed=seed,
        last_batch=last_batch,
        drop_last=drop_last,
        rank=rank,
        world_size=world_size,
        balance=balance,
        max_tokens=max_tokens,
        length_column=length_column,
        num_buckets=num_buckets,
        within_buckets=within_buckets or ("sorted" if pair is not None else "shuffle"),
        decode=decode,
        audio_dtype=audio_dtype,
    )
    options = {"transform": transform, "num_workers": num_workers, "device": device}
    adapter_kwargs.update({k: v for k, v in options.items() if v})
    return adapt(module, loader, **adapter_kwargs)


def _refuse_batching(**given: Any) -> None:
    """The hf adapter returns rows; batching options would be silently ignored there, so they are refused."""
    named = [name for name, value in given.items() if value is not None]
    if named:
        raise DsregError(
            f"{', '.join(named)} cannot apply to a datasets.Dataset, which holds rows, not batches",
            fix="drop it and batch with ds.iter(batch_size=N) (shuffle=, seed=, rank=/world_size= do apply), "
            "or load with framework='torch' for a DataLoader that batches, shuffles and pads",
        )


def _check_keywords(framework: str, given: dict[str, Any]) -> None:
    """Refuse keywords that neither `load` nor the framework's adapter takes, naming the valid ones."""
    if not given:
        return
    own = [p.name for p in inspect.signature(load).parameters.values() if p.kind is p.KEYWORD_ONLY]
    valid = sorted({*own, *adapter_options(framework)})
    unknown = sorted(set(given) - set(valid))
    if unknown:
        close = difflib.get_close_matches(unknown[0], valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DsregError(
            f"load() got unknown keyword argument{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}{hint}",
            fix=f"keywords load takes for framework {framework!r}: {', '.join(valid)}",
        )
