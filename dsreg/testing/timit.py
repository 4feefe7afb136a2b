"""A TIMIT (LDC93S1) tree as LDC ships it, with tiny synthetic audio: all 630 speakers, or a few.

``{TRAIN,TEST}/DR<n>/<sex><id>/<utt>.{WAV,PHN,WRD,TXT}``, each speaker with SA1, SA2, five SX and three
SI sentences; ``.WAV`` is SPHERE 16-bit PCM at 16 kHz of a few hundred samples. The test part holds the
50 Kaldi dev speakers and the 24 core-test speakers (each core speaker in its real dialect region) and
94 others; the train part 462 speakers. Some alignments end past the audio, as the real DR5/MRVG0/SA1 does.
"""

from __future__ import annotations

import importlib.resources
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsreg.speech.phones import PHONES_61
from dsreg.testing.sphere import sphere_bytes

_WORDS = ("she", "had", "your", "dark", "suit", "in", "greasy", "wash", "water", "all", "year")


@dataclass(frozen=True)
class Speaker:
    part: str  # TRAIN or TEST
    region: int  # 1..8
    name: str  # e.g. fcjf0 (sex letter first)


def reference() -> dict[str, object]:
    """The TIMIT reference facts (speaker lists, counts) the recipe is checked against."""
    text = (importlib.resources.files("dsreg.schemas") / "reference" / "timit.json").read_text(encoding="utf-8")
    data: dict[str, object] = json.loads(text)
    return data


def _synthetic(count: int, taken: set[str], rng: np.random.Generator) -> list[str]:
    names: list[str] = []
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    while len(names) < count:
        name = "fm"[int(rng.integers(2))] + "".join(rng.choice(letters, 3)) + str(int(rng.integers(10)))
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def timit_speakers(*, train: int = 462, other_test: int = 94, seed: int = 0) -> list[Speaker]:
    """`train` synthetic train speakers; the test part: the real dev and core lists plus `other_test` others."""
    facts = reference()
    core: list[str] = list(facts["core_test_speakers"])  # type: ignore[call-overload]
    dev: list[str] = list(facts["dev_speakers"])  # type: ignore[call-overload]
    rng = np.random.default_rng(seed)
    taken = {*core, *dev}
    speakers = [Speaker("TEST", 1 + i // 3, name) for i, name in enumerate(core)]  # 3 per region, in list order
    speakers += [Speaker("TEST", 1 + i % 8, name) for i, name in enumerate(dev)]
    speakers += [Speaker("TEST", 1 + i % 8, name) for i, name in enumerate(_synthetic(other_test, taken, rng))]
    speakers += [Speaker("TRAIN", 1 + i % 8, name) for i, name in enumerate(_synthetic(train, taken, rng))]
    return speakers


def utterance_names(index: int) -> list[str]:
    """A speaker's ten sentences: SA1, SA2, five SX and three SI, numbered after the speaker's index."""
    return ["sa1", "sa2", *(f"sx{10 * index + i}" for i in range(5)), *(f"si{1000 + 10 * index + i}" for i in range(3))]


def _alignment(rng: np.random.Generator, frames: int, labels: list[str], overrun: bool) -> list[tuple[int, int, str]]:
    cuts = np.sort(rng.choice(np.arange(1, frames), len(labels) - 1, replace=False))
    bounds = [0, *cuts.tolist(), frames + (1 if overrun else 0)]
    return [(bounds[i], bounds[i + 1], label) for i, label in enumerate(labels)]


def utterance_files(
    utt: str,
    rng: np.random.Generator,
    *,
    upper: bool,
    overrun: bool,
    length: tuple[int, int] = (200, 400),
    speaker: str = "",
) -> dict[str, bytes]:
    """The four files of one utterance by name; `overrun` ends the .PHN/.WRD/.TXT one sample past the audio;
    the audio has `length[0]` to `length[1] - 1` samples. With `speaker`, the .WAV header names the utterance
    as TIMIT's do (``utterance_id rvg0_sa1`` for mrvg0/sa1)."""
    frames = int(rng.integers(*length))
    samples = rng.integers(-2000, 2000, frames).astype(np.int16)
    base = utt.upper() if upper else utt

    def name(ext: str) -> str:
        return f"{base}.{ext.upper() if upper else ext}"

    words = [str(w) for w in rng.choice(_WORDS, int(rng.integers(2, 5)))]
    phones = ["h#", *(str(p) for p in rng.choice(PHONES_61, int(rng.integers(4, 9)))), "h#"]
    end = frames + (1 if overrun else 0)
    label = f"{speaker[1:]}_{utt}".lower()
    utterance_id = [("utterance_id", f"-s{len(label)}", label)] if speaker else []
    word_lines = _alignment(rng, frames, words, overrun)
    phone_lines = _alignment(rng, frames, phones, overrun)
    return {
        name("wav"): sphere_bytes(samples, 16000, extra=[("database_id", "-s5", "TIMIT"), *utterance_id]),
        name("txt"): f"0 {end} {' '.join(words).capitalize()}.\n".encode(),
        name("wrd"): "".join(f"{b} {e} {w}\n" for b, e, w in word_lines).encode(),
        name("phn"): "".join(f"{b} {e} {p}\n" for b, e, p in phone_lines).encode(),
    }


def timit_files(
    *,
    speakers: list[Speaker] | None = None,
    top: str = "TIMIT",
    upper: bool = True,
    seed: int = 0,
    samples: tuple[int, int] = (200, 400),
) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of every file of the tree; see `make_timit`."""
    rng = np.random.default_rng(seed)
    for index, speaker in enumerate(speakers if speakers is not None else timit_speakers(seed=seed)):
        part = speaker.part if upper else speaker.part.lower()
        region = f"DR{speaker.region}" if upper else f"dr{speaker.region}"
        directory = "/".join(p for p in (top, part, region, speaker.name.upper() if upper else speaker.name) if p)
        for number, utt in enumerate(utterance_names(index)):
            files = utterance_files(
                utt, rng, upper=upper, overrun=(index + number) % 7 == 0, length=samples, speaker=speaker.name
            )
            for name, data in files.items():
                yield f"{directory}/{name}", data


def make_timit(
    dest: Path,
    *,
    speakers: list[Speaker] | None = None,
    top: str = "TIMIT",
    upper: bool = True,
    seed: int = 0,
    archive: bool = False,
    samples: tuple[int, int] = (200, 400),
) -> Path:
    """Write a TIMIT tree under ``dest/<top>`` (``top`` may be ``data``, ``timit`` or empty); returns the source.

    `upper` writes LDC's upper-case names, False an all-lower-case copy. `archive` writes one uncompressed
    ``dest.tar`` instead (25,200 small files are slow to create one by one), and returns its path. Each
    utterance has `samples` (from, to) samples of audio: a few hundred by default, more to have frames of
    25 ms to compute features on.
    """
    files = timit_files(speakers=speakers, top=top, upper=upper, seed=seed, samples=samples)
    if archive:
        target = dest.with_suffix(".tar")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(target, "w") as tar:
            for name, data in files:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return target
    for name, data in files:
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return dest
