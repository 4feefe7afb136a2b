"""Decoder of the shorten bitstream (Robinson 1994, versions 1–3) that SPHERE files embed after their header.

Switchboard ships µ-law audio as ``ulaw,embedded-shorten-v2.00``; libsndfile cannot read it and FFmpeg's
shorten decoder refuses the embedded stream (it wants the verbatim WAV header of a standalone ``.shn``), so
the bitstream is decoded here: Rice-coded residuals, fixed polynomial predictors of order 0–3 and quantised
LPC, per block and channel, with running means and bit shifts. The loop is compiled with numba when it is
installed (``dsreg[audio]``); without numba the same code runs as Python, correct but about 100× slower.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

from dsreg.audio.ulaw import shorten_ulaw_outward
from dsreg.errors import DsregError

F = TypeVar("F", bound=Callable[..., Any])

MAGIC = b"ajkg"

# internal file types (shorten.h): what the decoded integers mean
TYPE_AU1, TYPE_S8, TYPE_U8, TYPE_S16HL, TYPE_U16HL, TYPE_S16LH, TYPE_U16LH = 0, 1, 2, 3, 4, 5, 6
TYPE_ULAW, TYPE_AU2, TYPE_AU3, TYPE_ALAW = 7, 8, 9, 10
TYPE_NAMES = {
    TYPE_AU1: "ulaw (lossless, AU1)",
    TYPE_S8: "signed 8-bit",
    TYPE_U8: "unsigned 8-bit",
    TYPE_S16HL: "signed 16-bit big-endian",
    TYPE_U16HL: "unsigned 16-bit big-endian",
    TYPE_S16LH: "signed 16-bit little-endian",
    TYPE_U16LH: "unsigned 16-bit little-endian",
    TYPE_ULAW: "ulaw (lossy, linear inside)",
    TYPE_AU2: "ulaw (lossless, AU2)",
    TYPE_AU3: "alaw (lossless)",
    TYPE_ALAW: "alaw (lossy)",
}

# decoder status codes → what is wrong with the stream
_OK, _TRUNCATED, _BAD_COMMAND, _FULL, _BAD_ORDER, _BAD_BLOCKSIZE = 0, 1, 2, 3, 4, 5
_PROBLEMS = {
    _TRUNCATED: "the shorten stream ends before its QUIT command (truncated)",
    _BAD_COMMAND: "the shorten stream has an unknown command (corrupt)",
    _BAD_ORDER: "the shorten stream has an LPC order above its declared maximum (corrupt)",
    _BAD_BLOCKSIZE: "the shorten stream declares an impossible block size (corrupt)",
}

COMPILED = importlib.util.find_spec("numba") is not None


def _jit(func: F) -> F:
    """Compile `func` with numba (cached on disk) when numba is installed; otherwise run it as Python."""
    if not COMPILED:
        return func
    from numba import njit

    return cast(F, njit(cache=True, nogil=True)(func))


@_jit
def _uvar(data: np.ndarray, pos: int, nbits: int, k: int) -> tuple[int, int]:
    """Rice code: zeros counted up to a one bit, then `k` low bits; returns (value, new bit position) or -1."""
    high = 0
    while True:
        if pos >= nbits:
            return -1, pos
        bit = (int(data[pos >> 3]) >> (7 - (pos & 7))) & 1
        pos += 1
        if bit:
            break
        high += 1
    if pos + k > nbits:
        return -1, pos
    low = 0
    for _ in range(k):
        low = (low << 1) | ((int(data[pos >> 3]) >> (7 - (pos & 7))) & 1)
        pos += 1
    return (high << k) | low, pos


@_jit
def _ulong(data: np.ndarray, pos: int, nbits: int, version: int, k: int) -> tuple[int, int]:
    """An unsigned header number: in version ≥ 1 its Rice parameter comes first."""
    if version > 0:
        k, pos = _uvar(data, pos, nbits, 2)
        if k < 0:
            return -1, pos
    return _uvar(data, pos, nbits, k)


@_jit
def _trunc_div(a: int, b: int) -> int:
    """C integer division (toward zero), which shorten's means use."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@_jit
