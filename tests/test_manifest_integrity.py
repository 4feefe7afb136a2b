"""The manifest cannot lie about the shards: its own digest, its structure, and each shard's own schema.

Every mutation below once read silently wrong data while `verify --deep` said OK (issue 7). Each is tried three
ways: with the stale digest (a flipped bit or a hand edit), resealed with a fresh digest (a buggy or malicious
writer), and with the digest removed (a manifest written before digests existed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dsreg
from dsreg import ClassLabel, DsregError, Features, Image
from dsreg.cli import EXIT_OK, EXIT_VERIFY_FAILED, main
from dsreg.loading import Dataset, open_dataset
from dsreg.manifest import DIGEST_KEY, Manifest, manifest_digest, manifest_from_json, read_manifest
from dsreg.publish import make_writable
from dsreg.storage import arrow_shards
from dsreg.storage import base as storage_base

FEATURES = Features({"image": Image(shape=(2, 2, 3)), "label": ClassLabel(names=("cat", "dog", "eel"))})


def _rows(n: int, first: int) -> list[dict[str, Any]]:
    return [
        {"image": np.full((2, 2, 3), (i * 7) % 256, dtype=np.uint8), "label": i % 3} for i in range(first, first + n)
    ]


def _tiny(root: Path, monkeypatch: pytest.MonkeyPatch, storage: str = "arrow") -> Manifest:
    """train: 3 shards of 4 rows, test: 2 shards (4 + 2 rows), in `storage` format."""
    monkeypatch.setattr(storage_base, "ROWS_PER_ENCODE", 4)
    splits = {"train": _rows(12, 0), "test": _rows(6, 100)}
    m = dsreg.write_dataset("tiny", splits, FEATURES, root=root, shard_size=1, storage=storage)
    assert [len(s.shards) for s in m.splits.values()] == [3, 2]
    return m


@pytest.fixture
def tiny(root: Path, monkeypatch: pytest.MonkeyPatch) -> Manifest:
    return _tiny(root, monkeypatch)


def _read_all(directory: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every split's every row, through the public open path."""
    return {split: open_dataset(directory, split)[:] for split in read_manifest(directory).splits}


def _read_manifest_data(manifest: Manifest) -> dict[str, dict[str, np.ndarray]]:
    """Every split's every row of an already parsed manifest (what open_dataset does after reading it)."""
    return {split: Dataset(manifest, split)[:] for split in manifest.splits}


def _same(a: dict[str, dict[str, np.ndarray]], b: dict[str, dict[str, np.ndarray]]) -> bool:
    return a.keys() == b.keys() and all(
        a[s].keys() == b[s].keys() and all(np.array_equal(a[s][c], b[s][c]) for c in a[s]) for s in a
    )


def _write(directory: Path, data: dict[str, Any], mode: str) -> None:
    """Write edited manifest JSON: `stale` keeps the old digest, `resealed` recomputes it, `legacy` drops it."""
    data = dict(data)
    if mode == "resealed":
        data[DIGEST_KEY] = manifest_digest(data)
    elif mode == "legacy":
        data.pop(DIGEST_KEY, None)
    make_writable(directory)
    (directory / "manifest.json").write_text(json.dumps(data, indent=2))


def _image_shape(d: dict[str, Any]) -> None:
    d["features"]["image"]["shape"][-1] = 2  # 3 channels -> 2: rows would be re-cut into wrong pixels


def _image_dtype(d: dict[str, Any]) -> None:
    d["features"]["image"]["dtype"] = "int8"


def _label_dtype(d: dict[str, Any]) -> None:
    d["features"]["label"]["dtype"] = "int32"


def _order_reversed(d: dict[str, Any]) -> None:
    d["splits"]["train"]["shards"].reverse()


def _shard_dropped(d: dict[str, Any]) -> None:
    split = d["splits"]["train"]
    gone = split["shards"].pop(1)
    split["rows"] -= gone["rows"]
    split["bytes"] -= gone["bytes"]


def _listed_twice(d: dict[str, Any]) -> None:
    split = d["splits"]["train"]
    split["shards"][2] = dict(split["shards"][1])


def _names_swapped(d: dict[str, Any]) -> None:
    names = d["features"]["label"]["names"]
    names[0], names[1] = names[1], names[0]


def _names_shortened(d: dict[str, Any]) -> None:
    d["features"]["label"]["names"].pop()


def _split_moved(d: dict[str, Any]) -> None:
    d["splits"]["test"]["shards"][0] = dict(d["splits"]["train"]["shards"][0])


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "image shape 3->2": _image_shape,
    "image dtype": _image_dtype,
    "label dtype": _label_dtype,
    "shard order reversed": _order_reversed,
    "shard dropped": _shard_dropped,
    "shard listed twice": _listed_twice,
    "class names swapped": _names_swapped,
    "class names shortened": _names_shortened,
    "shard of another split": _split_moved,
}


