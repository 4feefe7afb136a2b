"""ImageNet: prepare throughput vs `tar -xOf`, and the decode + random-resized-crop train pipeline.

Data: 2,000 JPEGs in 20 classes — the 50 real ImageNet samples (``../shared/realdata/imagenet/sample_jpegs``,
or ``$DSREG_REALDATA``) repeated, else generated 500×375 photos — written as the official ILSVRC2012 layout
(train tar of per-class tars, val tar, devkit) under the benchmark cache.

1. prepare (`dsreg.prepare`, 1 and 2 workers, vendor md5s checked) vs ``tar -xOf`` of the same archives to
   /dev/null, from the page cache and cold (the tars dropped from it before each run);
2. decoders, one core, the train crop of each image: Pillow full decode, Pillow with DCT-scaled `draft`
   (dsreg's choice), torchvision.io, simplejpeg with DCT scaling (if installed);
3. an epoch of `load(..., "torch", decode="train", num_workers=2)` vs torchvision `ImageFolder` + `DataLoader`
   (RandomResizedCrop(224) + flip + PILToTensor, 2 workers) over the same images unpacked, and vs the ideal:
   two cores of the fastest bare decode + crop loop over the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

import dsreg
from benchmarks.common import REPO, bench_dir, best_time, drop_page_cache, header, row, verdict
from dsreg.loading.imagedecode import ImageDecode, random_resized_box
from dsreg.recipe import load_recipe
from dsreg.sources import file_digests
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


def _evicted(root: Path) -> None:
    """Flush what a preparation wrote and drop it from the page cache, so it does not help the next run."""
    files = [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    drop_page_cache(files)


def bench_prepare(source: Path, rounds: int = 3) -> Path:
    """`dsreg.prepare` (1 and 2 workers) vs `tar -xOf` over the same tars, from the page cache and cold.

    The recipe carries the generated files' own md5s, so the vendor checksums are checked as they are for
    the real files; hashing the tars alone (md5 + sha256, what the manifest records) is the floor of any
    verified preparation, shown beside them. Cold: the tars are dropped from the page cache before each run
    (the real 150 GB never fit in it); each run's output is flushed, dropped and deleted. Contenders are
    interleaved round by round, best of `rounds`.
    """
    archives = [source / "ILSVRC2012_img_train.tar", source / "ILSVRC2012_img_val.tar"]
    md5s = {
        p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in [*archives, source / "ILSVRC2012_devkit_t12.tar.gz"]
    }
    recipe = load_recipe(fakes.checked_recipe(bench_dir() / "imagenet" / "recipes", md5s)).config("default")
    size = sum(p.stat().st_size for p in archives)
    images = CLASSES * PER_CLASS + VAL
    roots = iter(range(1000))
    last: list[Path] = []

    def tar() -> None:
        for archive in archives:
            subprocess.run(["tar", "-xOf", str(archive)], stdout=subprocess.DEVNULL, check=True)

    def prepare(workers: int) -> None:
        root = bench_dir() / "imagenet" / f"root-{next(roots)}"
        shutil.rmtree(root, ignore_errors=True)
        manifest = dsreg.prepare(recipe, source=source, root=root, workers=workers, check_counts=False)
        assert manifest.provenance == "vendor-verified"
        if last:
            _evicted(last[-1])
            shutil.rmtree(last.pop())
        last.append(root)

    def checksums() -> None:
        for archive in archives:
            file_digests(archive)

    contenders = {
        "tar -xOf … > /dev/null": tar,
        "md5 + sha256 of the tars alone (one pass, one core)": checksums,
        "dsreg prepare, 1 process": lambda: prepare(1),
        "dsreg prepare, --workers 2": lambda: prepare(2),
    }
    best = {(name, cold): float("inf") for name in contenders for cold in (False, True)}
    for _ in range(rounds):
        for cold in (False, True):
            for name, run in contenders.items():
                drop_page_cache(archives) if cold else tar()
                start = time.perf_counter()
                run()
                best[name, cold] = min(best[name, cold], time.perf_counter() - start)
    for cold in (False, True):
        how = "cold: tars dropped from the page cache before each run" if cold else "warm: tars in the page cache"
        header(f"ImageNet prepare: {images} images, {size / 1e6:.0f} MB of tars, md5 checked ({how})")
        t_tar = best["tar -xOf … > /dev/null", cold]
        for name in contenders:
            t = best[name, cold]
            note = f"{images / t:.0f} img/s" + ("" if name.startswith("tar") else f", {100 * t_tar / t:.0f}% of tar")
            row(name, f"{size / t / 1e6:.0f} MB/s", note)
        fastest = min(best[name, cold] for name in contenders if name.startswith("dsreg"))
        verdict(t_tar / fastest >= 0.5, f"prepare ≥ 50% of tar -xOf, {'cold' if cold else 'warm'}")
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
