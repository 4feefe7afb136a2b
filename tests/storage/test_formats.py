"""The three storage formats side by side: the same rows read back identically, deterministic bytes,
self-describing shards, damaged shards caught."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import dsreg
from dsreg import DsregError, Features
from dsreg.manifest import Manifest, verify_manifest
from dsreg.storage import FORMATS, base, get_format, sha256_shard, shard_bytes
from dsreg.storage.base import sha256_file, shard_files
from dsreg.storage.chunked import ArrayLeaf

FEATURES = Features(
    {
        "image": dsreg.Image(shape=(4, 5, 3)),
        "label": dsreg.ClassLabel(names=("cat", "dog", "eel")),
        "score": dsreg.Scalar(dtype="float16"),
        "flag": dsreg.Scalar(dtype="bool"),
        "text": dsreg.Text(),
        "tokens": dsreg.Sequence(dtype="int32"),
        "audio": dsreg.Audio(sample_rate=8000),
        "stereo": dsreg.Audio(dtype="int16", sample_rate=8000, channels=2),
        "fbank": dsreg.Sequence(dsreg.Tensor(shape=(4,), dtype="float32")),
        "jpeg": dsreg.EncodedImage(),
        "embedding": dsreg.Tensor(shape=(2, 3), dtype="float64"),
    }
)
ROWS = 700


def _examples(n: int = ROWS):
    rng = np.random.default_rng(7)
    for i in range(n):
        yield {
            "image": rng.integers(0, 256, (4, 5, 3), dtype=np.uint8),
            "label": i % 3,
            "score": i / 8,
            "flag": i % 5 == 0,
            "text": "ünïcode " * (i % 4),
            "tokens": np.arange(i % 13, dtype=np.int32) * i,
            "audio": rng.standard_normal(i % 29).astype(np.float32),
            "stereo": rng.integers(-32768, 32768, (2, i % 23), dtype=np.int16),
            "fbank": rng.standard_normal((i % 11, 4)).astype(np.float32),
            "jpeg": bytes(rng.integers(0, 256, i % 37, dtype=np.uint8)),
            "embedding": rng.standard_normal((2, 3)),
        }


def _write_all(root: Path, formats: tuple[str, ...] = tuple(FORMATS)) -> dict[str, Manifest]:
    """The same rows in every format, several shards each (cut every 100 rows rather than 1,024)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "ROWS_PER_ENCODE", 100)
        return {
            fmt: dsreg.write_dataset(
                f"kinds-{fmt}", {"train": _examples()}, FEATURES, root=root, shard_size=20_000, storage=fmt
            )
            for fmt in formats
        }


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Manifest]:
    """Written once for the tests that only read."""
    return _write_all(tmp_path_factory.mktemp("formats"))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == object:
        return all(
            type(x) is type(y) and np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b, strict=True)
        )
    return np.array_equal(a, b)


def test_every_format_gives_identical_numpy_batches(shared) -> None:
    for fmt, manifest in shared.items():
        assert manifest.splits["train"].format == fmt
        assert len(manifest.splits["train"].shards) > 2  # several shards: gathers cross them
        suffix = get_format(fmt).suffix
        assert all(s.path.endswith(suffix) for s in manifest.splits["train"].shards)
        assert verify_manifest(manifest, deep=True) == []
    datasets = {fmt: dsreg.open(m.directory, "train") for fmt, m in shared.items()}
    rng = np.random.default_rng(0)
    for idx in (rng.integers(-ROWS, ROWS, 300), np.asarray([5]), np.arange(ROWS), np.asarray([], dtype=np.int64)):
        batches = {fmt: ds.take(idx) for fmt, ds in datasets.items()}
        for fmt in ("zarr", "hdf5"):
            for name in FEATURES.names():
                assert _same(batches["arrow"][name], batches[fmt][name]), (fmt, name)
    for fmt in ("zarr", "hdf5"):
        for name in ("text", "tokens", "jpeg", "audio"):
            assert np.array_equal(datasets["arrow"].lengths(name), datasets[fmt].lengths(name))
        assert np.array_equal(datasets["arrow"].read_column("label"), datasets[fmt].read_column("label"))
        tables = [pa.concat_tables(datasets[f].arrow_tables()) for f in ("arrow", fmt)]
        assert tables[0].equals(tables[1])
        split = dsreg.open(shared[fmt].directory, "train[10:20]+train[-5:]")
        assert _same(
            split.take(np.arange(15))["tokens"],
            datasets["arrow"].take(list(range(10, 20)) + list(range(-5, 0)))["tokens"],
        )


