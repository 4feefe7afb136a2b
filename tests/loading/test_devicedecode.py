"""Batched decoding on a device (`dsreg.loading.devicedecode`): run on the CPU it must equal the per-image
torchvision path exactly, whatever the mix of greyscale, CMYK and PNG members; on CUDA (skipped without one)
nvJPEG's batch must come within a few grey levels of it; through `load(..., decode_on="device")` the
batches, their epochs and a resume are those the workers give."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg.errors import DsregError
from dsreg.loading.devicedecode import decode_batch, on_device
from dsreg.loading.imagedecode import ImageDecode

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


def _encode(
    rng: np.random.Generator, width: int, height: int, mode: str = "RGB", fmt: str = "JPEG", **save: object
) -> bytes:
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], -1).astype(np.uint8)
    image = Image.fromarray(base + rng.integers(0, 8, base.shape, dtype=np.uint8)).convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt, quality=90, **save)
    return out.getvalue()


@pytest.fixture(scope="module")
def blobs() -> list[bytes]:
    """RGB, greyscale, CMYK, progressive and PNG images of several sizes and aspect ratios."""
    rng = np.random.default_rng(5)
    return [
        _encode(rng, 300, 200),
        _encode(rng, 180, 260, "L"),
        _encode(rng, 240, 240, "CMYK"),
        _encode(rng, 320, 150, progressive=True),
        _encode(rng, 200, 300, fmt="PNG"),
        _encode(rng, 256, 192),
    ]


def test_the_jpeg_header_tells_what_nvjpeg_can_decode(blobs: list[bytes]) -> None:
    assert on_device(blobs[0]) and on_device(blobs[1])  # RGB and greyscale baseline
    assert not on_device(blobs[2])  # CMYK: decoded on the CPU
    assert on_device(blobs[3])  # progressive
    assert not on_device(blobs[4])  # PNG
    for broken in (b"", b"\xff\xd8", b"\xff\xd8\xff\xe0\x00", blobs[0][:20], b"not an image at all"):
        assert not on_device(broken)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_batch_on_the_cpu_equals_the_per_image_decode(blobs: list[bytes], mode: str) -> None:
    decode = ImageDecode(mode, size=64, resize=72, seed=11, backend="torchvision")
    indices = np.array([7, 3, 40, 12, 9, 1])
    for epoch in (0, 5):
        batch = decode_batch(decode, blobs, epoch, indices, "cpu")
        assert batch.dtype == torch.uint8 and tuple(batch.shape) == (6, 3, 64, 64) and batch.device.type == "cpu"
        expected = decode(np.array(blobs, dtype=object), epoch, indices)
        assert np.array_equal(batch.numpy(), expected), f"epoch {epoch}"
    other_epoch = np.array_equal(decode_batch(decode, blobs, 1, indices, "cpu").numpy(), expected)
    assert other_epoch == (mode == "eval"), "train crops change with the epoch, eval crops do not"


def _odd_images() -> list[bytes]:
    """Images at the edges: 1×1, one row, EXIF-rotated (orientation 6), bytes after the end-of-image marker,
    RGBA, palette and 16-bit PNG."""
    from PIL import Image

    rng = np.random.default_rng(8)

    def save(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
        out = io.BytesIO()
        image.save(out, format=fmt, **options)
        return out.getvalue()

    photo = Image.open(io.BytesIO(_encode(rng, 50, 30))).convert("RGB")  # smooth, so resamplers agree closely
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° to display": no path applies it (the stored pixels, as height/width say)
    ramp = np.tile(np.linspace(0, 65535, 40).astype(np.uint16), (20, 1))
    return [
        save(Image.new("RGB", (1, 1), (200, 10, 10))),
        save(Image.new("L", (300, 1), 77)),
        save(photo, exif=exif),
        save(photo) + b"\x00\x00trailing bytes",
        save(photo.convert("RGBA"), "PNG"),
        save(photo.convert("P"), "PNG"),
        save(Image.fromarray(ramp), "PNG"),
    ]


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_odd_images_decode_on_the_device_path_as_on_the_per_image_path(mode: str) -> None:
    odd = _odd_images()
    decode = ImageDecode(mode, size=24, resize=28, seed=4, backend="torchvision")
    indices = np.arange(len(odd)) * 3
    batch = decode_batch(decode, odd, 2, indices, "cpu").numpy()
    assert np.array_equal(batch, decode(np.array(odd, dtype=object), 2, indices))
    pillow = ImageDecode(mode, size=24, resize=28, seed=4, backend="pillow", draft=False)
    for row, (got, data) in enumerate(zip(batch, odd, strict=True)):  # same pixels within resampling differences
        assert np.abs(got.astype(int) - pillow.decode_one(data, 2, int(indices[row])).astype(int)).mean() < 4, row


def test_a_jpeg_the_device_decoder_refuses_is_decoded_on_the_cpu(
    blobs: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.io

    refused = blobs[3]
    real = torchvision.io.decode_jpeg

    def device_decoder(data: object, **options: object) -> object:  # refuses `refused`, as nvJPEG may
        batch = data if isinstance(data, list) else [data]
        if any(bytes(t.numpy()) == refused for t in batch):
            raise RuntimeError("nvjpegDecode failed: unsupported")
        return real(data, **options)

    monkeypatch.setattr(torchvision.io, "decode_jpeg", device_decoder)
    decode = ImageDecode("train", size=32, resize=40, seed=1, backend="torchvision")
    indices = np.array([5, 6, 7])
    batch = decode_batch(decode, [blobs[0], refused, blobs[1]], 0, indices, "cpu")
    assert np.array_equal(batch.numpy(), decode(np.array([blobs[0], refused, blobs[1]], dtype=object), 0, indices))


def test_an_undecodable_image_in_the_batch_names_its_row(blobs: list[bytes]) -> None:
    decode = ImageDecode("eval", size=32, resize=40)
    header_only = blobs[0][: blobs[0].index(b"\xff\xda") + 20]  # a JPEG cut inside its first scan
    for bad in (b"\xff\xd8 not a jpeg", header_only):
        with pytest.raises(DsregError, match="row 31: the image does not decode"):
            decode_batch(decode, [blobs[0], bad], 0, np.array([30, 31]), "cpu")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, blobs: list[bytes]) -> Path:
    root = tmp_path_factory.mktemp("devicedecode-root")
    rows = [{"image": blobs[i % len(blobs)], "label": i % 2} for i in range(14)]
    features = {"image": {"type": "encoded_image"}, "label": {"type": "class_label", "names": ["a", "b"]}}
    dsreg.write_dataset("devicefake", {"train": rows}, features, root=root)
    return root


def _torch(root: Path, **options: object) -> object:
    decode = ImageDecode("train", size=48, resize=56, seed=2)
    return dsreg.load("devicefake", "train", "torch", root=root, batch_size=4, shuffle=True, decode=decode, **options)


def test_load_decoding_on_the_device_gives_the_workers_batches_and_resumes(prepared: Path) -> None:
    workers = _torch(prepared, num_workers=2)
    device = _torch(prepared, num_workers=2, decode_on="device")
    for _ in range(2):  # two epochs: the crops follow the epoch
        want = [(b["image"].clone(), b["label"].clone()) for b in workers]
        got = [(b["image"], b["label"]) for b in device]
        assert len(got) == len(want) == 4
        for (wi, wl), (gi, gl) in zip(want, got, strict=True):
            assert gi.dtype == torch.uint8 and tuple(gi.shape[1:]) == (3, 48, 48)
            assert torch.equal(wi, gi) and torch.equal(wl, gl)
    it = iter(device)
    next(it)
    resumed = _torch(prepared, decode_on="device")
    resumed.load_state_dict(device.state_dict())
    rest = [b["image"] for b in resumed]
    want_rest = [b["image"] for b in workers][1:]  # the workers' loader is at epoch 2 as well
    assert len(rest) == 3 and all(torch.equal(a, b) for a, b in zip(want_rest, rest, strict=True))


def test_decode_on_is_checked(prepared: Path) -> None:
    with pytest.raises(DsregError, match="decode_on='gpu' is not one of workers, device"):
        _torch(prepared, decode_on="gpu")
    with pytest.raises(DsregError, match="decode_on='device' needs"):
        pillow = ImageDecode(backend="pillow")
        dsreg.load("devicefake", "train", "torch", root=prepared, decode=pillow, decode_on="device")
    assert _torch(prepared, decode_on="workers").image_decode is None
    assert _torch(prepared).image_decode is None  # on the CPU the workers decode by default


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (nvJPEG)")
def test_nvjpeg_batches_match_the_cpu_decode(blobs: list[bytes], prepared: Path) -> None:
    decode = ImageDecode("train", seed=4)
    indices = np.arange(len(blobs))
    gpu = decode_batch(decode, blobs, 3, indices, "cuda")
    assert gpu.is_cuda and gpu.dtype == torch.uint8 and tuple(gpu.shape) == (len(blobs), 3, 224, 224)
    cpu = decode(np.array(blobs, dtype=object), 3, indices).astype(int)
    assert np.abs(gpu.cpu().numpy().astype(int) - cpu).mean() < 3
    loader = _torch(prepared, num_workers=2, device="cuda")
    assert loader.image_decode is not None
    batch = next(iter(loader))
    assert batch["image"].is_cuda and tuple(batch["image"].shape) == (4, 3, 48, 48)
