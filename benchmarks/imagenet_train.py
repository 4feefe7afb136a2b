"""ImageNet's load side: decoders on one core, and the train pipeline against ImageFolder and the bare loop.

1. decoders, one core, the train crop of each image, interleaved rounds: dsreg's `ImageDecode` (torchvision
   and Pillow backends) and the bare loops: torchvision.io + `resized_crop`, Pillow (full and DCT-scaled
   `draft`), simplejpeg DCT-scaled + torch resize (when installed);
2. the train pipeline, steady state: one epoch of `load(..., "torch", decode="train", num_workers=2)`, of
   torchvision `ImageFolder` + `DataLoader` (RandomResizedCrop(224) + flip + PILToTensor, 2 workers) over the
   same images unpacked, and of the fastest bare decode + crop + flip loop over the same bytes run by two
   processes at once, a batch of images at a time (the ideal: two cores of it). Each contender keeps its
   workers between epochs (a real epoch is 1.28 M images, so start-up does not count); rounds are
   interleaved, so load from other jobs on the machine hits all three alike, and the ratios are of each
   contender's best round (each round's ratio is printed too);
3. with CUDA only: CPU workers vs nvJPEG batches (`device="cuda"`), batches/s.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import dsreg
from benchmarks.common import bench_dir, header, row, verdict
from dsreg.loading.imagedecode import ImageDecode, random_resized_box
from dsreg.testing import imagenet as fakes

BATCH, ROUNDS = 64, 8
SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)
Crop = Callable[[bytes, int], object]


def _box(width: int, height: int, index: int) -> tuple[tuple[int, int, int, int], bool]:
    rng = np.random.default_rng(index)
    left, top, right, bottom = random_resized_box(width, height, SCALE, RATIO, rng)
    return (int(left), int(top), int(right), int(bottom)), bool(rng.random() < 0.5)


def torchvision_crop(data: bytes, index: int) -> object:
    """torchvision.io decode + `resized_crop` to 224 + flip."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms.v2 import functional

    image = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    (left, top, right, bottom), flip = _box(image.shape[2], image.shape[1], index)
    out = functional.resized_crop(image, top, left, bottom - top, right - left, [224, 224], antialias=True)
    return out.flip(-1) if flip else out


