"""`dsreg.load`: one call from a name to framework batches; its keywords are checked before any data is read."""

from __future__ import annotations

import pytest

import dsreg
from dsreg.manifest import Manifest


def test_load_returns_batches(cifar: Manifest) -> None:
    batch = next(iter(dsreg.load("cifar", "test", "numpy", batch_size=7)))
    assert batch["image"].shape == (7, 32, 32, 3)


def test_an_unknown_keyword_names_the_valid_ones(cifar: Manifest) -> None:
    with pytest.raises(
        dsreg.DsregError, match=r"unknown keyword argument 'batchsize' \(did you mean 'batch_size'\?\)"
    ) as err:
        dsreg.load("cifar", "test", "numpy", batchsize=7)
    assert err.value.fix is not None and "batch_size, columns" in err.value.fix and "seed" in err.value.fix
    with pytest.raises(dsreg.DsregError, match="'bogus', 'nope'"):
        dsreg.load("cifar", "test", "numpy", nope=1, bogus=2)


def test_the_torch_adapter_takes_dataloader_keywords_and_names_them(cifar: Manifest) -> None:
    torch = pytest.importorskip("torch")
    loader = dsreg.load("cifar", "test", "torch", batch_size=5, generator=torch.Generator())
    assert next(iter(loader))["label"].shape == (5,)
    with pytest.raises(dsreg.DsregError, match="did you mean 'timeout'") as err:
        dsreg.load("cifar", "test", "torch", timout=30)
    assert err.value.fix is not None and "worker_init_fn" in err.value.fix and "pad_value" in err.value.fix
