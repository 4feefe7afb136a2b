"""The CIFAR readers on all four vendor flavours, packed and unpacked: exact rows, pixels (HWC) and labels;
and each flavour through the reader contract (dsreg.testing.ReaderContract)."""

from __future__ import annotations

import io
import pickle
import shutil
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pytest
import yaml

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, Features, Image, Scalar
from dsreg.readers import Reader, get_reader
from dsreg.sourcetree import SourceTree
from dsreg.testing import Damaged, ReaderContract, cifar, hostile

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
TRAIN, TEST = 23, 7  # 23 train rows split unevenly over CIFAR-10's five batches
FLAVOURS: dict[tuple[str, str], tuple[Callable[..., Path], dict[str, list[str]]]] = {
    ("cifar10", "python"): (
        cifar.make_cifar10_python,
        {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    ),
    ("cifar10", "binary"): (
        cifar.make_cifar10_binary,
        {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]},
    ),
    ("cifar100", "python"): (cifar.make_cifar100_python, {"train": ["train"], "test": ["test"]}),
    ("cifar100", "binary"): (cifar.make_cifar100_binary, {"train": ["train.bin"], "test": ["test.bin"]}),
}


def _features(variant: str) -> Features:
    """The shipped recipe's features, so the test also pins the recipe's label names to the real ones."""
    return Features.from_json(yaml.safe_load((RECIPES / f"{variant}.yaml").read_text())["features"])


def _reader(variant: str, flavour: str, features: Features | None = None) -> Reader:
    return get_reader(f"cifar_{flavour}")({"variant": variant}, features or _features(variant))


def _unpack(archive: Path, dest: Path, *, drop_top: bool = False) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    if drop_top:
        (top,) = dest.iterdir()
        for member in top.iterdir():
            member.rename(dest / member.name)
        top.rmdir()
    return dest


def _read_split(reader: Reader, tree: SourceTree, split: str, files: list[str]) -> pa.Table:
    sources = {"archive": tree}
    tasks = reader.tasks(sources, split, {"files": files})
    assert tasks == files
    batches = []
    for task in tasks:
        out = list(reader.read(sources, split, {"files": files}, task))
        assert len(out) == 1 and isinstance(out[0], pa.RecordBatch)  # one record batch per batch file
        batches.append(out[0])
    return pa.Table.from_batches(batches)


def _images(table: pa.Table) -> np.ndarray:
    return np.concatenate([c.values.to_numpy() for c in table.column("image").chunks]).reshape(-1, 32, 32, 3)


@pytest.mark.parametrize("layout", ["archive", "unpacked", "no-top-folder"])
@pytest.mark.parametrize(("variant", "flavour"), sorted(FLAVOURS))
def test_reads_every_flavour_exactly(tmp_path: Path, variant: str, flavour: str, layout: str) -> None:
    make, files = FLAVOURS[variant, flavour]
    archive = make(tmp_path / "raw", train_rows=TRAIN, test_rows=TEST, seed=3)
    source = archive if layout == "archive" else _unpack(archive, tmp_path / "src", drop_top=layout != "unpacked")
    reader = _reader(variant, flavour)
    tree = SourceTree.open(source)
    for split, rows in (("train", TRAIN), ("test", TEST)):
        table = _read_split(reader, tree, split, files[split])
        expected = cifar.expected_cifar(variant, split, rows, seed=3)
        assert table.schema == reader.features.arrow_schema()
        assert table.num_rows == rows
        assert np.array_equal(_images(table), expected["image"])  # HWC, pixel for pixel
        assert np.array_equal(table.column("label").to_numpy(), expected["label"])
        if variant == "cifar100":
            assert np.array_equal(table.column("coarse_label").to_numpy(), expected["coarse_label"])
            assert np.array_equal(np.take(cifar.CIFAR100_COARSE_OF_FINE, expected["label"]), expected["coarse_label"])


