"""NIST SPHERE files (TIMIT, Switchboard, Hub5): the 1024-byte ASCII header and every sample coding LDC ships.

Codings: 16-bit ``pcm`` in either byte order, G.711 µ-law (``ulaw`` / ``mu-law``) and bit-reversed µ-law
(``pculaw``), any number of interleaved channels, each optionally compressed with embedded shorten. The
result is always int16 linear samples of shape (channels, frames): µ-law is expanded by the G.711 table.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dsreg.audio.ulaw import bit_reversed, ulaw_to_linear
from dsreg.errors import DsregError

MAGIC = b"NIST_1A\n"
_ULAW = {"ulaw", "mu-law", "mulaw", "u-law"}
_CODINGS = {"pcm", "pculaw", *_ULAW}
_OTHER_COMPRESSIONS = ("shortpack", "wavpack")
_LINE = re.compile(r"^(\S+)\s+-(i|r|s(\d+))\s(.*)$")
_FIX = "the file is damaged or truncated; copy it again from the distribution media"


@dataclass(frozen=True)
class SphereHeader:
    """The parsed header: every field by name (ints, floats, strings) and what decoding needs."""

    fields: dict[str, Any]
    size: int
    channels: int
    sample_rate: int
    sample_bytes: int
    coding: str  # pcm, ulaw or pculaw
    byte_order: str  # "<" (01), ">" (10) or "|" (1: one-byte samples)
    shorten: bool
    sample_count: int | None


def _field(line: str, where: str) -> tuple[str, Any]:
    """One ``name -type value`` line; ``-sN`` values are exactly N characters and may hold spaces."""
    match = _LINE.match(line)
    if match is None:
        raise DsregError(f"SPHERE header line {line!r} is not 'name -type value' (corrupt header)", path=where)
    name, kind, length, rest = match.groups()
    try:
        if kind == "i":
            return name, int(rest.strip())
        if kind == "r":
            return name, float(rest.strip())
    except ValueError as err:
        raise DsregError(f"SPHERE header field {name} -{kind}: {err} (corrupt header)", path=where) from None
    if len(rest) < int(length):
        raise DsregError(f"SPHERE header field {name} -{kind} has a shorter value (corrupt header)", path=where)
    return name, rest[: int(length)]


def parse_header(data: bytes, where: str = "<bytes>") -> SphereHeader:
    """Parse the header at the start of `data`; a missing or corrupt header raises `DsregError`."""
    if not data.startswith(MAGIC):
        raise DsregError(f"not a NIST SPHERE file: it starts with {data[:8]!r}, not {MAGIC!r}", path=where, fix=_FIX)
    try:
        size = int(data[8:24].split(b"\n", 1)[0])
    except ValueError:
        raise DsregError("the SPHERE header size line is not a number (corrupt header)", path=where) from None
    if size < 16 or size > len(data):
        raise DsregError(f"the SPHERE header says {size} bytes, the file has {len(data)}", path=where, fix=_FIX)
    text = data[:size].decode("latin-1")
    lines = text.split("\n")[2:]
    fields: dict[str, Any] = {}
    for line in lines:
        line = line.rstrip("\r")
        if line.strip() == "end_head":
            break
        if line.strip() and not line.startswith(";"):
            name, value = _field(line, where)
            fields[name] = value
    else:
        raise DsregError("the SPHERE header has no end_head line (corrupt or truncated header)", path=where)
    return _interpret(fields, size, where)


def _int_field(fields: dict[str, Any], name: str, where: str, default: int | None = None) -> int:
    value = fields.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DsregError(f"SPHERE header field {name} is {value!r}, not a non-negative integer", path=where)
    return value


def _interpret(fields: dict[str, Any], size: int, where: str) -> SphereHeader:
    parts = [p.strip().lower() for p in str(fields.get("sample_coding", "pcm")).split(",")]
    coding, compressions = parts[0], parts[1:]
    for part in parts:
        for name in _OTHER_COMPRESSIONS:
            if name not in part:
                continue
            raise DsregError(
                f"SPHERE sample_coding {fields.get('sample_coding')!r}: {name} compression is not supported",
                path=where,
                fix="decompress the file with NIST's w_decode or sph2pipe first",
            )
    shorten = False
    for part in compressions:
        if part.startswith("embedded-shorten"):
            shorten = True
        else:
            raise DsregError(f"SPHERE sample_coding has unknown compression {part!r}", path=where)
    if coding not in _CODINGS:
        raise DsregError(
            f"SPHERE sample_coding {coding!r} is not one of {', '.join(sorted(_CODINGS))}",
            path=where,
            fix="convert the file to 16-bit PCM with sph2pipe",
        )
    coding = "ulaw" if coding in _ULAW else coding
    sample_bytes = _int_field(fields, "sample_n_bytes", where, 2 if coding == "pcm" else 1)
    if sample_bytes != (2 if coding == "pcm" else 1):
        raise DsregError(f"SPHERE {coding} with {sample_bytes}-byte samples is not supported", path=where)
    byte_format = str(fields.get("sample_byte_format", "1" if sample_bytes == 1 else "")).strip()
    orders = {"01": "<", "10": ">", "1": "|"}
    if byte_format not in orders or (byte_format == "1") != (sample_bytes == 1):
        raise DsregError(
            f"SPHERE sample_byte_format {byte_format!r} does not fit {sample_bytes}-byte {coding} samples",
            path=where,
            fix="the header must say 01 (little-endian) or 10 (big-endian) for 16-bit samples, 1 for µ-law",
        )
    channels = _int_field(fields, "channel_count", where, 1)
    rate = _int_field(fields, "sample_rate", where)
    if channels < 1 or rate < 1:
        raise DsregError(f"SPHERE header has {channels} channels at {rate} Hz (corrupt header)", path=where)
    count = fields.get("sample_count")
    return SphereHeader(
        fields=fields,
        size=size,
        channels=channels,
        sample_rate=rate,
        sample_bytes=sample_bytes,
        coding=coding,
        byte_order=orders[byte_format],
        shorten=shorten,
        sample_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
    )


def _read(path_or_bytes: str | os.PathLike[str] | bytes, where: str | None) -> tuple[bytes, str]:
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return bytes(path_or_bytes), where or "<bytes>"
    path = Path(path_or_bytes)
    try:
        return path.read_bytes(), str(path)
    except OSError as err:
        raise DsregError(f"cannot read the SPHERE file: {err.strerror}", path=path) from None


def _bytes_to_linear(codes: np.ndarray, coding: str) -> np.ndarray:
    if coding == "pculaw":
        codes = bit_reversed()[codes]
    return ulaw_to_linear()[codes]


def _decode_shortened(data: bytes, header: SphereHeader, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Linear samples and, for µ-law, the stored byte codes (for the checksum)."""
    # imported here: the decoder compiles with numba, which only shortened files need
    from dsreg.audio.shorten import TYPE_AU1, TYPE_AU2, TYPE_NAMES, TYPE_S16HL, TYPE_S16LH, decode_shorten

    values, ftype = decode_shorten(data[header.size :], frames_hint=header.sample_count or 0, where=where)
    if values.shape[0] != header.channels:
        raise DsregError(
            f"the shorten stream has {values.shape[0]} channels, the SPHERE header {header.channels}",
            path=where,
            fix=_FIX,
        )
    if header.coding == "pcm":
        if ftype not in (TYPE_S16HL, TYPE_S16LH):
            raise DsregError(f"SPHERE pcm holds shorten {TYPE_NAMES[ftype]} audio, not 16-bit", path=where)
        if values.size and (values.min() < -32768 or values.max() > 32767):
            raise DsregError("the shorten stream decodes past 16 bits (corrupt)", path=where, fix=_FIX)
        return values.astype(np.int16), None
    if ftype not in (TYPE_AU1, TYPE_AU2):
        raise DsregError(f"SPHERE {header.coding} holds shorten {TYPE_NAMES[ftype]} audio, not µ-law", path=where)
    codes = values.astype(np.uint8)
    return _bytes_to_linear(codes, header.coding), codes


