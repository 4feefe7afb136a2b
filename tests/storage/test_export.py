"""`dsreg export`: a prepared split as one Parquet file, HDF5 file or zarr group that other tools read."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import dsreg
from dsreg import DsregError
from dsreg.storage import base, get_format
from dsreg.storage.export import EXPORT_FORMATS
from dsreg.storage.hdf5_shards import Hdf5ShardReader
from dsreg.storage.zarr_shards import ZarrShardReader

FEATURES = dsreg.Features(
    {
        "image": dsreg.Image(shape=(2, 2, 3)),
        "label": dsreg.ClassLabel(names=("a", "b")),
        "text": dsreg.Text(),
        "tokens": dsreg.Sequence(dtype="int64"),
    }
)


@pytest.fixture(scope="module", params=["arrow", "zarr"])
def prepared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dsreg.manifest.Manifest:
    rows = (
        {"image": np.full((2, 2, 3), i % 256, np.uint8), "label": i % 2, "text": "t" * (i % 5), "tokens": [i] * (i % 4)}
        for i in range(450)
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "ROWS_PER_ENCODE", 100)  # several shards, so the export appends several pieces
        return dsreg.write_dataset(
            "exp",
            {"train": rows},
            FEATURES,
            root=tmp_path_factory.mktemp("root"),
            shard_size=2_000,
            storage=request.param,
        )


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_an_export_holds_exactly_the_split(prepared, tmp_path: Path, fmt: str) -> None:
    assert len(prepared.splits["train"].shards) > 2
    out = tmp_path / f"train.{fmt}"
    result = dsreg.export(prepared.directory, "train[10:]", fmt, out)
    assert result["rows"] == 440 and out.exists()
    ds = dsreg.open(prepared.directory, "train[10:]")
    want = ds.take(np.arange(440))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(out)
        assert table.equals(pa.concat_tables(ds.arrow_tables()).replace_schema_metadata(table.schema.metadata))
        assert json.loads(table.schema.metadata[b"dsreg.features"]) == FEATURES.to_json()
        return
    reader = (Hdf5ShardReader if fmt == "hdf5" else ZarrShardReader)(out)
    assert reader.features == FEATURES and reader.num_rows == 440
    idx = np.asarray([0, 439, 100, 250, 250])
    for name in FEATURES.names():
        got = reader.take(name, 0, idx)
        assert [np.asarray(v).tolist() for v in got] == [np.asarray(v).tolist() for v in want[name][idx]], name


def test_an_empty_split_exports_empty_arrays(prepared, tmp_path: Path) -> None:
    out = tmp_path / "empty.h5"
    assert dsreg.export(prepared.directory, "train[:0]", "hdf5", out)["rows"] == 0
    assert Hdf5ShardReader(out).take("tokens", 0, np.zeros(0, dtype=np.int64)).shape == (0,)


def test_an_existing_target_is_never_overwritten(prepared, tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    out.write_text("keep me")
    with pytest.raises(DsregError, match="already exists"):
        dsreg.export(prepared.directory, "train", "parquet", out)
    assert out.read_text() == "keep me"
    with pytest.raises(DsregError, match="unknown export format"):
        dsreg.export(prepared.directory, "train", "csv", tmp_path / "y")


def test_a_failed_export_leaves_nothing(prepared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dsreg.storage.export as export

    def broken(self, key, start, values) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export._ZarrSink, "_extend", broken)
    with pytest.raises(DsregError, match=r"exporting train to .*z\.zarr failed: No space left on device") as err:
        dsreg.export(prepared.directory, "train", "zarr", tmp_path / "z.zarr")
    assert "Fix: free space" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_cli_export(prepared, tmp_path: Path) -> None:
    out = tmp_path / "cli.h5"
    args = [sys.executable, "-m", "dsreg.cli", "export", str(prepared.directory), "train", "--format", "hdf5"]
    done = subprocess.run([*args, "--out", str(out), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 450 and get_format("hdf5").reader(out).num_rows == 450
    bad = subprocess.run([*args[:-2], "--format", "csv", "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2


LEAVES = ("image", "label", "text/offsets", "text/data", "tokens/offsets", "tokens/values")


@pytest.mark.parametrize("fmt", ["hdf5", "zarr"])
def test_export_chunks_hold_about_a_mebibyte_of_rows(prepared, tmp_path: Path, fmt: str) -> None:
    # the chunks were sized from the first (empty) table: a 12-byte image row got chunks of 2^20 rows (12 MiB),
    # so 10 rows of 16x16x3 images made a 779 MB file, and larger images chunks past HDF5's 4 GiB limit
    out = tmp_path / f"small.{fmt}"
    dsreg.export(prepared.directory, "train[:10]", fmt, out)
    if fmt == "hdf5":
        import h5py

        with h5py.File(out) as f:
            chunks = {key: (f[key].chunks, f[key].dtype.itemsize) for key in LEAVES}
    else:
        import zarr

        group = zarr.open_group(str(out), mode="r")
        chunks = {key: (group[key].chunks, group[key].dtype.itemsize) for key in LEAVES}
    for key, (chunk, itemsize) in chunks.items():
        assert int(np.prod(chunk)) * itemsize <= (1 << 20), (key, chunk)
    assert chunks["image"][0] == ((1 << 20) // 12, 2, 2, 3)  # a mebibyte of 2x2x3-byte rows
    assert base.shard_bytes(out) < (len(LEAVES) + 1) << 20  # at most about a chunk per array


def test_two_exports_to_one_path_never_publish_a_partial_file(prepared, tmp_path: Path) -> None:
    # both wrote `.<name>.exporting`: the second removed the first's work in progress and started its own there,
    # and the first, finishing, renamed the second's half-written file into place
    import threading

    from dsreg.storage.export import export_tables

    ds = dsreg.open(prepared.directory, "train")
    tables = ds.arrow_tables()
    assert len(tables) > 2
    out = tmp_path / "race.parquet"
    first_started, second_started, first_done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> Iterator[pa.Table]:
        yield tables[0]
        first_started.set()
        assert second_started.wait(60)
        yield from tables[1:]

    def second() -> Iterator[pa.Table]:
        yield tables[0]
        second_started.set()
        assert first_done.wait(60)
        yield from tables[1:]

    def run(name: str, source) -> None:
        try:
            outcome[name] = export_tables(source(), ds.features, "parquet", out)
        except (DsregError, OSError) as err:
            outcome[name] = err
        finally:
            if name == "first":
                first_done.set()

    one = threading.Thread(target=run, args=("first", first))
    one.start()
    assert first_started.wait(60)
    two = threading.Thread(target=run, args=("second", second))
    two.start()
    one.join(60)
    two.join(60)
    import pyarrow.parquet as pq

    assert outcome["first"] == 450, outcome
    assert isinstance(outcome["second"], DsregError) and "already exists" in str(outcome["second"]), outcome
    assert pq.read_table(out).num_rows == 450  # complete: the first export, not the second's half
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.parquet"]