def test_the_real_label_names_and_order() -> None:
    assert cifar.CIFAR10_LABELS[0] == "airplane" and cifar.CIFAR10_LABELS[-1] == "truck"
    assert len(cifar.CIFAR100_FINE_LABELS) == 100 and len(cifar.CIFAR100_COARSE_LABELS) == 20
    assert cifar.CIFAR100_FINE_LABELS[:3] == ("apple", "aquarium_fish", "baby")
    assert cifar.CIFAR100_FINE_LABELS[-1] == "worm" and cifar.CIFAR100_COARSE_LABELS[-1] == "vehicles_2"
    # the published fine → coarse table (e.g. apple → fruit_and_vegetables, beaver → aquatic_mammals)
    assert cifar.CIFAR100_COARSE_OF_FINE[:10] == (4, 1, 14, 8, 0, 6, 7, 7, 18, 3)
    assert cifar.CIFAR100_COARSE_OF_FINE[-10:] == (18, 1, 2, 15, 6, 0, 17, 8, 14, 13)


def test_binary_cifar100_records_are_coarse_then_fine(tmp_path: Path) -> None:
    src = _unpack(cifar.make_cifar100_binary(tmp_path, train_rows=1, test_rows=1), tmp_path / "src")
    planes = [np.full(1024, 10), np.arange(1024) % 256, np.full(1024, 30)]  # planar: R, then G, then B
    (src / "cifar-100-binary" / "train.bin").write_bytes(
        bytes([3, 70]) + np.concatenate(planes).astype(np.uint8).tobytes()
    )
    table = _read_split(_reader("cifar100", "binary"), SourceTree.open(src), "train", ["train.bin"])
    assert table.column("coarse_label").to_pylist() == [3] and table.column("label").to_pylist() == [70]
    image = _images(table)[0]
    assert image[0, 1].tolist() == [10, 1, 30]  # row 0, column 1: one byte from each plane
    assert image[1, 0].tolist() == [10, 32, 30]  # planes are row-major 32×32


def test_peer_style_pickles_with_str_keys_and_array_labels(tmp_path: Path) -> None:
    """Peer fixtures (torchvision's fakes) pickle str keys with Python 3, labels as arrays, no filenames."""
    expected = cifar.expected_cifar("cifar10", "test", 5)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    planar = expected["image"].transpose(0, 3, 1, 2).reshape(5, 3072)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": planar, "labels": expected["label"].astype(np.int32)}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(cifar.CIFAR10_LABELS)}))
    table = _read_split(_reader("cifar10", "python"), SourceTree.open(tmp_path), "test", ["test_batch"])
    assert np.array_equal(_images(table), expected["image"])
    assert table.column("label").to_pylist() == expected["label"].tolist()


@pytest.mark.parametrize("flavour", ["python", "binary"])
def test_label_names_that_differ_from_the_archive_are_refused(tmp_path: Path, flavour: str) -> None:
    make, files = FLAVOURS["cifar100", flavour]
    tree = SourceTree.open(make(tmp_path, train_rows=2, test_rows=2))
    features = _features("cifar100")
    swapped = list(cifar.CIFAR100_COARSE_LABELS)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    wrong = Features({**features.columns, "coarse_label": ClassLabel(names=tuple(swapped))})
    with pytest.raises(DsregError) as err:
        _reader("cifar100", flavour, wrong).tasks({"archive": tree}, "train", {"files": files["train"]})
    message = str(err.value)
    assert "features.coarse_label names differ" in message
    assert "'fish' in the recipe but 'aquatic_mammals' in the archive" in message
    assert ("meta" if flavour == "python" else "coarse_label_names.txt") in message


@pytest.mark.parametrize("cut", [1, 3073 * 2 + 100])
def test_a_truncated_binary_batch_is_refused(tmp_path: Path, cut: int) -> None:
    src = _unpack(cifar.make_cifar10_binary(tmp_path, train_rows=15, test_rows=3), tmp_path / "src")
    batch = src / "cifar-10-batches-bin" / "data_batch_2.bin"
    batch.write_bytes(batch.read_bytes()[:-cut])
    reader, tree = _reader("cifar10", "binary"), SourceTree.open(src)
    with pytest.raises(DsregError) as err:
        list(reader.read({"a": tree}, "train", {}, "data_batch_2.bin"))
    message = str(err.value)
    assert str(batch) in message and "3073-byte CIFAR records" in message and "truncated or corrupt" in message


