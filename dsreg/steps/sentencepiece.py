"""`sentencepiece`: a subword model trained during preparation, and every row's token ids beside its text.

Arguments: `columns` (the text columns, required), `vocab_size` (required; a recipe makes each size a
config), `joint` (default true: one model over every column; false: one per column), `model_type`
(`unigram` or `bpe`), `sample_size` (sentences sampled from `split` to train on, default 1,000,000),
`seed` (default 0), `split` (default `train`), `character_coverage` (default 1.0), `normalization`
(SentencePiece's rule name, default `nmt_nfkc`) and `byte_fallback` (default true: a character the model
has no piece for, one the sample never held, is encoded as its UTF-8 bytes `<0xNN>`, 256 pieces of the
vocabulary; with false it becomes `<unk>`, id 1, and its text is lost: decoding gives ` ⁇ `).

The sample is a seeded reservoir over the split's rows in task order (after the earlier steps), so the
same inputs give the same sample, the same model file and the same ids. The model is saved beside the
shards (`assets/sentencepiece-<n>/joint.model` or `<column>.model`) and recorded in the manifest with its
sha256. Each row gets `<column>_ids` (int32; pad 0, unk 1, bos 2, eos 3, no bos/eos added); decoding the
ids gives the column's text after the model's normalisation (with `byte_fallback`, also for characters
outside the sample). Encoding uses every core of the machine.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dsreg.errors import DsregError
from dsreg.features import Features, Sequence, Text
from dsreg.steps import FitInput, Item, StepContext

_KNOWN = {
    "columns",
    "vocab_size",
    "joint",
    "model_type",
    "sample_size",
    "seed",
    "split",
    "character_coverage",
    "normalization",
    "byte_fallback",
    "models",  # filled in by `fit`: column → model file, and `directory` where they are
    "directory",
}
_CHUNK = 32768  # rows encoded per call, across all cores (larger calls amortise starting the threads)


def _check(args: Mapping[str, Any]) -> None:
    unknown = sorted(set(args) - _KNOWN)
    if unknown:
        raise DsregError(f"step sentencepiece has unknown arguments {unknown}", fix=f"use: {', '.join(sorted(_KNOWN))}")
    columns = args.get("columns")
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise DsregError("step sentencepiece needs args.columns, a list of text columns")
    size = args.get("vocab_size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise DsregError(f"step sentencepiece: args.vocab_size is {size!r}", fix="give an integer vocabulary size")
    if args.get("model_type", "unigram") not in ("unigram", "bpe"):
        raise DsregError(f"step sentencepiece: model_type {args.get('model_type')!r}", fix="use unigram or bpe")
    if not isinstance(args.get("byte_fallback", True), bool):
        raise DsregError(f"step sentencepiece: byte_fallback {args['byte_fallback']!r}", fix="use true or false")


def output_features(args: Mapping[str, Any], features: Features) -> Features:
    """The reader's features plus `<column>_ids` (sequences of int32) for each tokenised column."""
    _check(args)
    wrong = [c for c in args["columns"] if c not in features or type(features[c]) is not Text]
    taken = [f"{c}_ids" for c in args["columns"] if f"{c}_ids" in features]
    if wrong or taken:
        raise DsregError(
            f"step sentencepiece: columns {wrong} are not text features" if wrong else f"{taken} already exist",
            fix=f"tokenise text columns of {features.names()} that have no <column>_ids yet",
        )
    ids = {f"{c}_ids": Sequence(dtype="int32") for c in args["columns"]}
    return Features({**dict(features.items()), **ids})


