"""`resample`: rows at the target rate (length floor(n·target/source + ½)), a tone kept and nothing aliased, int16
rounded without dither (the same twice), the feature's sample rate and the method in the manifest, and
resampling before fbank giving features at the new rate."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from speech_recipes import SAMPLES, SPEAKERS, small_timit

import dsreg
from dsreg.errors import DsregError
from dsreg.features import Audio, Features
from dsreg.steps.resample import bind, output_features, resample
from dsreg.testing.optional import importable, needs
from dsreg.testing.timit import make_timit

pytestmark = needs("soxr")


def _tone(rate: int, frequency: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def _rms(x: np.ndarray) -> float:
    middle = x[len(x) // 8 : -len(x) // 8].astype(np.float64)
    return float(np.sqrt(np.mean(middle**2)))


@pytest.mark.parametrize(("source", "target"), [(16000, 8000), (8000, 16000), (44100, 16000), (16000, 22050)])
def test_lengths_and_a_kept_tone(source: int, target: int) -> None:
    tone = _tone(source, 440)
    out = resample(tone, source, target)
    assert out.dtype == np.int16 and len(out) == math.floor(len(tone) * target / source + 0.5)
    expected = _tone(target, 440, len(out) / target)
    assert abs(_rms(out) - _rms(expected)) < 0.01 * _rms(expected)
    np.testing.assert_array_equal(out, resample(tone, source, target))  # no dither: the same every run


@pytest.mark.parametrize(("source", "target"), [(44100, 16000), (16000, 44100), (22050, 16000), (16000, 8000)])
def test_a_row_of_any_length_gets_the_nearest_whole_length(source: int, target: int) -> None:
    """soxr's length is n·target/source rounded half up (not its ceiling, as the docs said: 101 frames at 16 kHz
    give 278 at 44.1 kHz, not 279)."""
    for frames in (1, 2, 3, 7, 100, 101, 333):
        out = resample(np.full(frames, 1000, dtype=np.int16), source, target)
        assert len(out) == math.floor(frames * target / source + 0.5), frames


def test_a_tone_above_the_new_nyquist_is_removed_not_aliased() -> None:
    out = resample(_tone(16000, 5000), 16000, 8000)  # 5 kHz cannot exist at 8 kHz; it must not fold to 3 kHz
    assert _rms(out) < 20  # of a tone of rms 5657


def test_stereo_and_float_rows_keep_their_layout() -> None:
    stereo = np.stack([_tone(16000, 300), _tone(16000, 700)])
    out = resample(stereo, 16000, 8000)
    assert out.shape == (2, 4000) and out.dtype == np.int16
    np.testing.assert_array_equal(out[1], resample(stereo[1], 16000, 8000))
    floats = resample(stereo[0] / np.float32(32768), 16000, 8000)
    assert floats.dtype == np.float32 and np.abs(floats * 32768 - out[0]).max() <= 0.5 + 1e-3


def test_the_feature_takes_the_new_rate_and_bad_args_are_refused() -> None:
    features = Features({"audio": Audio("int16", 8000, channels=2), "text": Audio("float32", 8000)})
    assert output_features({"sample_rate": 16000}, features)["audio"] == Audio("int16", 16000, channels=2)
    assert bind({"sample_rate": 16000}, features)["source_rate"] == 8000
    for args, message in [
        ({}, "args.sample_rate is None"),
        ({"sample_rate": 16000.0}, "args.sample_rate is 16000.0"),
        ({"sample_rate": 16000, "rate": 1}, r"unknown arguments \['rate'\]"),
        ({"sample_rate": 16000, "column": "nope"}, "'nope' is not an audio column"),
    ]:
        with pytest.raises(DsregError, match=message):
            bind(args, features)


@pytest.mark.skipif(not importable("torchaudio.compliance.kaldi"), reason="torchaudio does not import")
def test_timit_resampled_to_8k_then_fbank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_timit(tmp_path / "src", speakers=SPEAKERS, samples=SAMPLES)
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    steps = [{"name": "resample", "args": {"sample_rate": 8000}}, {"name": "fbank", "args": {"num_mel_bins": 40}}]
    name = small_timit(tmp_path / "recipes", ("kaldi",), steps)
    manifest = dsreg.prepare(name, source=source, root=tmp_path / "root", check_counts=False)
    assert manifest.features["audio"] == Audio("int16", 8000)
    records: list[dict[str, Any]] = manifest.metadata["steps"]
    assert [r["step"] for r in records] == ["resample", "fbank"]
    assert records[0]["args"]["source_rate"] == 16000 and records[0]["args"]["method"].startswith("soxr ")
    assert records[1]["args"]["options"]["sample_frequency"] == 8000.0
    resampled = dsreg.open(str(manifest.directory), "train").take(np.arange(16))
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "plain"))
    small_timit(tmp_path / "plain", ("kaldi",))
    plain = dsreg.prepare(name, source=source, root=tmp_path / "plain-root", check_counts=False)
    original = dsreg.open(str(plain.directory), "train").take(np.arange(16))
    assert list(original["id"]) == list(resampled["id"])
    for raw, audio, fbank in zip(original["audio"], resampled["audio"], resampled["fbank"], strict=True):
        np.testing.assert_array_equal(audio, resample(raw, 16000, 8000))
        assert audio.size == math.ceil(raw.size / 2)
        assert fbank.shape == (1 + (audio.size - 200) // 80, 40)  # 25 ms = 200 samples at 8 kHz, every 80
