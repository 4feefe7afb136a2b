from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pytest
from loading_fakes import cifar_image, cifar_label, token_length

from dsreg import DsregError
from dsreg.loading import Dataset, RowIndexError, open_dataset, pad_sequences
from dsreg.manifest import Manifest


def test_take_gathers_exact_rows_across_shards_and_record_batches(cifar: Manifest) -> None:
    ds = open_dataset(cifar.directory, "train")
    assert len(ds._shards) == 3 and len(ds._reader(0).batches) > 1  # the layout this test is about
    idx = np.random.default_rng(0).integers(0, len(ds), 300)
    batch = ds.take(idx)
    assert batch["id"].tolist() == idx.tolist()
    assert batch["image"].shape == (300, 32, 32, 3) and batch["image"].dtype == np.uint8
    assert batch["label"].dtype == np.int64 and batch["id"].dtype == np.int64
    np.testing.assert_array_equal(batch["image"], np.stack([cifar_image(i) for i in idx]))
    assert batch["label"].tolist() == [cifar_label(i) for i in idx]
    assert batch["image"].flags.writeable and batch["image"].flags.c_contiguous  # a fresh array, not a view


def test_take_within_one_record_batch_and_negative_indices(cifar: Manifest) -> None:
    ds = open_dataset(cifar.directory, "train[1024:]")  # starts on a shard boundary
    assert ds.take([3, 1, 2])["id"].tolist() == [1027, 1025, 1026]
    assert ds.take(np.array([-1, 0], np.int32))["id"].tolist() == [2499, 1024]


def test_indexing_slicing_and_iteration(cifar: Manifest) -> None:
    ds = open_dataset(cifar.directory, "test")
    row = ds[7]
    assert row["id"] == 10007 and row["image"].shape == (32, 32, 3)
    assert ds[-1]["id"] == 10499
    assert ds[10:20:3]["id"].tolist() == [10010, 10013, 10016, 10019]
    assert [r["id"] for r in ds][-3:] == [10497, 10498, 10499]
    with pytest.raises(IndexError):
        ds[500]
    with pytest.raises(RowIndexError, match="out of range"):
        ds.take([0, -501])
    with pytest.raises(DsregError, match="1-D sequence of integers"):
        ds.take([0.5])


def test_an_unsigned_index_past_int64_is_out_of_range_not_a_row_from_the_end(cifar: Manifest) -> None:
    ds = open_dataset(cifar.directory, "test")
    wrapped = np.uint64(2**64 - 1)  # what an index computed in uint64 holds after going below zero
    with pytest.raises(RowIndexError, match="out of range"):
        ds.take(np.array([0, wrapped], dtype=np.uint64))  # was read as row -1, the last one
    with pytest.raises(RowIndexError, match="out of range"):
        ds[wrapped]
    assert ds.take(np.array([1, 499], dtype=np.uint64))["id"].tolist() == [10001, 10499]


def test_columns_select_and_unknown_columns_are_named(cifar: Manifest) -> None:
    ds = open_dataset(cifar.directory, "train", columns=["label", "id"])
    assert ds.column_names == ["label", "id"] and list(ds.features) == ["label", "id"]
    assert set(ds.take([1, 2])) == {"label", "id"}
    assert ds.read_column("image").shape == (2500, 32, 32, 3)  # unselected columns stay readable for samplers
    with pytest.raises(DsregError, match=r"no column\(s\) \['img'\]") as err:
        open_dataset(cifar.directory, columns=["img"])
    assert "image, label, id" in str(err.value)


def test_open_by_reference_path_and_version(cifar: Manifest) -> None:
    by_ref = open_dataset("cifar/default:1.0.0", "test")
    assert by_ref.manifest.directory == cifar.directory and len(by_ref) == 500
    assert len(open_dataset("cifar", "test", version="1.0.0")) == 500
    assert len(open_dataset(str(cifar.directory), "test")) == 500
    with pytest.raises(DsregError, match=r"has no version 2\.0\.0; versions that exist: 1\.0\.0"):
        open_dataset("cifar", version="2.0.0")
    with pytest.raises(DsregError, match=r"names version 1\.0\.0"):
        open_dataset("cifar:1.0.0", version="2.0.0")
    with pytest.raises(DsregError, match="no manifest"):
        open_dataset(cifar.directory.parent)
    # a file:// URL is the local directory (it was read as a reference: "cannot read dataset reference")
    by_url = open_dataset(cifar.directory.as_uri(), "test")
    assert by_url.manifest.directory == cifar.directory and by_url.take([3])["id"].tolist() == [10003]


def test_ragged_columns_lengths_and_padding(tokens: Manifest) -> None:
    ds = open_dataset(tokens.directory)
    assert len(ds._shards) > 1
    idx = np.array([2999, 0, 1500, 17, 1024])
    batch = ds.take(idx)
    assert batch["tokens"].dtype == object and batch["text"].dtype == object
    for i, seq, text in zip(idx, batch["tokens"], batch["text"], strict=True):
        np.testing.assert_array_equal(seq, np.arange(token_length(i), dtype=np.int32) + i)
        assert seq.dtype == np.int32 and text == "x" * (i % 13)
    np.testing.assert_array_equal(ds.lengths("tokens"), [token_length(i) for i in range(3000)])
    np.testing.assert_array_equal(ds.lengths("text"), [i % 13 for i in range(3000)])
    padded, lengths = pad_sequences(batch["tokens"], pad_value=-1)
    assert padded.shape == (5, lengths.max()) and padded.dtype == np.int32
    assert lengths.tolist() == [token_length(i) for i in idx]
    assert padded[1, lengths[1] :].tolist() == [-1] * (lengths.max() - lengths[1])
    with pytest.raises(DsregError, match="no per-row length"):
        ds.lengths("id")


def test_arrow_tables_and_shard_paths_cover_the_selection_without_copies(cifar: Manifest) -> None:
    ds = open_dataset(cifar.directory, "train[1000:1100]+test[:5]", columns=["id", "label"])
    before = pa.total_allocated_bytes()
    table = pa.concat_tables(ds.arrow_tables())
    assert pa.total_allocated_bytes() == before  # slices of memory-mapped batches: nothing allocated
    assert table.column_names == ["id", "label"]
    assert table.column("id").to_pylist() == [*range(1000, 1100), *range(10000, 10005)]
    assert [p.parent.name for p in ds.shard_paths()] == ["train", "train", "test"]


def test_a_dataset_pickles_without_its_memory_maps(cifar: Manifest) -> None:
    ds = open_dataset(cifar.directory, "train[:10]")
    ds.take([1])
    clone = pickle.loads(pickle.dumps(ds))
    assert isinstance(clone, Dataset) and clone._readers == {}
    assert clone.take([4])["id"].tolist() == [4]