def _sample(
    rows: Iterator[Mapping[str, Any]], groups: dict[str, list[str]], size: int, seed: int
) -> dict[str, list[str]]:
    """A seeded reservoir sample of `size` non-empty lines per model (model → the columns it reads)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    reservoirs: dict[str, list[str]] = {model: [] for model in groups}
    seen = dict.fromkeys(groups, 0)
    for row in rows:
        for model, columns in groups.items():
            reservoir = reservoirs[model]
            for column in columns:
                line = row[column]
                if not line.strip():
                    continue
                seen[model] += 1
                if len(reservoir) < size:
                    reservoir.append(line)
                else:
                    slot = int(rng.integers(seen[model]))
                    if slot < size:
                        reservoir[slot] = line
    return reservoirs


def _train(lines: list[str], args: Mapping[str, Any]) -> bytes:
    import sentencepiece as spm

    if not lines:
        raise DsregError("step sentencepiece has no text to train on", fix="check the split and columns it samples")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=model,
            vocab_size=int(args["vocab_size"]),
            model_type=args.get("model_type", "unigram"),
            character_coverage=float(args.get("character_coverage", 1.0)),
            normalization_rule_name=args.get("normalization", "nmt_nfkc"),
            byte_fallback=bool(args.get("byte_fallback", True)),
            pad_id=0,
            unk_id=1,
            bos_id=2,
            eos_id=3,
            input_sentence_size=0,
            shuffle_input_sentence=False,
            num_threads=1,  # one thread: the trainer's results then never depend on scheduling
            minloglevel=2,
        )
    except RuntimeError as err:
        raise DsregError(
            f"SentencePiece could not train: {err}",
            fix="lower vocab_size (it must be below the number of distinct pieces in the sample) or sample more; "
            "with byte_fallback (the default) it must also hold the 256 byte pieces and every character",
        ) from None
    return model.getvalue()


def fit(args: Mapping[str, Any], data: FitInput) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Train the model(s) on a seeded sample of the split; return the files for the tasks and the manifest."""
    _check(args)
    columns = list(args["columns"])
    groups = {"joint": columns} if args.get("joint", True) else {c: [c] for c in columns}
    size = int(args.get("sample_size", 1_000_000))
    samples = _sample(data.rows(str(args.get("split", "train"))), groups, size, int(args.get("seed", 0)))
    data.directory.mkdir(parents=True, exist_ok=True)
    models: dict[str, str] = {}
    files: list[tuple[str, str]] = []
    for model, group in groups.items():
        name = f"{model}.model"
        (data.directory / name).write_bytes(_train(samples[model], args))
        models.update(dict.fromkeys(group, name))
        files.append((name, f"sentencepiece model of {', '.join(group)} (vocab {args['vocab_size']})"))
    return {"models": models, "directory": str(data.directory)}, files


def _processors(args: Mapping[str, Any]) -> dict[str, Any]:
    import sentencepiece as spm

    if "models" not in args:
        raise DsregError("step sentencepiece ran before its model was trained", fix="prepare through dsreg.prepare")
    loaded: dict[str, Any] = {}
    by_file: dict[str, Any] = {}
    for column, name in args["models"].items():
        if name not in by_file:
            by_file[name] = spm.SentencePieceProcessor(model_file=str(Path(args["directory"]) / name))
        loaded[column] = by_file[name]
    return loaded


def apply(args: Mapping[str, Any], items: Iterator[Item], context: StepContext) -> Iterator[Item]:
    """Add `<column>_ids` to every row, encoding chunks of rows on all cores."""
    processors = _processors(args)
    threads = os.cpu_count() or 1
    chunk: list[dict[str, Any]] = []

    def flush() -> Iterator[dict[str, Any]]:
        for column, processor in processors.items():
            ids = processor.encode([row[column] for row in chunk], out_type=int, num_threads=threads)
            lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
            bounds = np.zeros(len(ids) + 1, dtype=np.int64)
            np.cumsum(lengths, out=bounds[1:])
            flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(bounds[-1]))
            name = f"{column}_ids"
            for row, start, stop in zip(chunk, bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
                row[name] = flat[start:stop]  # views of one array per chunk: no per-row conversion
        yield from chunk
        chunk.clear()

    for item in items:
        if isinstance(item, pa.RecordBatch):
            rows = item.to_pylist()
        else:  # a reader's rows are its own fresh dicts: the ids are added in place, not to a copy
            rows = [item if isinstance(item, dict) else dict(item)]
        chunk.extend(rows)
        if len(chunk) >= _CHUNK:
            yield from flush()
    if chunk:
        yield from flush()
