"""Speech audio: SPHERE decode throughput (embedded shorten vs plain µ-law vs PCM), how to store audio in the
shards (raw PCM vs FLAC), TIMIT preparation vs reading the raw files, the padding that duration-bucketed
batches (``max_tokens``) waste next to random batches (in samples and in fbank frames), the resampler the
`resample` step uses (soxr vs torchaudio), the `fbank` step inside prepare vs a bare torchaudio loop, and
int16 vs float32 audio delivered by torch's workers."""

from __future__ import annotations

import io
import itertools
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import bench_dir, best_time, header, row
from dsreg.audio import read_sphere
from dsreg.loading.buckets import BucketSampler
from dsreg.testing.realdata import realdata
from dsreg.testing.sphere import sphere_bytes
from dsreg.testing.timit import Speaker, make_timit


def _speechlike(channels: int, frames: int, seed: int = 0) -> np.ndarray:
    """Band-limited noise with a syllable-rate envelope and pauses: compresses roughly like telephone speech."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (channels, frames))
    smooth = np.cumsum(noise, axis=1)
    smooth -= np.convolve(smooth[0], np.ones(8) / 8, "same")[None, :]
    envelope = (
        np.abs(np.sin(np.arange(frames) * np.pi * 4 / 8000))
        * (rng.random((channels, frames // 4000 + 1)) > 0.3).repeat(4000, axis=1)[:, :frames]
    )
    return (smooth / (np.abs(smooth).max() + 1e-9) * 12000 * envelope).astype(np.int16)


def _throughput(data: bytes, repeat: int) -> tuple[float, int]:
    samples, _ = read_sphere(data)
    seconds = best_time(lambda: read_sphere(data), repeat)
    return samples.size / seconds, samples.size


def decode() -> None:
    header("SPHERE decode throughput (samples/s, all channels; best of runs)")
    real = realdata("sphere")
    if real is not None:
        for name in ("ex5_ulaw_shorten_stereo.sph", "ex5_ulaw_stereo.sph", "pcm16_stereo.sph"):
            rate, size = _throughput((real / name).read_bytes(), 200)
            row(f"real {name} ({size:,} samples)", f"{rate / 1e6:.1f} M/s")
    signal = _speechlike(2, 8000 * 60)
    for coding, shorten in (("ulaw", True), ("ulaw", False), ("pcm", True), ("pcm", False)):
        data = sphere_bytes(signal, 8000, coding=coding, shorten=shorten)
        rate, size = _throughput(data, 5)
        label = f"60 s stereo 8 kHz {coding}{' + shorten' if shorten else ''}"
        row(label, f"{rate / 1e6:.1f} M/s", f"{len(data) / size:.2f} bytes/sample")


def storage() -> None:
    import soundfile as sf

    header("Audio in the shards: raw int16 PCM vs FLAC (size, decode samples/s)")
    clips = []
    timit = realdata("timit", "data")
    if timit is not None:
        clips += [read_sphere(p)[0][0] for p in sorted(timit.rglob("*.WAV"))]
    sphere = realdata("sphere")
    if sphere is not None:
        clips += list(read_sphere(sphere / "ex5_ulaw_stereo.sph")[0])
    source = "the real TIMIT and Switchboard excerpts"
    if not clips:
        clips, source = list(_speechlike(4, 48000)), "synthetic speech-like noise"
    raw = sum(c.nbytes for c in clips)
    encoded = []
    for clip in clips:
        buffer = io.BytesIO()
        sf.write(buffer, clip, 16000, format="FLAC", subtype="PCM_16")
        encoded.append(buffer.getvalue())
    flac_size = sum(len(e) for e in encoded)
    samples = sum(c.size for c in clips)
    flac = best_time(lambda: [sf.read(io.BytesIO(e), dtype="int16") for e in encoded], 20)
    pcm = best_time(lambda: [np.frombuffer(c.tobytes(), np.int16).astype(np.float32) / 32768 for c in clips], 20)
    row(f"{len(clips)} clips of {source}", f"{samples:,} samples")
    row("raw int16 PCM: size", f"{raw:,} B", "1.00")
    row("FLAC (soundfile, level 5): size", f"{flac_size:,} B", f"{flac_size / raw:.2f} of raw")
    row("raw PCM → float32 (copy + scale)", f"{samples / pcm / 1e6:.0f} M/s")
    row("FLAC decode → int16", f"{samples / flac / 1e6:.1f} M/s", f"raw is {flac / pcm:.0f}× faster")


def prepare_vs_raw() -> None:
    import dsreg

    header("TIMIT (generated, 630 speakers, 6,300 tiny utterances): prepare vs reading the raw files")
    base = bench_dir() / "timit"
    shutil.rmtree(base, ignore_errors=True)
    source = make_timit(base / "timit", archive=False)
    files = sorted(p for p in source.rglob("*") if p.suffix in (".WAV", ".PHN", ".WRD", ".TXT"))
    start = time.perf_counter()
    for path in files:
        if path.suffix == ".WAV":
            read_sphere(path)
        else:
            path.read_text()
    raw = time.perf_counter() - start
    start = time.perf_counter()
    dsreg.prepare("timit", source=source, root=base / "root")
    prepared = time.perf_counter() - start
    row("read_sphere + read .PHN/.WRD/.TXT of every file", f"{raw:.2f} s", f"{len(files) / raw:,.0f} files/s")
    row("dsreg.prepare('timit') (all 4 splits, 7,632 rows)", f"{prepared:.2f} s", f"{prepared / raw:.1f}× the raw read")
    shutil.rmtree(base, ignore_errors=True)


def padding() -> None:
    header("Padding: duration-bucketed batches (max_tokens) vs random batches, TIMIT-like durations")
    rng = np.random.default_rng(0)
    lengths = (np.clip(rng.lognormal(np.log(3.0), 0.3, 3696), 0.9, 7.8) * 16000).astype(np.int64)
    _padding(lengths, 16000 * 60, "samples", rng)  # 60 s of audio per batch
    frames = 1 + (lengths - 400) // 160  # fbank frames of 25 ms every 10 ms
    _padding(frames, 6000, "fbank frames", np.random.default_rng(0))  # the same 60 s, in frames


def _padding(lengths: np.ndarray, budget: int, unit: str, rng: np.random.Generator) -> None:
    row(f"lengths in {unit}, max_tokens = {budget:,}", "", "target: bucketed ≤ 5 % padding")
    for buckets in (8, 16, 32):
        sampler = BucketSampler(lengths, budget, num_buckets=buckets, shuffle=True, seed=0)
        order, offsets = sampler.plan(0)
        waste, total, sizes = 0, 0, []
        for a, b in itertools.pairwise(offsets.tolist()):
            batch = lengths[order[a:b]]
            waste += int(batch.max()) * batch.size - int(batch.sum())
            total += int(batch.max()) * batch.size
            sizes.append(batch.size)
        row(
            f"bucketed, {buckets} buckets",
            f"{waste / total:.1%} padding",
            f"mean batch {np.mean(sizes):.1f}" + ("; target met" if buckets == 16 and waste <= 0.05 * total else ""),
        )
    size = round(float(np.mean(sizes)))
    shuffled = rng.permutation(lengths)
    batches = [shuffled[i : i + size] for i in range(0, shuffled.size, size)]
    waste = sum(int(b.max()) * b.size - int(b.sum()) for b in batches)
    total = sum(int(b.max()) * b.size for b in batches)
    row(f"random batches of {size}", f"{waste / total:.1%} padding")


def resampler() -> None:
    import soxr
    import torch
    import torchaudio.functional as F

    header("Resampling 60 s of 16 kHz speech-like audio to 8 kHz, one thread (best of interleaved rounds)")
    torch.set_num_threads(1)
    audio = _speechlike(1, 16000 * 60)[0].astype(np.float32) / 32768
    kaiser = {"lowpass_filter_width": 64, "rolloff": 0.9475937167399596, "resampling_method": "sinc_interp_kaiser"}
    kaiser["beta"] = 14.769656459379492  # librosa's "kaiser_best"
    contenders: dict[str, Any] = {
        "soxr VHQ (the resample step)": lambda x: soxr.resample(x, 16000, 8000, quality="VHQ"),
        "torchaudio sinc, kaiser_best": lambda x: F.resample(torch.from_numpy(x), 16000, 8000, **kaiser).numpy(),
        "torchaudio sinc, default": lambda x: F.resample(torch.from_numpy(x), 16000, 8000).numpy(),
    }
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(5):
        for name, fn in contenders.items():
            best[name] = min(best[name], best_time(lambda fn=fn: fn(audio), 1))
    tone = (np.sin(2 * np.pi * 5000 * np.arange(32000) / 16000) * 0.5).astype(np.float32)  # above 4 kHz
    for name, fn in contenders.items():
        leak = float(np.sqrt(np.mean(fn(tone)[2000:-2000] ** 2)) / np.sqrt(np.mean(tone**2)))
        row(name, f"{60 / best[name]:,.0f}× realtime", f"5 kHz tone left after → 8 kHz: {leak:.1e}")
    ratio = best["torchaudio sinc, kaiser_best"] / best["soxr VHQ (the resample step)"]
    row("soxr VHQ vs torchaudio kaiser_best", f"{ratio:.1f}× faster")


def _speaker_tree(base: Path, speakers: int) -> Path:
    """A TIMIT TRAIN part of `speakers` speakers with 2–4 s utterances (long enough for real frame counts)."""
    chosen = [Speaker("TRAIN", 1 + i % 8, f"{'fm'[i % 2]}bch{i % 10}") for i in range(speakers)]
    chosen = [Speaker(s.part, s.region, s.name[:3] + chr(97 + i // 10) + s.name[4]) for i, s in enumerate(chosen)]
    return make_timit(base / "timit", speakers=chosen, samples=(32000, 64000))


def _recipe(base: Path) -> str:
    import yaml

    from dsreg.registry import recipe_paths

    data = yaml.safe_load(recipe_paths()["timit"].read_text(encoding="utf-8"))
    configs = {}
    for name in ("kaldi", "kaldi_fbank80"):
        configs[name] = {**data["configs"][name], "splits": {"train": {"args": {"part": "train"}}}}
    data.update(name="timit-bench", configs=configs, default_config="kaldi")
    (base / "recipes").mkdir(parents=True, exist_ok=True)
    (base / "recipes" / "timit-bench.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    os.environ["DSREG_RECIPES"] = str(base / "recipes")
    return "timit-bench"


def fbank_prepare() -> None:
    import torch
    from torchaudio.compliance import kaldi

    import dsreg

    header("fbank (80 bins, 25/10 ms) inside prepare vs a bare torchaudio loop, 40 speakers × 8 utterances of 2–4 s")
    base = bench_dir() / "timit-fbank"
    shutil.rmtree(base, ignore_errors=True)
    source = _speaker_tree(base, 40)
    name = _recipe(base)
    times: dict[str, float] = {"kaldi": float("inf"), "kaldi_fbank80": float("inf")}
    for round_ in range(2):
        for config in times:
            root = base / f"root-{config}-{round_}"
            start = time.perf_counter()
            dsreg.prepare(f"{name}/{config}", source=source, root=root)
            times[config] = min(times[config], time.perf_counter() - start)
    ds = dsreg.open(f"{name}/kaldi", "train", root=base / "root-kaldi-0")
    waves = [torch.from_numpy(a.astype(np.float32))[None] for a in ds.take(np.arange(len(ds)))["audio"]]
    seconds = sum(w.shape[1] for w in waves) / 16000
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def bare() -> None:
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(lambda w: kaldi.fbank(w, num_mel_bins=80, dither=0.0), waves))

    loop = best_time(bare, 3)
    torch.set_num_threads(threads)
    step = times["kaldi_fbank80"] - times["kaldi"]
    row(f"{len(waves)} utterances, {seconds / 60:.1f} min of 16 kHz audio", "")
    row(
        "dsreg.prepare timit/kaldi (audio only)",
        f"{times['kaldi']:.2f} s",
        f"{seconds / times['kaldi']:,.0f}× realtime",
    )
    row(
        "dsreg.prepare timit/kaldi_fbank80",
        f"{times['kaldi_fbank80']:.2f} s",
        f"{seconds / times['kaldi_fbank80']:,.0f}× realtime",
    )
    row("  of which the fbank step (the difference)", f"{step:.2f} s", f"{seconds / max(step, 1e-9):,.0f}× realtime")
    row("bare kaldi.fbank over the same waveforms, all cores", f"{loop:.2f} s", f"{seconds / loop:,.0f}× realtime")
    row("fbank step vs the bare loop", f"{loop / max(step, 1e-9):.0%}", "of the bare loop's speed")
    float32_loading(f"{name}/kaldi", base / "root-kaldi-0", seconds)
    shutil.rmtree(base, ignore_errors=True)


def float32_loading(name: str, root: Path, seconds: float) -> None:
    import dsreg

    header("Audio delivered by torch: int16 as stored vs float32 (÷ 32768), batches of 16 utterances")
    best: dict[tuple[str, int], float] = {}
    loaders = {
        (dtype, workers): dsreg.load(
            name, "train", "torch", root=root, batch_size=16, audio_dtype=dtype, num_workers=workers, columns=["audio"]
        )
        for dtype in ("int16", "float32")
        for workers in (0, 2)
    }
    for loader in loaders.values():
        for _ in loader:  # start the workers, warm the page cache
            pass
    for _ in range(3):
        for key, loader in loaders.items():
            start = time.perf_counter()
            for _ in loader:
                pass
            best[key] = min(best.get(key, float("inf")), time.perf_counter() - start)
    for (dtype, workers), took in best.items():
        row(f"{dtype}, num_workers={workers}", f"{seconds * 16000 / took / 1e6:,.0f} M samples/s")
    for workers in (0, 2):
        row(f"float32 / int16 time, num_workers={workers}", f"{best['float32', workers] / best['int16', workers]:.2f}×")


def _missing(*modules: str) -> list[str]:
    from dsreg.testing.optional import importable

    return [m for m in modules if not importable(m)]


def run() -> None:
    decode()
    storage()
    padding()
    for section, modules in ((resampler, ("soxr", "torchaudio")), (fbank_prepare, ("torchaudio.compliance.kaldi",))):
        missing = _missing(*modules)
        if missing:  # e.g. a torchaudio built for another torch: say so, and measure the rest
            header(f"{section.__name__}: skipped, {', '.join(missing)} does not import (pip install 'dsreg[audio]')")
            continue
        section()
    prepare_vs_raw()


if __name__ == "__main__":
    run()
