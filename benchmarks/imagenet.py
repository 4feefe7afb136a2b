"""ImageNet: prepare throughput vs `tar -xOf`, and the decode + random-resized-crop train pipeline.

Data: 2,000 JPEGs in 20 classes — the 50 real ImageNet samples (``../shared/realdata/imagenet/sample_jpegs``,
or ``$DSREG_REALDATA``) repeated, else generated 500×375 photos — written as the official ILSVRC2012 layout
(train tar of per-class tars, val tar, devkit) under the benchmark cache.

1. prepare (`dsreg.prepare`, one process) vs ``tar -xOf`` of the same archives to /dev/null (warm cache);
2. decoders, one core, the train crop of each image: Pillow full decode, Pillow with DCT-scaled `draft`
   (dsreg's choice), torchvision.io, simplejpeg with DCT scaling (if installed);
3. an epoch of `load(..., "torch", decode="train", num_workers=2)` vs torchvision `ImageFolder` + `DataLoader`
   (RandomResizedCrop(224) + flip + PILToTensor, 2 workers) over the same images unpacked, and vs the ideal:
   two cores of the fastest bare decode + crop loop over the same bytes.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

import dsreg
from benchmarks.common import REPO, bench_dir, best_time, header, row, verdict
from dsreg.loading.imagedecode import ImageDecode, random_resized_box
from dsreg.recipe import load_recipe
from dsreg.testing import imagenet as fakes

CLASSES, PER_CLASS, VAL, BATCH = 20, 100, 200, 64


def _pool() -> list[bytes]:
    """Real ImageNet JPEGs if the excerpts are here, else generated ~500×375 photo-like JPEGs."""
    real = Path(os.environ.get("DSREG_REALDATA") or REPO.parent / "shared" / "realdata") / "imagenet" / "sample_jpegs"
    if real.is_dir():
        return [p.read_bytes() for p in sorted(real.iterdir())]
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(0)
    out = []
    for _ in range(50):
        pixels = rng.integers(0, 256, (375 // 8, 500 // 8, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).resize((500, 375), Image.Resampling.BICUBIC).filter(ImageFilter.DETAIL)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def _data() -> tuple[Path, fakes.FakeImageNet]:
    """The official files of the benchmark corpus (made once, cached)."""
    base = bench_dir() / "imagenet"
    wnids = fakes.recipe_wnids()
    pool = _pool()
    fake = fakes.FakeImageNet(wnids, {w: w for w in wnids}, {w: i for i, w in enumerate(wnids, 1)})
    for c, wnid in enumerate(wnids[:: len(wnids) // CLASSES][:CLASSES]):
        for n in range(PER_CLASS):
            name = f"{wnid}_{n}.JPEG"
            fake.train[name], fake.images[name] = wnid, pool[(c * PER_CLASS + n) % len(pool)]
    for n in range(1, VAL + 1):
        name = f"ILSVRC2012_val_{n:08d}.JPEG"
        fake.val[name], fake.images[name] = wnids[n % CLASSES], pool[n % len(pool)]
    source = base / "official"
    if not (source / "ILSVRC2012_devkit_t12.tar.gz").is_file():
        fakes.official_files(fake, source, test=False)
    return source, fake


def bench_prepare(source: Path) -> Path:
    recipe = load_recipe(fakes.unverified_recipe(bench_dir() / "imagenet" / "recipes")).config("default")
    archives = [source / "ILSVRC2012_img_train.tar", source / "ILSVRC2012_img_val.tar"]
    size = sum(p.stat().st_size for p in archives)
    images = CLASSES * PER_CLASS + VAL

    def tar() -> None:
        for archive in archives:
            subprocess.run(["tar", "-xOf", str(archive)], stdout=subprocess.DEVNULL, check=True)

    roots = iter(range(100))
    last: list[Path] = []

    def prepare() -> None:
        root = bench_dir() / "imagenet" / f"root-{next(roots)}"
        shutil.rmtree(root, ignore_errors=True)
        dsreg.prepare(recipe, source=source, root=root, check_counts=False)
        last.append(root)

    tar()  # warm the page cache
    t_tar, t_prep = best_time(tar, 3), best_time(prepare, 3)
    header(f"ImageNet prepare: {images} images, {size / 1e6:.0f} MB of tars (warm cache)")
    row("tar -xOf … > /dev/null", f"{size / t_tar / 1e6:.0f} MB/s", f"{images / t_tar:.0f} img/s")
    row("dsreg prepare (1 process)", f"{size / t_prep / 1e6:.0f} MB/s", f"{images / t_prep:.0f} img/s")
    verdict(t_tar / t_prep >= 0.5, f"prepare ≥ 50% of tar -xOf (got {100 * t_tar / t_prep:.0f}%)")
    return last[-1]


def _torchvision_crop(data: bytes, rng: np.random.Generator) -> object:
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms.v2 import functional as F

    image = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    left, top, right, bottom = random_resized_box(image.shape[2], image.shape[1], (0.08, 1), (3 / 4, 4 / 3), rng)
    return F.resized_crop(image, top, left, bottom - top, right - left, [224, 224], antialias=True)


def _simplejpeg_crop(data: bytes, rng: np.random.Generator) -> object:
    import simplejpeg
    from PIL import Image

    width, height = simplejpeg.decode_jpeg_header(data)[:2][::-1]
    left, top, right, bottom = random_resized_box(width, height, (0.08, 1), (3 / 4, 4 / 3), rng)
    factor = max(min(right - left, bottom - top) / 224, 1.0)
    pixels = simplejpeg.decode_jpeg(
        data, colorspace="RGB", min_height=int(height / factor), min_width=int(width / factor)
    )
    sx, sy = pixels.shape[1] / width, pixels.shape[0] / height
    image = Image.fromarray(pixels)
    return image.resize((224, 224), Image.Resampling.BILINEAR, box=(left * sx, top * sy, right * sx, bottom * sy))


def bench_decoders(blobs: list[bytes]) -> float:
    """One core: images/s of decode + train crop per decoder; returns the fastest rate."""
    header(f"ImageNet decode + random-resized crop 224, one core, {len(blobs)} images")
    rates = {}
    full, drafted = ImageDecode("train", draft=False), ImageDecode("train")
    cases = {
        "Pillow, full decode": lambda i, b: full.decode_one(b, 0, i),
        "Pillow, DCT-scaled draft (dsreg)": lambda i, b: drafted.decode_one(b, 0, i),
        "torchvision.io.decode_jpeg + resized_crop": lambda i, b: _torchvision_crop(b, np.random.default_rng(i)),
    }
    try:
        import simplejpeg  # noqa: F401

        cases["simplejpeg, DCT-scaled + Pillow resize"] = lambda i, b: _simplejpeg_crop(b, np.random.default_rng(i))
    except ImportError:
        pass
    import torch

    torch.set_num_threads(1)
    for label, fn in cases.items():
        seconds = best_time(lambda fn=fn: [fn(i, b) for i, b in enumerate(blobs)], 2)
        rates[label] = len(blobs) / seconds
        row(label, f"{rates[label]:.0f} img/s")
    return max(rates.values())


def bench_train(root: Path, fake: fakes.FakeImageNet, fastest: float) -> None:
    import torch
    from torchvision import datasets, transforms

    images = CLASSES * PER_CLASS
    unpacked = bench_dir() / "imagenet" / "unpacked"
    if not unpacked.is_dir():
        for name, wnid in fake.train.items():
            (unpacked / wnid).mkdir(parents=True, exist_ok=True)
            (unpacked / wnid / name).write_bytes(fake.images[name])

    def dsreg_epoch() -> None:
        loader = dsreg.load(
            "imagenet2012", "train", "torch", root=root, batch_size=BATCH, shuffle=True, decode="train", num_workers=2
        )
        for batch in loader:
            batch["image"].shape  # noqa: B018

    def folder_epoch() -> None:
        tf = transforms.Compose(
            [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.PILToTensor()]
        )
        data = datasets.ImageFolder(str(unpacked), transform=tf)
        for _ in torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=True, num_workers=2):
            pass

    t_dsreg, t_folder = best_time(dsreg_epoch, 2), best_time(folder_epoch, 2)
    ideal = 2 * fastest
    header(f"ImageNet train pipeline: one epoch of {images} images, batch {BATCH}, 2 workers → uint8 NCHW")
    row("torchvision ImageFolder + DataLoader", f"{images / t_folder:.0f} img/s")
    row("dsreg load(..., decode='train')", f"{images / t_dsreg:.0f} img/s", f"{t_folder / t_dsreg:.2f}× ImageFolder")
    row("ideal: 2 cores × fastest bare decode + crop", f"{ideal:.0f} img/s", f"dsreg at {images / t_dsreg / ideal:.0%}")
    verdict(t_folder / t_dsreg >= 1.45, "≥ 1.45× ImageFolder")
    verdict(images / t_dsreg / ideal >= 0.9, "≥ 90% of the bare decode + crop loop")


def run() -> None:
    start = time.perf_counter()
    source, fake = _data()
    root = bench_prepare(source)
    fastest = bench_decoders([fake.images[n] for n in list(fake.train)[:500]])
    bench_train(root, fake, fastest)
    print(f"   ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    run()
