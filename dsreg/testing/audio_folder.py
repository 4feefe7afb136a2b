"""A fake audio folder with metadata tables, as the `audio_folder` reader reads it.

`make_audio_folder` writes the layout of docs/examples/digits-speech.yaml: `train/metadata.csv` naming
WAV and FLAC files (some in a sub-folder) with a transcript and a speaker, `test/metadata.jsonl` likewise,
and a stray audio file no table names. Samples are 16-bit values, so they survive WAV and FLAC exactly.
Returns split → rows ({file_name, transcript, speaker, audio as float32 in [-1, 1)}).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 8000
SPEAKERS = ("alice", "bob")
_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def write_audio(path: Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write int16 `samples` (1-D mono, or 2-D frames × channels) as WAV or FLAC, by the path's suffix."""
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, samples, sample_rate, subtype="PCM_16", format=path.suffix[1:].upper())


def make_audio_folder(
    dest: str | os.PathLike[str], splits: dict[str, int] | None = None, seed: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """Write every split (split → utterances) under `dest`; return split → rows in table order."""
    root = Path(dest)
    rng = np.random.default_rng(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for split, count in (splits or {"train": 5, "test": 3}).items():
        rows = []
        for i in range(count):
            samples = rng.integers(-32768, 32768, size=int(rng.integers(100, 400)), dtype=np.int16)
            name = f"clips/{split}_{i:03d}.flac" if i % 2 else f"{split}_{i:03d}.wav"
            write_audio(root / split / name, samples)
            words = " ".join(_WORDS[int(d)] for d in rng.integers(0, 10, size=3))
            rows.append(
                {
                    "file_name": name,
                    "transcript": words,
                    "speaker": SPEAKERS[i % 2],
                    "audio": samples.astype(np.float32) / 32768,
                }
            )
        rows = rows[::-1]  # the table's order, not the files' sorted order, is the dataset's
        table = [{k: r[k] for k in ("file_name", "transcript", "speaker")} for r in rows]
        if split == "train":
            with (root / split / "metadata.csv").open("w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=list(table[0]), lineterminator="\n")
                writer.writeheader()
                writer.writerows(table)
        else:
            text = "".join(json.dumps(r) + "\n" for r in table)
            (root / split / "metadata.jsonl").write_text(text, encoding="utf-8")
        write_audio(root / split / "unlisted.wav", np.zeros(10, dtype=np.int16))
        out[split] = rows
    return out
