"""`fbank` / `mfcc`: the shipped TIMIT configs prepare end to end, twice to the same bytes; every row's features
equal torchaudio's Kaldi functions on its waveform; the manifest records every option; rows shorter than a
frame are dropped and counted; bad options are refused before anything is written; buckets budget frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from speech_recipes import SAMPLES, SPEAKERS, small_timit

import dsreg
from dsreg.errors import DsregError
from dsreg.features import Audio, Features, Sequence, Tensor
from dsreg.steps.kaldi import bind, features_of
from dsreg.testing.optional import needs
from dsreg.testing.timit import make_timit

pytestmark = needs("torch", "torchaudio.compliance.kaldi")
CONFIGS = ("kaldi_fbank80", "kaldi_mfcc13")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both shipped feature configs prepared from one small tree, the fbank one twice (the second with 2 workers)."""
    base = tmp_path_factory.mktemp("kaldi")
    source = make_timit(base / "src", speakers=SPEAKERS, samples=SAMPLES)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DSREG_RECIPES", str(base / "recipes"))
        name = small_timit(base / "recipes", CONFIGS)
        out = {config: dsreg.prepare(f"{name}/{config}", source=source, root=base / "a") for config in CONFIGS}
        out["again"] = dsreg.prepare(f"{name}/kaldi_fbank80", source=source, root=base / "b", workers=2)
    return out


def _rows(manifest: Any, split: str = "train") -> dict[str, np.ndarray]:
    ds = dsreg.open(str(manifest.directory), split)
    return ds.take(np.arange(len(ds)))


def _reference(kind: str, samples: np.ndarray, **options: Any) -> np.ndarray:
    """torchaudio's Kaldi function on the waveform at int16 scale, as Kaldi reads it (one torch thread)."""
    import torch
    from torchaudio.compliance import kaldi

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        waveform = torch.from_numpy(samples.astype(np.float32)[None, :])
        out: np.ndarray = getattr(kaldi, kind)(waveform, sample_frequency=16000.0, **options).numpy()
        return out
    finally:
        torch.set_num_threads(threads)


def test_fbank_rows_equal_torchaudio_on_their_waveform(prepared: dict[str, Any]) -> None:
    manifest = prepared["kaldi_fbank80"]
    assert manifest.features["fbank"] == Sequence(Tensor((80,), "float32"))
    batch = _rows(manifest)
    assert len(batch["fbank"]) == 16
    for samples, fbank in zip(batch["audio"], batch["fbank"], strict=True):
        expected = _reference("fbank", samples, num_mel_bins=80, dither=0.0)
        assert fbank.dtype == np.float32 and fbank.shape == expected.shape
        assert fbank.shape[0] == 1 + (samples.size - 400) // 160  # snip_edges: whole 25 ms windows every 10 ms
        np.testing.assert_array_equal(fbank, expected)


def test_mfcc_rows_equal_torchaudio_on_their_waveform(prepared: dict[str, Any]) -> None:
    manifest = prepared["kaldi_mfcc13"]
    assert manifest.features["mfcc"] == Sequence(Tensor((13,), "float32"))
    batch = _rows(manifest, "test")
    for samples, mfcc in zip(batch["audio"], batch["mfcc"], strict=True):
        expected = _reference("mfcc", samples, num_ceps=13, num_mel_bins=23, use_energy=False, dither=0.0)
        np.testing.assert_array_equal(mfcc, expected)


def test_the_manifest_records_every_option(prepared: dict[str, Any]) -> None:
    (record,) = prepared["kaldi_fbank80"].metadata["steps"]
    assert record["step"] == "fbank"
    args = record["args"]
    assert args["column"] == "audio" and args["output"] == "fbank" and args["bins"] == 80
    assert args["method"].startswith("torchaudio ") and args["method"].endswith("compliance.kaldi.fbank")
    options = args["options"]
    assert options["num_mel_bins"] == 80 and options["dither"] == 0.0 and options["sample_frequency"] == 16000.0
    # Kaldi's defaults the recipe did not set are recorded too
    assert options["window_type"] == "povey" and options["preemphasis_coefficient"] == 0.97
    assert options["snip_edges"] is True and options["low_freq"] == 20.0
    (mfcc,) = prepared["kaldi_mfcc13"].metadata["steps"]
    assert mfcc["args"]["options"]["cepstral_lifter"] == 22.0 and mfcc["args"]["bins"] == 13


