"""Preparing a real recipe (CIFAR-10 from a generated vendor archive) in every storage format: identical
batches, deterministic bytes, the format in the manifest, `verify --deep`, resume after a crash."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

import dsreg
import dsreg.preparation as prepare_module
from dsreg import DsregError
from dsreg.manifest import Manifest, verify_manifest
from dsreg.preparation import Progress, prepare
from dsreg.storage import FORMATS
from dsreg.storage.base import shard_files
from dsreg.testing import cifar

TRAIN, TEST = 300, 60


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vendor's layout unpacked (a local directory: no vendor checksum to match)."""
    raw = tmp_path_factory.mktemp("raw")
    with tarfile.open(cifar.make_cifar10_python(raw, train_rows=TRAIN, test_rows=TEST)) as tar:
        tar.extractall(raw / "unpacked", filter="data")
    return raw / "unpacked"


def _prepare(archive: Path, root: Path, storage: str | None, **kw) -> Manifest:
    return prepare("cifar10", source=archive, root=root, storage=storage, check_counts=False, **kw)


@pytest.fixture(scope="module")
def prepared(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Manifest]:
    return {fmt: _prepare(archive, tmp_path_factory.mktemp(fmt), fmt) for fmt in FORMATS}


def test_the_same_recipe_gives_identical_batches_in_every_format(prepared) -> None:
    expected = cifar.expected_cifar("cifar10", "train", TRAIN)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, TRAIN + TEST, 200)
    batches = {}
    for fmt, manifest in prepared.items():
        assert {s.format for s in manifest.splits.values()} == {fmt}
        assert manifest.to_json()["splits"]["train"]["format"] == fmt
        assert verify_manifest(manifest, deep=True) == []
        ds = dsreg.open(manifest.directory, "train+test")
        batches[fmt] = ds.take(idx)
        assert np.array_equal(ds.take(np.arange(TRAIN))["image"], expected["image"])
    for fmt in ("zarr", "hdf5"):
        for name in ("image", "label"):
            assert batches[fmt][name].dtype == batches["arrow"][name].dtype
            assert np.array_equal(batches[fmt][name], batches["arrow"][name]), (fmt, name)


def test_torch_batches_agree_across_formats(prepared) -> None:
    pytest.importorskip("torch")
    epochs = {
        fmt: [b for b in dsreg.load(m.directory, "train", "torch", batch_size=64, shuffle=True, seed=1)]
        for fmt, m in prepared.items()
    }
    for fmt in ("zarr", "hdf5"):
        for ours, theirs in zip(epochs["arrow"], epochs[fmt], strict=True):
            assert all(bool((ours[k] == theirs[k]).all()) for k in ("image", "label"))


def test_the_hf_adapter_reads_every_format(prepared) -> None:
    pytest.importorskip("datasets")
    tables = {fmt: dsreg.load(m.directory, "test", "hf") for fmt, m in prepared.items()}
    reference = tables["arrow"]
    for fmt in ("zarr", "hdf5"):
        assert tables[fmt].features == reference.features
        assert tables[fmt][:7]["label"] == reference[:7]["label"]
        assert np.array_equal(np.asarray(tables[fmt][5]["image"]), np.asarray(reference[5]["image"]))


@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_preparing_twice_is_byte_identical(archive: Path, tmp_path: Path, prepared, fmt: str) -> None:
    again = _prepare(archive, tmp_path, fmt, workers=2)
    first = prepared[fmt]
    assert again.to_json()["splits"] == first.to_json()["splits"]
    for split in first.splits.values():
        for shard in split.shards:
            a, b = first.shard_path(shard), again.shard_path(shard)
            files_a = [(rel, p.read_bytes()) for rel, p in shard_files(a)] if a.is_dir() else a.read_bytes()
            files_b = [(rel, p.read_bytes()) for rel, p in shard_files(b)] if b.is_dir() else b.read_bytes()
            assert files_a == files_b


def test_a_format_changes_the_digest_so_versions_never_mix(archive: Path, tmp_path: Path) -> None:
    _prepare(archive, tmp_path, "hdf5")
    with pytest.raises(DsregError, match="different recipe"):
        _prepare(archive, tmp_path, "zarr")


