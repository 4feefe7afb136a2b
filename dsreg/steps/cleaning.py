"""`clean_parallel`: drop sentence pairs that would hurt training, counting each drop by its reason.

Arguments: `columns` (the text columns of a pair, required), `splits` (the splits it applies to; default all —
test sets are usually left alone), `drop_empty` (default true: a side that is empty or only whitespace;
`exact`: only a side that is the empty string, as the Hugging Face / TFDS WMT builders drop pairs, so that
their published row counts can be checked),
`max_length` (words per side, as Moses' clean-corpus-n counts them: split on whitespace) and `max_ratio`
(the longer side's words over the shorter's). A pair is dropped for the first reason that applies, in
that order; the counts land in the manifest under `metadata.dropped.<split>`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Features, Text
from dsreg.steps import Item, StepContext

_KNOWN = {"columns", "splits", "drop_empty", "max_length", "max_ratio"}


def _check(args: Mapping[str, Any]) -> None:
    unknown = sorted(set(args) - _KNOWN)
    if unknown:
        raise DsregError(
            f"step clean_parallel has unknown arguments {unknown}", fix=f"use: {', '.join(sorted(_KNOWN))}"
        )
    columns = args.get("columns")
    if not isinstance(columns, list) or len(columns) < 2 or not all(isinstance(c, str) for c in columns):
        raise DsregError("step clean_parallel needs args.columns, the text columns of a pair (two or more)")
    drop_empty = args.get("drop_empty", True)
    if not isinstance(drop_empty, bool) and drop_empty != "exact":
        raise DsregError(f"step clean_parallel: args.drop_empty is {drop_empty!r}, not true, false or 'exact'")
    for key in ("max_length", "max_ratio"):
        value = args.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            raise DsregError(f"step clean_parallel: args.{key} is {value!r}, not a positive number")


def output_features(args: Mapping[str, Any], features: Features) -> Features:
    """The features, unchanged: checked before any task runs, so a column the step names that is not a text
    feature is an error naming it, not a KeyError in the first task."""
    _check(args)
    wrong = [c for c in args["columns"] if c not in features or type(features[c]) is not Text]
    if wrong:
        raise DsregError(
            f"step clean_parallel: columns {wrong} are not text features",
            fix=f"name text columns of {', '.join(features.names())}",
        )
    return features


def _reason(texts: list[str], args: Mapping[str, Any]) -> str | None:
    """Why a pair is dropped, or None to keep it."""
    drop_empty = args.get("drop_empty", True)
    if drop_empty == "exact" and any(t == "" for t in texts):
        return "empty"
    if drop_empty is True and any(not t.strip() for t in texts):
        return "empty"
    words = [len(t.split()) for t in texts]
    limit = args.get("max_length")
    if limit is not None and max(words) > limit:
        return "too long"
    ratio = args.get("max_ratio")
    if ratio is not None and max(words) > ratio * max(min(words), 1):
        return "length ratio"
    return None


def clean_parallel(args: Mapping[str, Any], items: Iterator[Item], context: StepContext) -> Iterator[Item]:
    """Keep the pairs that pass every declared check; count the others by reason in `context.dropped`."""
    _check(args)
    splits = args.get("splits")
    if splits is not None and context.split not in splits:
        yield from items
        return
    columns = list(args["columns"])
    for item in items:
        rows = item.to_pylist() if isinstance(item, pa.RecordBatch) else [item]
        for row in rows:
            reason = _reason([row[c] for c in columns], args)
            if reason is None:
                yield row
            else:
                context.dropped[f"clean_parallel: {reason}"] += 1