def _decode_blocks(
    data: np.ndarray,
    pos: int,
    version: int,
    channels: int,
    blocksize: int,
    maxnlpc: int,
    nmean: int,
    offset0: int,
    capacity: int,
    ulaw: int,
    outward: np.ndarray,
) -> tuple[np.ndarray, int, int]:
    """Run the command loop from bit `pos`; returns (samples (channels, capacity), frames written, status).

    `ulaw` is 1 for TYPE_AU1, 2 for TYPE_AU2 (whose −1 is µ-law's negative zero), 0 otherwise: µ-law
    blocks are unshifted through `outward` (shorten_ulaw_outward) into µ-law bytes instead of by ``<<``.
    """
    nbits = data.size * 8
    nwrap = max(3, maxnlpc)
    out = np.zeros((channels, capacity), dtype=np.int32)
    history = np.zeros((channels, nwrap + 65536), dtype=np.int64)  # nwrap past samples, then the block
    means = np.full((channels, max(nmean, 1)), offset0, dtype=np.int64)
    coefs = np.zeros(max(maxnlpc, 1), dtype=np.int64)
    lpcqoffset = 32 if version > 1 else 0
    bitshift = 0
    chan = 0
    written = 0
    while True:
        cmd, pos = _uvar(data, pos, nbits, 2)
        if cmd < 0:
            return out, written, _TRUNCATED
        if cmd == 4:  # QUIT
            return out, written, _OK
        if cmd == 5:  # BLOCKSIZE
            blocksize, pos = _ulong(data, pos, nbits, version, 8)
            if blocksize <= 0 or blocksize > 65535:
                return out, written, _BAD_BLOCKSIZE
            continue
        if cmd == 6:  # BITSHIFT
            bitshift, pos = _uvar(data, pos, nbits, 2)
            if bitshift < 0:
                return out, written, _TRUNCATED
            continue
        if cmd == 9:  # VERBATIM: bytes of a foreign header, skipped
            length, pos = _uvar(data, pos, nbits, 5)
            if length < 0:
                return out, written, _TRUNCATED
            for _ in range(length):
                value, pos = _uvar(data, pos, nbits, 8)
                if value < 0:
                    return out, written, _TRUNCATED
            continue
        if cmd > 9:
            return out, written, _BAD_COMMAND
        # an audio command: DIFF0..DIFF3 (0-3), QLPC (7) or ZERO (8) for channel `chan`
        if chan == 0 and written + blocksize > capacity:
            return out, written, _FULL
        energy = 0
        if cmd != 8:
            energy, pos = _uvar(data, pos, nbits, 3)
            if energy < 0:
                return out, written, _TRUNCATED
            if version == 0:
                energy -= 1
        if nmean == 0:
            coffset = means[chan, 0]
        else:
            total = nmean // 2 if version >= 2 else 0
            for i in range(nmean):
                total += means[chan, i]
            coffset = _trunc_div(total, nmean)
            if version >= 2 and bitshift > 0:
                coffset = (coffset >> (bitshift - 1)) >> 1
        block = history[chan]
        if cmd == 8:
            for i in range(blocksize):
                block[nwrap + i] = 0
        else:
            order = 0
            qshift = 0
            if cmd == 7:
                order, pos = _uvar(data, pos, nbits, 2)
                if order < 0:
                    return out, written, _TRUNCATED
                if order > maxnlpc:
                    return out, written, _BAD_ORDER
                for j in range(order):
                    u, pos = _uvar(data, pos, nbits, 6)
                    if u < 0:
                        return out, written, _TRUNCATED
                    coefs[j] = (u >> 1) ^ -(u & 1)
                qshift = 5
                for i in range(nwrap - order, nwrap):
                    block[i] -= coffset
                init = lpcqoffset
            else:
                order = cmd
                init = coffset if order == 0 else 0
            for i in range(nwrap, nwrap + blocksize):
                u, pos = _uvar(data, pos, nbits, energy + 1)
                if u < 0:
                    return out, written, _TRUNCATED
                residual = (u >> 1) ^ -(u & 1)
                if cmd == 7:
                    total = init
                    for j in range(order):
                        total += coefs[j] * block[i - j - 1]
                    block[i] = residual + (total >> qshift)
                elif order == 0:
                    block[i] = residual + init
                elif order == 1:
                    block[i] = residual + block[i - 1]
                elif order == 2:
                    block[i] = residual + 2 * block[i - 1] - block[i - 2]
                else:
                    block[i] = residual + 3 * block[i - 1] - 3 * block[i - 2] + block[i - 3]
            if cmd == 7:
                for i in range(nwrap, nwrap + blocksize):
                    block[i] += coffset
        if nmean > 0:
            total = blocksize // 2 if version >= 2 else 0
            for i in range(nwrap, nwrap + blocksize):
                total += block[i]
            for i in range(1, nmean):
                means[chan, i - 1] = means[chan, i]
            mean = _trunc_div(total, blocksize)
            means[chan, nmean - 1] = mean << bitshift if version >= 2 else mean
        for i in range(blocksize):
            value = block[nwrap + i]
            if ulaw == 0:
                out[chan, written + i] = value << bitshift
            elif ulaw == 2 and value == -1:
                out[chan, written + i] = 127
            elif ulaw == 2 and value < 0:
                out[chan, written + i] = outward[bitshift, (value + 129) & 0xFF]
            else:
                out[chan, written + i] = outward[bitshift, (value + 128) & 0xFF]
        for i in range(nwrap):
            block[i] = block[blocksize + i]
        chan += 1
        if chan == channels:
            chan = 0
            written += blocksize


