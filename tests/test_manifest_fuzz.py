"""Fuzzing the manifest: random mutations of a valid manifest give the same data or a DsregError, never another
exception, a hang or different data.

Mutations are made to the bytes (bit flips, byte changes, insertions, deletions, truncation) and to the parsed
JSON (any value replaced by any JSON value, keys deleted, list items duplicated or swapped), with the manifest's
digest kept stale, resealed (a buggy or hostile writer) or removed (a manifest from before digests). The budget
is bounded: `DSREG_FUZZ_EXAMPLES` examples per test (default 150); raise it for a longer local campaign.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsreg
from dsreg import ClassLabel, DsregError, Features, Image, Text
from dsreg.loading import Dataset
from dsreg.manifest import DIGEST_KEY, Manifest, manifest_digest, read_manifest, verify_manifest
from dsreg.publish import make_writable
from dsreg.storage import base as storage_base

FEATURES = Features(
    {"image": Image(shape=(2, 2, 3)), "label": ClassLabel(names=("cat", "dog", "eel")), "caption": Text()}
)
FUZZ = settings(
    max_examples=int(os.environ.get("DSREG_FUZZ_EXAMPLES", "150")),
    deadline=timedelta(seconds=60),  # a runaway example fails on its own (wide: a loaded machine is slow, not wrong)
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
pytestmark = pytest.mark.timeout(600)


def _rows(n: int, first: int) -> list[dict[str, Any]]:
    return [
        {"image": np.full((2, 2, 3), i % 256, dtype=np.uint8), "label": i % 3, "caption": f"row {i}"}
        for i in range(first, first + n)
    ]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, dict[str, Any]]]:
    """A writable copy of a small dataset (train: 3 shards, test: 2), its manifest JSON and every row."""
    root = tmp_path_factory.mktemp("fuzz-root")
    mp = pytest.MonkeyPatch()
    mp.setattr(storage_base, "ROWS_PER_ENCODE", 4)
    try:
        m = dsreg.write_dataset(
            "fuzz", {"train": _rows(12, 0), "test": _rows(6, 50)}, FEATURES, root=root, shard_size=1
        )
    finally:
        mp.undo()
    assert m.directory is not None
    work = tmp_path_factory.mktemp("fuzz-work") / "1.0.0"
    shutil.copytree(m.directory, work)
    make_writable(work)
    data = json.loads((work / "manifest.json").read_text())
    return work, data, _read_all(read_manifest(work))


def _read_all(manifest: Manifest) -> dict[str, dict[str, Any]]:
    return {split: Dataset(manifest, split)[:] for split in manifest.splits}


def _same(got: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> bool:
    """Every split that reads holds exactly the original split of that name (a resealed edit may drop a split:
    asking for it is then a DsregError, which is a correct answer)."""
    return got.keys() <= expected.keys() and all(
        got[s].keys() == expected[s].keys() and all(np.array_equal(got[s][c], expected[s][c]) for c in got[s])
        for s in got
    )


def _check(directory: Path, raw: bytes, expected: dict[str, dict[str, Any]]) -> None:
    """The property: the mutated manifest reads the very same data, or every failure is a DsregError."""
    (directory / "manifest.json").write_bytes(raw)
    try:
        manifest = read_manifest(directory)
    except DsregError:
        return
    problems = verify_manifest(manifest, deep=True)  # must not raise anything but DsregError
    try:
        got = _read_all(manifest)
    except DsregError:
        return
    assert _same(got, expected), (raw, problems)


def _seal(data: Any, mode: str) -> Any:
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != DIGEST_KEY}
        if mode == "resealed":
            with contextlib.suppress(ValueError):  # not canonical JSON (infinity): leave it unsealed
                data[DIGEST_KEY] = manifest_digest(data)
    return data


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["train", "test", "image", "label", "uint8", "int8", "class_label", "0" * 64]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside the JSON tree."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


@st.composite
def tree_mutations(draw: st.DrawFn, data: dict[str, Any]) -> Any:
    """One to three edits of the parsed manifest, each at a random place in the tree."""
    tree = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(tree)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(tree, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "swap", "number"]))
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif action == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = draw(st.integers(0, len(parent) - 1))
            parent[key], parent[other] = parent[other], parent[key]
        elif action == "number" and isinstance(parent[key], int) and not isinstance(parent[key], bool):
            parent[key] += draw(st.sampled_from([-1, 1, -4, 4, 1 << 40]))
    return tree


@FUZZ
@given(st.data(), st.sampled_from(["stale", "resealed", "legacy"]))
def test_tree_mutations_read_the_same_data_or_fail_cleanly(published, data: st.DataObject, mode: str) -> None:
    directory, original, expected = published
    tree = _seal(data.draw(tree_mutations(original)), mode)
    try:
        raw = json.dumps(tree, indent=1).encode()
    except ValueError:
        return  # not serialisable as JSON: nothing a file could hold
    _check(directory, raw, expected)


@st.composite
def byte_mutations(draw: st.DrawFn, text: bytes) -> bytes:
    out = bytearray(text)
    for _ in range(draw(st.integers(1, 4))):
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        action = draw(st.sampled_from(["flip", "byte", "insert", "delete", "truncate"]))
        if action == "flip":
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "byte":
            out[at] = draw(st.integers(0, 255))
        elif action == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del out[at : at + draw(st.integers(1, 16))]
        else:
            del out[at:]
    return bytes(out)


@FUZZ
@given(st.data(), st.sampled_from(["sealed", "legacy"]))
def test_byte_mutations_read_the_same_data_or_fail_cleanly(published, data: st.DataObject, mode: str) -> None:
    directory, original, expected = published
    base = original if mode == "sealed" else _seal(original, "legacy")
    text = json.dumps(base, indent=2).encode()
    _check(directory, data.draw(byte_mutations(text)), expected)
