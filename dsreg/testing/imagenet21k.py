"""A fake ImageNet-21k release: a tar (optionally gzipped, like winter21) of per-synset tars, and `words.txt`.

Synsets have different sizes, down to one image (as real small synsets do), so the held-out rule's
n // 2 cap is exercised; one image is a CMYK JPEG (re-encoded on preparation). Deterministic from a seed.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsreg.testing.imagenet import _jpeg, tar_bytes

ARCHIVES = {"fall11": "fall11_whole.tar", "winter21": "winter21_whole.tar.gz"}


@dataclass
class Fake21k:
    """What a fake release holds: synset → its image names in storage order, every image's bytes, the words."""

    synsets: dict[str, list[str]] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    words: dict[str, str] = field(default_factory=dict)
    cmyk: str = ""


def fake_21k(sizes: tuple[int, ...] = (7, 1, 4, 12, 3), seed: int = 0) -> Fake21k:
    """Synsets n00000001, n00000002, … with `sizes` images each (names `<wnid>_<n>.JPEG`, not in sorted order)."""
    rng = np.random.default_rng(seed)
    fake = Fake21k()
    for s, size in enumerate(sizes):
        wnid = f"n{(s + 1) * 1117:08d}"
        numbers = [int(n) for n in rng.permutation(10 * size + 10)[:size]]
        fake.synsets[wnid] = [f"{wnid}_{n}.JPEG" for n in numbers]
        fake.words[wnid] = f"fake synset {s}, {wnid}"
        for name in fake.synsets[wnid]:
            fake.images[name] = _jpeg(rng, size=(int(rng.integers(20, 50)), 24))
    fake.cmyk = fake.synsets[next(iter(fake.synsets))][0]
    fake.images[fake.cmyk] = _jpeg(rng, "CMYK")
    fake.words["n99999999"] = "a synset of the table that has no images"
    return fake


def make_21k(dest: Path, fake: Fake21k | None = None, release: str = "fall11") -> Path:
    """Write the release's archive and `words.txt` into `dest` (returned)."""
    fake = fake or fake_21k()
    dest.mkdir(parents=True, exist_ok=True)
    inner = [(f"{w}.tar", tar_bytes([(n, fake.images[n]) for n in names])) for w, names in fake.synsets.items()]
    data = tar_bytes(inner)
    if ARCHIVES[release].endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    (dest / ARCHIVES[release]).write_bytes(data)
    (dest / "words.txt").write_text("".join(f"{w}\t{words}\n" for w, words in sorted(fake.words.items())))
    return dest
