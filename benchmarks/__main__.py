"""``python -m benchmarks [NAME…]``: run the named benchmarks (all by default), in order, and time the whole."""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = (
    "cifar_epoch",
    "ragged_gather",
    "storage_formats",
    "first_batch",
    "open_registry",
    "peak_rss",
    "keras_fit",
    "speech_audio",
    "imagenet",
    "translation",
)


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    start = time.perf_counter()
    for name in names or BENCHMARKS:
        importlib.import_module(f"benchmarks.{name}").run()
    print(f"\nall done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
