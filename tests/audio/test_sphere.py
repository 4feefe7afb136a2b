"""read_sphere on every coding, byte order, channel count and field order, embedded shorten included; the real
Switchboard twins decode to the same samples; damaged and unsupported files raise DsregError naming why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg.audio import parse_header, read_sphere
from dsreg.audio.ulaw import bit_reversed, linear_to_ulaw, ulaw_to_linear
from dsreg.errors import DsregError
from dsreg.testing.realdata import realdata
from dsreg.testing.sphere import sphere_bytes, write_sphere

REAL = realdata("sphere") or Path("absent")
needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason="the real SPHERE excerpts (../shared/realdata/sphere) are not on this machine"
)


def _signal(channels: int, frames: int = 700, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.integers(-400, 400, (channels, frames)), axis=1)
    walk[:, 100:160] = 0  # a silent stretch: shorten's ZERO blocks and µ-law zeros
    return walk.clip(-32768, 32767).astype(np.int16)


def _ulaw_of(samples: np.ndarray) -> np.ndarray:
    return ulaw_to_linear()[linear_to_ulaw(samples)]


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("shorten", [False, True], ids=["plain", "shorten"])
@pytest.mark.parametrize(("coding", "byte_format"), [("pcm", "01"), ("pcm", "10"), ("ulaw", "1"), ("pculaw", "1")])
def test_every_variant_decodes_exactly(
    tmp_path: Path, coding: str, byte_format: str, shorten: bool, channels: int
) -> None:
    samples = _signal(channels, seed=channels)
    path = write_sphere(
        tmp_path / "x.sph", samples, 8000, coding=coding, byte_format=byte_format, shorten=shorten, shuffle_seed=7
    )
    decoded, rate = read_sphere(path)
    expected = samples if coding == "pcm" else _ulaw_of(samples)
    assert rate == 8000 and decoded.dtype == np.int16 and decoded.shape == (channels, 700)
    np.testing.assert_array_equal(decoded, expected)
    assert decoded.flags.c_contiguous
    np.testing.assert_array_equal(read_sphere(path.read_bytes())[0], expected)  # bytes work as well as paths


def test_mu_law_spellings_and_tables(tmp_path: Path) -> None:
    samples = _signal(1)
    plain = read_sphere(write_sphere(tmp_path / "a.sph", samples, 16000, coding="ulaw"))[0]
    other = write_sphere(tmp_path / "b.sph", samples, 16000, coding="mu-law")
    assert b"sample_coding -s6 mu-law" in other.read_bytes()
    np.testing.assert_array_equal(read_sphere(other)[0], plain)
    table = ulaw_to_linear()
    assert table[0x00] == -32124 and table[0x80] == 32124 and table[0xFF] == 0 and table[0x7F] == 0
    assert (linear_to_ulaw(table)[np.r_[0:127, 128:255]] == np.r_[0:127, 128:255]).all()  # codes round-trip
    assert bit_reversed()[0b10000000] == 0b00000001 and bit_reversed()[0b11010000] == 0b00001011


def test_header_fields_in_any_order_and_types(tmp_path: Path) -> None:
    extra = [("utterance_id", "-s8", "dr1 sa 1"), ("sample_max", "-r", "4015.5"), ("speaker_id", "-s0", "")]
    path = write_sphere(tmp_path / "x.sph", _signal(1), 16000, extra=extra, shuffle_seed=3)
    header = parse_header(path.read_bytes())
    assert header.fields["utterance_id"] == "dr1 sa 1"  # -sN keeps its N characters, spaces included
    assert header.fields["sample_max"] == 4015.5 and header.fields["speaker_id"] == ""
    assert (header.channels, header.sample_rate, header.coding, header.byte_order) == (1, 16000, "pcm", "<")


def test_public_namespace() -> None:
    assert dsreg.audio.read_sphere is read_sphere


def test_disagreeing_sample_count_trusts_the_data(tmp_path: Path) -> None:
    samples = _signal(2)
    path = write_sphere(tmp_path / "x.sph", samples, 8000, coding="ulaw", shorten=True, sample_count=900)
    with pytest.warns(UserWarning, match="says 900 samples per channel, the data holds 700"):
        decoded, _ = read_sphere(path)
    np.testing.assert_array_equal(decoded, _ulaw_of(samples))


@pytest.mark.parametrize(
    ("coding", "message"),
    [
        ("pcm,embedded-shortpack-v1.0", "shortpack compression is not supported"),
        ("pcm,embedded-wavpack-v1.0", "wavpack compression is not supported"),
        ("alaw", "sample_coding 'alaw' is not one of"),
        ("ulaw,embedded-gzip", "unknown compression 'embedded-gzip'"),
    ],
)
def test_unsupported_codings_are_named(tmp_path: Path, coding: str, message: str) -> None:
    path = write_sphere(tmp_path / "x.sph", _signal(1), 8000)
    data = path.read_bytes().replace(b"sample_coding -s3 pcm", f"sample_coding -s{len(coding)} {coding}".encode())
    with pytest.raises(DsregError, match=message):
        read_sphere(data)


def _damage(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes([value]) + data[at + 1 :]


def test_damaged_files_are_refused(tmp_path: Path) -> None:
    good = write_sphere(tmp_path / "x.sph", _signal(2), 8000, coding="ulaw", shorten=True).read_bytes()
    plain = write_sphere(tmp_path / "p.sph", _signal(2), 8000, coding="ulaw").read_bytes()
    pcm = write_sphere(tmp_path / "q.sph", _signal(2), 8000).read_bytes()
    cases = {
        "not a NIST SPHERE file": b"RIFF" + good[4:],
        "no end_head": good.replace(b"end_head", b";nd_head"),
        "not 'name -type value'": good.replace(b"channel_count -i 2", b"channel_count=2   "),
        "not a non-negative integer": good.replace(b"sample_rate -i 8000", b"sample_rate -s4 8000"),
        "ends before its QUIT command": good[: len(good) - 40],
        "no shorten stream": good[:1024] + b"xxxx" + good[1028:],
        "sample_checksum": _damage(plain, 1500, plain[1500] ^ 0x10),
        "not a whole number of 4-byte frames": pcm[:-1],
        "sample_byte_format '1' does not fit 2-byte pcm": pcm.replace(b"-s2 01", b"-s1 1 "),
    }
    for message, data in cases.items():
        with pytest.raises(DsregError, match=message):
            read_sphere(data)
    flipped = _damage(good, 1200, good[1200] ^ 0xFF)  # a flipped byte inside the compressed stream
    with pytest.raises(DsregError, match=r"corrupt|truncated|checksum"):
        read_sphere(flipped)
    with pytest.raises(DsregError, match="cannot read the SPHERE file"):
        read_sphere(tmp_path / "missing.sph")


def test_a_pcm_checksum_catches_a_wrong_byte_order() -> None:
    """sp_compute_short_checksum: the 16-bit samples as unsigned shorts summed modulo 65536. A header that
    declares the wrong byte order decodes to loud noise that no other check notices; its checksum does."""
    samples = _signal(2)
    checksum = int(samples.astype(np.int64).sum()) % 65536
    assert checksum == int(samples.view(np.uint16).astype(np.int64).sum()) % 65536
    extra = [("sample_checksum", "-i", str(checksum))]
    for order in ("01", "10"):
        good = sphere_bytes(samples, 8000, byte_format=order, extra=extra)
        np.testing.assert_array_equal(read_sphere(good)[0], samples)
        compressed = sphere_bytes(samples, 8000, byte_format=order, extra=extra, shorten=True)
        np.testing.assert_array_equal(read_sphere(compressed)[0], samples)
        lying = good.replace(f"-s2 {order}".encode(), b"-s2 " + order[::-1].encode())
        with pytest.raises(DsregError, match="sample_checksum"):
            read_sphere(lying)


@needs_real
def test_real_shorten_twin_equals_its_mu_law_original() -> None:
    plain, rate = read_sphere(REAL / "ex5_ulaw_stereo.sph")
    shortened, rate2 = read_sphere(REAL / "ex5_ulaw_shorten_stereo.sph")
    assert plain.shape == (2, 16000) and rate == rate2 == 8000
    np.testing.assert_array_equal(shortened, plain)
    assert plain[:, :3].tolist() == [[-72, -72, -64], [-64, -88, -48]]  # G.711, as libsndfile decodes it


@needs_real
def test_real_pcm_stereo() -> None:
    samples, rate = read_sphere(REAL / "pcm16_stereo.sph")
    assert rate == 8000 and samples.shape == (2, 8000)
    np.testing.assert_array_equal(samples[0], 8000 + np.arange(8000))
    np.testing.assert_array_equal(samples[1], 16000 + np.arange(8000))
