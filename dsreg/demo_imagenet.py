"""`dsreg demo imagenet`: the ImageNet pipeline on a small generated ILSVRC2012, with no network.

Writes the official layout (train tar of per-class tars with a CMYK JPEG and a PNG named `.JPEG`, val tar,
devkit with a real `meta.mat`), prepares it as `demo-imagenet2012` (recorded as generated, never under the
real corpus's name), verifies every shard, reads an epoch of train crops (`decode="train"`) and checks the
labels and bytes read back against what was generated.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dsreg.manifest import verify_manifest
from dsreg.preparation import Progress, prepare
from dsreg.recipe import Recipe, RecipeConfig
from dsreg.roots import writable_root
from dsreg.testing import imagenet as fakes

DEMO_NAME = "demo-imagenet2012"
CLASSES = 10


def demo_config() -> RecipeConfig:
    """The imagenet2012 recipe's `default` config under the demo's own name, without the vendor md5s (the
    generated files are not the vendor's)."""
    path = Path(str(resources.files("dsreg.recipes").joinpath("imagenet2012.yaml")))
    text = "".join(line for line in path.read_text("utf-8").splitlines(True) if not line.strip().startswith("md5:"))
    data = yaml.safe_load(text)
    data["name"] = DEMO_NAME
    data["description"] = f"Generated stand-in for ILSVRC2012 made by `dsreg demo imagenet`. {data['description']}"
    return Recipe(path, data).config("default")


def run_imagenet_demo(
    root: str | os.PathLike[str] | None = None,
    *,
    rows: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the demo under `root` with about `rows` train images (default 200) and return what it measured."""
    from dsreg.loading import load, open_dataset

    say = log or (lambda _msg: None)
    base = writable_root(root)
    per_class = max(1, (rows or 200) // CLASSES)
    fake = fakes.fake_imagenet(train_classes=CLASSES, per_class=per_class, val=CLASSES * 5, test=0)
    source = base / "raw" / f"imagenet-demo-{CLASSES}x{per_class}"
    say(f"1. generating the official ILSVRC2012 layout: {len(fake.train)} train + {len(fake.val)} val JPEGs")
    if not (source / "ILSVRC2012_devkit_t12.tar.gz").is_file():
        fakes.official_files(fake, source, test=False)
    say(f"   at {source}")
    t1 = time.perf_counter()
    say(f"2. preparing {DEMO_NAME}: the imagenet2012 recipe under the demo's own name, recorded as generated")
    report = Progress()
    manifest = prepare(
        demo_config(),
        source=source,
        root=base,
        check_counts=False,
        report=report,
        generated=True,
        log=lambda m: say("   " + m),
    )
    prepare_s = time.perf_counter() - t1
    changed = [c["file_name"] for c in manifest.metadata.get("reader", {}).get("changed", {}).get("train", [])]
    say(f"   re-encoded to RGB JPEG and listed in the manifest: {', '.join(changed) or 'none'}")
    problems = verify_manifest(manifest, deep=True)
    say(f"3. dsreg verify --deep: {problems or 'OK'}")
    t3 = time.perf_counter()
    loader = load(manifest.full_name, "train", "numpy", root=base, batch_size=32, shuffle=True, decode="train")
    shapes = {tuple(batch["image"].shape[1:]) for batch in loader}
    epoch_s = time.perf_counter() - t3
    say(f"4. one epoch of train crops (decode='train'): image {sorted(shapes)} uint8 in {epoch_s:.2f} s")
    matches = True
    for split, expected in (("train", fake.train), ("validation", fake.val)):
        for row in (
            r for t in open_dataset(manifest.full_name, split, root=base).arrow_tables() for r in t.to_pylist()
        ):
            name = row["file_name"]
            same_bytes = name in changed or row["image"] == fake.images[name]
            matches = matches and name in expected and row["label"] == fake.label(name) and same_bytes
    say(f"5. labels and bytes read back, compared with the generated files: {'OK' if matches else 'MISMATCH'}")
    return {
        "dataset": manifest.full_name,
        "path": str(manifest.directory),
        "provenance": manifest.provenance,
        "rows": {s.name: s.rows for s in manifest.splits.values()},
        "reencoded": changed,
        "reused": report.reused,
        "prepare_seconds": round(prepare_s, 3),
        "epoch_seconds": round(epoch_s, 3),
        "verified": not problems and matches and shapes == {(3, 224, 224)},
    }
