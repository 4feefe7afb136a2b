from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dsreg import DsregError
from dsreg.loading import Loader, detect_rank, load, open_dataset
from dsreg.manifest import Manifest

PROBE = Path(__file__).with_name("resume_probe.py")


def ids(loader: Any) -> list[list[int]]:
    return [np.asarray(b["id"]).tolist() for b in loader]


MODES: dict[str, dict[str, Any]] = {
    "shuffled": {"batch_size": 64, "shuffle": True, "seed": 7},
    "padded-ranks": {"batch_size": 100, "shuffle": True, "rank": 1, "world_size": 3, "last_batch": "pad"},
    "balanced": {"batch_size": 20, "shuffle": True, "balance": "label"},
}


@pytest.mark.parametrize("mode", MODES)
def test_state_restores_exactly_the_remaining_batches(cifar: Manifest, mode: str) -> None:
    ds = open_dataset(cifar.directory, "train", columns=["id"])
    full = ids(Loader(ds, **MODES[mode]))
    first = Loader(ds, **MODES[mode])
    seen = []
    for batch in first:
        seen.append(batch["id"].tolist())
        if len(seen) == 5:
            break
    state = json.loads(json.dumps(first.state_dict()))
    assert state["epoch"] == 0 and state["batches"] == 5
    resumed = Loader(ds, **MODES[mode])
    resumed.load_state_dict(state)
    assert seen + ids(resumed) == full
    assert ids(first) == full[5:]  # the same loader also continues from its cursor


def test_bucketed_loader_resumes_and_budgets(tokens: Manifest) -> None:
    ds = open_dataset(tokens.directory, columns=["tokens", "id"])
    opts = {"max_tokens": 512, "shuffle": True, "seed": 1}
    full = list(Loader(ds, **opts))
    assert all(max(len(t) for t in b["tokens"]) * len(b["tokens"]) <= 512 for b in full)
    assert sorted(i for b in full for i in b["id"].tolist()) == list(range(3000))
    loader = Loader(ds, **opts)
    loader.load_state_dict({**loader.state_dict(), "batches": 9})
    assert ids(loader) == [b["id"].tolist() for b in full[9:]]
    with pytest.raises(DsregError, match="length_column"):
        Loader(open_dataset(tokens.directory), max_tokens=512)


def test_a_bucketed_state_is_refused_by_a_loader_that_orders_buckets_otherwise(tokens: Manifest) -> None:
    """A setting one loader's state records and the other's leaves out (within_buckets' default is not
    written) is a difference too: a sorted-bucket position resumed into shuffled buckets skips and repeats rows."""
    ds = open_dataset(tokens.directory, columns=["tokens", "id"])
    opts = {"max_tokens": 512, "shuffle": True, "seed": 1}
    sorted_state = {**Loader(ds, within_buckets="sorted", **opts).state_dict(), "batches": 9}
    with pytest.raises(DsregError, match="within: saved 'sorted', now None"):
        Loader(ds, **opts).load_state_dict(sorted_state)
    shuffled_state = Loader(ds, **opts).state_dict()
    with pytest.raises(DsregError, match="within: saved None, now 'sorted'"):
        Loader(ds, within_buckets="sorted", **opts).load_state_dict(shuffled_state)


def test_epochs_roll_over_and_set_epoch_keeps_a_restored_position(cifar: Manifest) -> None:
    ds = open_dataset(cifar.directory, "test", columns=["id"])
    loader = Loader(ds, 50, shuffle=True)
    e0, e1 = ids(loader), ids(loader)
    assert e0 != e1 and sorted(i for b in e1 for i in b) == list(range(10000, 10500))
    assert loader.state_dict()["epoch"] == 1
    fresh = Loader(ds, 50, shuffle=True)
    fresh.set_epoch(1)
    assert ids(fresh) == e1
    fresh.load_state_dict({**fresh.state_dict(), "epoch": 1, "batches": 4})
    fresh.set_epoch(1)  # what Lightning does at every epoch start: must not rewind the restored cursor
    assert ids(fresh) == e1[4:]


