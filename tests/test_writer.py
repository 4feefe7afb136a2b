from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg import ClassLabel, DsregError, Features, Image
from dsreg.manifest import read_manifest

FEATURES = Features({"image": Image(shape=(4, 4, 3)), "label": ClassLabel(names=("a", "b", "c"))})


def rows(n: int, offset: int = 0):
    for i in range(offset, offset + n):
        yield {"image": np.full((4, 4, 3), i % 256, np.uint8), "label": i % 3}


def test_write_publishes_a_read_only_versioned_dataset(root: Path) -> None:
    m = dsreg.write_dataset("toy", {"train": rows(3000), "test": rows(10)}, FEATURES, root=root, shard_size="10KB")
    assert m.directory == root / "toy" / "default" / "1.0.0"
    assert m.splits["train"].rows == 3000 and m.splits["test"].rows == 10
    assert len(m.splits["train"].shards) > 1
    assert m.splits["train"].shards[0].path == f"train/00000-of-{len(m.splits['train'].shards):05d}.arrow"
    for dirpath, _, files in os.walk(m.directory):
        assert not stat.S_IMODE(Path(dirpath).stat().st_mode) & 0o222
        for f in files:
            assert not stat.S_IMODE(Path(dirpath, f).stat().st_mode) & 0o222
    assert sorted(p.name for p in (root / "toy" / "default").iterdir()) == ["1.0.0"]  # no lock, no work dir left
    again = read_manifest(m.directory)
    assert again.to_json() == m.to_json()


def test_same_version_same_content_is_reused_and_different_content_refused(root: Path) -> None:
    first = dsreg.write_dataset("toy", {"train": rows(5)}, FEATURES, root=root)
    second = dsreg.write_dataset("toy", {"train": rows(5)}, FEATURES, root=root)
    assert second.created == first.created
    with pytest.raises(DsregError, match="already published with different contents") as err:
        dsreg.write_dataset("toy", {"train": rows(5)}, FEATURES, root=root, description="changed")
    assert "new version" in str(err.value)


def test_a_failing_writer_publishes_nothing_and_keeps_earlier_versions(root: Path) -> None:
    v1 = dsreg.write_dataset("toy", {"train": rows(20)}, FEATURES, root=root)
    before = {p: p.read_bytes() for p in v1.directory.rglob("*") if p.is_file()}

    def broken():
        yield from rows(10)
        yield {"image": np.zeros((4, 4, 3), np.uint8)}  # no label

    with pytest.raises(DsregError, match="missing \\['label'\\]"):
        dsreg.write_dataset("toy", {"train": broken()}, FEATURES, root=root, version="1.1.0")
    assert not (root / "toy" / "default" / "1.1.0").exists()
    assert {p: p.read_bytes() for p in v1.directory.rglob("*") if p.is_file()} == before
    assert (
        dsreg.write_dataset("toy", {"train": rows(3)}, FEATURES, root=root, version="1.1.0").splits["train"].rows == 3
    )


def test_manifest_records_what_the_design_lists(root: Path) -> None:
    m = dsreg.write_dataset(
        "toy",
        {"train": rows(4)},
        FEATURES,
        root=root,
        supervised_keys=("image", "label"),
        license="CC0",
        citation="@misc{toy}",
        evaluation={"metric": "accuracy"},
    )
    data = json.loads((m.directory / "manifest.json").read_text())
    assert data["format_version"] == 1
    assert {"time", "user", "host"} <= set(data["created"])
    assert data["supervised_keys"] == ["image", "label"]
    assert data["metadata"]["license"] == "CC0" and data["evaluation"] == {"metric": "accuracy"}
    shard = data["splits"]["train"]["shards"][0]
    assert set(shard) == {"path", "rows", "bytes", "sha256"} and len(shard["sha256"]) == 64


def test_bad_names_and_keys_are_refused(root: Path) -> None:
    with pytest.raises(DsregError, match="cannot read dataset reference"):
        dsreg.write_dataset("Bad Name", {"train": rows(1)}, FEATURES, root=root)
    with pytest.raises(DsregError, match="no column 'target'"):
        dsreg.write_dataset("toy", {"train": rows(1)}, FEATURES, root=root, supervised_keys=("image", "target"))


def test_a_bad_nested_value_names_its_column_row_and_path_and_publishes_nothing(root: Path) -> None:
    phone = dsreg.Struct({"start": dsreg.Scalar("float32"), "phone": ClassLabel(names=("a", "b"))})
    features = Features({"phones": dsreg.Sequence(phone)})

    def examples():
        for i in range(1500):
            phones = [{"start": k / 2, "phone": k % 2} for k in range(i % 4)]
            if i == 1302:
                phones[1]["phone"] = 2  # not a class of the two names
            yield {"phones": phones}

    with pytest.raises(DsregError, match=r"column 'phones', row 1302, at phones\[1\]\.phone: label 2 is not a class"):
        dsreg.write_dataset("phones", {"train": examples()}, features, root=root)
    assert not (root / "phones" / "default" / "1.0.0").exists()