def _decode_plain(data: bytes, header: SphereHeader, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Linear samples (channels, frames) and, for µ-law, the stored byte codes (for the checksum)."""
    frame = header.channels * header.sample_bytes
    body = memoryview(data)[header.size :]
    whole = len(body) // frame * frame
    if whole != len(body):
        raise DsregError(
            f"the SPHERE data has {len(body)} bytes, not a whole number of {frame}-byte frames (truncated)",
            path=where,
            fix=_FIX,
        )
    if header.coding == "pcm":
        samples = np.frombuffer(body, dtype=np.dtype(f"{header.byte_order}i2")).astype(np.int16, copy=False)
        return samples.reshape(-1, header.channels).T, None
    codes = np.frombuffer(body, dtype=np.uint8)
    return _bytes_to_linear(codes, header.coding).reshape(-1, header.channels).T, codes


def _checksum(values: np.ndarray) -> int:
    """NIST's sample_checksum: the stored µ-law bytes, or the 16-bit samples (as unsigned shorts, in the
    machine's byte order: sp_compute_short_checksum), summed modulo 65536. A pcm header's wrong byte order
    shows here."""
    if values.dtype == np.int16:
        return int(values.view(np.uint16).sum(dtype=np.int64)) % 65536
    return int(values.sum(dtype=np.int64)) % 65536


def read_sphere(path_or_bytes: str | os.PathLike[str] | bytes, *, where: str | None = None) -> tuple[np.ndarray, int]:
    """Decode a NIST SPHERE file (a path or its bytes) to ``(samples, sample_rate)``, samples int16 (channels, frames).

    `where` names bytes in messages (e.g. an archive member). A header ``sample_count`` that disagrees
    with the data is reported with a warning and the data is trusted; unsupported codings and damaged
    files raise `DsregError` naming the coding or the damage.
    """
    data, where = _read(path_or_bytes, where)
    header = parse_header(data, where)
    if header.shorten:
        samples, codes = _decode_shortened(data, header, where)
    else:
        samples, codes = _decode_plain(data, header, where)
    checksum = header.fields.get("sample_checksum")
    if isinstance(checksum, int) and _checksum(samples if codes is None else codes) != checksum:
        raise DsregError(
            f"the SPHERE samples do not match the header's sample_checksum {checksum} (corrupt data)",
            path=where,
            fix=_FIX,
        )
    if header.sample_count is not None and header.sample_count != samples.shape[1]:
        warnings.warn(
            f"{where}: the SPHERE header says {header.sample_count} samples per channel, the data holds "
            f"{samples.shape[1]}; using the data",
            stacklevel=2,
        )
    return np.ascontiguousarray(samples), header.sample_rate
