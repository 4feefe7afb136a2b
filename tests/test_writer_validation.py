"""write_dataset checks every value against its feature before it publishes: the row in the error, nothing
left behind (no version folder, no work directory) on any error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dsreg
from dsreg import Audio, ClassLabel, DsregError, Features, Image, Text
from dsreg.registry import prepared_versions


def good_then(bad: dict[str, Any], good: dict[str, Any], at: int, total: int = 40) -> Iterator[dict[str, Any]]:
    for i in range(total):
        yield bad if i == at else good


def assert_nothing_left(root: Path, name: str) -> None:
    assert prepared_versions(name, "default", root) == []
    leftovers = [p.name for p in (root / name).rglob("*") if p.name != "default"] if (root / name).exists() else []
    assert leftovers == [], leftovers


AUDIO = Features({"audio": Audio(sample_rate=8000)})
QUIET = {"audio": np.zeros(16, np.float32)}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"audio": np.zeros((16, 2), np.float32)}, r"row 7: audio is mono, got samples of shape \[16, 2\]"),
        ({"audio": np.full(16, 1000, np.int16)}, r"row 7: int16 samples in a float32 audio column would be stored"),
        ({"audio": [0, 1, 2]}, r"row 7: int64 samples in a float32 audio column would be stored unscaled"),
        ({"audio": np.array([0.0, np.inf], np.float32)}, r"row 7, at audio\[1\]: sample inf is not a finite number"),
    ],
    ids=["stereo", "int16-unscaled", "int-list", "inf"],
)
def test_audio_that_would_be_stored_wrong_is_refused_with_its_row(root: Path, bad: dict, message: str) -> None:
    with pytest.raises(DsregError, match=message):
        dsreg.write_dataset("snd", {"train": good_then(bad, QUIET, at=7)}, AUDIO, root=root)
    assert_nothing_left(root, "snd")


def test_integer_audio_is_stored_as_declared(root: Path) -> None:
    pcm = np.array([-32768, 0, 32767], np.int16)
    m = dsreg.write_dataset("pcm", {"train": [{"audio": pcm}]}, Features({"audio": Audio(dtype="int16")}), root=root)
    got = dsreg.open(m.directory, "train")[0]["audio"]
    assert got.dtype == np.int16 and got.tolist() == pcm.tolist()
    scaled = dsreg.write_dataset("pcmf", {"train": [{"audio": pcm / 32768}]}, AUDIO, root=root)
    assert dsreg.open(scaled.directory, "train")[0]["audio"].tolist() == [-1.0, 0.0, 32767 / 32768]


STEREO = Features({"audio": Audio(dtype="int16", sample_rate=8000, channels=2)})
QUIET_STEREO = {"audio": np.zeros((2, 16), np.int16)}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"audio": np.zeros((16, 2), np.int16)}, r"row 7: audio has 2 channels, so a row is \(channels, frames\)"),
        ({"audio": np.zeros(32, np.int16)}, r"row 7: audio has 2 channels, .* got samples of shape \[32\]"),
        ({"audio": np.zeros((3, 16), np.int16)}, r"row 7: audio has 2 channels, .* got samples of shape \[3, 16\]"),
    ],
    ids=["frames-first", "flat", "three-channels"],
)
def test_stereo_rows_must_be_channels_by_frames(root: Path, bad: dict, message: str) -> None:
    with pytest.raises(DsregError, match=message):
        dsreg.write_dataset("st", {"train": good_then(bad, QUIET_STEREO, at=7)}, STEREO, root=root)
    assert_nothing_left(root, "st")


def test_stereo_is_kept_as_channels_by_frames(root: Path) -> None:
    rows = [{"audio": np.arange(2 * n, dtype=np.int16).reshape(2, n) - n} for n in (0, 1, 5)]
    m = dsreg.write_dataset("st2", {"train": rows}, STEREO, root=root)
    assert m.features["audio"].to_json() == {"type": "audio", "dtype": "int16", "sample_rate": 8000, "channels": 2}
    ds = dsreg.open(m.directory, "train")
    assert ds.lengths("audio").tolist() == [0, 1, 5]  # frames, not samples
    for row, got in zip(rows, ds.take(np.arange(3))["audio"], strict=True):
        assert got.shape == row["audio"].shape and got.dtype == np.int16
        np.testing.assert_array_equal(got, row["audio"])


@pytest.mark.parametrize(
    ("features", "good", "bad", "message"),
    [
        (
            Features({"t": Text()}),
            {"t": "x"},
            {"t": None},
            r"split 'train', column 't', row 33: expected a str, got None",
        ),
        (
            Features({"im": Image(shape=(2, 2, 3))}),
            {"im": np.zeros((2, 2, 3), np.uint8)},
            {"im": np.full((2, 2, 3), 300)},
            r"column 'im', row 33: 300 at index \[0, 0, 0\] does not fit uint8",
        ),
        (
            Features({"im": Image(shape=(2, 2, 3))}),
            {"im": np.zeros((2, 2, 3), np.uint8)},
            {"im": np.zeros((2, 3, 3), np.uint8)},
            r"column 'im', row 33: values do not have shape \[2, 2, 3\]",
        ),
        (
            Features({"y": ClassLabel(names=("a", "b"))}),
            {"y": 1},
            {"y": 2},
            r"column 'y', row 33: label 2 is not a class index",
        ),
        (Features({"y": ClassLabel(names=("a", "b"))}), {"y": 1}, {"y": None}, r"column 'y', row 33"),
    ],
    ids=["none-text", "uint8-range", "shape", "class-range", "none-label"],
)
def test_a_bad_value_names_split_row_and_column_and_publishes_nothing(
    root: Path, features: Features, good: dict, bad: dict, message: str
) -> None:
    with pytest.raises(DsregError, match=message):
        dsreg.write_dataset("v", {"train": good_then(bad, good, at=33)}, features, root=root, shard_size=64)
    assert_nothing_left(root, "v")


@pytest.mark.parametrize("version", ["1", "1.0", "v1.0.0", "1.0.0.0", ""])
def test_a_bad_version_is_refused_before_anything_is_written(root: Path, version: str) -> None:
    consumed = []

    def examples() -> Iterator[dict[str, Any]]:
        consumed.append(True)
        yield {"t": "x"}

    with pytest.raises(DsregError, match=r"is not MAJOR\.MINOR\.PATCH") as err:
        dsreg.write_dataset("v", {"train": examples()}, Features({"t": Text()}), root=root, version=version)
    assert "1.0.0" in str(err.value)
    assert consumed == [] and not (root / "v").exists()
    assert dsreg.write_dataset("v", {"train": examples()}, Features({"t": Text()}), root=root, version="1.0.0-rc1")


@pytest.mark.parametrize("version", ["1.0.0-a.incomplete-zz", "1.0.0-b.lock", "1.0.0-c.removing-1", "1.0.0-d.locked"])
def test_a_version_named_like_a_work_lock_or_removal_folder_is_refused(root: Path, version: str) -> None:
    # 1.0.0-a.incomplete-zz was published but never listed, and publishing 1.0.0-a deleted it as abandoned work;
    # with 1.0.0-b.lock published, preparing 1.0.0-b waited forever on a "lock" that was a version
    with pytest.raises(DsregError, match="is named like dsreg's own") as err:
        dsreg.write_dataset("v", {"train": [{"t": "x"}]}, Features({"t": Text()}), root=root, version=version)
    assert repr(version) in str(err.value)
    assert not (root / "v").exists()


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ("all", "'all' is the split expression for every split"),
        ("..", "a split expression cannot select"),  # shards went into the config folder, the version was BROKEN
        ("../../x", "a split expression cannot select"),
        ("x/y", "a split expression cannot select"),
        ("train+x", "a split expression cannot select"),
        ("dev clean", "a split expression cannot select"),
        ("_parts", "a split expression cannot select"),  # the writer's own scratch folder
        ("manifest.json", "the name of the version folder's own manifest"),
    ],
)
def test_a_split_name_no_split_expression_selects_is_refused_before_writing(
    root: Path, split: str, message: str
) -> None:
    features = Features({"x": dsreg.Scalar(dtype="int64")})
    with pytest.raises(DsregError, match=message) as err:
        dsreg.write_dataset("names", {"train": [{"x": 1}], split: [{"x": 2}]}, features, root=root)
    assert repr(split) in str(err.value) and err.value.fix
    assert not (root / "names").exists()