@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_writing_twice_gives_identical_bytes(tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "ROWS_PER_ENCODE", 100)
    digests = []
    for attempt in range(2):
        time.sleep(1.05 * attempt)  # anything stamped with the time would now differ
        writer = get_format(fmt).writer(tmp_path / str(attempt), "part", FEATURES, 30_000)
        for example in _examples(300):
            writer.write(example)
        digests.append([(s.rows, s.bytes, s.sha256) for s in writer.close()])
    assert digests[0] == digests[1] and len(digests[0]) > 1


@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_a_shard_describes_itself(tmp_path: Path, fmt: str) -> None:
    writer = get_format(fmt).writer(tmp_path, "part", FEATURES, 1 << 30)
    for example in _examples(50):
        writer.write(example)
    (shard,) = writer.close()
    reader = get_format(fmt).reader(shard.path)  # features from the shard's own metadata
    assert reader.features == FEATURES and reader.num_rows == 50
    assert reader.take("text", 0, np.asarray([3]))[0] == "ünïcode " * 3


def test_hdf5_reads_as_plain_h5py(shared) -> None:
    h5py = pytest.importorskip("h5py")
    manifest = shared["hdf5"]
    path = manifest.shard_path(manifest.splits["train"].shards[0])
    ds = dsreg.open(manifest.directory, "train")
    with h5py.File(path, "r") as f:
        assert f["image"].shape[1:] == (4, 5, 3) and f["image"].chunks is not None
        assert np.array_equal(f["image"][3], ds[3]["image"])
        offsets = f["text/offsets"]
        assert bytes(f["text/data"][offsets[2] : offsets[3]]).decode() == ds[2]["text"]


def test_hdf5_foreign_layouts_are_read_through_h5py(shared, monkeypatch) -> None:
    import dsreg.storage.hdf5_shards as hdf5_shards

    monkeypatch.setattr(hdf5_shards, "_contiguous_offset", lambda ds: None)
    ds = dsreg.open(shared["hdf5"].directory, "train")
    reference = dsreg.open(shared["arrow"].directory, "train")
    idx = np.asarray([0, 650, 3])
    assert _same(ds.take(idx)["image"], reference.take(idx)["image"])
    assert _same(ds.take(idx)["tokens"], reference.take(idx)["tokens"])


def test_a_zarr_shard_is_a_directory_hashed_over_its_listing(shared) -> None:
    manifest = shared["zarr"]
    shard = manifest.splits["train"].shards[0]
    path = manifest.shard_path(shard)
    files = shard_files(path)
    assert path.is_dir() and ("zarr.json", path / "zarr.json") in files
    listing = "".join(f"{rel}\0{sha256_file(full)}\n" for rel, full in files).encode()
    import hashlib

    assert sha256_shard(path) == hashlib.sha256(listing).hexdigest() == shard.sha256
    assert shard_bytes(path) == sum(full.stat().st_size for _, full in files) == shard.bytes


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_flipped_byte_is_found_by_deep_verify(root: Path, fmt: str) -> None:
    manifest = _write_all(root, (fmt,))[fmt]
    shard = manifest.splits["train"].shards[1]
    path = manifest.shard_path(shard)
    target = max((full for _, full in shard_files(path)), key=lambda p: p.stat().st_size) if path.is_dir() else path
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    assert verify_manifest(manifest) == []  # same size: only re-hashing sees it
    (problem,) = verify_manifest(manifest, deep=True)
    assert problem.path == str(path) and "sha256" in problem.problem


