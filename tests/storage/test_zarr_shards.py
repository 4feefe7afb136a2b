"""zarr shards: what the process-wide chunk cache and remote reading must never hide (stale or missing chunks)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import dsreg
from dsreg import DsregError, Features
from dsreg.lifecycle import remove

FEATURES = Features({"label": dsreg.Scalar(dtype="int64"), "text": dsreg.Text()})


def _write(root: Path, scale: int) -> dsreg.manifest.Manifest:
    rows = ({"label": scale * (i + 1), "text": "x" * (i % 5)} for i in range(300))
    return dsreg.write_dataset("z", {"train": rows}, FEATURES, root=root, storage="zarr")


def test_a_version_removed_and_prepared_again_reads_its_new_chunks_in_the_same_process(root: Path) -> None:
    # the chunk cache is per process and was keyed by the shard's path: the new shard read the old one's labels
    first = _write(root, 1)
    assert dsreg.open(first.directory, "train").take([0, 299])["label"].tolist() == [1, 300]
    remove("z/default:1.0.0", root)
    second = _write(root, 10)
    assert second.directory == first.directory
    assert dsreg.open(second.directory, "train").take([0, 299])["label"].tolist() == [10, 3000]


@pytest.fixture
def memory_url() -> Iterator[str]:
    import fsspec

    fs = fsspec.filesystem("memory")
    where = f"/dsreg-{uuid.uuid4().hex[:8]}"
    yield f"memory://{where}"
    fs.rm(where, recursive=True)


def test_a_chunk_file_missing_from_a_remote_copy_is_refused_not_read_as_zeros(root: Path, memory_url: str) -> None:
    # zarr reads a missing chunk as the fill value (0), and the size check was skipped at a URL: a copy whose
    # upload stopped early gave every label 0
    import fsspec

    manifest = _write(root, 1)
    fs, where = fsspec.core.url_to_fs(memory_url)
    fs.put(str(manifest.directory), where, recursive=True)
    assert dsreg.open(memory_url, "train").take([5])["label"].tolist() == [6]
    chunk = next(f for f in fs.find(where) if "/label/c/" in f)
    fs.rm(chunk)
    with pytest.raises(DsregError, match=r"shard is \d+ bytes, the manifest says \d+") as err:
        dsreg.open(memory_url, "train").take([5])
    assert f"{memory_url}/train/00000-of-00001.zarr" in str(err.value)


@pytest.mark.parametrize("host", ["", "localhost"])
def test_a_zarr_shard_opened_by_a_file_url_with_an_escaped_space_reads_its_rows(tmp_path: Path, host: str) -> None:
    # open_store stripped "file://" and kept "%20" (and "localhost"): zarr looked for another directory than the
    # one the loader decoded, and the shard could not be opened
    from dsreg.storage.zarr_shards import ZarrShardReader

    manifest = _write(tmp_path / "a root", 1)
    shard = next((manifest.directory / "train").glob("*.zarr"))
    url = f"file://{host}{shard.as_posix().replace(' ', '%20')}"
    assert "%20" in url
    reader = ZarrShardReader(url)
    assert reader.location == str(shard)
    assert reader.stored_bytes() == sum(f.stat().st_size for f in shard.rglob("*") if f.is_file())
    assert reader.take("label", 0, [0, 299]).tolist() == [1, 300]
