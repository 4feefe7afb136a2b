"""Translation pairs at load time: `load(..., source="en", target="cs")` picks the direction of a parallel corpus.

A corpus stores one column per language (`cs`, `en`) and, after the `sentencepiece` step, their token ids
(`cs_ids`, `en_ids`). The pair is read as two columns named `source` and `target`: the ids when they exist,
else the text. In torch and tf, id batches are padded (with 0) and come with `source_lengths`, `source_mask`
(True on real tokens) and the same for `target`; with `max_tokens` the budget holds for both sides.

A split made for one direction only (WMT14's filtered newstest2014 ships other segments for de→en and
en→de; a 2021+ test set's target column is a reference, not source text) declares it in its recipe and
manifest (`SplitInfo.direction`): asking it for the other direction is refused, naming the split that is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.loading.splits import parse_split
from dsreg.manifest import Manifest

SIDES = ("source", "target")


def pair_columns(features: Features, source: str | None, target: str | None) -> dict[str, str] | None:
    """`columns=` for the pair (output name → stored column), or None when no direction is asked for."""
    if source is None and target is None:
        return None
    if source is None or target is None or source == target:
        raise DsregError(
            f"source={source!r} and target={target!r}: a translation direction needs two different languages",
            fix="pass both, e.g. source='en', target='cs'",
        )
    out: dict[str, str] = {}
    for side, lang in zip(SIDES, (source, target), strict=True):
        if not isinstance(lang, str) or lang not in features:
            raise DsregError(
                f"{side}={lang!r} is not a language column of this dataset",
                fix=f"name a column: {', '.join(n for n in features.names() if not n.endswith('_ids'))}",
            )
        out[side] = f"{lang}_ids" if f"{lang}_ids" in features else lang
    return out


def check_direction(manifest: Manifest, split: str, source: str, target: str) -> None:
    """Refuse reading `source`→`target` from a split (of the split expression) that declares the other direction."""
    names = dict.fromkeys(s.split for s in parse_split(split, {n: s.rows for n, s in manifest.splits.items()}))
    for name in names:
        declared = manifest.splits[name].direction
        if declared is not None and declared != (source, target):
            raise DsregError(
                f"split {name!r} of {manifest.full_name} holds the {declared[0]}→{declared[1]} direction only; "
                f"source={source!r}, target={target!r} would read it as {source}→{target} data, which it is not",
                fix=direction_fix(manifest, name, source, target),
            )


def direction_fix(manifest: Manifest, name: str, source: str, target: str) -> str:
    """Where `source`→`target` is: the dataset's split declaring it, else the reverse pair's config."""
    declared = manifest.splits[name].direction or (target, source)
    right = [n for n, s in manifest.splits.items() if s.direction == (source, target)]
    if right:
        return f"for {source}→{target} use split {right[0]!r} ({name!r} is {declared[0]}→{declared[1]})"
    return (
        f"{manifest.name}/{manifest.config} has no {source}→{target} split: read {name!r} as "
        f"{declared[0]}→{declared[1]}, or prepare the {source}-{target} config of {manifest.name} where the "
        f"release has one (dsreg info {manifest.name})"
    )


def check_reference_direction(manifest: Manifest, split: str, columns: Sequence[str]) -> None:
    """Refuse scoring a one-direction split against other references than its target language's (`de`,
    `de_refs`, `de_ids`): that would score the other direction on this direction's segments."""
    declared = manifest.splits[split].direction
    if declared is None:
        return
    langs = {c.removesuffix("_refs").removesuffix("_ids") for c in columns}
    if langs == {declared[1]}:
        return
    other = next((lang for lang in sorted(langs) if lang != declared[1]), declared[0])
    where = direction_fix(manifest, split, declared[1], other) if other == declared[0] else ""
    raise DsregError(
        f"split {split!r} of {manifest.full_name} holds the {declared[0]}→{declared[1]} direction only: its "
        f"references are {declared[1]!r}, not {', '.join(map(repr, columns))}",
        fix=f"to score {declared[0]}→{declared[1]} pass reference={declared[1]!r} (--reference {declared[1]})"
        + (f"; {where}" if where else ""),
    )


def _torch_masks(batch: dict[str, Any]) -> dict[str, Any]:
    import torch

    for side in SIDES:
        values, lengths = batch.get(side), batch.get(f"{side}_lengths")
        if isinstance(values, torch.Tensor) and lengths is not None:
            batch[f"{side}_mask"] = torch.arange(values.shape[1], device=values.device)[None, :] < lengths[:, None]
    return batch


def _tf_masks(batch: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    out = dict(batch)
    for side in SIDES:
        values = batch.get(side)
        if isinstance(values, tf.RaggedTensor):
            lengths = values.row_lengths()
            dense = values.to_tensor(0)
            out[side], out[f"{side}_lengths"] = dense, lengths
            out[f"{side}_mask"] = tf.sequence_mask(lengths, tf.shape(dense, out_type=tf.int64)[1])
    return out


# adapter → the function adding padding and masks to its batches (torch pads in its collate already)
MASKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"torch": _torch_masks, "tf": _tf_masks}


class Then:
    """`second(first(batch))`, picklable (torch worker processes receive the transform)."""

    def __init__(self, first: Callable[[Any], Any], second: Callable[[Any], Any] | None):
        self.first, self.second = first, second

    def __call__(self, batch: Any) -> Any:
        batch = self.first(batch)
        return batch if self.second is None else self.second(batch)


def pair_transform(framework: str, transform: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """The adapter's transform for a pair: masks first (where the framework has them), then the user's."""
    masker = MASKERS.get(framework)
    return transform if masker is None else Then(masker, transform)