def test_a_missing_file_inside_a_zarr_shard_is_a_size_problem(root: Path) -> None:
    manifest = _write_all(root, ("zarr",))["zarr"]
    path = manifest.shard_path(manifest.splits["train"].shards[0])
    victim = next(full for rel, full in shard_files(path) if rel.startswith("tokens/values/c"))
    path.joinpath("tokens", "values").chmod(0o755)
    victim.unlink()
    (problem,) = verify_manifest(manifest)
    assert problem.path == str(path) and "size" in problem.problem


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_shard_whose_ragged_values_are_all_empty_round_trips(root: Path, fmt: str) -> None:
    # an HDF5 shard in which a text or sequence column (or a sequence's inner lists) held no value at all was
    # not written: h5py refused a chunk of one row for a dataset of none (a bare ValueError)
    features = Features(
        {"text": dsreg.Text(), "tokens": dsreg.Sequence(dtype="float32"), "nested": dsreg.Sequence(dsreg.Sequence())}
    )
    rows = [{"text": "", "tokens": [], "nested": [[]] * (i % 3)} for i in range(5)]
    m = dsreg.write_dataset("hollow", {"train": rows}, features, root=root, storage=fmt)
    got = dsreg.open(m.directory, "train").take([4, 0, 2])
    assert got["text"].tolist() == ["", "", ""]
    assert [t.tolist() for t in got["tokens"]] == [[], [], []] and got["tokens"][0].dtype == np.float32
    assert [[s.tolist() for s in row] for row in got["nested"]] == [[[]], [], [[], []]]
    assert verify_manifest(m, deep=True) == []


def test_unknown_formats_are_refused(root: Path) -> None:
    with pytest.raises(DsregError, match="unknown storage format 'parquet'"):
        dsreg.write_dataset("x", {"train": _examples(3)}, FEATURES, root=root, storage="parquet")


@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_inconsistent_stored_arrays_are_a_named_error(tmp_path: Path, fmt: str) -> None:
    writer = get_format(fmt).writer(tmp_path, "part", FEATURES, 1 << 30)
    for example in _examples(40):
        writer.write(example)
    (shard,) = writer.close()
    reader = get_format(fmt).reader(shard.path)
    reader._leaves["tokens/values"] = ArrayLeaf(np.zeros(3, dtype=np.int32))  # the values lost their rows
    with pytest.raises(DsregError, match="'tokens' cannot be read") as err:
        reader.take("tokens", 0, np.asarray([38, 25]))
    assert str(shard.path) in str(err.value)


