"""Fuzz the CIFAR readers: any mutation of a valid batch or meta file gives a well-formed result or a
DsregError, never another exception, a hang or an allocation out of proportion to the input."""

from __future__ import annotations

import contextlib
import tarfile
import tempfile
from datetime import timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.readers import get_reader
from dsreg.sourcetree import SourceTree
from dsreg.testing import cifar
from dsreg.testing.mutations import Edit, allocation_peak, mutate

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
MAKERS = {"python": cifar.make_cifar10_python, "binary": cifar.make_cifar10_binary}
FILES = {"python": ["data_batch_1", "data_batch_2"], "binary": ["data_batch_1.bin", "data_batch_2.bin"]}
META = {"python": "batches.meta", "binary": "batches.meta.txt"}

EDITS = st.lists(
    st.builds(
        Edit,
        kind=st.sampled_from(["flip", "set", "insert", "delete", "truncate", "append"]),
        where=st.floats(0, 1),
        value=st.integers(0, 255),
        data=st.binary(max_size=16),
        count=st.integers(1, 4096),
    ),
    min_size=1,
    max_size=4,
)


@cache
def _members(flavour: str) -> dict[str, bytes]:
    """The member files of a small valid archive of `flavour`, by base name."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = MAKERS[flavour](Path(tmp), train_rows=20, test_rows=4)
        with tarfile.open(archive) as tar:
            return {Path(m.name).name: tar.extractfile(m).read() for m in tar if m.isfile()}


@cache
def _features() -> Features:
    return Features.from_json(yaml.safe_load((RECIPES / "cifar10.yaml").read_text())["features"])


def _check(batch: pa.RecordBatch, features: Features) -> None:
    """What any result must be: the recipe's schema, 32×32×3 images, labels inside the class names."""
    assert batch.schema == features.arrow_schema()
    labels = batch.column("label").to_numpy()
    assert ((labels >= 0) & (labels < 10)).all()
    assert len(batch.column("image").values) == 3072 * batch.num_rows


@cache
def _read_valid(flavour: str) -> list[pa.RecordBatch]:
    """Read the unmutated input (also warms up lazy imports, which the allocation measure must not see)."""
    reader = get_reader(f"cifar_{flavour}")({"variant": "cifar10"}, _features())
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in _members(flavour).items():
            Path(tmp, name).write_bytes(content)
        sources = {"archive": SourceTree.open(tmp)}
        args = {"files": FILES[flavour]}
        return [b for t in reader.tasks(sources, "train", args) for b in reader.read(sources, "train", args, t)]


@pytest.mark.parametrize("flavour", ["python", "binary"])
def test_the_fuzzed_inputs_are_valid_to_begin_with(flavour: str) -> None:
    labels = np.concatenate([b.column("label").to_numpy() for b in _read_valid(flavour)])
    assert np.array_equal(labels, cifar.expected_cifar("cifar10", "train", 20)["label"][:8])


@pytest.mark.parametrize("flavour", ["python", "binary"])
@settings(max_examples=150, deadline=timedelta(seconds=60), suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_mutated_cifar_files_read_or_raise_dsreg_error(flavour: str, data: st.DataObject) -> None:
    _read_valid(flavour)
    members = dict(_members(flavour))
    target = data.draw(st.sampled_from([*FILES[flavour], META[flavour]]), label="member")
    members[target] = mutate(members[target], data.draw(EDITS, label="edits"))
    features = _features()
    reader = get_reader(f"cifar_{flavour}")({"variant": "cifar10"}, features)
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in members.items():
            Path(tmp, name).write_bytes(content)
        sources = {"archive": SourceTree.open(tmp)}
        args = {"files": FILES[flavour]}
        with allocation_peak() as peak, contextlib.suppress(DsregError):  # any other exception fails
            for task in reader.tasks(sources, "train", args):
                for batch in reader.read(sources, "train", args, task):
                    assert isinstance(batch, pa.RecordBatch)
                    _check(batch, features)
    assert peak.bytes < 16 * sum(map(len, members.values())) + (2 << 20)
