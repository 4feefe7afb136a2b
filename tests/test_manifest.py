from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg import DsregError, Features, Scalar
from dsreg.manifest import DamagedManifest, read_manifest, verify_manifest
from dsreg.publish import make_writable


def _dataset(root: Path) -> dsreg.manifest.Manifest:
    feats = Features({"x": Scalar(dtype="int64")})
    return dsreg.write_dataset("nums", {"train": ({"x": i} for i in range(5000))}, feats, root=root, shard_size="8KB")


def _rewrite(directory: Path, edit) -> None:
    make_writable(directory)
    path = directory / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_verify_finds_flipped_truncated_and_missing_shards_and_names_each(root: Path) -> None:
    m = _dataset(root)
    shards = [m.shard_path(s) for s in m.splits["train"].shards]
    assert len(shards) >= 3
    assert verify_manifest(m, deep=True) == []
    make_writable(m.directory)
    data = bytearray(shards[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    shards[0].write_bytes(bytes(data))
    with open(shards[1], "r+b") as f:
        f.truncate(100)
    shards[2].unlink()
    shallow = {p.path: p.problem for p in verify_manifest(m)}
    assert set(shallow) == {str(shards[1]), str(shards[2])}  # a flipped byte keeps the size
    deep = {p.path: p.problem for p in verify_manifest(m, deep=True)}
    assert "sha256" in deep[str(shards[0])]
    assert "truncated" in deep[str(shards[1])]
    assert deep[str(shards[2])] == "missing"


@pytest.mark.parametrize("bad_path", ["../../etc/passwd", "/etc/passwd", "train/../../x.arrow"])
def test_a_shard_path_leaving_the_directory_is_refused(root: Path, bad_path: str) -> None:
    m = _dataset(root)
    _rewrite(m.directory, lambda d: d["splits"]["train"]["shards"][0].update(path=bad_path))
    with pytest.raises(DsregError, match="leaves the dataset directory") as err:
        read_manifest(m.directory)
    assert str(m.directory / "manifest.json") in str(err.value)


def test_schema_violations_and_future_formats_are_clear_errors(root: Path) -> None:
    m = _dataset(root)
    _rewrite(m.directory, lambda d: d["splits"]["train"]["shards"][0].update(sha256="xyz"))
    with pytest.raises(DsregError, match="manifest is invalid at splits/train/shards/0/sha256"):
        read_manifest(m.directory)
    _rewrite(
        m.directory, lambda d: d.update(format_version=99) or d["splits"]["train"]["shards"][0].update(sha256="0" * 64)
    )
    with pytest.raises(DsregError, match="upgrade dsreg"):
        read_manifest(m.directory)
    (m.directory / "manifest.json").write_text("{not json")
    with pytest.raises(DsregError, match="not valid JSON"):
        read_manifest(m.directory)


def test_a_manifest_of_a_newer_format_with_new_fields_asks_for_an_upgrade(root: Path) -> None:
    from dsreg.manifest import DIGEST_KEY, manifest_digest

    m = _dataset(root)

    def edit(data: dict) -> None:
        data.update(format_version=2, new_field={"added": "by a later dsreg"})
        data.pop(DIGEST_KEY)
        data[DIGEST_KEY] = manifest_digest(data)

    _rewrite(m.directory, edit)
    with pytest.raises(DsregError, match="newer than this dsreg understands") as err:
        read_manifest(m.directory)
    assert not isinstance(err.value, DamagedManifest) and "upgrade dsreg" in str(err.value)
    with pytest.raises(DsregError, match="newer than this dsreg understands"):
        dsreg.verify(m.directory)  # an error (exit 3), not a damaged manifest reported as a problem (exit 1)


def test_written_manifest_validates_against_the_shipped_schema(root: Path) -> None:
    import jsonschema

    from dsreg.manifest import manifest_schema

    m = _dataset(root)
    jsonschema.validate(json.loads((m.directory / "manifest.json").read_text()), manifest_schema())
    assert np.isclose(m.splits["train"].bytes, sum(os.path.getsize(m.shard_path(s)) for s in m.splits["train"].shards))


def test_a_splits_direction_is_recorded_read_back_and_checked(root: Path) -> None:
    """A one-direction split keeps its direction through the manifest; one naming no column is damage."""
    from dsreg.features import Text
    from dsreg.manifest import DIGEST_KEY, manifest_digest

    features = Features({"de": Text(), "en": Text()})
    m = dsreg.write_dataset("par", {"test": [{"de": "a", "en": "b"}]}, features, root=root)
    assert m.splits["test"].direction is None and "direction" not in m.splits["test"].to_json()

    def direction(value: list[str]):
        def edit(data: dict) -> None:
            data["splits"]["test"]["direction"] = value
            data[DIGEST_KEY] = manifest_digest(data)

        return edit

    _rewrite(m.directory, direction(["en", "de"]))
    read = read_manifest(m.directory)
    assert read.splits["test"].direction == ("en", "de")
    assert read.splits["test"].to_json()["direction"] == ["en", "de"]
    _rewrite(m.directory, direction(["en", "xx"]))
    with pytest.raises(DsregError, match="split 'test': direction names 'xx', not a feature"):
        read_manifest(m.directory)
    _rewrite(m.directory, direction(["en"]))
    with pytest.raises(DsregError, match="manifest is invalid at splits/test/direction"):
        read_manifest(m.directory)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: "[" * 100_000 + "]" * 100_000, "not valid JSON"),  # was a bare RecursionError
        (lambda text: text.replace('"host": ', '"at": NaN, "host": '), "not valid JSON"),  # a bare ValueError
        (lambda text: text.replace('"description": ""', '"description": "\xe9"').encode("latin-1"), "not UTF-8"),
        (lambda text: text.replace('"rows": 5000', '"rows": 5001', 1), "invalid|digest|add up"),
    ],
    ids=["deep", "nan", "latin-1", "edited"],
)
def test_a_damaged_manifest_at_a_url_is_refused_as_damaged_naming_the_url(root: Path, edit, message: str) -> None:
    import uuid

    import fsspec

    manifest = _dataset(root)
    where = f"/dsreg-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("memory")
    raw = edit((manifest.directory / "manifest.json").read_text())
    fs.pipe(f"{where}/manifest.json", raw.encode() if isinstance(raw, str) else raw)
    try:
        with pytest.raises(DamagedManifest, match=message) as err:
            read_manifest(f"memory://{where}")
        assert err.value.path == f"memory://{where}/manifest.json"  # not Path's memory:/...
    finally:
        fs.rm(where, recursive=True)
