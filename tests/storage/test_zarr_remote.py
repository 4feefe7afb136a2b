"""zarr shards read straight from an s3:// URL (a local moto server): open, take, split expressions."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg import DsregError, Features


def _publish(root: Path, storage: str) -> dsreg.manifest.Manifest:
    features = Features({"image": dsreg.Image(shape=(2, 3, 3)), "label": dsreg.Scalar(), "text": dsreg.Text()})
    rows = (
        {"image": np.full((2, 3, 3), i % 256, dtype=np.uint8), "label": i, "text": "x" * (i % 7)} for i in range(1500)
    )
    return dsreg.write_dataset(
        f"remote-{storage}", {"train": rows}, features, root=root, shard_size=10_000, storage=storage
    )


def test_a_zarr_dataset_copied_to_s3_opens_and_takes_from_the_url(s3, root: Path) -> None:
    manifest = _publish(root, "zarr")
    assert len(manifest.splits["train"].shards) > 1
    bucket = f"dsreg-{uuid.uuid4().hex[:8]}"
    s3.mkdir(bucket)
    s3.put(str(manifest.directory), f"{bucket}/remote-zarr/default/1.0.0", recursive=True)
    url = f"s3://{bucket}/remote-zarr/default/1.0.0"
    remote = dsreg.open(url, "train")
    local = dsreg.open(manifest.directory, "train")
    assert remote.manifest.url == url and len(remote) == 1500
    idx = np.asarray([1499, 0, 700, 700, 12])
    got, want = remote.take(idx), local.take(idx)
    assert np.array_equal(got["image"], want["image"]) and np.array_equal(got["label"], want["label"])
    assert got["text"].tolist() == want["text"].tolist()
    assert dsreg.open(url, "train[-3:]").take([0, 2])["label"].tolist() == [1497, 1499]


def test_arrow_shards_at_a_url_are_refused_clearly(s3, root: Path) -> None:
    manifest = _publish(root, "arrow")
    bucket = f"dsreg-{uuid.uuid4().hex[:8]}"
    s3.mkdir(bucket)
    s3.put(str(manifest.directory), f"{bucket}/a", recursive=True)
    ds = dsreg.open(f"s3://{bucket}/a", "train")
    with pytest.raises(DsregError, match="local filesystem"):
        ds.take([0])


def test_a_url_without_a_manifest_is_named(s3) -> None:
    bucket = f"dsreg-{uuid.uuid4().hex[:8]}"
    s3.mkdir(bucket)
    with pytest.raises(DsregError, match="no manifest here") as err:
        dsreg.open(f"s3://{bucket}/nothing", "train")
    assert f"s3://{bucket}/nothing/manifest.json" in str(err.value)
