"""Fake table files in every format the `table` reader reads, deterministic from a seed.

`make_reviews` writes the layout of the documented example recipe (docs/examples/reviews.yaml): a train
split of JSON Lines parts (one gzip), a validation CSV and a test Parquet file, with the source columns
named differently from the features. It returns each split's rows as the prepared dataset holds them.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

LABELS = ("negative", "positive")
_WORDS = ("good", "bad", "plot", "actors", "Ünïcödé", "twist", "long", '"quoted"', "a, b", "end")


def review_rows(count: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Rows in the source's column names: review (text), sentiment (name), stars (float), tokens (ints)."""
    rows = []
    for _ in range(count):
        words = [str(w) for w in rng.choice(_WORDS, size=int(rng.integers(1, 6)))]
        rows.append(
            {
                "review": " ".join(words),
                "sentiment": LABELS[int(rng.integers(0, 2))],
                "stars": float(rng.integers(0, 11)) / 2,
                "tokens": [int(t) for t in rng.integers(0, 1000, size=len(words))],
                "ignored": "a source column no feature reads",
            }
        )
    return rows


def as_features(row: dict[str, Any]) -> dict[str, Any]:
    """A source row as the example recipe's features hold it."""
    return {
        "text": row["review"],
        "label": LABELS.index(row["sentiment"]),
        "stars": row["stars"],
        "tokens": row["tokens"],
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]], *, compress: bool = False) -> None:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)


def write_delimited(path: Path, rows: list[dict[str, Any]], delimiter: str = ",", *, compress: bool = False) -> None:
    """CSV/TSV with a header; a list cell is written as space-separated numbers."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(list(rows[0]))
    for row in rows:
        writer.writerow([" ".join(map(str, v)) if isinstance(v, list) else v for v in row.values()])
    data = out.getvalue().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def make_reviews(dest: str | os.PathLike[str], seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """The example recipe's layout under `dest`; returns split → rows as features, in prepared order."""
    root = Path(dest)
    rng = np.random.default_rng(seed)
    parts = [review_rows(5, rng), review_rows(4, rng)]
    write_jsonl(root / "train" / "part-00000.jsonl", parts[0])
    write_jsonl(root / "train" / "part-00001.jsonl.gz", parts[1], compress=True)
    validation, test = review_rows(6, rng), review_rows(3, rng)
    write_delimited(root / "validation.csv", validation)
    write_parquet(root / "test.parquet", test)
    return {
        "train": [as_features(r) for part in parts for r in part],
        "validation": [as_features(r) for r in validation],
        "test": [as_features(r) for r in test],
    }