def _cli(*args: str) -> int:
    try:
        return main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.parametrize("mode", ["stale", "resealed", "legacy"])
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_mutated_manifest_never_reads_and_fails_deep_verify(tiny: Manifest, mutation: str, mode: str, capsys) -> None:
    directory = tiny.directory
    assert directory is not None
    data = json.loads((directory / "manifest.json").read_text())
    MUTATIONS[mutation](data)
    _write(directory, data, mode)
    with pytest.raises(DsregError):
        _read_all(directory)
    with pytest.raises(DsregError):
        for _ in dsreg.load(directory, "train", batch_size=5):
            pass
    assert _cli("verify", str(directory), "--deep") == EXIT_VERIFY_FAILED
    out = capsys.readouterr().out
    assert out.startswith(f"FAIL {directory}")


@pytest.mark.parametrize("mode", ["resealed", "legacy"])
@pytest.mark.parametrize("mutation", ["image shape 3->2", "label dtype", "class names shortened"])
@pytest.mark.parametrize("storage", ["zarr", "hdf5"])
def test_every_storage_format_checks_its_shards_against_the_manifest(
    root: Path, monkeypatch: pytest.MonkeyPatch, storage: str, mutation: str, mode: str
) -> None:
    """The shard checks are the storage format's: zarr and HDF5 shards carry their features and row count too."""
    pytest.importorskip({"zarr": "zarr", "hdf5": "h5py"}[storage])
    m = _tiny(root, monkeypatch, storage)
    directory = m.directory
    assert directory is not None
    assert _read_all(directory)["train"]["label"].tolist() == [i % 3 for i in range(12)]
    data = json.loads((directory / "manifest.json").read_text())
    MUTATIONS[mutation](data)
    _write(directory, data, mode)
    with pytest.raises(DsregError):
        _read_all(directory)
    assert _cli("verify", str(directory), "--deep") == EXIT_VERIFY_FAILED


def test_a_stale_digest_is_named_as_such(tiny: Manifest) -> None:
    directory = tiny.directory
    assert directory is not None
    data = json.loads((directory / "manifest.json").read_text())
    data["metadata"]["description"] = "edited by hand"
    _write(directory, data, "stale")
    with pytest.raises(DsregError, match="does not match its own digest") as err:
        read_manifest(directory)
    assert err.value.path == str(directory / "manifest.json") and err.value.fix


def test_the_digest_covers_content_not_layout(tiny: Manifest) -> None:
    directory = tiny.directory
    assert directory is not None
    data = json.loads((directory / "manifest.json").read_text())
    assert data[DIGEST_KEY] == manifest_digest(data) and read_manifest(directory).digest == data[DIGEST_KEY]
    make_writable(directory)
    (directory / "manifest.json").write_text(json.dumps(dict(reversed(list(data.items())))))  # reordered, compact
    assert read_manifest(directory).to_json() == tiny.to_json()


def test_a_legacy_manifest_opens_and_verify_says_it_carries_no_digest(tiny: Manifest, capsys) -> None:
    directory = tiny.directory
    assert directory is not None
    expected = _read_all(directory)
    data = json.loads((directory / "manifest.json").read_text())
    _write(directory, data, "legacy")
    assert read_manifest(directory).digest is None
    assert _same(_read_all(directory), expected)
    assert _cli("verify", str(directory), "--deep") == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("OK") and "carries no digest" in out
    assert _cli("verify", str(directory), "--json") == EXIT_OK
    assert json.loads(capsys.readouterr().out)["manifest_digest"] is False
    _write(directory, data, "resealed")
    assert _cli("verify", str(directory)) == EXIT_OK
    assert "carries no digest" not in capsys.readouterr().out


def test_a_shard_with_labels_outside_the_class_names_is_refused(root: Path) -> None:
    """Labels written under three names but published under two: the shard's own features disagree, and even if
    a shard's metadata were made to agree, the label range check catches it."""
    feats = Features({"label": ClassLabel(names=("a", "b", "c"))})
    m = dsreg.write_dataset("labels", {"train": [{"label": i % 3} for i in range(9)]}, feats, root=root)
    reader = arrow_shards.ShardReader(m.shard_path(m.splits["train"].shards[0]))
    short = Features({"label": ClassLabel(names=("a", "b"))})
    problems = reader.problems(short, 9)
    assert any("embedded features" in p for p in problems)
    assert reader._label_problems(short) == ["label 2 in column 'label' is outside its 2 class names"]
    assert reader.problems(feats, 9) == []


@pytest.mark.parametrize("storage", ["arrow", "zarr", "hdf5"])
def test_class_labels_inside_sequences_and_structs_are_range_checked_too(root: Path, storage: str) -> None:
    """Token tags and struct fields are class labels as much as a top-level label column: published under fewer
    names than they were written with, the range check names them rather than serving index 2 of two names."""
    from dsreg import Sequence, Struct
    from dsreg.storage import get_format

    def feats(names: tuple[str, ...]) -> Features:
        label = ClassLabel(names=names)
        return Features(
            {"tags": Sequence(label), "spans": Sequence(Struct({"start": ClassLabel(names=("x",)), "tag": label}))}
        )

    rows = [
        {"tags": [i % 3] * (i % 4), "spans": [{"start": 0, "tag": (i + k) % 3} for k in range(i % 3)]} for i in range(9)
    ]
    m = dsreg.write_dataset("nested-labels", {"train": rows}, feats(("a", "b", "c")), root=root, storage=storage)
    reader = get_format(storage).reader(m.shard_location(m.splits["train"].shards[0]), m.features)
    assert reader._label_problems(m.features) == []
    assert reader._label_problems(feats(("a", "b"))) == [
        "label 2 in column 'tags' is outside its 2 class names",
        "label 2 in column 'spans' (field tag) is outside its 2 class names",
    ]


