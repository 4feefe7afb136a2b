"""Decoding on load (`decode=`): train and eval crops, uint8 NCHW in numpy, torch, tf and keras; each row's crop
depends only on (seed, epoch, index), so resumes, workers and batch composition change nothing."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg.errors import DsregError
from dsreg.loading.imagedecode import ImageDecode, center_box, random_resized_box

ROWS = 12


def _jpeg(rng: np.random.Generator, width: int, height: int, mode: str = "RGB") -> bytes:
    from PIL import Image

    # smooth content, so resampling paths can be compared by mean difference
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], -1).astype(np.uint8)
    noise = rng.integers(0, 8, base.shape, dtype=np.uint8)
    image = Image.fromarray(base + noise).convert(mode)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """A small prepared split of JPEGs of several sizes and aspect ratios (one grayscale)."""
    rng = np.random.default_rng(0)
    sizes = [(500, 375), (375, 500), (300, 300), (640, 240), (260, 520), (512, 384)] * 2
    blobs = [_jpeg(rng, w, h, "L" if i == 3 else "RGB") for i, (w, h) in enumerate(sizes)]
    root = tmp_path_factory.mktemp("decode-root")
    rows = [{"image": b, "label": i % 3} for i, b in enumerate(blobs)]
    features = {"image": {"type": "encoded_image"}, "label": {"type": "class_label", "names": ["a", "b", "c"]}}
    dsreg.write_dataset("decodefake", {"train": rows}, features, root=root)
    return root, blobs


def test_train_crops_are_224_uint8_and_depend_only_on_seed_epoch_index(images: tuple[Path, list[bytes]]) -> None:
    _, blobs = images
    values = np.array(blobs, dtype=object)
    decode = ImageDecode("train", seed=7)
    batch = decode(values, 3, np.arange(ROWS))
    assert batch.shape == (ROWS, 3, 224, 224) and batch.dtype == np.uint8
    alone = decode(values[[5]], 3, np.array([5]))
    assert np.array_equal(alone[0], batch[5]), "the crop of a row depends on the batch it is in"
    assert np.array_equal(decode(values, 3, np.arange(ROWS)), batch)
    assert not np.array_equal(decode(values, 4, np.arange(ROWS)), batch), "a new epoch must crop anew"
    assert not np.array_equal(ImageDecode("train", seed=8)(values, 3, np.arange(ROWS)), batch)


def test_random_resized_box_follows_torchvision_bounds() -> None:
    rng = np.random.default_rng(1)
    for _ in range(500):
        left, top, right, bottom = random_resized_box(500, 375, (0.08, 1.0), (3 / 4, 4 / 3), rng)
        w, h = right - left, bottom - top
        assert 0 <= left < right <= 500 and 0 <= top < bottom <= 375
        if (w, h) != (500, 375):  # not the fallback: the area and aspect drawn are respected (up to rounding)
            assert 0.08 * 0.9 <= w * h / (500 * 375) <= 1.0
            assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1
    # an image too elongated for any draw falls back to the center crop at the nearest allowed ratio
    assert random_resized_box(1000, 10, (0.9, 1.0), (3 / 4, 4 / 3), rng) == (493, 0, 506, 10)


def test_eval_is_resize_256_then_center_crop_224(images: tuple[Path, list[bytes]]) -> None:
    from PIL import Image

    _, blobs = images
    got = ImageDecode("eval")(np.array(blobs[:2], dtype=object), 0, np.arange(2))
    for data, out in zip(blobs[:2], got, strict=True):
        image = Image.open(io.BytesIO(data)).convert("RGB")
        scale = 256 / min(image.size)
        resized = image.resize((round(image.size[0] * scale), round(image.size[1] * scale)), Image.Resampling.BILINEAR)
        left, top = (resized.size[0] - 224) // 2, (resized.size[1] - 224) // 2
        reference = np.asarray(resized.crop((left, top, left + 224, top + 224))).transpose(2, 0, 1)
        assert np.abs(out.astype(int) - reference.astype(int)).mean() < 3
    assert center_box(500, 375, 224 / 256) == pytest.approx((85.9375, 23.4375, 414.0625, 351.5625))


def test_dct_scaled_decoding_matches_full_decoding(images: tuple[Path, list[bytes]]) -> None:
    _, blobs = images
    values, indices = np.array(blobs, dtype=object), np.arange(ROWS)
    for mode in ("train", "eval"):
        fast = ImageDecode(mode, size=64, resize=80, backend="pillow")(values, 0, indices).astype(int)
        full = ImageDecode(mode, size=64, resize=80, backend="pillow", draft=False)(values, 0, indices).astype(int)
        assert np.abs(fast - full).mean() < 6, mode


def test_pillow_and_torchvision_backends_crop_the_same_box(images: tuple[Path, list[bytes]]) -> None:
    pytest.importorskip("torchvision")
    _, blobs = images
    values, indices = np.array(blobs, dtype=object), np.arange(ROWS)
    for mode in ("train", "eval"):
        pil = ImageDecode(mode, backend="pillow", draft=False)(values, 2, indices).astype(int)
        tv = ImageDecode(mode, backend="torchvision")(values, 2, indices).astype(int)
        assert np.abs(pil - tv).mean() < 4, mode
    assert ImageDecode().backend == "torchvision"


@pytest.mark.parametrize("backend", ["pillow", "auto"])
def test_undecodable_bytes_name_the_row(backend: str) -> None:
    with pytest.raises(DsregError, match="row 41: the image does not decode"):
        ImageDecode("eval", backend=backend)(np.array([b"not a jpeg"], dtype=object), 0, np.array([41]))


def test_unknown_mode_and_missing_column_are_refused(images: tuple[Path, list[bytes]]) -> None:
    root, _ = images
    with pytest.raises(DsregError, match="decode mode 'random'"):
        ImageDecode("random")
    with pytest.raises(DsregError, match="decode backend 'opencv'"):
        ImageDecode(backend="opencv")
    with pytest.raises(DsregError, match="decodes the column 'photo'"):
        dsreg.load("decodefake", "train", root=root, decode=ImageDecode(column="photo"))


def _pixels(dtype: str, rows: int = 0, channels: int = 3) -> object:
    return lambda values, epoch, indices: np.full((rows or len(values), channels, 4, 4), 7, dtype=dtype)


def test_a_decode_function_must_return_a_uint8_nchw_batch(images: tuple[Path, list[bytes]]) -> None:
    """Its result is what the frameworks' specs declare: tf's from_generator cast a float32 result to uint8 without
    a word (0.7 became 0)."""
    root, _ = images
    batch = next(iter(dsreg.load("decodefake", "train", root=root, batch_size=4, decode=_pixels("uint8"))))
    assert batch["image"].shape == (4, 3, 4, 4) and batch["image"].dtype == np.uint8
    for bad, problem in [
        (_pixels("float32"), "float32 of shape (4, 3, 4, 4)"),
        (_pixels("uint8", rows=3), "uint8 of shape (3, 3, 4, 4)"),
        (lambda values, epoch, indices: [b"x"] * len(values), "a list"),
        (lambda values, epoch, indices: np.zeros((4, 4, 4), np.uint8), "uint8 of shape (4, 4, 4)"),
    ]:
        with pytest.raises(DsregError, match=re.escape(f"the decode function returned {problem}, not a uint8")):
            next(iter(dsreg.load("decodefake", "train", root=root, batch_size=4, decode=bad)))


def test_numpy_load_decodes_with_the_loader_seed(images: tuple[Path, list[bytes]]) -> None:
    root, blobs = images
    loader = dsreg.load("decodefake", "train", root=root, batch_size=4, seed=3, decode="train")
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 224, 224) and batch["image"].dtype == np.uint8
    assert batch["label"].shape == (4,)
    expected = ImageDecode("train", seed=3)(np.array(blobs[:4], dtype=object), 0, np.arange(4))
    assert np.array_equal(batch["image"], expected)


def test_torch_batches_with_workers_equal_in_process_and_resume_exactly(images: tuple[Path, list[bytes]]) -> None:
    pytest.importorskip("torch")
    root, _ = images

    def loader(workers: int) -> object:
        return dsreg.load(
            "decodefake", "train", "torch", root=root, batch_size=4, shuffle=True, decode="train", num_workers=workers
        )

    single = loader(0)
    first_epoch = [b["image"].numpy() for b in single]
    assert first_epoch[0].shape == (4, 3, 224, 224) and first_epoch[0].dtype == np.uint8
    second_epoch = [b["image"].numpy() for b in single]
    assert not np.array_equal(first_epoch[0], second_epoch[0])
    parallel = [b["image"].numpy() for b in loader(2)]
    assert all(np.array_equal(a, b) for a, b in zip(first_epoch, parallel, strict=True))
    # resume: stop after one batch of epoch 1, restore into a new loader, get the same remaining batches
    run = loader(0)
    list(run)  # epoch 0
    it = iter(run)
    next(it)
    state = run.state_dict()
    resumed = loader(0)
    resumed.load_state_dict(state)
    rest = [b["image"].numpy() for b in resumed]
    assert all(np.array_equal(a, b) for a, b in zip(second_epoch[1:], rest, strict=True)) and len(rest) == 2


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batches_in_tf_and_keras(images: tuple[Path, list[bytes]], mode: str) -> None:
    pytest.importorskip("tensorflow")
    root, blobs = images
    direct = ImageDecode(mode, seed=5)(np.array(blobs[:4], dtype=object), 0, np.arange(4))
    data = dsreg.load("decodefake", "train", "tf", root=root, batch_size=4, seed=5, decode=mode)
    assert tuple(data.element_spec["image"].shape) == (None, 3, 224, 224)
    batch = next(iter(data))
    assert batch["image"].dtype.name == "uint8" and tuple(batch["image"].shape) == (4, 3, 224, 224)
    assert np.array_equal(batch["image"].numpy(), direct)
    pytest.importorskip("keras")
    pydata = dsreg.load(
        "decodefake", "train", "keras", root=root, batch_size=4, seed=5, decode=mode, x="image", y="label"
    )
    x, y = pydata[0]
    assert x.shape == (4, 3, 224, 224) and x.dtype == np.uint8 and np.array_equal(np.asarray(x), direct)
    assert math.prod(np.asarray(y).shape) == 4


def test_a_decode_function_s_channels_are_its_own_in_tf(images: tuple[Path, list[bytes]]) -> None:
    """The tf spec fixed 3 channels for any decode, so a grayscale (N, 1, H, W) function failed in tf's generator."""
    pytest.importorskip("tensorflow")
    root, _ = images
    data = dsreg.load("decodefake", "train", "tf", root=root, batch_size=4, decode=_pixels("uint8", channels=1))
    assert tuple(data.element_spec["image"].shape) == (None, None, None, None)
    batch = next(iter(data))
    assert tuple(batch["image"].shape) == (4, 1, 4, 4) and batch["image"].dtype.name == "uint8"


