from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dsreg  # noqa: E402
from dsreg import ClassLabel, EncodedImage, Features, Image, Scalar, Sequence, Text  # noqa: E402
from dsreg.frameworks.torch import TorchLoader  # noqa: E402
from dsreg.loading import Loader, load, open_dataset, pad_sequences  # noqa: E402

PROBE = Path(__file__).parents[1] / "loading" / "resume_probe.py"
FEATURES = Features({"image": Image(shape=(32, 32, 3)), "label": ClassLabel(names=tuple("abcdefghij")), "id": Scalar()})


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2500 CIFAR-shaped rows over three shards; `id` is the row number."""
    rows = ({"image": np.full((32, 32, 3), i % 251, np.uint8), "label": i % 10, "id": i} for i in range(2500))
    manifest = dsreg.write_dataset("tcifar", {"train": rows}, FEATURES, root=tmp_path_factory.mktemp("r"), shard_size=1)
    assert manifest.directory is not None and len(manifest.splits["train"].shards) == 3
    return manifest.directory


def test_torch_batches_are_the_rows_of_take(cifar_dir: Path) -> None:
    dl = load(cifar_dir, "train", "pytorch", batch_size=96, shuffle=True, seed=3)
    assert isinstance(dl, torch.utils.data.DataLoader) and len(dl) == 27
    ds = open_dataset(cifar_dir)
    batches = list(dl)
    assert len(batches) == 27
    for indices, batch in zip(dl.loader.batch_indices(0), batches, strict=True):
        expected = ds.take(indices)
        assert set(batch) == set(expected)
        for name, values in expected.items():
            tensor = batch[name]
            assert isinstance(tensor, torch.Tensor) and tensor.numpy().dtype == values.dtype
            np.testing.assert_array_equal(tensor.numpy(), values)
    assert batches[0]["image"].shape == (96, 32, 32, 3) and batches[0]["label"].dtype == torch.int64


def test_tensors_hold_the_stored_rows_and_never_change_after_delivery(cifar_dir: Path) -> None:
    dl = load(cifar_dir, "train", "torch", batch_size=96, shuffle=True, seed=4)
    epochs = [list(dl), list(dl)]  # every tensor kept while later batches are gathered
    numpy_ids = [b["id"].tolist() for b in load(cifar_dir, "train", "numpy", batch_size=96, shuffle=True, seed=4)]
    assert [b["id"].tolist() for b in epochs[0]] == numpy_ids  # the same epoch order in every framework
    for batches in epochs:
        ids = torch.cat([b["id"] for b in batches])
        assert sorted(ids.tolist()) == list(range(2500))
        for batch in batches:
            expected = (batch["id"] % 251).to(torch.uint8)
            assert torch.equal(batch["image"], expected[:, None, None, None].expand(-1, 32, 32, 3))
            assert torch.equal(batch["label"], batch["id"] % 10)


def test_ragged_columns_pad_and_text_stays_a_list(tmp_path: Path) -> None:
    features = Features({"tokens": Sequence(dtype="int16"), "text": Text()})
    rows = ({"tokens": np.arange(i % 9), "text": f"row {i}"} for i in range(50))
    manifest = dsreg.write_dataset("ragged", {"train": rows}, features, root=tmp_path)
    dl = load(manifest.directory, framework="torch", batch_size=16, pad_value=-1)
    batch = next(iter(dl))
    expected = open_dataset(manifest.directory).take(np.arange(16))
    padded, lengths = pad_sequences(expected["tokens"], pad_value=-1)
    assert batch["tokens"].dtype == torch.int16 and batch["tokens"].shape == padded.shape
    np.testing.assert_array_equal(batch["tokens"].numpy(), padded)
    np.testing.assert_array_equal(batch["tokens_lengths"].numpy(), lengths)
    assert batch["text"] == expected["text"].tolist()


@pytest.mark.parametrize(
    ("pad_value", "column"),
    [(-100, "tokens"), (300, "tokens"), (0.5, "ids"), (float("nan"), "ids")],
)
def test_a_pad_value_a_column_cannot_hold_is_refused_naming_the_column(
    tmp_path: Path, pad_value: float, column: str
) -> None:
    """-100 (CrossEntropy's ignore_index) on uint8 tokens raised a bare OverflowError in the first batch; 0.5 or
    NaN on int64 ids padded with 0 (or int64's minimum), indistinguishable from real values."""
    features = Features(
        {"tokens": Sequence(dtype="uint8"), "ids": Sequence(dtype="int64"), "x": Sequence(dtype="float32")}
    )
    rows = ({"tokens": np.arange(i % 3), "ids": np.arange(i % 4), "x": np.ones(i % 2)} for i in range(8))
    manifest = dsreg.write_dataset("pads", {"train": rows}, features, root=tmp_path)
    with pytest.raises(dsreg.DsregError, match=f"pad_value={pad_value!r} does not fit column {column!r}"):
        load(manifest.directory, framework="torch", batch_size=4, columns=[column, "x"], pad_value=pad_value)
    floats = load(manifest.directory, framework="torch", batch_size=4, columns=["x"], pad_value=float("nan"))
    assert torch.isnan(next(iter(floats))["x"]).any()  # NaN pads a float column

    # a loader transform may cast the column first (the check then leaves it to the batches)
    def wider(batch: dict[str, Any]) -> dict[str, Any]:
        tokens = np.empty(len(batch["tokens"]), dtype=object)
        tokens[:] = [t.astype(np.int64) for t in batch["tokens"]]
        return {"tokens": tokens}

    cast = Loader(open_dataset(manifest.directory, columns=["tokens"]), 4, transform=wider)
    tokens = next(iter(TorchLoader(cast, pad_value=-100)))["tokens"]
    assert tokens.dtype == torch.int64 and tokens.tolist() == [[-100, -100], [0, -100], [0, 1], [-100, -100]]


def test_encoded_images_decode_in_the_workers(tmp_path: Path) -> None:
    tvio = pytest.importorskip("torchvision.io")
    images = [torch.randint(0, 255, (3, 6 + i % 2, 5), dtype=torch.uint8) for i in range(12)]
    rows = ({"png": tvio.encode_png(img).numpy().tobytes(), "id": i} for i, img in enumerate(images))
    features = Features({"png": EncodedImage(format="png"), "id": Scalar()})
    manifest = dsreg.write_dataset("pngs", {"train": rows}, features, root=tmp_path)
    decoded = list(load(manifest.directory, framework="torch", batch_size=4, num_workers=2))
    first = decoded[0]["png"]  # rows 0..3 differ in height, so a list of (C, H, W) tensors
    assert isinstance(first, list) and all(torch.equal(a, images[i]) for i, a in enumerate(first))

    def worker_pid(values: np.ndarray) -> Any:
        return torch.full((len(values),), os.getpid())

    hooked = load(
        manifest.directory, framework="torch", batch_size=4, num_workers=2, decoders={"encoded_image": worker_pid}
    )
    pids = {int(p) for batch in hooked for p in batch["png"]}
    assert pids and os.getpid() not in pids


def test_lightning_conventions_and_state(cifar_dir: Path) -> None:
    opts: dict[str, Any] = {"batch_size": 64, "shuffle": True, "transform": lambda b: b["id"]}
    dl = load(cifar_dir, "train[:500]", "torch", num_workers=2, **opts)
    assert isinstance(dl, TorchLoader) and dl.persistent_workers and len(dl) == len(dl.batch_sampler) == 8
    dl.batch_sampler.set_epoch(3)
    epoch3 = [b.tolist() for b in dl]
    assert dl.state_dict()["epoch"] == 3 and dl.state_dict()["batches"] == 8
    again = load(cifar_dir, "train[:500]", "torch", **opts)
    again.set_epoch(3)
    assert [b.tolist() for b in again] == epoch3
    assert [b.tolist() for b in dl] != epoch3  # the next epoch rolls over to a new order
    assert sorted(i for b in epoch3 for i in b) == list(range(500))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_prefetch_delivers_the_same_batches_on_the_gpu(cifar_dir: Path) -> None:
    cpu = list(load(cifar_dir, "train[:1000]", "torch", batch_size=128, shuffle=True))
    gpu = load(cifar_dir, "train[:1000]", "torch", batch_size=128, shuffle=True, device="cuda")
    assert gpu.pin_memory
    for a, b in zip(cpu, gpu, strict=True):
        assert b["image"].is_cuda and torch.equal(a["image"], b["image"].cpu()) and torch.equal(a["id"], b["id"].cpu())
    assert gpu.state_dict()["batches"] == len(cpu)


def run_probes(specs: list[dict[str, Any]], envs: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Run the probe once per spec, concurrently (ranks must meet in init_process_group); output goes to files,
    so a rank that writes a lot cannot block on a full pipe while its peer waits for it."""
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in specs]
        return [_wait(proc, log) for proc, log in zip(_start(specs, envs, logs), logs, strict=True)]


def _start(specs: list[dict[str, Any]], envs: list[dict[str, str]], logs: list[Any]) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, str(PROBE), json.dumps(spec)], env={**os.environ, **env}, stdout=log, stderr=log, text=True
        )
        for spec, env, log in zip(specs, envs, logs, strict=True)
    ]


def _wait(proc: subprocess.Popen[str], log: Any) -> dict[str, Any]:
    proc.wait(timeout=180)
    log.seek(0)
    text = log.read()
    assert proc.returncode == 0, text
    result: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    return result


def test_resume_with_two_workers_in_a_fresh_process(cifar_dir: Path, tmp_path: Path) -> None:
    options = {"batch_size": 128, "shuffle": True, "seed": 5, "num_workers": 2, "columns": ["id", "image"]}
    spec = {"dataset": str(cifar_dir), "split": "train", "framework": "torch", "options": options}
    state = tmp_path / "state.json"
    (full,) = run_probes([{**spec, "save_after": 3, "state_out": str(state)}], [{}])
    assert json.loads(state.read_text())["batches"] == 3  # delivered, not what the workers had fetched
    (resumed,) = run_probes([{**spec, "state_in": str(state)}], [{}])
    assert resumed["batches"] == full["batches"][3:] and len(full["batches"]) == 20


def test_two_ranks_split_the_epoch_evenly_and_resume(cifar_dir: Path, tmp_path: Path) -> None:
    options = {"batch_size": 96, "shuffle": True, "seed": 2, "columns": ["id"]}  # 2500 rows: 13 full steps + a tail
    spec = {"dataset": str(cifar_dir), "split": "train", "framework": "torch", "options": options, "distributed": True}
    # SLURM variables that disagree prove the initialised process group is asked first
    envs = [{"RANK": str(r), "WORLD_SIZE": "2", "SLURM_PROCID": "0", "SLURM_NTASKS": "3"} for r in range(2)]
    states = [tmp_path / f"rank{r}.json" for r in range(2)]
    spec["store"] = str(tmp_path / "store-first")
    first = run_probes([{**spec, "save_after": 5, "state_out": str(s)} for s in states], envs)
    assert [(r["rank"], r["world"]) for r in first] == [(0, 2), (1, 2)]
    assert len(first[0]["batches"]) == len(first[1]["batches"]) == first[0]["len"] == 14
    rows = [[i for b in r["batches"] for i in b] for r in first]
    assert not set(rows[0]) & set(rows[1])
    assert sorted(rows[0] + rows[1]) == list(range(2500))
    spec["store"] = str(tmp_path / "store-resumed")
    resumed = run_probes([{**spec, "state_in": str(s)} for s in states], envs)
    for before, after in zip(first, resumed, strict=True):
        assert after["batches"] == before["batches"][5:]


def test_the_in_process_loop_gives_what_torchs_own_iterator_gives(cifar_dir: Path) -> None:
    ours = load(cifar_dir, "train", "torch", batch_size=200, shuffle=True, seed=9)
    torchs = load(cifar_dir, "train", "torch", batch_size=200, shuffle=True, seed=9)
    mine = list(ours)
    theirs = list(torch.utils.data.DataLoader.__iter__(torchs))  # torch's _SingleProcessDataLoaderIter
    assert len(mine) == len(theirs) == 13
    for a, b in zip(mine, theirs, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert ours.state_dict()["batches"] == 13 and torchs.state_dict()["batches"] == 0  # ours counts deliveries
    pinned = load(cifar_dir, "train", "torch", batch_size=200, pin_memory=True)
    with pytest.warns(UserWarning, match="pin_memory"):  # pinning runs torch's own loop, which warns here
        assert torch.equal(next(iter(pinned))["id"], torch.arange(200))