def test_out_of_range_labels_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "cifar-10-batches-bin"
    src.mkdir()
    (src / "test_batch.bin").write_bytes(bytes([10]) + bytes(3072))
    with pytest.raises(DsregError, match=r"labels outside 0..9 \(from 10 to 10\)"):
        list(_reader("cifar10", "binary").read({"a": SourceTree.open(tmp_path)}, "test", {}, "test_batch.bin"))


@pytest.mark.parametrize(
    ("batch", "problem"),
    [
        ({b"data": np.zeros((2, 3072), np.uint8)}, "no 'labels' entry"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, "'labels' should be 2 integer labels"),
        ({b"data": np.zeros((2, 1024), np.uint8), b"labels": [1, 2]}, "'data' should be an N×3072 uint8 array"),
        ({b"data": np.zeros((2, 3072), np.int16), b"labels": [1, 2]}, "'data' should be an N×3072 uint8 array"),
        ([1, 2], "expected a pickled dict, found list"),
    ],
)
def test_malformed_python_batches_are_refused(tmp_path: Path, batch: Any, problem: str) -> None:
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DsregError, match="truncated or corrupt") as err:
        list(_reader("cifar10", "python").read({"a": SourceTree.open(tmp_path)}, "test", {}, "test_batch"))
    assert problem in str(err.value) and str(tmp_path / "test_batch") in str(err.value)


def test_a_malicious_batch_is_never_executed(tmp_path: Path) -> None:
    src = _unpack(cifar.make_cifar10_python(tmp_path, train_rows=5, test_rows=1), tmp_path / "src")
    marker = tmp_path / "pwned"
    (src / "cifar-10-batches-py" / "data_batch_3").write_bytes(hostile.malicious_pickle(marker, via="system"))
    reader, sources = _reader("cifar10", "python"), {"a": SourceTree.open(src)}
    with pytest.raises(DsregError, match=r"refusing to unpickle \w+\.system") as err:
        list(reader.read(sources, "train", {}, "data_batch_3"))
    assert "data_batch_3" in str(err.value)
    assert not marker.exists()


def test_the_recipe_must_match_what_the_reader_fills() -> None:
    image = Image(shape=(32, 32, 3))
    labels = ClassLabel(names=cifar.CIFAR10_LABELS)
    with pytest.raises(DsregError, match=r"reader\.args\.variant is 'cifar1000'"):
        get_reader("cifar_python")({"variant": "cifar1000"}, _features("cifar10"))
    with pytest.raises(DsregError, match=r"fills the columns \['coarse_label', 'image', 'label'\]"):
        _reader("cifar100", "python", _features("cifar10"))
    with pytest.raises(DsregError, match="32×32×3 uint8"):
        _reader("cifar10", "binary", Features({"image": Image(shape=(28, 28, 1)), "label": labels}))
    with pytest.raises(DsregError, match=r"features\.label must be a class_label"):
        _reader("cifar10", "binary", Features({"image": image, "label": Scalar()}))


def test_split_args_and_sources_are_checked(tmp_path: Path) -> None:
    tree = SourceTree.open(cifar.make_cifar10_binary(tmp_path, train_rows=5, test_rows=1))
    reader = _reader("cifar10", "binary")
    with pytest.raises(DsregError, match=r"splits\.train\.args\.files must be a non-empty list"):
        reader.tasks({"a": tree}, "train", {"files": "data_batch_1.bin"})
    with pytest.raises(DsregError, match="lists a file twice"):
        reader.tasks({"a": tree}, "train", {"files": ["test_batch.bin", "test_batch.bin"]})
    with pytest.raises(DsregError, match=r"no file matches 'data_batch_6\.bin'"):
        reader.tasks({"a": tree}, "train", {"files": ["data_batch_6.bin"]})
    with pytest.raises(DsregError, match="exactly one source, the recipe gives 2"):
        reader.tasks({"a": tree, "b": tree}, "test", {"files": ["test_batch.bin"]})


