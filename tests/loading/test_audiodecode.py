"""`load(..., audio_dtype=...)`: int16 stays the default; float32 equals int16 / 32768 exactly, in numpy, torch
(in its workers), tf, keras and hf, for mono and for stereo rows (channels kept); wrong requests refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg.errors import DsregError
from dsreg.features import Audio, Features, Text
from dsreg.loading.audiodecode import to_float32

FEATURES = Features(
    {"id": Text(), "mono": Audio("int16", 8000), "stereo": Audio("int16", 8000, channels=2), "f": Audio("float32")}
)
LENGTHS = (5, 9, 3, 7)


def _rows() -> list[dict[str, object]]:
    rng = np.random.default_rng(0)
    rows = []
    for i, n in enumerate(LENGTHS):
        mono = rng.integers(-32768, 32768, n).astype(np.int16)
        mono[0] = -32768 if i == 0 else 32767  # both ends of the range
        stereo = rng.integers(-32768, 32768, (2, n)).astype(np.int16)
        rows.append({"id": f"u{i}", "mono": mono, "stereo": stereo, "f": rng.uniform(-1, 1, n).astype(np.float32)})
    return rows


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("audio")
    dsreg.write_dataset("snd", {"train": _rows()}, FEATURES, root=base, supervised_keys=("mono", "stereo"))
    return base


def _exact(got: np.ndarray, samples: np.ndarray) -> None:
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, samples.astype(np.float64) / 32768)  # exact, not approximate
    assert got.min() >= -1 and got.max() < 1


def test_int16_is_the_default_and_rows_keep_their_channels(root: Path) -> None:
    batch = next(iter(dsreg.load("snd", root=root, batch_size=4)))
    for row, mono, stereo in zip(_rows(), batch["mono"], batch["stereo"], strict=True):
        assert mono.dtype == np.int16 and stereo.dtype == np.int16 and stereo.shape == (2, mono.size)
        np.testing.assert_array_equal(mono, row["mono"])
        np.testing.assert_array_equal(stereo, row["stereo"])


def test_numpy_float32_is_int16_over_32768(root: Path) -> None:
    batch = next(iter(dsreg.load("snd", root=root, batch_size=4, audio_dtype="float32")))
    for row, mono, stereo, f in zip(_rows(), batch["mono"], batch["stereo"], batch["f"], strict=True):
        _exact(mono, row["mono"])
        _exact(stereo, row["stereo"])
        assert stereo.shape == (2, len(row["mono"]))
        np.testing.assert_array_equal(f, row["f"])  # float audio passes through


def test_torch_converts_in_its_workers(root: Path) -> None:
    torch = pytest.importorskip("torch")
    loader = dsreg.load("snd", "train", "torch", root=root, batch_size=2, audio_dtype="float32", num_workers=2)
    rows = _rows()
    seen = 0
    for batch in loader:
        assert batch["mono"].dtype == torch.float32 and batch["stereo"].dtype == torch.float32
        for mono, stereo, n in zip(batch["mono"], batch["stereo"], batch["mono_lengths"].tolist(), strict=True):
            row = rows[seen]
            _exact(mono[:n].numpy(), row["mono"])
            _exact(stereo[:n].numpy().T, row["stereo"])  # (frames, channels) in a batch
            assert not mono[n:].any()
            seen += 1
    assert seen == len(rows)


def test_tf_and_keras_deliver_float32(root: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    rows = _rows()
    batch = next(iter(dsreg.load("snd", "train", "tf", root=root, batch_size=4, audio_dtype="float32")))
    assert batch["mono"].dtype == tf.float32 and batch["stereo"].shape.as_list() == [4, None, 2]
    for i, row in enumerate(rows):
        _exact(batch["mono"][i].numpy(), row["mono"])
        _exact(batch["stereo"][i].numpy().T, row["stereo"])
    pytest.importorskip("keras")
    x, y = dsreg.load("snd", "train", "keras", root=root, batch_size=4, audio_dtype="float32")[0]
    assert x.dtype == np.float32 and y.shape == (4, max(LENGTHS), 2)
    _exact(x[1, : LENGTHS[1]], rows[1]["mono"])


def test_hf_converts_the_arrow_column(root: Path) -> None:
    pytest.importorskip("datasets")
    ds = dsreg.load("snd", "train", "hf", root=root, audio_dtype="float32").with_format("numpy")
    for i, row in enumerate(_rows()):
        _exact(ds[i]["mono"], row["mono"])
        _exact(ds[i]["stereo"].T, row["stereo"])
    assert ds.features["mono"].feature.dtype == "float32"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"audio_dtype": "float64"}, "audio_dtype='float64'"),
        ({"audio_dtype": "int16", "columns": ["f"]}, r"\{'f': 'float32'\} cannot be delivered as int16"),
        ({"audio_dtype": "float32", "columns": ["id"]}, "the columns read have none"),
    ],
)
def test_wrong_requests_are_refused(root: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DsregError, match=message):
        dsreg.load("snd", root=root, **kwargs)


def test_the_extreme_samples_scale_exactly() -> None:
    rows = np.empty(1, dtype=object)
    rows[0] = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    out = to_float32(rows)[0]
    assert out.tolist() == [-1.0, -1 / 32768, 0.0, 1 / 32768, 32767 / 32768]


def test_max_tokens_budgets_the_only_audio_column_by_default(root: Path) -> None:
    loader = dsreg.load("snd", root=root, max_tokens=14, columns=["id", "mono"], shuffle=True)
    assert loader.batching["length_column"] == "mono"  # not the text id: speech is budgeted by duration
    sizes = [max(len(m) for m in b["mono"]) * len(b["mono"]) for b in loader]
    assert max(sizes) <= 14 and sum(len(b["id"]) for b in loader) == len(LENGTHS)
    with pytest.raises(DsregError, match="which column's length to budget"):
        dsreg.load("snd", root=root, max_tokens=14)  # three audio columns: say which