def decode_shorten(stream: bytes | np.ndarray, *, frames_hint: int = 0, where: str = "") -> tuple[np.ndarray, int]:
    """Decode a shorten stream: (integers of shape (channels, frames) as int32, internal file type).

    The integers are the stream's samples in its file type: µ-law bytes (0–255) for the µ-law types,
    signed or unsigned 8- or 16-bit values otherwise.

    `frames_hint` (e.g. a SPHERE header's sample_count) sizes the output; a wrong hint costs a retry only.
    Damage raises `DsregError` naming `where` and what is wrong.
    """
    data = np.frombuffer(stream, dtype=np.uint8) if isinstance(stream, bytes | bytearray | memoryview) else stream
    if data.size < 5 or bytes(data[:4]) != MAGIC:
        raise DsregError(f"no shorten stream: expected magic {MAGIC!r}, got {bytes(data[:4])!r}", path=where or None)
    version = int(data[4])
    if version > 3:
        raise DsregError(f"shorten version {version} is not one this decoder knows (0-3)", path=where or None)
    nbits = data.size * 8
    pos = 40
    fields = []
    for k in (4, 0, 8, 2, 0, 1):  # file type, channels, blocksize, max LPC order, means, skipped bytes
        value, pos = _ulong(data, pos, nbits, version, k)
        if value < 0:
            raise DsregError(_PROBLEMS[_TRUNCATED], path=where or None, fix="the file is truncated; fetch it again")
        fields.append(value)
        if version == 0 and len(fields) == 2:
            fields += [256, 0, 0, 0]
            break
    ftype, channels, blocksize, maxnlpc, nmean, nskip = fields
    pos += 8 * nskip
    if not 1 <= channels <= 64 or not 1 <= blocksize <= 65535 or maxnlpc > 1024 or nmean > 1024:
        raise DsregError(
            f"the shorten header is corrupt ({channels} channels, block size {blocksize}, LPC order {maxnlpc})",
            path=where or None,
            fix="the file is damaged; fetch it again",
        )
    if ftype not in TYPE_NAMES:
        raise DsregError(f"the shorten stream has unknown file type {ftype} (corrupt)", path=where or None)
    if ftype in (TYPE_ULAW, TYPE_AU3, TYPE_ALAW):
        raise DsregError(
            f"the shorten stream holds {TYPE_NAMES[ftype]} audio, which this decoder does not read",
            path=where or None,
            fix="convert the file with sph2pipe or shorten to 16-bit PCM, or report the file",
        )
    offset0 = {TYPE_U8: 0x80, TYPE_U16HL: 0x8000, TYPE_U16LH: 0x8000}.get(ftype, 0)
    if not COMPILED:
        warnings.warn("numba is not installed: shorten decodes ~100x slower; pip install 'dsreg[audio]'", stacklevel=2)
    capacity = max(int(frames_hint), blocksize) + blocksize
    ulaw = {TYPE_AU1: 1, TYPE_AU2: 2}.get(ftype, 0)
    outward = shorten_ulaw_outward()
    while True:
        out, frames, status = _decode_blocks(
            data, pos, version, channels, blocksize, maxnlpc, nmean, offset0, capacity, ulaw, outward
        )
        if status != _FULL:
            break
        capacity *= 2
    if status != _OK:
        raise DsregError(_PROBLEMS[status], path=where or None, fix="the file is damaged or truncated; fetch it again")
    return out[:, :frames], ftype
