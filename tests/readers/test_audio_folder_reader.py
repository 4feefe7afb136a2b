"""The `audio_folder` reader: WAV and FLAC named by a metadata table; sample rate and channels checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from generic_fakes import (
    damaged_copy,
    example,
    example_splits,
    fails_and_publishes_nothing,
    rows,
    use_recipes,
    write_recipe,
)

from dsreg.errors import DsregError
from dsreg.preparation import prepare
from dsreg.testing import Damaged, ReaderContract, audio_folder

FEATURES = {
    "audio": {"type": "audio", "sample_rate": audio_folder.SAMPLE_RATE, "dtype": "float32"},
    "transcript": {"type": "text"},
    "speaker": {"type": "class_label", "names": list(audio_folder.SPEAKERS)},
}
SPLITS = {"train": {"files": "train/metadata.csv", "rows": 5}, "test": {"files": "test/*.jsonl", "rows": 3}}


def _recipe(tmp_path: Path, monkeypatch, features: dict | None = None, splits: dict | None = None, args=None):
    reader = {"name": "audio_folder", **({"args": args} if args else {})}
    write_recipe(tmp_path / "recipes", "speech", reader, features or FEATURES, splits or SPLITS)
    use_recipes(monkeypatch, tmp_path / "recipes")


def test_samples_and_metadata_round_trip_in_table_order(tmp_path: Path, monkeypatch, root) -> None:
    want = audio_folder.make_audio_folder(tmp_path / "src")
    _recipe(tmp_path, monkeypatch)
    prepare("speech", source=tmp_path / "src")
    for split in ("train", "test"):
        got = rows("speech", split)
        assert [r["transcript"] for r in got] == [w["transcript"] for w in want[split]]
        assert [r["speaker"] for r in got] == [audio_folder.SPEAKERS.index(w["speaker"]) for w in want[split]]
        for g, w in zip(got, want[split], strict=True):
            assert np.array_equal(np.asarray(g["audio"], dtype=np.float32), w["audio"])  # sample for sample


def test_int16_audio_keeps_the_integer_samples(tmp_path: Path, monkeypatch, root) -> None:
    want = audio_folder.make_audio_folder(tmp_path / "src", {"train": 2})
    features = {**FEATURES, "audio": {**FEATURES["audio"], "dtype": "int16"}}
    _recipe(tmp_path, monkeypatch, features, {"train": {"files": "train/metadata.csv"}})
    prepare("speech", source=tmp_path / "src")
    got = rows("speech", "train")
    assert [g["audio"] for g in got] == [(w["audio"] * 32768).astype(np.int16).tolist() for w in want["train"]]


def test_a_file_column_renamed_and_a_column_mapped(tmp_path: Path, monkeypatch, root) -> None:
    src = tmp_path / "src" / "train"
    audio_folder.write_audio(src / "x.wav", np.arange(5, dtype=np.int16))
    (src / "meta.tsv").write_text("path\ttext\tspeaker\nx.wav\thello\tbob\n")
    args = {"file_column": "path", "columns": {"text": "transcript"}}
    _recipe(tmp_path, monkeypatch, splits={"train": {"files": "train/meta.tsv"}}, args=args)
    prepare("speech", source=tmp_path / "src")
    (row,) = rows("speech", "train")
    assert row["transcript"] == "hello" and row["speaker"] == 1
    assert np.array_equal(np.asarray(row["audio"]), np.arange(5, dtype=np.float32) / 32768)


def test_a_sample_rate_other_than_the_feature_s_is_refused(tmp_path: Path, monkeypatch, root) -> None:
    audio_folder.make_audio_folder(tmp_path / "src")
    bad = tmp_path / "src" / "test" / "clips" / "test_001.flac"
    audio_folder.write_audio(bad, np.zeros(50, dtype=np.int16), sample_rate=16000)
    _recipe(tmp_path, monkeypatch)
    fails_and_publishes_nothing("speech", tmp_path / "src", str(bad), "sampled at 16000 Hz", "at 8000 Hz")


def test_stereo_audio_is_refused(tmp_path: Path, monkeypatch, root) -> None:
    audio_folder.make_audio_folder(tmp_path / "src")
    bad = tmp_path / "src" / "train" / "train_000.wav"
    audio_folder.write_audio(bad, np.zeros((50, 2), dtype=np.int16))
    _recipe(tmp_path, monkeypatch)
    fails_and_publishes_nothing("speech", tmp_path / "src", str(bad), "2 channels")


def test_a_missing_or_broken_audio_file_names_table_line_or_file(tmp_path: Path, monkeypatch, root) -> None:
    audio_folder.make_audio_folder(tmp_path / "src")
    (tmp_path / "src" / "train" / "clips" / "train_003.flac").unlink()
    _recipe(tmp_path, monkeypatch)
    meta = tmp_path / "src" / "train" / "metadata.csv"
    fails_and_publishes_nothing(
        "speech", tmp_path / "src", str(meta), "line 3 names the audio file 'clips/train_003.flac'"
    )
    audio_folder.make_audio_folder(tmp_path / "src")
    broken = tmp_path / "src" / "train" / "train_002.wav"
    broken.write_bytes(b"RIFF....WAVEjunk")
    fails_and_publishes_nothing("speech", tmp_path / "src", str(broken), "the audio does not decode")


def test_metadata_values_are_checked_like_a_table(tmp_path: Path, monkeypatch, root) -> None:
    audio_folder.make_audio_folder(tmp_path / "src")
    meta = tmp_path / "src" / "test" / "metadata.jsonl"
    lines = meta.read_text().splitlines()
    lines[1] = lines[1].replace('"bob"', '"carol"').replace('"alice"', '"carol"')
    meta.write_text("\n".join(lines) + "\n")
    _recipe(tmp_path, monkeypatch)
    fails_and_publishes_nothing("speech", tmp_path / "src", str(meta), "line 2, column 'speaker': 'carol'")


def test_audio_feature_declaration_is_checked(tmp_path: Path, monkeypatch) -> None:
    _recipe(tmp_path, monkeypatch, {**FEATURES, "audio": {**FEATURES["audio"], "dtype": "uint8"}})
    with pytest.raises(DsregError, match="which audio files do not decode to"):
        prepare("speech", source=tmp_path)
    _recipe(tmp_path, monkeypatch, {"transcript": {"type": "text"}})
    with pytest.raises(DsregError, match="exactly one audio feature"):
        prepare("speech", source=tmp_path)


_SPEECH = example("digits-speech")


class TestAudioFolderContract(ReaderContract):
    """The reader contract on the documented example (docs/examples/digits-speech.yaml)."""

    reader = "audio_folder"
    reader_args: ClassVar[dict[str, Any]] = _SPEECH["reader"]["args"]
    features: ClassVar[dict[str, Any]] = _SPEECH["features"]
    splits: ClassVar[dict[str, dict[str, Any]]] = example_splits(_SPEECH)
    rows: ClassVar[dict[str, int]] = {"train": 5, "test": 3}
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        audio_folder.make_audio_folder(dest / "speech")
        return dest / "speech"

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        bad = damaged_copy(source, dest, "rate")
        audio_folder.write_audio(bad / "test" / "test_000.wav", np.zeros(20, dtype=np.int16), sample_rate=44100)
        yield Damaged("audio at another sample rate", bad, "test_000.wav: the audio is sampled at 44100 Hz")
        bad = damaged_copy(source, dest, "missing")
        (bad / "train" / "train_004.wav").unlink()
        yield Damaged("a listed audio file missing", bad, "metadata.csv: line 2 names the audio file 'train_004.wav'")
        bad = damaged_copy(source, dest, "bad json")
        with (bad / "test" / "metadata.jsonl").open("a") as f:
            f.write('{"file_name": "test_000.wav",\n')
        yield Damaged("a metadata line that is not JSON", bad, "metadata.jsonl: line 4 is not JSON")
