"""Speech audio: SPHERE decode throughput (embedded shorten vs plain µ-law vs PCM), how to store audio in the
shards (raw PCM vs FLAC), TIMIT preparation vs reading the raw files, and the padding that duration-bucketed
batches (``max_tokens``) waste next to random batches."""

from __future__ import annotations

import io
import itertools
import shutil
import time

import numpy as np

from benchmarks.common import bench_dir, best_time, header, row
from dsreg.audio import read_sphere
from dsreg.loading.buckets import BucketSampler
from dsreg.testing.realdata import realdata
from dsreg.testing.sphere import sphere_bytes
from dsreg.testing.timit import make_timit


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
    budget = 16000 * 60  # 60 s of audio per batch
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
            f"bucketed, max_tokens = 60 s, {buckets} buckets",
            f"{waste / total:.1%} padding",
            f"mean batch {np.mean(sizes):.1f}",
        )
    size = round(float(np.mean(sizes)))
    shuffled = rng.permutation(lengths)
    batches = [shuffled[i : i + size] for i in range(0, shuffled.size, size)]
    waste = sum(int(b.max()) * b.size - int(b.sum()) for b in batches)
    total = sum(int(b.max()) * b.size for b in batches)
    row(f"random batches of {size}", f"{waste / total:.1%} padding")


def run() -> None:
    decode()
    storage()
    padding()
    prepare_vs_raw()


if __name__ == "__main__":
    run()