def test_preparing_twice_gives_the_same_bytes(prepared: dict[str, Any]) -> None:
    first, second = prepared["kaldi_fbank80"], prepared["again"]
    assert first.metadata["steps"] == second.metadata["steps"]
    assert first.features == second.features
    for name, split in first.splits.items():
        a, b = split.shards, second.splits[name].shards
        assert [s.sha256 for s in a] == [s.sha256 for s in b] and a


def test_the_budget_holds_in_fbank_frames(prepared: dict[str, Any]) -> None:
    manifest = prepared["kaldi_fbank80"]
    frames = dsreg.open(str(manifest.directory), "test_full").lengths("fbank")
    budget = int(frames.max()) * 3
    loader = dsreg.load(
        str(manifest.directory), "test_full", max_tokens=budget, length_column="fbank", shuffle=True, num_buckets=4
    )
    seen = 0
    for batch in loader:
        longest = max(f.shape[0] for f in batch["fbank"])
        assert longest * len(batch["fbank"]) <= budget
        seen += len(batch["fbank"])
    assert seen == len(frames)


def test_rows_shorter_than_a_frame_are_dropped_and_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_timit(tmp_path / "src", speakers=SPEAKERS)  # 200 to 400 samples: less than one 400-sample window
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    steps = [{"name": "fbank", "args": {"num_mel_bins": 40, "frame_length": 10.0, "frame_shift": 5.0}}]
    name = small_timit(tmp_path / "recipes", ("kaldi",), steps)
    manifest = dsreg.prepare(name, source=source, root=tmp_path / "root", check_counts=False)
    audio = _rows(manifest)["audio"]
    kept = sum(a.size >= 160 for a in audio)
    assert kept == len(audio) == manifest.splits["train"].rows  # a 10 ms window (160 samples) fits every row
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes2"))
    small_timit(tmp_path / "recipes2", ("kaldi",), [{"name": "fbank", "args": {"frame_length": 25.0}}])
    manifest = dsreg.prepare(name, source=source, root=tmp_path / "root2", check_counts=False)
    assert manifest.metadata["dropped"]["train"] == {"fbank: shorter than one frame (400 samples)": 16}
    assert manifest.splits["train"].rows == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"dither": 1.0}, "would draw random noise"),
        ({"num_mel_bin": 80}, r"unknown arguments \['num_mel_bin'\]"),
        ({"num_mel_bins": "80"}, "args.num_mel_bins is '80'"),
        ({"column": "text"}, "'text' is not an audio column"),
        ({"output": "speaker"}, "'speaker' already exists"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: dict[str, Any], message: str
) -> None:
    source = make_timit(tmp_path / "src", speakers=SPEAKERS[:1], samples=SAMPLES)
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    name = small_timit(tmp_path / "recipes", ("kaldi",), [{"name": "fbank", "args": args}])
    with pytest.raises(DsregError, match=message):
        dsreg.prepare(name, source=source, root=tmp_path / "root")
    assert not list((tmp_path / "root").rglob("manifest.json"))


def test_float_audio_is_scaled_to_int16_and_stereo_is_refused() -> None:
    rng = np.random.default_rng(1)
    samples = rng.integers(-3000, 3000, 4000).astype(np.int16)
    mono = Features({"audio": Audio("float32", 8000)})
    bound = bind("fbank", {}, mono)
    assert bound["scale"] == 32768.0 and bound["options"]["sample_frequency"] == 8000.0
    from_float = features_of("fbank", samples / np.float32(32768), bound["options"], bound["scale"])
    from_int = features_of("fbank", samples, bound["options"])
    np.testing.assert_allclose(from_float, from_int, rtol=0, atol=1e-4)
    with pytest.raises(DsregError, match="has 2 channels"):
        bind("mfcc", {}, Features({"audio": Audio("int16", 8000, channels=2)}))
