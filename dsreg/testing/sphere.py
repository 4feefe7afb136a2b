"""Write NIST SPHERE files as LDC ships them, for tests: any field order, pcm / µ-law / pculaw, embedded shorten.

The shorten encoder is deliberately simple (fixed predictors of order 0–3 per block, no LPC, no running
means) but writes a valid version-2 bitstream, so the decoder is tested on streams built independently of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dsreg.audio.ulaw import bit_reversed, linear_to_ulaw

_HEADER_SIZE = 1024


class _BitWriter:
    """MSB-first bits, with shorten's Rice codes."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, width: int) -> None:
        self.bits.extend((value >> (width - 1 - i)) & 1 for i in range(width))

    def uvar(self, value: int, k: int) -> None:
        self.bits.extend([0] * (value >> k) + [1])
        self.put(value & ((1 << k) - 1), k)

    def ulong(self, value: int) -> None:
        k = max(value.bit_length(), 1)
        self.uvar(k, 2)
        self.uvar(value, k)

    def svar(self, value: int, k: int) -> None:
        self.uvar((value << 1) if value >= 0 else ((~value) << 1) | 1, k + 1)

    def tobytes(self) -> bytes:
        padded = self.bits + [0] * (-len(self.bits) % 8)
        return np.packbits(np.array(padded, dtype=np.uint8)).tobytes()


def _au2_values(codes: np.ndarray) -> np.ndarray:
    """µ-law bytes to shorten's AU2 integers at bit shift 0 (−1 is the negative zero 0x7f)."""
    codes = codes.astype(np.int64)
    return np.where(codes >= 128, 255 - codes, np.where(codes == 127, -1, codes - 128))


def shorten_encode(values: np.ndarray, ftype: int, blocksize: int = 256) -> bytes:
    """A version-2 shorten stream of `values` (channels, frames) of internal type `ftype` (5: s16 LE, 8: AU2)."""
    channels, frames = values.shape
    out = _BitWriter()
    out.put(int.from_bytes(b"ajkg", "big"), 32)
    out.put(2, 8)
    for field in (ftype, channels, blocksize, 0, 0, 0):  # type, channels, block size, LPC order, means, skip
        out.ulong(field)
    history = np.zeros((channels, 3), dtype=np.int64)
    size = blocksize
    for start in range(0, frames, blocksize):
        block = values[:, start : start + blocksize].astype(np.int64)
        if block.shape[1] != size:
            size = block.shape[1]
            out.uvar(5, 2)
            out.ulong(size)
        for chan in range(channels):
            signal = np.concatenate([history[chan], block[chan]])
            if not signal[3:].any():
                out.uvar(8, 2)  # ZERO
            else:
                order = (start // blocksize + chan) % 4
                residual = np.diff(signal, n=order)[3 - order :] if order else signal[3:]
                mean = float(np.abs(residual).mean())
                k = max(int(np.log2(mean)) if mean >= 1 else 0, 0)
                out.uvar(order, 2)
                out.uvar(k, 3)
                for r in residual:
                    out.svar(int(r), k)
            history[chan] = signal[-3:]
    out.uvar(4, 2)  # QUIT
    return out.tobytes()


def write_sphere(path: Path, samples: np.ndarray, sample_rate: int, **options: Any) -> Path:
    """Write `sphere_bytes(samples, sample_rate, **options)` to `path` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sphere_bytes(samples, sample_rate, **options))
    return path


def sphere_bytes(
    samples: np.ndarray,
    sample_rate: int,
    *,
    coding: str = "pcm",
    byte_format: str = "01",
    shorten: bool = False,
    sample_count: int | None = None,
    extra: Sequence[tuple[str, str, str]] = (),
    shuffle_seed: int | None = None,
    checksum: bool = True,
) -> bytes:
    """A SPHERE file of int16 `samples` (channels, frames); µ-law codings are encoded from the linear samples.

    `sample_count` overrides the header's count (to test a disagreeing header), `extra` adds (name, type,
    value) fields, `shuffle_seed` shuffles the field order, `checksum` writes µ-law's sample_checksum.
    """
    samples = np.atleast_2d(np.asarray(samples, dtype=np.int16))
    channels, frames = samples.shape
    interleaved = samples.T.reshape(-1)
    codes: np.ndarray | None = None
    if coding == "pcm":
        body = interleaved.astype("<i2" if byte_format == "01" else ">i2").tobytes()
        n_bytes = 2
    else:
        codes = linear_to_ulaw(interleaved)
        stored = bit_reversed()[codes] if coding == "pculaw" else codes
        body = stored.tobytes()
        n_bytes, byte_format = 1, "1"
        codes = stored
    coding_name = coding
    if shorten:
        if coding == "pcm":
            body = shorten_encode(samples, 5 if byte_format == "01" else 3)
        else:
            assert codes is not None
            body = shorten_encode(_au2_values(codes.reshape(frames, channels).T), 8)
        coding_name = f"{coding},embedded-shorten-v2.00"
    fields = [
        ("channel_count", "-i", str(channels)),
        ("sample_count", "-i", str(frames if sample_count is None else sample_count)),
        ("sample_rate", "-i", str(sample_rate)),
        ("sample_n_bytes", "-i", str(n_bytes)),
        ("sample_byte_format", f"-s{len(byte_format)}", byte_format),
        ("sample_coding", f"-s{len(coding_name)}", coding_name),
        *extra,
    ]
    if codes is not None and checksum:
        fields.append(("sample_checksum", "-i", str(int(codes.sum(dtype=np.int64)) % 65536)))
    if shuffle_seed is not None:
        fields = [fields[i] for i in np.random.default_rng(shuffle_seed).permutation(len(fields))]
    text = "NIST_1A\n   1024\n" + "".join(f"{n} {t} {v}\n" for n, t, v in fields) + "end_head\n"
    return text.encode("latin-1").ljust(_HEADER_SIZE, b" ") + body
