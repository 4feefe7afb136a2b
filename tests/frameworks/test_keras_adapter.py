"""The Keras adapter on the TensorFlow and torch backends, each in a fresh process (Keras picks its backend once,
at import): batches equal `Dataset.take`'s, one epoch of ``fit`` on a CIFAR fake, epochs advance, bad keys fail.

Run as a script (``python test_keras_adapter.py ROOT``) this file is the probe: it prints one JSON line of facts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dsreg
from dsreg.testing.cifar import CIFAR10_LABELS, expected_cifar

pytestmark = pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="needs keras")

CIFAR = dsreg.Features(
    {
        "image": dsreg.Image(shape=(32, 32, 3)),
        "label": dsreg.ClassLabel(names=CIFAR10_LABELS),
        "tokens": dsreg.Sequence(),
    }
)


def write_fakes(root: Path) -> None:
    """A learnable CIFAR-10 fake (2200 rows, three shards) with supervised keys, and a copy without them."""
    rows = expected_cifar("cifar10", "train", 2200)

    def examples() -> Any:
        for i, (image, label) in enumerate(zip(rows["image"], rows["label"], strict=True)):
            yield {"image": image, "label": int(label), "tokens": np.arange(i % 5, dtype=np.int32)}

    dsreg.write_dataset(
        "cifar", {"train": examples()}, CIFAR, root=root, shard_size=1, supervised_keys=("image", "label")
    )
    dsreg.write_dataset("unkeyed", {"train": examples()}, CIFAR, root=root, shard_size=1)


def probe(root: str) -> dict[str, Any]:
    """What the Keras adapter does on the backend this process imported."""
    import keras

    from dsreg.frameworks.keras import adapt
    from dsreg.loading import Loader, load, open_dataset

    facts: dict[str, Any] = {"backend": keras.backend.backend()}
    ds = open_dataset("cifar", root=root)
    loader = Loader(ds, 200, shuffle=True, seed=5)
    batches = adapt(loader)
    facts["len"] = [len(batches), len(loader)]
    same = True
    for i in (0, 7, len(batches) - 1, 3):  # out of order, as Keras workers may ask
        x, y = batches[i]
        ref = ds.take(loader.sampler.batch(0, i))
        same &= x.dtype == ref["image"].dtype and x.shape == ref["image"].shape and np.array_equal(x, ref["image"])
        same &= y.dtype == ref["label"].dtype and y.shape == ref["label"].shape and np.array_equal(y, ref["label"])
    facts["same_as_take"] = bool(same)

    restored = Loader(ds, 200, shuffle=True, seed=5)
    restored.load_state_dict({**restored.state_dict(), "epoch": 2, "batches": 3})
    try:
        adapt(restored)
    except dsreg.DsregError as err:
        facts["mid_epoch_error"] = str(err)
    ended = Loader(ds, 200, shuffle=True, seed=5)
    ended.load_state_dict({**ended.state_dict(), "epoch": 2, "batches": len(ended)})
    x, _ = adapt(ended)[0]
    facts["after_an_epoch_reads_the_next"] = bool(np.array_equal(x, ds.take(ended.sampler.batch(3, 0))["image"]))

    (inputs,) = adapt(Loader(ds, 4), x=["image", "tokens"])[1]
    facts["explicit_x"] = {k: list(v.shape) for k, v in inputs.items()}

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    fit_loader = load("cifar", framework="keras", root=root, batch_size=100, shuffle=True, columns=["image", "label"])
    history = model.fit(fit_loader, epochs=1, verbose=0)
    facts["loss"] = history.history["loss"]
    facts["epoch_after_fit"] = fit_loader.loader.epoch
    pooled = load(  # batches computed in Keras's pool processes: the epochs must advance all the same
        "cifar", framework="keras", root=root, batch_size=400, shuffle=True, columns=["image", "label"],
        num_workers=2, use_multiprocessing=True,
    )  # fmt: skip
    model.fit(pooled, epochs=2, verbose=0)
    facts["epoch_after_pooled_fit"] = pooled.loader.epoch

    try:
        load("unkeyed", framework="keras", root=root)
    except dsreg.DsregError as err:
        facts["unkeyed_error"] = str(err)
    try:
        load("cifar", framework="keras", root=root, columns=["image"])
    except dsreg.DsregError as err:
        facts["missing_column_error"] = str(err)
    return facts


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("keras-root")
    write_fakes(root)
    return root


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_keras_adapter_on_backend(fakes: Path, backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"needs {backend}")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, __file__, str(fakes)], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["backend"] == backend
    assert facts["len"] == [11, 11]
    assert facts["same_as_take"]
    assert (
        "position is batch 3 of epoch 2" in facts["mid_epoch_error"] and "initial_epoch=3" in facts["mid_epoch_error"]
    )
    assert facts["after_an_epoch_reads_the_next"], "a loader restored at the end of epoch 2 reread epoch 2"
    assert facts["explicit_x"] == {"image": [4, 32, 32, 3], "tokens": [4, 4]}  # rows 4..7: tokens padded to 4
    assert len(facts["loss"]) == 1 and np.isfinite(facts["loss"][0])
    assert facts["epoch_after_fit"] == 1
    assert facts["epoch_after_pooled_fit"] == 2, "with use_multiprocessing every epoch reread epoch 0's order"
    assert "declares no supervised keys" in facts["unkeyed_error"] and "x=" in facts["unkeyed_error"]
    assert "['label'] are not among the loaded columns" in facts["missing_column_error"]


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1])))
