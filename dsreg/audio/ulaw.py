"""G.711 µ-law tables: bytes to 16-bit linear, bit-reversed bytes (``pculaw``), and shorten's µ-law shift maps.

Everything is a 256-entry lookup table built once with numpy, so decoding a file is one fancy-index.
"""

from __future__ import annotations

import functools

import numpy as np

_BIAS = 0x84
_CLIP = 32635
_SHIFTS = 13  # shorten's bit shifts for µ-law: 0..12


@functools.cache
def ulaw_to_linear() -> np.ndarray:
    """The 256 µ-law codes as int16 linear samples (G.711: ±32124 at the ends, 0 for 0x7f and 0xff)."""
    code = ~np.arange(256, dtype=np.int64) & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + _BIAS << exponent) - _BIAS
    table = np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)
    table.setflags(write=False)
    return table


@functools.cache
def bit_reversed() -> np.ndarray:
    """Each byte with its bit order reversed: ``pculaw`` files store µ-law codes this way."""
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1)
    table = np.packbits(bits[:, ::-1], axis=1)[:, 0]
    table.setflags(write=False)
    return table


def linear_to_ulaw(samples: np.ndarray) -> np.ndarray:
    """16-bit linear samples to µ-law codes (the classic biased, clipped G.711 encoder)."""
    values = np.asarray(samples, dtype=np.int64)
    sign = np.where(values < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(values), _CLIP) + _BIAS
    exponent = np.maximum(np.floor(np.log2(magnitude)).astype(np.int64) - 7, 0)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


@functools.cache
def shorten_ulaw_outward() -> np.ndarray:
    """shorten's maps from a shifted µ-law integer (+128) back to the µ-law byte, one row per bit shift.

    shorten compresses µ-law by ordering the codes so that codes whose linear value has at least `shift`
    trailing zero bits (in units of 8) come first; a block whose codes all qualify is stored shifted. This
    rebuilds those tables from that definition (shorten's mkbshift), so no table is copied in.
    """
    most = np.zeros(256, dtype=np.int64)  # the largest shift each code is reachable with
    for shift in range(_SHIFTS):
        samples = np.arange(-(1 << 15), 1 << 15, 1 << (shift + 3))
        most[linear_to_ulaw(samples)] = shift
    outward = np.zeros((_SHIFTS, 256), dtype=np.uint8)
    for shift in range(_SHIFTS):
        forward = np.zeros(256, dtype=np.int64)
        positive = np.arange(255, 127, -1)
        ordered = np.concatenate([positive[most[positive] >= shift], positive[most[positive] < shift]])
        forward[ordered] = np.arange(ordered.size)
        negative = np.arange(126, -1, -1)
        ordered = np.concatenate([negative[most[negative] >= shift], [127], negative[most[negative] < shift]])
        forward[ordered] = -1 - np.arange(ordered.size)
        outward[shift, forward + 128] = np.arange(256)
    outward.setflags(write=False)
    return outward
