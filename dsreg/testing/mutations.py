"""Mutations of valid inputs for fuzz tests, and a measure of what parsing one of them allocated.

A fuzzer (hypothesis in dsreg's tests) draws a list of `Edit`s; `mutate` applies them to a valid
file's bytes, so every mutant is reproducible from its edits. `allocation_peak` measures the peak
of Python and numpy allocations (both report to tracemalloc) inside a block, so a test can assert
that a hostile input costs memory in proportion to its size, not to what it declares.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

Kind = Literal["flip", "set", "insert", "delete", "truncate", "append"]


@dataclass(frozen=True)
class Edit:
    """One change at a relative position `where` (0..1 of the length): flip one bit of a byte, set a
    byte, insert or append `data`, delete `count` bytes, or truncate."""

    kind: Kind
    where: float
    value: int = 0
    data: bytes = b""
    count: int = 1


def mutate(original: bytes, edits: Sequence[Edit]) -> bytes:
    """`original` with `edits` applied in order."""
    data = bytearray(original)
    for edit in edits:
        at = min(int(edit.where * len(data)), max(len(data) - 1, 0))
        if edit.kind == "flip" and data:
            data[at] ^= 1 << (edit.value % 8)
        elif edit.kind == "set" and data:
            data[at] = edit.value % 256
        elif edit.kind == "insert":
            data[at:at] = edit.data
        elif edit.kind == "delete":
            del data[at : at + edit.count]
        elif edit.kind == "truncate":
            del data[at:]
        elif edit.kind == "append":
            data += edit.data
    return bytes(data)


@dataclass
class Peak:
    """The largest amount of traced memory allocated at once inside an `allocation_peak` block."""

    bytes: int = 0


@contextmanager
def allocation_peak() -> Iterator[Peak]:
    """Measure the peak of traced allocations (Python objects and numpy buffers) made inside the block."""
    peak = Peak()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        yield peak
    finally:
        peak.bytes = tracemalloc.get_traced_memory()[1] - base
        if started:
            tracemalloc.stop()