def test_a_state_from_another_loader_is_refused(cifar: Manifest) -> None:
    ds = open_dataset(cifar.directory, "train")
    state = Loader(ds, 32, shuffle=True, seed=1).state_dict()
    with pytest.raises(DsregError, match="seed: saved 1, now 2"):
        Loader(ds, 32, shuffle=True, seed=2).load_state_dict(state)
    with pytest.raises(DsregError, match="outside an epoch"):
        Loader(ds, 32, shuffle=True, seed=1).load_state_dict({**state, "batches": 10_000})


def test_threads_transform_and_last_batch_options(cifar: Manifest) -> None:
    ds = open_dataset(cifar.directory, "test", columns=["id"])
    assert ids(Loader(ds, 64, shuffle=True, num_threads=2)) == ids(Loader(ds, 64, shuffle=True))
    doubled = Loader(ds, 64, transform=lambda b: {"id": b["id"] * 2})
    assert next(iter(doubled))["id"].tolist()[:2] == [20000, 20002]
    assert [len(b) for b in ids(Loader(ds, 64, drop_last=True))] == [64] * 7
    assert [len(b) for b in ids(Loader(ds, 64, last_batch="partial"))][-1] == 500 - 7 * 64
    with pytest.raises(DsregError, match="contradicts"):
        Loader(ds, 64, drop_last=True, last_batch="pad")
    with pytest.raises(DsregError, match="unknown last-batch policy"):
        Loader(ds, 64, last_batch="keep")


def test_rank_detection_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert detect_rank() == (0, 1)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert detect_rank() == (3, 4)
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    # torchrun started by srun (one task per node, 2 processes per task): SLURM_PROCID is the node, the same for
    # both processes of a node, so RANK/WORLD_SIZE (this process's own) win, or both would read one part
    assert detect_rank() == (3, 4)
    assert detect_rank(0, 8) == (0, 8)  # explicit arguments first
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert detect_rank() == (3, 4)  # torchrun inside a one-task allocation
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    assert detect_rank() == (1, 2)  # srun's tasks alone: SLURM's pair
    with pytest.raises(DsregError, match="together"):
        detect_rank(rank=1)
    with pytest.raises(DsregError, match="not within a world"):
        detect_rank(2, 2)


def test_load_numpy_end_to_end(cifar: Manifest) -> None:
    loader = load("cifar", "train[:10%]", "np", batch_size=100, shuffle=True, seed=3, num_workers=2)
    assert isinstance(loader, Loader) and len(loader) == 3
    batches = list(loader)
    assert sorted(i for b in batches for i in b["id"].tolist()) == list(range(250))
    assert batches[0]["image"].shape == (100, 32, 32, 3)
    with pytest.raises(DsregError, match="unknown framework 'jax'") as err:
        load("cifar", framework="jax")
    assert "pytorch" in str(err.value)


def test_a_missing_framework_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    with pytest.raises(DsregError, match=r"pip install 'dsreg\[tf\]'"):
        load("anything", framework="tensorflow")


def run_probe(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(PROBE), json.dumps(spec)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_resume_in_a_fresh_process_yields_the_remaining_batches(cifar: Manifest, tmp_path: Path) -> None:
    spec = {"dataset": str(cifar.directory), "split": "train", "framework": "numpy"}
    spec["options"] = {"batch_size": 96, "shuffle": True, "seed": 11, "columns": ["id"]}
    state = tmp_path / "state.json"
    full = run_probe({**spec, "save_after": 4, "state_out": str(state)})["batches"]
    assert json.loads(state.read_text())["batches"] == 4
    tail = run_probe({**spec, "state_in": str(state)})["batches"]
    assert tail == full[4:] and len(full) == 27