def test_a_shard_whose_footer_disagrees_on_rows_or_size_is_refused(tiny: Manifest) -> None:
    shard = tiny.splits["train"].shards[0]
    reader = arrow_shards.ShardReader(tiny.shard_path(shard), FEATURES)
    assert reader.problems(FEATURES, shard.rows, shard.bytes) == []
    assert reader.problems(FEATURES, shard.rows + 1) == [f"shard has {shard.rows} rows, the manifest says 5"]
    assert "bytes, the manifest says" in reader.problems(FEATURES, shard.rows, shard.bytes - 1)[0]


def _flips(text: bytes) -> list[bytes]:
    out = []
    for i in range(len(text)):
        for bit in range(8):
            flipped = bytearray(text)
            flipped[i] ^= 1 << bit
            out.append(bytes(flipped))
    return out


def _parse(raw: bytes, path: Path) -> Manifest:
    """What read_manifest does with these bytes (without a file per flip)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise DsregError(f"not JSON: {err}") from None
    return manifest_from_json(data, path)


def test_every_single_bit_flip_of_a_sealed_manifest_is_detected_or_harmless(tiny: Manifest) -> None:
    directory = tiny.directory
    assert directory is not None
    path = directory / "manifest.json"
    text = json.dumps(json.loads(path.read_text()), separators=(",", ":")).encode()  # compact: fewer, denser bytes
    original = _parse(text, path).to_json()
    detected = harmless = 0
    for raw in _flips(text):
        try:
            manifest = _parse(raw, path)
        except DsregError:
            detected += 1
            continue
        assert manifest.to_json() == original, raw  # opened: must be the very same manifest
        harmless += 1
    assert detected + harmless == len(text) * 8 and detected > 0.99 * len(text) * 8


def test_every_single_bit_flip_of_a_legacy_manifest_is_detected_or_reads_the_same_data(tiny: Manifest) -> None:
    """Without a digest, the structure checks and each shard's own schema, rows and labels must still catch
    every flip that would change the data: a flip either fails (read, open or verify --deep) or reads the same."""
    directory = tiny.directory
    assert directory is not None
    path = directory / "manifest.json"
    expected = _read_all(directory)
    data = json.loads(path.read_text())
    del data[DIGEST_KEY]
    data["metadata"] = {}
    text = json.dumps(data, separators=(",", ":")).encode()
    opened = 0
    for raw in _flips(text):
        try:
            manifest = _parse(raw, path)
        except DsregError:
            continue
        opened += 1
        try:
            got = _read_manifest_data(manifest)
        except DsregError:
            continue
        assert _same(got, expected) and manifest.features.to_json() == FEATURES.to_json(), raw
    assert opened > 0


def test_deep_verify_finds_text_offsets_another_tool_wrote_out_of_order(root: Path) -> None:
    """A shard whose size, digest, schema, features and rows all agree with its (resealed) manifest, but whose
    text offsets go backwards (a multi-shard gather reads that row as empty, and a one-shard read fails with
    Arrow's own error): `verify --deep` runs Arrow's full validation, where it said OK."""
    import hashlib

    import pyarrow as pa

    feats = Features({"text": dsreg.Text()})
    m = dsreg.write_dataset("offsets", {"train": [{"text": t} for t in ("alpha", "beta", "gamma")]}, feats, root=root)
    path = m.shard_path(m.splits["train"].shards[0])
    schema = arrow_shards.ShardReader(path).batches[0].schema
    offsets = pa.py_buffer(np.asarray([0, 5, 3, 14], dtype=np.int64))  # row 1 ends before it starts
    text = pa.Array.from_buffers(pa.large_string(), 3, [None, offsets, pa.py_buffer(b"alphabetagamma")])
    make_writable(m.directory)
    path.chmod(0o644)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_batch(pa.record_batch([text], schema=schema))

    data = json.loads((m.directory / "manifest.json").read_text())
    shard = data["splits"]["train"]["shards"][0]
    shard["bytes"] = data["splits"]["train"]["bytes"] = path.stat().st_size
    shard["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    _write(m.directory, data, "resealed")
    manifest = read_manifest(m.directory)
    problems = dsreg.verify(m.directory, deep=True)[1]
    assert len(problems) == 1 and "record batch 0 is malformed" in problems[0].problem
    assert [p.problem for p in dsreg.manifest.verify_manifest(manifest)] == []  # shallow: the sizes agree