def test_readers_pickle_for_worker_processes(tmp_path: Path) -> None:
    archive = cifar.make_cifar10_python(tmp_path, train_rows=5, test_rows=2)
    reader, tree = _reader("cifar10", "python"), SourceTree.open(archive)
    tree.names()
    clone_reader, clone_tree = pickle.loads(pickle.dumps((reader, tree)))
    (batch,) = clone_reader.read({"a": clone_tree}, "test", {}, "test_batch")
    assert batch.num_rows == 2


def test_generated_archives_are_byte_identical_for_a_seed(tmp_path: Path) -> None:
    one = cifar.make_cifar100_python(tmp_path / "one", train_rows=4, test_rows=2, seed=7)
    two = cifar.make_cifar100_python(tmp_path / "two", train_rows=4, test_rows=2, seed=7)
    assert one.name == "cifar-100-python.tar.gz" and one.read_bytes() == two.read_bytes()
    with tarfile.open(one) as tar:
        names = tar.getnames()
    assert names == ["cifar-100-python", *(f"cifar-100-python/{n}" for n in ("file.txt~", "meta", "test", "train"))]
    shutil.rmtree(tmp_path / "two")


# ------------------------------------------------------------------------------ the reader contract


def _repack(archive: Path, dest: Path, replace: dict[str, bytes]) -> Path:
    """A copy of a generated tar.gz with some members' bytes replaced (matched by the end of their names)."""
    out = dest / archive.name
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as tar:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            for suffix, new in replace.items():
                if member.name.endswith("/" + suffix):
                    data = new
            if data is not None:
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return out


class _CifarContract(ReaderContract):
    variant: ClassVar[str]
    flavour: ClassVar[str]
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        make, _ = FLAVOURS[self.variant, self.flavour]
        return make(dest, train_rows=self.rows["train"], test_rows=self.rows["test"], seed=5)


class _PythonContract(_CifarContract):
    flavour = "python"

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        yield from super().damaged_sources(source, dest)
        batch = FLAVOURS[self.variant, "python"][1]["train"][-1]
        evil = _repack(source, dest / "evil", {batch: hostile.malicious_pickle(dest / "pwned", via="system")})
        yield Damaged("a batch whose unpickling would run a command", evil, batch)
        meta = "batches.meta" if self.variant == "cifar10" else "meta"
        names = _repack(
            source, dest / "names", {meta: cifar.py2_pickle({"label_names": ["x"], "fine_label_names": []})}
        )
        yield Damaged("label names that differ from the recipe's", names, meta)


class _BinaryContract(_CifarContract):
    flavour = "binary"

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        yield from super().damaged_sources(source, dest)
        batch = FLAVOURS[self.variant, "binary"][1]["train"][0]
        record = 3073 if self.variant == "cifar10" else 3074
        cut = _repack(source, dest / "cut", {batch: bytes(record * 2 - 5)})
        yield Damaged("a batch cut inside a record", cut, batch)
        labels = _repack(source, dest / "labels", {batch: bytes([200, 200]) + bytes(record - 2)})
        yield Damaged("labels outside the classes", labels, batch)


class TestCifar10PythonContract(_PythonContract):
    reader, recipe, variant = "cifar_python", "cifar10/python", "cifar10"
    rows: ClassVar[dict[str, int]] = {"train": 23, "test": 7}


class TestCifar10BinaryContract(_BinaryContract):
    reader, recipe, variant = "cifar_binary", "cifar10/binary", "cifar10"
    rows: ClassVar[dict[str, int]] = {"train": 23, "test": 7}


class TestCifar100PythonContract(_PythonContract):
    reader, recipe, variant = "cifar_python", "cifar100/python", "cifar100"
    rows: ClassVar[dict[str, int]] = {"train": 17, "test": 6}


class TestCifar100BinaryContract(_BinaryContract):
    reader, recipe, variant = "cifar_binary", "cifar100/binary", "cifar100"
    rows: ClassVar[dict[str, int]] = {"train": 17, "test": 6}
