from __future__ import annotations

import numpy as np
import pytest

from dsreg import DsregError
from dsreg.loading import Segment, open_dataset, parse_split
from dsreg.manifest import Manifest

SIZES = {"train": 10, "test": 4}


def ids(manifest: Manifest, split: str) -> list[int]:
    return open_dataset(manifest.directory, split)[:]["id"].tolist()


def test_split_expressions_select_exact_rows(cifar: Manifest) -> None:
    assert ids(cifar, "train") == list(range(2500))
    assert ids(cifar, "train[:10%]") == list(range(250))
    assert ids(cifar, "train[1000:2000]") == list(range(1000, 2000))
    assert ids(cifar, "train[-10%:]") == list(range(2250, 2500))
    assert ids(cifar, "train[-3:]") == [2497, 2498, 2499]
    assert ids(cifar, "test + validation[:2]") == [*range(10000, 10500), 20000, 20001]
    assert ids(cifar, "train[:1]+train[:1]") == [0, 0]


def test_all_is_every_split_in_manifest_order_and_can_be_sliced(cifar: Manifest) -> None:
    expected = {"train": list(range(2500)), "test": list(range(10000, 10500)), "validation": list(range(20000, 20300))}
    everything = [i for name in cifar.splits for i in expected[name]]
    assert ids(cifar, "all") == everything
    assert ids(cifar, "all[-1%:]") == everything[-33:]


def test_percent_bounds_round_to_the_nearest_row_ties_to_even() -> None:
    assert parse_split("train[:33%]", SIZES) == [Segment("train", 0, 3)]  # 3.3 → 3
    assert parse_split("train[:37%]", SIZES) == [Segment("train", 0, 4)]  # 3.7 → 4
    assert parse_split("train[:25%]", SIZES) == [Segment("train", 0, 2)]  # 2.5 → 2 (ties to even)
    assert parse_split("train[:35%]", SIZES) == [Segment("train", 0, 4)]  # 3.5 → 4 (ties to even)
    assert parse_split("train[:0.5%]", {"train": 1000}) == [Segment("train", 0, 5)]
    assert parse_split("train[-25%:]", SIZES) == [Segment("train", 8, 10)]  # -2.5 → -2


@pytest.mark.parametrize("n", [1, 7, 10, 999, 2500])
def test_percent_slices_are_exact_complements(n: int) -> None:
    for k in range(0, 101, 3):
        head = parse_split(f"train[:{k}%]", {"train": n})
        tail = parse_split(f"train[{k}%:]", {"train": n})
        assert sum(s.rows for s in head + tail) == n
        assert (head[-1].stop if head else 0) == (tail[0].start if tail else n)


@pytest.mark.parametrize("n", [1, 5, 7, 10, 38, 999])
def test_negative_percent_bounds_are_the_positive_ones_counted_from_the_end(n: int) -> None:
    sizes = {"train": n}
    for k in range(1, 100):
        assert parse_split(f"train[-{k}%:]", sizes) == parse_split(f"train[{100 - k}%:]", sizes), (n, k)
        assert parse_split(f"train[:-{k}%]", sizes) == parse_split(f"train[:{100 - k}%]", sizes), (n, k)


def test_a_small_negative_percent_never_rounds_to_the_start() -> None:
    # -1% of 38 rows is -0.38 rows: rounded to row 0 it would make the last 1% the whole split
    assert parse_split("train[-1%:]", {"train": 38}) == []
    assert parse_split("train[:-1%]", {"train": 38}) == [Segment("train", 0, 38)]


def test_unknown_split_lists_the_valid_ones() -> None:
    with pytest.raises(DsregError, match="no split 'valid'") as err:
        parse_split("train+valid", SIZES)
    assert "train, test, all" in str(err.value)


@pytest.mark.parametrize("expr", ["train[10%]", "train[::2]", "train[a:b]", "", "train[:5]x", "train[1.5:]", "+"])
def test_malformed_expressions_show_the_syntax(expr: str) -> None:
    with pytest.raises(DsregError) as err:
        parse_split(expr, SIZES)
    assert "train[:10%]" in str(err.value)


def test_out_of_range_bounds_are_errors_not_clamped() -> None:
    with pytest.raises(DsregError, match="outside a split of 10 rows"):
        parse_split("train[:11]", SIZES)
    with pytest.raises(DsregError, match=r"outside -100%\.\.100%"):
        parse_split("train[:101%]", SIZES)
    assert parse_split("train[8:2]", SIZES) == []  # reversed: empty, as in Python


def test_open_reports_unknown_split_with_dataset_splits(cifar: Manifest) -> None:
    with pytest.raises(DsregError, match="no split 'dev'") as err:
        open_dataset(cifar.directory, "dev")
    assert f"use one of: {', '.join(cifar.splits)}, all" in str(err.value)
    assert len(open_dataset(cifar.directory, "train[5:5]")) == 0
    assert open_dataset(cifar.directory, "train[5:5]").take(np.zeros(0, np.int64))["image"].shape == (0, 32, 32, 3)


def test_a_split_called_all_is_refused_rather_than_shadowed_by_every_split() -> None:
    # a manifest from elsewhere with a split named 'all': the keyword read every split (train's rows too)
    with pytest.raises(DsregError, match="has a split named 'all'") as err:
        parse_split("all[:10]", {"train": 10, "all": 20})
    assert "train" in (err.value.fix or "")
    assert parse_split("train", {"train": 10, "all": 20}) == [Segment("train", 0, 10)]
