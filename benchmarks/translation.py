"""Translation (WMT): SentencePiece tokenisation inside `dsreg.prepare` against bare `sentencepiece` encoding of the
same lines on all cores (target ≥ 80 %), and the padding of `max_tokens` batches of sentence pairs against random
batches (target ≤ 5 %)."""

from __future__ import annotations

import itertools
import os
import shutil
import time

import numpy as np
import yaml

import dsreg
from benchmarks.common import bench_dir, header, row, verdict
from dsreg.loading.buckets import BucketSampler
from dsreg.steps import StepContext
from dsreg.steps import sentencepiece as spm_step

PAIRS = 200_000


def _corpus(rng: np.random.Generator, count: int) -> tuple[list[str], list[str]]:
    """WMT-like sentence pairs: Zipf-distributed words of a 30,000-word vocabulary per side, lengths log-normal
    around 22 words (news sentences), the target length correlated with the source's."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzäöüéè"))
    words = ["".join(letters[rng.integers(0, letters.size, int(n))]) for n in rng.integers(2, 11, 30_000)]
    src_len = np.clip(rng.lognormal(np.log(22), 0.5, count), 1, 150).astype(int)
    tgt_len = np.clip(src_len * rng.normal(1.1, 0.15, count), 1, 200).astype(int)
    draws = np.minimum(rng.zipf(1.2, int(src_len.sum() + tgt_len.sum())), len(words)) - 1
    flat = [words[i] for i in draws]
    out: list[list[str]] = [[], []]
    pos = 0
    for side, lengths in enumerate((src_len, tgt_len)):
        for n in lengths:
            out[side].append(" ".join(flat[pos : pos + n]))
            pos += n
    return out[0], out[1]


def tokenisation() -> None:
    header(f"SentencePiece: tokenisation in dsreg.prepare vs bare encode, {PAIRS:,} WMT-like pairs, all cores")
    import sentencepiece as spm

    base = bench_dir() / "translation"
    shutil.rmtree(base, ignore_errors=True)
    (base / "raw").mkdir(parents=True)
    de, en = _corpus(np.random.default_rng(0), PAIRS)
    (base / "raw" / "train.de").write_text("\n".join(de) + "\n", encoding="utf-8")
    (base / "raw" / "train.en").write_text("\n".join(en) + "\n", encoding="utf-8")
    args = {"columns": ["de", "en"], "vocab_size": 8000, "joint": True, "sample_size": 100_000, "seed": 0}
    recipe = {
        "name": "bench-wmt",
        "version": "1.0.0",
        "description": "benchmark",
        "sources": {"data": {"manual": "generated", "filename": "raw"}},
        "reader": {"name": "text_lines"},
        "features": {"de": {"type": "text"}, "en": {"type": "text"}},
        "splits": {"train": {"files": "train.*"}},
        "steps": [{"name": "sentencepiece", "args": args}],
    }
    (base / "recipes").mkdir()
    (base / "recipes" / "bench-wmt.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    os.environ["DSREG_RECIPES"] = str(base / "recipes")
    start = time.perf_counter()
    manifest = dsreg.prepare("bench-wmt", source=base / "raw", root=base / "root")
    prepared = time.perf_counter() - start
    model = manifest.asset_path("assets/sentencepiece-0/joint.model")
    processor = spm.SentencePieceProcessor(model_file=str(model))
    threads = os.cpu_count() or 1

    def bare() -> float:
        start = time.perf_counter()
        for lines in (de, en):
            processor.encode(lines, out_type=int, num_threads=threads)
        return time.perf_counter() - start

    def in_prepare() -> float:
        fitted = {**args, "models": {"de": "joint.model", "en": "joint.model"}, "directory": str(model.parent)}
        rows = [{"de": d, "en": e} for d, e in zip(de, en, strict=True)]  # as the reader hands them to the step
        start = time.perf_counter()
        for _ in spm_step.apply(fitted, iter(rows), StepContext("train")):
            pass
        return time.perf_counter() - start

    times = [(bare(), in_prepare()) for _ in range(5)]  # interleaved, so load from others hits both alike
    bare_s, step_s = min(t[0] for t in times), min(t[1] for t in times)
    tokens = sum(len(x) for x in processor.encode(de[:20000], out_type=int)) * PAIRS / 20000 * 2
    row("bare sentencepiece encode (de + en, all cores)", f"{bare_s:.2f} s", f"{2 * PAIRS / bare_s:,.0f} lines/s")
    row("dsreg's sentencepiece step (rows → rows + ids)", f"{step_s:.2f} s", f"{2 * PAIRS / step_s:,.0f} lines/s")
    row("step throughput / bare", f"{bare_s / step_s:.0%}", f"~{tokens / 1e6:.1f} M tokens")
    row("whole dsreg.prepare (sample, train 8k model, encode, write)", f"{prepared:.2f} s")
    verdict(bare_s / step_s >= 0.8, "tokenisation in prepare ≥ 80 % of bare encode")
    del os.environ["DSREG_RECIPES"]
    shutil.rmtree(base, ignore_errors=True)


def _waste(sides: list[np.ndarray], batches: list[np.ndarray], budget: int | None) -> float:
    """Padded slots over all slots, both sides; every batch checked against the budget."""
    waste = total = 0
    for rows in batches:
        for side in sides:
            lengths = side[rows]
            slots = int(lengths.max()) * lengths.size
            assert budget is None or slots <= budget
            total += slots
            waste += slots - int(lengths.sum())
    return waste / total


def padding() -> None:
    header("Padding: max_tokens=4096 batches of sentence pairs vs random batches, WMT-like token lengths")
    rng = np.random.default_rng(0)
    count = 500_000
    src = np.clip(rng.lognormal(np.log(28), 0.55, count), 1, 250).astype(np.int64)
    tgt = np.clip(src * rng.normal(1.1, 0.15, count), 1, 250).astype(np.int64)
    budget = 4096
    result = {}
    for within in ("shuffle", "sorted"):
        for buckets in (16, 64):
            sampler = BucketSampler(np.stack([src, tgt], 1), budget, num_buckets=buckets, within=within, seed=0)
            order, offsets = sampler.plan(0)
            batches = [order[a:b] for a, b in itertools.pairwise(offsets.tolist())]
            result[within, buckets] = _waste([src, tgt], batches, budget)
            mean = count / len(batches)
            label = f"max_tokens, {buckets} buckets, {within} inside buckets"
            row(label, f"{result[within, buckets]:.1%} padding", f"mean batch {mean:.0f}")
    size = round(mean)
    perm = rng.permutation(count)
    random = _waste([src, tgt], [perm[i : i + size] for i in range(0, count, size)], None)
    row(f"random batches of {size}", f"{random:.1%} padding")
    verdict(result["sorted", 16] <= 0.05, "padding of max_tokens pair batches (load's default for pairs) ≤ 5 %")


def run() -> None:
    padding()
    tokenisation()


if __name__ == "__main__":
    run()