def _dsreg(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "DSREG_ROOT": str(root)}
    return subprocess.run([sys.executable, "-m", "dsreg.cli", *args], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_cli_prepare_storage_and_verify_deep_names_a_flipped_byte(archive: Path, tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "root"
    done = _dsreg("prepare", "cifar10", "--source", str(archive), "--storage", fmt, "--no-check-counts", root=root)
    assert done.returncode == 0, done.stderr
    manifest = dsreg.manifest.read_manifest(root / "cifar10" / "python" / "1.0.0")
    assert manifest.splits["train"].format == fmt
    info = _dsreg("info", "cifar10", "--json", root=root)
    assert json.loads(info.stdout)["prepared"]["splits"]["train"]["format"] == fmt
    assert f"{fmt} shards" in _dsreg("info", "cifar10", root=root).stdout
    shard = manifest.shard_path(manifest.splits["train"].shards[0])
    target = max((p for _, p in shard_files(shard)), key=lambda p: p.stat().st_size) if shard.is_dir() else shard
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[-100] ^= 0x40
    target.write_bytes(bytes(data))
    assert _dsreg("verify", "cifar10", root=root).returncode == 0
    deep = _dsreg("verify", "cifar10", "--deep", root=root)
    assert deep.returncode == 1 and str(shard) in deep.stdout and "sha256" in deep.stdout


def test_a_recipe_declares_its_storage(archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dsreg.registry import recipe_dirs

    data = yaml.safe_load((recipe_dirs()[-1] / "cifar10.yaml").read_text())
    data["storage"] = "hdf5"
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "cifar10.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    manifest = _prepare(archive, tmp_path / "root", None)
    assert manifest.splits["test"].format == "hdf5"
    assert manifest.splits["test"].shards[0].path.endswith(".h5")
    data["storage"] = "parquet"
    (recipes / "cifar10.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(DsregError, match="storage") as err:
        dsreg.recipe.load_recipe(recipes / "cifar10.yaml")
    assert str(recipes / "cifar10.yaml") in str(err.value)


def test_a_crashed_zarr_prepare_resumes(archive: Path, tmp_path: Path, prepared, monkeypatch) -> None:
    real = prepare_module._run_task_locked
    calls = []

    def crash_on_third(spec, out, trees, **kw):
        calls.append(spec.task)
        if len(calls) == 3:
            raise KeyboardInterrupt("injected crash")  # the second task's commit, on its thread, still ends
        return real(spec, out, trees, **kw)

    monkeypatch.setattr(prepare_module, "_run_task_locked", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        _prepare(archive, tmp_path, "zarr")
    assert not (tmp_path / "cifar10" / "python" / "1.0.0").exists()
    (work,) = (tmp_path / "cifar10" / "python").glob("1.0.0.incomplete-*")
    finished = sorted(work.glob("_tasks/*/*/done.json"))
    assert len(finished) == 2 and all(any(p.parent.glob("part-*.zarr")) for p in finished)
    monkeypatch.setattr(prepare_module, "_run_task_locked", real)
    report = Progress()
    resumed = _prepare(archive, tmp_path, "zarr", report=report)
    assert report.tasks_reused == 2 and report.tasks_run == report.tasks_total - 2
    assert resumed.to_json()["splits"] == prepared["zarr"].to_json()["splits"]
    assert verify_manifest(resumed, deep=True) == []


def test_a_manifest_without_formats_means_arrow(prepared, tmp_path: Path) -> None:
    import json
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(prepared["arrow"].directory, copy)
    path = copy / "manifest.json"
    path.chmod(0o644)
    data = json.loads(path.read_text())
    del data["manifest_sha256"]  # as written before the storage seam, and before manifests were sealed
    for split in data["splits"].values():
        del split["format"]
    path.write_text(json.dumps(data))
    ds = dsreg.open(copy, "test")
    assert ds.manifest.splits["test"].format == "arrow" and len(ds.take([0, 1])["label"]) == 2
    data["splits"]["test"]["format"] = "tfrecord"
    path.write_text(json.dumps(data))
    with pytest.raises(DsregError, match="unknown storage format 'tfrecord'"):
        dsreg.open(copy, "test")
