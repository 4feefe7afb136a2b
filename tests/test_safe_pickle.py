"""safe_loads: plain data and numpy arrays load; anything that would run code is refused before it runs."""

from __future__ import annotations

import codecs
import contextlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsreg.errors import DsregError
from dsreg.safe_pickle import safe_loads
from dsreg.testing import hostile
from dsreg.testing.cifar import py2_pickle
from dsreg.testing.mutations import Edit, allocation_peak, mutate

ARRAYS = [
    np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    np.arange(6, dtype=">i4").reshape(3, 2),
    np.asfortranarray(np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)),
    np.array([True, False]),
    np.zeros((0, 3072), dtype=np.uint8),
    np.array(7, dtype=np.int64),
    np.array([(1, 2.5)], dtype=[("a", "<i2"), ("b", "<f8")]),
]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_arrays_and_containers_round_trip(protocol: int) -> None:
    data = {"arrays": ARRAYS, "scalar": np.float32(1.5), "t": (1, None, True), "b": b"\x00\xff", "s": "é", "e": b""}
    blob = pickle.dumps(data, protocol=protocol)
    loaded, reference = safe_loads(blob), pickle.loads(blob, encoding="bytes")
    for got, ref, want in zip(loaded["arrays"], reference["arrays"], ARRAYS, strict=True):
        # numpy itself loads some byte orders as native before protocol 5: match what pickle.loads gives
        assert got.dtype == ref.dtype and got.shape == want.shape and np.array_equal(got, want)
    assert loaded["scalar"] == np.float32(1.5) and loaded["scalar"].dtype == np.float32
    assert loaded["t"] == (1, None, True) and loaded["b"] == b"\x00\xff" and loaded["s"] == "é" and loaded["e"] == b""


def test_python2_pickles_load_with_bytes_keys() -> None:
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    loaded = safe_loads(py2_pickle({"data": data, "labels": [3, 9], "batch_label": "training batch 1 of 5"}))
    assert set(loaded) == {b"data", b"labels", b"batch_label"}
    assert np.array_equal(loaded[b"data"], data) and loaded[b"labels"] == [3, 9]


@pytest.mark.parametrize("via", ["open", "system"])
def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path: Path, via: Any) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(DsregError) as err:
        safe_loads(hostile.malicious_pickle(marker, via=via), path="/data/data_batch_1")
    message = str(err.value)
    forbidden = f"{open.__module__}.open" if via == "open" else f"{os.system.__module__}.system"
    assert f"refusing to unpickle {forbidden}" in message
    assert "/data/data_batch_1" in message and "not plain data" in message and "download it again" in message
    assert not marker.exists()


def test_the_malicious_payload_is_real(tmp_path: Path) -> None:
    """Guards the test above: plain pickle.loads of the same bytes does create the file."""
    marker = tmp_path / "pwned"
    loaded = pickle.loads(hostile.malicious_pickle(marker))
    loaded["data"].close()
    assert marker.exists()


class _Call:
    def __init__(self, func: Any, *args: Any):
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


@pytest.mark.parametrize(
    ("payload", "forbidden"),
    [
        (_Call(eval, "1+1"), "builtins.eval"),
        (_Call(np.load, "x.npy"), "numpy.load"),
        (_Call(sys.exit, 3), "sys.exit"),
        (_Call(getattr, 1, "real"), "builtins.getattr"),
        (_Call(bytes, 10**12), None),  # bytes() is admitted only as the empty bytes of protocol-2 pickles
    ],
)
def test_every_other_global_is_refused(payload: Any, forbidden: str | None) -> None:
    with pytest.raises(DsregError, match=f"refusing to unpickle {forbidden}" if forbidden else "not a valid pickle"):
        safe_loads(pickle.dumps(payload, protocol=4))


def test_only_the_latin1_codec_is_allowed() -> None:
    with pytest.raises(DsregError, match="codec 'rot13' is not allowed"):
        safe_loads(pickle.dumps(_Call(codecs.encode, "abc", "rot13"), protocol=4))


def test_allowed_callables_cannot_be_altered_by_build() -> None:
    # GLOBAL _codecs.encode, then BUILD it with an attribute dict: must fail, and leave loading intact
    tamper = b"\x80\x02c_codecs\nencode\n}X\x0b\x00\x00\x00__defaults__X\x01\x00\x00\x00xsb."
    with pytest.raises(DsregError, match="truncated or corrupt"):
        safe_loads(tamper)
    assert safe_loads(pickle.dumps(b"ok", protocol=2)) == b"ok"


@pytest.mark.parametrize("blob", [b"", b"\x80\x02}q\x00(X", b"garbage that is not a pickle", b"\x80\x05\x95"])
def test_truncated_or_garbage_pickles_are_dsreg_errors(blob: bytes) -> None:
    with pytest.raises(DsregError, match="not a valid pickle") as err:
        safe_loads(blob, path="batch")
    assert str(err.value).startswith("batch: ")


def test_a_truncated_array_pickle_is_a_dsreg_error() -> None:
    blob = pickle.dumps(np.zeros(1000, dtype=np.uint8), protocol=2)
    with pytest.raises(DsregError, match="truncated or corrupt"):
        safe_loads(blob[: len(blob) // 2])


@pytest.mark.parametrize("tail", [b"\x00", b"\x00" * 100_000, pickle.dumps([1], protocol=2), b"."])
def test_bytes_after_stop_are_refused(tail: bytes) -> None:
    blob = py2_pickle({"data": np.zeros((2, 3072), dtype=np.uint8), "labels": [0, 1]})
    assert safe_loads(blob)[b"labels"] == [0, 1]
    with pytest.raises(DsregError, match=f"{len(tail)} bytes follow the end of the pickle") as err:
        safe_loads(blob + tail, path="data_batch_1")
    assert str(err.value).startswith("data_batch_1: ")


EDITS = st.lists(
    st.builds(
        Edit,
        kind=st.sampled_from(["flip", "set", "insert", "delete", "truncate", "append"]),
        where=st.floats(0, 1),
        value=st.integers(0, 255),
        data=st.binary(max_size=16),
        count=st.integers(1, 64),
    ),
    min_size=1,
    max_size=4,
)
_VALID = py2_pickle(
    {
        "batch_label": "training batch 1 of 5",
        "labels": list(range(10)) * 2,
        "data": np.arange(20 * 3072, dtype=np.uint32).astype(np.uint8).reshape(20, 3072),
        "filenames": [f"img_{i}.png" for i in range(20)],
    }
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=EDITS)
def test_fuzz_mutated_pickles_load_or_raise_dsreg_error_with_bounded_memory(edits: list[Edit]) -> None:
    blob = mutate(_VALID, edits)
    with allocation_peak() as peak, contextlib.suppress(DsregError):  # any other exception fails the test
        safe_loads(blob, path="batch")
    assert peak.bytes < 8 * len(blob) + (1 << 20)