def test_the_cli_names_exactly_the_registered_formats() -> None:
    from dsreg import cli
    from dsreg.storage.export import EXPORT_FORMATS

    assert set(cli.STORAGE_FORMATS) == set(FORMATS) and cli.EXPORT_FORMATS == EXPORT_FORMATS


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_deferred_syncing_gives_the_same_shards_named_only_once_synced(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `defer_sync` a shard stays under its temporary name, unsynced, until `close` syncs and renames it."""
    monkeypatch.setattr(base, "ROWS_PER_ENCODE", 100)
    synced: list[str] = []
    real_fsync = base.os.fsync

    def fsync(fd: int) -> None:
        synced.append(base.os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    now = get_format(fmt).writer(tmp_path / "now", "part", FEATURES, 30_000)
    later = get_format(fmt).writer(tmp_path / "later", "part", FEATURES, 30_000, defer_sync=True)
    for example in _examples(300):
        now.write(example)
    for example in _examples(300):
        later.write(example)
    later.flush()
    monkeypatch.setattr(base.os, "fsync", fsync)
    assert sorted(p.name for p in (tmp_path / "later").iterdir()) == [
        f"part-{i:05d}{get_format(fmt).suffix}.tmp" for i in range(len(now.close()))
    ]
    assert not synced and not later.shards
    shards = later.close()
    assert [(s.path.name, s.rows, s.bytes, s.sha256) for s in shards] == [
        (s.path.name, s.rows, s.bytes, s.sha256) for s in now.shards
    ]
    assert all(any(path.startswith(str(s.path) + ".tmp") for path in synced) for s in shards)
    assert sorted(p.name for p in (tmp_path / "later").iterdir()) == sorted(s.path.name for s in shards)


def test_a_deferred_sync_that_finds_the_disk_full_names_the_shard_and_frees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = get_format("arrow").writer(tmp_path, "part", FEATURES, 1 << 30, defer_sync=True)
    for example in _examples(50):
        writer.write(example)
    writer.flush()

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(base.os, "fsync", full)
    with pytest.raises(DsregError, match="cannot write shard: No space left on device") as err:
        writer.close()
    assert err.value.path and err.value.path.endswith("part-00000.arrow.tmp")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "filters",
    [{"shuffle": True}, {"shuffle": True, "fletcher32": True}, {}],
    ids=["shuffle", "shuffle-fletcher32", "none"],
)
def test_an_hdf5_dataset_behind_a_filter_is_read_through_h5py_not_viewed_raw(tmp_path: Path, filters: dict) -> None:
    # the byte shuffle keeps every chunk's size, so a shard another tool wrote with it (h5py's shuffle=True) was
    # viewed in place as if unfiltered: its labels read as garbage
    h5py = pytest.importorskip("h5py")
    from dsreg.storage.base import features_json
    from dsreg.storage.hdf5_shards import Hdf5ShardReader

    features = Features({"label": dsreg.ClassLabel(names=("a", "b", "c")), "score": dsreg.Scalar(dtype="float32")})
    labels, scores = np.arange(300, dtype=np.int64) % 3, np.linspace(0, 1, 300, dtype=np.float32)
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f.attrs["dsreg.features"] = features_json(features)
        f.attrs["dsreg.rows"] = 300
        f.create_dataset("label", data=labels, chunks=(64,), **filters)
        f.create_dataset("score", data=scores, chunks=(64,), **filters)
    reader = Hdf5ShardReader(path)
    assert reader.problems(features, 300) == []
    assert reader.column("label", 0).tolist() == labels.tolist()
    assert reader.take("score", 0, np.asarray([299, 0, 150])).tolist() == scores[[299, 0, 150]].tolist()


@pytest.mark.parametrize("storage", ["external", "virtual"])
def test_an_hdf5_dataset_stored_outside_its_shard_is_refused(tmp_path: Path, storage: str) -> None:
    # HDF5 lets a dataset keep its values in another file (external storage, a virtual dataset): the shard's
    # size and sha256 never covered those bytes, so verify --deep said OK while they changed under it
    h5py = pytest.importorskip("h5py")
    from dsreg.storage.base import features_json
    from dsreg.storage.hdf5_shards import Hdf5ShardReader

    features = Features({"score": dsreg.Scalar(dtype="int64")})
    (tmp_path / "outside.bin").write_bytes(np.arange(10, dtype=np.int64).tobytes())
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f.attrs["dsreg.features"] = features_json(features)
        f.attrs["dsreg.rows"] = 10
        if storage == "external":
            f.create_dataset("score", shape=(10,), dtype=np.int64, external=[(str(tmp_path / "outside.bin"), 0, 80)])
        else:
            with h5py.File(tmp_path / "other.h5", "w") as other:
                other.create_dataset("values", data=np.arange(10, dtype=np.int64))
            layout = h5py.VirtualLayout(shape=(10,), dtype=np.int64)
            layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "values", shape=(10,))
            f.create_virtual_dataset("score", layout)
    problems = Hdf5ShardReader(path).problems(features, 10)
    assert problems == ["dataset 'score' keeps its values outside the shard file, where its sha256 does not cover them"]
