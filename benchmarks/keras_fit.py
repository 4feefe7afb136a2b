"""Keras ``model.fit`` input throughput on the TensorFlow and torch backends, dsreg against tf.data.

The CIFAR-10-sized dataset of `benchmarks.cifar_epoch` (50,000 rows, batch 256, shuffled every epoch) feeds a
model too small to matter (Rescaling, Flatten, Dense(10)), so the epoch time is the input pipeline plus Keras'
per-step overhead. Fed by: dsreg's Keras adapter (``load(..., "keras")``, a PyDataset), dsreg's tf adapter
(``load(..., "tf")`` mapped to ``(x, y)``), ``tf.data.Dataset.from_tensor_slices`` of the same arrays in RAM
(``shuffle(50000).batch(256).prefetch(AUTOTUNE)``, the reference), and the arrays given to ``fit`` directly.
Each backend runs in its own process (Keras picks its backend at import); each figure is the best of epochs 2–5.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.cifar_epoch import BATCH, NAME, ROWS, write_dsreg
from benchmarks.common import bench_dir, header, row
from dsreg.testing.cifar import expected_cifar

BACKENDS = ("tensorflow", "torch")
EPOCHS = 5


def probe() -> dict[str, float]:
    """Rows per second of each input on the backend this process imported."""
    import keras
    import tensorflow as tf

    from dsreg.loading import load

    root = bench_dir() / "cifar" / "root"
    rows = expected_cifar("cifar10", "train", ROWS)

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.times.append(time.perf_counter() - self.start)

        times: list[float]

    def rate(data: Any, **fit_kwargs: Any) -> float:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(), keras.layers.Dense(10)]
        )
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        timer = EpochTimer()
        timer.times = []
        model.fit(data, epochs=EPOCHS, verbose=0, callbacks=[timer], **fit_kwargs)
        return ROWS / min(timer.times[1:])

    sliced = tf.data.Dataset.from_tensor_slices((rows["image"], rows["label"]))
    dsreg_tf = load(NAME, framework="tf", root=root, batch_size=BATCH, shuffle=True)
    return {
        "tf.data from_tensor_slices": rate(sliced.shuffle(ROWS).batch(BATCH).prefetch(tf.data.AUTOTUNE)),
        "dsreg keras adapter (PyDataset)": rate(
            load(NAME, framework="keras", root=root, batch_size=BATCH, shuffle=True), shuffle=False
        ),
        "dsreg tf adapter (tf.data)": rate(dsreg_tf.map(lambda b: (b["image"], b["label"]))),
        "numpy arrays given to fit": rate(rows["image"], y=rows["label"], batch_size=BATCH, shuffle=True),
    }


def run() -> dict[str, dict[str, float]]:
    write_dsreg(bench_dir() / "cifar" / "root", expected_cifar("cifar10", "train", ROWS))
    results = {}
    for backend in BACKENDS:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [sys.executable, "-m", "benchmarks.keras_fit", "--probe"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        results[backend] = json.loads(done.stdout.strip().splitlines()[-1])
    header(f"Keras fit input throughput: {ROWS} CIFAR rows/epoch, batch {BATCH}, tiny model (rows/s, best epoch)")
    for backend, rates in results.items():
        reference = rates["tf.data from_tensor_slices"]
        print(f"   -- KERAS_BACKEND={backend}")
        for name, value in rates.items():
            row(name, f"{value:,.0f} rows/s", f"{value / reference:.2f}× from_tensor_slices")
    return results


if __name__ == "__main__":
    if "--probe" in sys.argv:
        print(json.dumps(probe()))
    else:
        run()