def pillow_crop(data: bytes, index: int, draft: bool = False) -> object:
    """Pillow decode (optionally DCT-scaled) + bilinear resize of the box to 224 + flip."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    width, height = image.size
    (left, top, right, bottom), flip = _box(width, height, index)
    box: tuple[float, float, float, float] = (left, top, right, bottom)
    if draft:
        factor = max(min(right - left, bottom - top) / 224, 1.0)
        image.draft("RGB", (int(width / factor), int(height / factor)))
        sx, sy = image.size[0] / width, image.size[1] / height
        box = (left * sx, top * sy, right * sx, bottom * sy)
    out = image.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR, box=box)
    return out.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else out


def simplejpeg_crop(data: bytes, index: int) -> object:
    """simplejpeg decode at the smallest power-of-two DCT scale that keeps the crop ≥ 224 + torch resize + flip."""
    import simplejpeg
    import torch

    height, width = simplejpeg.decode_jpeg_header(data)[:2]
    (left, top, right, bottom), flip = _box(width, height, index)
    reduce = min(right - left, bottom - top) / 224
    factor = 8 if reduce >= 8 else 4 if reduce >= 4 else 2 if reduce >= 2 else 1
    pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", min_factor=factor)
    sx, sy = pixels.shape[1] / width, pixels.shape[0] / height
    crop = torch.from_numpy(pixels)[round(top * sy) : round(bottom * sy), round(left * sx) : round(right * sx)]
    out = torch.nn.functional.interpolate(
        crop.permute(2, 0, 1)[None], size=(224, 224), mode="bilinear", antialias=True, align_corners=False
    )[0]
    return out.flip(-1) if flip else out


def bare_loops() -> dict[str, Crop]:
    """The bare decode + crop + flip loops available here."""
    loops: dict[str, Crop] = {
        "bare: torchvision.io decode_jpeg + resized_crop": torchvision_crop,
        "bare: Pillow, full decode + resize": pillow_crop,
        "bare: Pillow, DCT-scaled draft + resize": lambda d, i: pillow_crop(d, i, draft=True),
    }
    try:
        import simplejpeg  # noqa: F401

        loops["bare: simplejpeg, DCT-scaled + torch resize"] = simplejpeg_crop
    except ImportError:
        pass
    return loops


def bench_decoders(blobs: list[bytes]) -> str:
    """One core, interleaved rounds: images/s of decode + train crop per decoder; returns the fastest bare loop."""
    import torch

    torch.set_num_threads(1)
    tv, pil = ImageDecode("train", backend="torchvision"), ImageDecode("train", backend="pillow")
    cases: dict[str, Crop] = {
        "dsreg ImageDecode, torchvision backend": lambda d, i: tv.decode_one(d, 0, i),
        "dsreg ImageDecode, Pillow backend (DCT-scaled draft)": lambda d, i: pil.decode_one(d, 0, i),
        **bare_loops(),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(3):
        for label, fn in cases.items():
            start = time.perf_counter()
            for i, data in enumerate(blobs):
                fn(data, i)
            best[label] = min(best[label], time.perf_counter() - start)
    header(f"ImageNet decode + random-resized crop 224 + flip, one core, {len(blobs)} images, best of 3 rounds")
    for label, seconds in best.items():
        row(label, f"{len(blobs) / seconds:.0f} img/s")
    bare = {label: s for label, s in best.items() if label.startswith("bare")}
    return min(bare, key=bare.__getitem__)


_BLOBS: list[bytes] = []  # the bytes the two bare-loop processes share (inherited by fork)


def _bare_chunk(job: tuple[str, int]) -> int:
    """Run the bare loop `name` over the `BATCH` images from `start` (in a pool process)."""
    import torch

    torch.set_num_threads(1)
    name, start = job
    fn = bare_loops()[name]
    stop = min(start + BATCH, len(_BLOBS))
    for i in range(start, stop):
        fn(_BLOBS[i], i)
    return stop - start


def bench_train(root: Path, fake: fakes.FakeImageNet, fastest: str) -> None:
    import torch
    from torchvision import datasets, transforms

    images = len(fake.train)
    unpacked = bench_dir() / "imagenet" / "unpacked"
    if not unpacked.is_dir():
        for name, wnid in fake.train.items():
            (unpacked / wnid).mkdir(parents=True, exist_ok=True)
            (unpacked / wnid / name).write_bytes(fake.images[name])
    _BLOBS[:] = [fake.images[n] for n in fake.train]
    ours = dsreg.load(
        "imagenet2012", "train", "torch", root=root, batch_size=BATCH, shuffle=True, decode="train", num_workers=2
    )
    folder = torch.utils.data.DataLoader(
        datasets.ImageFolder(
            str(unpacked),
            transform=transforms.Compose(
                [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.PILToTensor()]
            ),
        ),
        batch_size=BATCH,
        shuffle=True,
        num_workers=2,
        persistent_workers=True,
    )
    pool = multiprocessing.get_context("fork").Pool(2)

    def epoch(batches: object) -> None:
        for batch in batches:  # type: ignore[attr-defined]
            (batch["image"] if isinstance(batch, dict) else batch[0]).shape  # noqa: B018

    contenders: dict[str, Callable[[], object]] = {
        "dsreg": lambda: epoch(ours),
        "folder": lambda: epoch(folder),
        # chunks of a batch, handed out one at a time: the two processes balance like DataLoader workers
        "bare": lambda: pool.map(_bare_chunk, [(fastest, start) for start in range(0, images, BATCH)], chunksize=1),
    }
    load_before = os.getloadavg()[0]
    for run in contenders.values():  # start the workers, warm the caches
        run()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(ROUNDS):
        for name in names[r % 3 :] + names[: r % 3]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    pool.close()
    pool.join()
    best = {name: min(t) for name, t in times.items()}
    rate = {name: images / t for name, t in best.items()}
    load_after = os.getloadavg()[0]
    header(
        f"ImageNet train pipeline: epochs of {images} images, batch {BATCH}, 2 workers → uint8 NCHW (steady "
        f"state, best of {ROUNDS} interleaved rounds; load average {load_before:.1f} → {load_after:.1f})"
    )
    vs_folder, vs_bare = rate["dsreg"] / rate["folder"], rate["dsreg"] / rate["bare"]
    row("torchvision ImageFolder + DataLoader", f"{rate['folder']:.0f} img/s")
    row("dsreg load(..., decode='train')", f"{rate['dsreg']:.0f} img/s", f"{vs_folder:.2f}× ImageFolder")
    row(f"ideal: 2 processes × {fastest[6:]}", f"{rate['bare']:.0f} img/s", f"dsreg at {vs_bare:.0%}")
    per_round = [b / d for d, b in zip(times["dsreg"], times["bare"], strict=True)]
    row("dsreg / ideal, per round", " ".join(f"{p:.0%}" for p in per_round))
    verdict(vs_folder >= 1.45, "≥ 1.45× ImageFolder")
    verdict(vs_bare >= 0.9, "≥ 90% of the bare decode + crop loop on two cores")
    bench_gpu(root)


def bench_gpu(root: Path) -> None:
    """With CUDA: batches/s of the train pipeline decoded by CPU workers vs by nvJPEG on the GPU."""
    import torch

    if not torch.cuda.is_available():
        print("   (no CUDA device: the nvJPEG comparison is skipped)")
        return
    rates = {}
    for label, on in (("CPU workers, copied to the GPU", "workers"), ("nvJPEG batches on the GPU", "device")):
        loader = dsreg.load(
            "imagenet2012", "train", "torch", root=root, batch_size=BATCH, shuffle=True, decode="train",
            num_workers=2, device="cuda", decode_on=on,
        )  # fmt: skip
        best = float("inf")
        for _ in range(3):
            start, batches = time.perf_counter(), 0
            for batch in loader:
                batch["image"].sum()
                batches += 1
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        rates[label] = batches / best
    header(f"ImageNet train pipeline on {torch.cuda.get_device_name()}: batches of {BATCH}, best of 3 epochs")
    for label, value in rates.items():
        row(label, f"{value:.1f} batches/s", f"{value * BATCH:.0f} img/s")
