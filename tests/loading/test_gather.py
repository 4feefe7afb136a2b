"""Batch gathers over many shards: one grouping pass, preallocated outputs, identical rows in every format."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from loading_fakes import CIFAR, cifar_image, cifar_label, cifar_rows

import dsreg
import dsreg.loading.dataset as dataset_module
import dsreg.storage.arrow_shards as arrow_shards
import dsreg.storage.base as storage_base
from dsreg.loading import open_dataset
from dsreg.manifest import Manifest
from dsreg.storage import FORMATS


@pytest.fixture(scope="module", params=sorted(FORMATS))
def many(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """2400 rows in 12 splits of one 200-row shard each (Arrow ones of several record batches); ids are row
    numbers in `ALL`, the expression reading them all in order."""
    root = tmp_path_factory.mktemp(f"gather-{request.param}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(arrow_shards, "MAX_BATCH_BYTES", 100_000)
        splits = {f"s{k:02d}": cifar_rows(200, 200 * k) for k in range(12)}
        return dsreg.write_dataset("many", splits, CIFAR, root=root, storage=request.param)


ALL = "+".join(f"s{k:02d}" for k in range(12))


def expected_ids(ds: dsreg.loading.Dataset, idx: np.ndarray) -> list[int]:
    every = np.concatenate([ds.take(np.arange(i, min(i + 500, len(ds))))["id"] for i in range(0, len(ds), 500)])
    return every[idx].tolist()


def check(batch: dict[str, np.ndarray], ids: list[int]) -> None:
    assert batch["id"].tolist() == ids
    np.testing.assert_array_equal(batch["image"], np.stack([cifar_image(i) for i in ids]))
    assert batch["label"].tolist() == [cifar_label(i) for i in ids]


def test_batches_across_many_shards_are_exact_fresh_and_independent(many: Manifest) -> None:
    ds = open_dataset(many.directory, ALL.replace("s00", "s00[150:]"))
    assert len(ds._shards) == 12
    rng = np.random.default_rng(7)
    first_idx = rng.integers(-len(ds), len(ds), 256)  # repeats and negative indices
    first = ds.take(first_idx)
    second_idx = rng.permutation(len(ds))[:256]
    second = ds.take(second_idx)
    check(first, expected_ids(ds, first_idx))  # the second gather did not write into the first batch
    check(second, expected_ids(ds, second_idx))
    for column in first.values():
        assert column.flags.owndata or column.base is None or column.base.flags.owndata
        assert column.flags.writeable and column.flags.c_contiguous
    assert not np.shares_memory(first["image"], second["image"])
    assert ds.take([])["image"].shape == (0, 32, 32, 3)


def test_small_and_large_column_paths_give_the_same_rows(many: Manifest, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = np.random.default_rng(3).permutation(2400)[:300]
    cached = open_dataset(many.directory, ALL).take(idx)
    monkeypatch.setattr(dataset_module, "SMALL_COLUMN_BYTES", 0)
    gathered = open_dataset(many.directory, ALL).take(idx)
    for name in cached:
        np.testing.assert_array_equal(cached[name], gathered[name])
    check(gathered, idx.tolist())


def test_concurrent_gathers_in_threads_do_not_mix_rows(many: Manifest) -> None:
    ds = open_dataset(many.directory, ALL)
    wrong: list[str] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(20):
                idx = rng.permutation(2400)[:128]
                batch = ds.take(idx)
                if batch["id"].tolist() != idx.tolist() or batch["image"][:, 0, 0, 0].tolist() != [
                    int(cifar_image(i)[0, 0, 0]) for i in idx
                ]:
                    wrong.append(f"thread {seed}")
        except Exception as err:  # a failure in a thread would otherwise only be printed
            wrong.append(f"thread {seed}: {err!r}")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_one_grouping_pass_and_one_piece_per_touched_record_batch(many: Manifest) -> None:
    ds = open_dataset(many.directory, ALL)
    idx = np.random.default_rng(5).permutation(2400)[:256]
    order, pieces = ds._pieces(idx)
    touched = set()
    for shard in range(len(ds._shards)):
        offsets = ds._reader(shard).batch_offsets + ds._shard_offsets[shard]
        local = idx[(idx >= offsets[0]) & (idx < offsets[-1])]
        touched |= {(shard, int(b)) for b in np.searchsorted(offsets, local, side="right") - 1}
    assert sorted((p[2], p[3]) for p in pieces) == sorted(touched)
    assert [p[0] for p in pieces] == sorted(p[0] for p in pieces) and pieces[-1][1] == 256  # contiguous runs
    assert order is not None and sorted(idx[order].tolist()) == idx[order].tolist()


def test_a_view_format_gathers_each_column_from_one_joined_source(
    many: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = open_dataset(many.directory, ALL)
    assert (ds._joined("image") is not None) == (many.splits["s00"].format == "arrow")  # zarr, hdf5: no views
    idx = np.random.default_rng(11).integers(-2400, 2400, 300)
    joined = ds.take(idx)
    monkeypatch.setattr(dataset_module.Dataset, "_joined", lambda self, name: None)
    grouped = open_dataset(many.directory, ALL).take(idx)
    for name in joined:
        np.testing.assert_array_equal(joined[name], grouped[name])
    check(joined, expected_ids(ds, idx))


@pytest.fixture(scope="module")
def one_and_many(tmp_path_factory: pytest.TempPathFactory) -> tuple[Manifest, Manifest]:
    """The same 1500 rows as one shard of one record batch, and as shards of ~1 MB cut into record batches
    of ~100 kB (8 shards, 48 record batches)."""
    root = tmp_path_factory.mktemp("one-many")
    one = dsreg.write_dataset("one", {"train": cifar_rows(1500, 0)}, CIFAR, root=root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(arrow_shards, "MAX_BATCH_BYTES", 100_000)
        patch.setattr(storage_base, "ROWS_PER_ENCODE", 200)  # a shard is cut after each encoded chunk past 1 MB
        many = dsreg.write_dataset("many", {"train": cifar_rows(1500, 0)}, CIFAR, root=root, shard_size="500KB")
    assert len(one.splits["train"].shards) == 1 and len(many.splits["train"].shards) == 8
    return one, many


def test_one_shard_and_many_shards_give_the_same_batches_epochs_and_resumes(
    one_and_many: tuple[Manifest, Manifest],
) -> None:
    one, many = (open_dataset(m.directory) for m in one_and_many)
    assert one._one_record_batch() and not many._one_record_batch()
    idx = np.random.default_rng(2).integers(-1500, 1500, 700)
    for name, values in one.take(idx).items():
        np.testing.assert_array_equal(values, many.take(idx)[name])
    opts = {"batch_size": 128, "shuffle": True, "seed": 5, "num_threads": 2}
    epochs = {}
    for key, ds in (("one", one), ("many", many)):
        loader = dsreg.loading.Loader(ds, **opts)
        epochs[key] = [list(loader), list(loader)]  # two epochs, kept: no batch may change after delivery
        resumed = dsreg.loading.Loader(ds, **opts)
        resumed.load_state_dict({**loader.state_dict(), "epoch": 1, "batches": 4})
        assert [b["id"].tolist() for b in resumed] == [b["id"].tolist() for b in epochs[key][1][4:]]
    for epoch_one, epoch_many in zip(epochs["one"], epochs["many"], strict=True):
        for a, b in zip(epoch_one, epoch_many, strict=True):
            check(b, a["id"].tolist())
            check(a, b["id"].tolist())
    assert sorted(i for b in epochs["many"][0] for i in b["id"].tolist()) == list(range(1500))


RAGGED = dsreg.Features(
    {
        "tokens": dsreg.Sequence(dtype="int32"),
        "text": dsreg.Text(),
        "blob": dsreg.EncodedImage(format="png"),
        "nested": dsreg.Sequence(dsreg.Sequence(dtype="int16")),
        "id": dsreg.Scalar(),
    }
)


def ragged_row(i: int) -> dict[str, Any]:
    return {
        "tokens": np.arange(i % 6, dtype=np.int32) + i,  # some empty
        "text": f"{i} é€" * (i % 3),
        "blob": bytes([i % 256]) * (i % 5),
        "nested": [np.arange(i % 3, dtype=np.int16)] * (i % 2),
        "id": i,
    }


@pytest.fixture(scope="module", params=sorted(FORMATS))
def ragged_many(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """900 ragged rows in shards of 100 rows (several record batches each for Arrow), in every format."""
    root = tmp_path_factory.mktemp(f"ragged-{request.param}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(arrow_shards, "MAX_BATCH_BYTES", 1000)
        patch.setattr(storage_base, "ROWS_PER_ENCODE", 100)
        rows = (ragged_row(i) for i in range(900))
        return dsreg.write_dataset("rag", {"train": rows}, RAGGED, root=root, shard_size="1KB", storage=request.param)


def test_ragged_columns_across_shards_are_the_stored_rows_by_either_path(
    ragged_many: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = open_dataset(ragged_many.directory)
    assert len(ds._shards) == 9
    arrow = ragged_many.splits["train"].format == "arrow"
    assert {c: ds._joined_ragged(c) is not None for c in ("tokens", "text", "blob", "nested")} == {
        "tokens": arrow,
        "text": arrow,
        "blob": arrow,
        "nested": False,  # no flat views of a sequence of sequences: gathered run by run
    }
    idx = np.random.default_rng(8).integers(-900, 900, 400)
    joined = ds.take(idx)
    monkeypatch.setattr(dataset_module.Dataset, "_joined_ragged", lambda self, name: None)
    grouped = open_dataset(ragged_many.directory).take(idx)
    for batch in (joined, grouped):
        ids = batch["id"].tolist()
        assert ids == [i % 900 for i in idx.tolist()]
        expected = [ragged_row(i) for i in ids]
        assert [t.tolist() for t in batch["tokens"]] == [e["tokens"].tolist() for e in expected]
        assert all(t.dtype == np.int32 for t in batch["tokens"])
        assert all(t.flags.writeable for t in batch["tokens"])  # fresh rows, never read-only views of the shard
        assert batch["text"].tolist() == [e["text"] for e in expected]
        assert batch["blob"].tolist() == [e["blob"] for e in expected]
        assert [[list(x) for x in n] for n in batch["nested"]] == [[list(x) for x in e["nested"]] for e in expected]
