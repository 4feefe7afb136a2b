from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dsreg import DsregError, Features, Image, Scalar, Sequence, Struct, Text
from dsreg.storage import ShardReader, ShardWriter, sha256_file

FEATURES = Features({"image": Image(shape=(8, 8, 3)), "idx": Scalar(), "name": Text()})


def _examples(n: int):
    rng = np.random.default_rng(0)
    for i in range(n):
        yield {"image": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), "idx": i, "name": str(i)}


def _write(directory: Path, n: int, target: int) -> list:
    writer = ShardWriter(directory, "part", FEATURES, target)
    for ex in _examples(n):
        writer.write(ex)
    return writer.close()


def test_same_input_gives_byte_identical_shards(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", 5000, 100_000)
    b = _write(tmp_path / "b", 5000, 100_000)
    assert len(a) == len(b) > 1
    assert [s.sha256 for s in a] == [s.sha256 for s in b]
    assert [p.path.read_bytes() == q.path.read_bytes() for p, q in zip(a, b, strict=True)] == [True] * len(a)


def test_the_sha256_hashed_as_written_is_that_of_the_file_and_the_bytes_are_arrows_own(tmp_path: Path) -> None:
    import pyarrow as pa

    for shard in _write(tmp_path / "a", 3000, 100_000):
        assert shard.sha256 == sha256_file(shard.path)  # hashed as written, never read back
        with pa.memory_map(str(shard.path)) as f:
            stored = pa.ipc.open_file(f)
            batches = [stored.get_batch(i) for i in range(stored.num_record_batches)]
            direct = tmp_path / "direct.arrow"
            with pa.OSFile(str(direct), "wb") as sink, pa.ipc.new_file(sink, stored.schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
        assert direct.read_bytes() == shard.path.read_bytes()  # the same file Arrow writes itself


def test_shards_are_cut_near_the_target_and_keep_every_row_in_order(tmp_path: Path) -> None:
    shards = _write(tmp_path, 5000, 100_000)
    assert sum(s.rows for s in shards) == 5000
    idx = np.concatenate([ShardReader(s.path).column("idx", 0) for s in shards])
    assert idx.tolist() == list(range(5000))
    for s in shards:
        assert s.sha256 == sha256_file(s.path) and s.bytes == s.path.stat().st_size
    assert not list(tmp_path.glob("*.tmp"))


def test_reader_gives_views_and_self_describes(tmp_path: Path) -> None:
    (shard,) = _write(tmp_path, 100, 10**9)
    reader = ShardReader(shard.path)  # features come from the schema metadata
    assert reader.features == FEATURES
    images = reader.column("image", 0)
    assert images.shape == (100, 8, 8, 3)
    expected = [ex["image"] for ex in _examples(100)]
    assert np.array_equal(images, np.stack(expected))
    assert not images.flags.writeable or images.base is not None


def test_reading_a_missing_or_garbage_shard_is_a_dsreg_error(tmp_path: Path) -> None:
    with pytest.raises(DsregError, match="missing"):
        ShardReader(tmp_path / "nope.arrow", FEATURES)
    bad = tmp_path / "bad.arrow"
    bad.write_bytes(b"not arrow at all")
    with pytest.raises(DsregError, match="not a readable Arrow IPC shard"):
        ShardReader(bad, FEATURES)


NULLABLE = Features(
    {
        "text": Text(),
        "tokens": Sequence(dtype="int32"),
        "point": Struct({"x": Scalar()}),
        "words": Sequence(Text()),
    }
)


@pytest.mark.parametrize(
    ("column", "values", "where"),
    [
        ("text", ["a", None, "c"], "column 'text'"),  # read back as None
        ("tokens", [[1], None, [3]], "column 'tokens'"),  # read back as an empty row
        ("point", [{"x": 1}, None, {"x": 3}], "column 'point'"),  # read back as {'x': 0}
        ("words", [["a"], ["b", None], []], "column 'words' (its values)"),  # read back as [b, None]
    ],
)
def test_a_shard_holding_nulls_is_refused_on_open_and_by_deep_verify(
    root: Path, column: str, values: list, where: str
) -> None:
    """An Arrow shard another tool wrote, consistent with its resealed manifest (size, sha256, schema, rows), but
    with a null: dsreg shards hold none, and a null read as None, an empty row or zeros while verify said OK."""
    import hashlib
    import json

    import pyarrow as pa

    import dsreg
    from dsreg.manifest import manifest_digest
    from dsreg.publish import make_writable

    rows = [{"text": "a", "tokens": [1], "point": {"x": 1}, "words": ["w"]} for _ in range(3)]
    m = dsreg.write_dataset("nulls", {"train": rows}, NULLABLE, root=root)
    path = m.shard_path(m.splits["train"].shards[0])
    schema = ShardReader(path).batches[0].schema
    arrays = [
        pa.array(values if name == column else [r[name] for r in rows], type=schema.field(name).type)
        for name in NULLABLE.names()
    ]
    make_writable(m.directory)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_batch(pa.record_batch(arrays, schema=schema))
    data = json.loads((m.directory / "manifest.json").read_text())
    shard = data["splits"]["train"]["shards"][0]
    shard["bytes"] = data["splits"]["train"]["bytes"] = path.stat().st_size
    shard["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    data["manifest_sha256"] = manifest_digest(data)
    (m.directory / "manifest.json").write_text(json.dumps(data))

    problems = dsreg.verify(m.directory, deep=True)[1]
    assert len(problems) == 1 and f"{where} holds 1 null" in problems[0].problem, problems
    with pytest.raises(DsregError, match=re.escape(f"{where} holds 1 null")) as err:
        dsreg.open(m.directory, "train").take([1])
    assert str(path) in str(err.value)