def _png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG (grayscale for 2-D `pixels`, RGB for (H, W, 3)), written chunk by chunk (Pillow writes no
    16-bit RGB)."""
    import struct
    import zlib

    height, width = pixels.shape[:2]
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    colour = 0 if pixels.ndim == 2 else 2
    header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("backend", ["pillow", "torchvision"])
def test_16_bit_images_decode_to_their_high_byte_not_wrapped_or_clipped(backend: str) -> None:
    # torchvision decodes a 16-bit PNG to uint16 (copied into uint8 it wrapped modulo 256); Pillow's RGB
    # conversion of 16-bit grayscale clipped everything above 255 to white
    pytest.importorskip("torchvision")
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))
    coloured = np.stack([ramp, ramp[:, ::-1], np.full_like(ramp, 40000)], -1)
    for pixels in (ramp, coloured):
        want = ImageDecode("eval", size=16, resize=16, backend=backend).decode_one(_8bit_png(pixels >> 8), 0, 0)
        for mode in ("eval", "train"):
            decode = ImageDecode(mode, size=16, resize=16, backend=backend)
            got = decode.decode_one(_png16(pixels), 1, 5)
            expected = decode.decode_one(_8bit_png(pixels >> 8), 1, 5)
            assert np.array_equal(got, expected), (mode, pixels.ndim)
        assert abs(int(want.astype(int).mean()) - int((pixels >> 8).mean())) < 3


def _8bit_png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()
