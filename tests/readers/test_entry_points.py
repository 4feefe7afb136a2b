"""Readers are found through the `dsreg.readers` entry-point group: shipped ones, a lab's installed package, and
clear errors for unknown names and broken entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import yaml

import dsreg
from dsreg.cli import main
from dsreg.errors import DsregError
from dsreg.plugins import PluginGroup
from dsreg.preparation import prepare
from dsreg.readers import ENTRY_POINT_GROUP, Reader, get_reader, reader_infos, reload_readers
from dsreg.readers.cifar import CifarBinary, CifarPython
from dsreg.testing import lab_reader
from dsreg.testing.plugins import write_reader_package

LAB_MODULES = ("labreaders", "labbroken", "labraising")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site directory on sys.path, for installed test packages; readers are rescanned around each test."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    reload_readers()
    yield path
    reload_readers()
    for module in LAB_MODULES:
        sys.modules.pop(module, None)


def _install_lab_readers(site: Path) -> None:
    source = Path(lab_reader.__file__).read_text(encoding="utf-8")
    write_reader_package(site, "lab-readers", {"lab_lines": "labreaders:LabLines"}, {"labreaders": source})


def test_the_shipped_readers_are_entry_points_of_dsreg() -> None:
    points = {p.name: p for p in entry_points(group=ENTRY_POINT_GROUP) if p.dist is not None and p.dist.name == "dsreg"}
    assert {name: p.value for name, p in points.items() if name.startswith("cifar")} == {
        "cifar_python": "dsreg.readers.cifar:CifarPython",
        "cifar_binary": "dsreg.readers.cifar:CifarBinary",
    }
    assert get_reader("cifar_python") is CifarPython and get_reader("cifar_binary") is CifarBinary


def test_import_dsreg_imports_no_reader_module() -> None:
    code = (
        "import sys, dsreg, dsreg.readers as r; print('dsreg.readers.cifar' in sys.modules);"
        "r.get_reader('cifar_binary'); print('dsreg.readers.cifar' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_an_unknown_reader_lists_the_installed_ones() -> None:
    with pytest.raises(DsregError, match="unknown reader 'cifar_pyton'") as err:
        get_reader("cifar_pyton")
    assert "cifar_binary, cifar_python" in str(err.value) and "did you mean 'cifar_python'" in str(err.value)


def test_a_reader_from_an_installed_package_prepares_a_recipe(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No change to dsreg: the package declares the reader, a user recipe names it, prepare and load use it."""
    with pytest.raises(DsregError, match="unknown reader 'lab_lines'"):
        get_reader("lab_lines")
    _install_lab_readers(site)
    reload_readers()
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "train.txt").write_text("5\n-3\n8\n13\n21\n")
    (raw / "test.txt").write_text("2\n7\n")
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    recipe = {
        "name": "labnums",
        "version": "1.0.0",
        "description": "integers from the lab's own format",
        "sources": {"raw": {"manual": "the lab's files", "filename": "raw"}},
        "reader": {"name": "lab_lines"},
        "features": {"x": {"type": "scalar", "dtype": "int64"}},
        "splits": {
            "train": {"rows": 5, "args": {"file": "train.txt"}},
            "test": {"rows": 2, "args": {"file": "test.txt"}},
        },
    }
    (recipes / "labnums.yaml").write_text(yaml.safe_dump(recipe))
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    manifest = prepare("labnums", source=raw)
    assert {s.name: s.rows for s in manifest.splits.values()} == {"train": 5, "test": 2}
    train = dsreg.open("labnums", "train")
    assert train.take(np.arange(5))["x"].tolist() == [5, -3, 8, 13, 21]
    assert dsreg.open("labnums", "test").take([0, 1])["x"].tolist() == [2, 7]
    (info,) = [i for i in reader_infos() if i.name == "lab_lines"]
    assert (info.distribution, info.entry_point, info.cls.__module__ if info.cls else None) == (
        "lab-readers",
        "labreaders:LabLines",
        "labreaders",
    )


def test_broken_entry_points_name_their_distribution(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    modules = {"labbroken": "def helper():\n    return 1\n", "labraising": "raise RuntimeError('no GPU here')\n"}
    readers = {"lab_missing": "labmissing:Nope", "lab_helper": "labbroken:helper", "lab_raising": "labraising:X"}
    write_reader_package(site, "broken-readers", readers, modules)
    reload_readers()
    problems = {
        "lab_missing": "ModuleNotFoundError",
        "lab_helper": "not a subclass of dsreg.readers.Reader",
        "lab_raising": "RuntimeError: no GPU here",
    }
    for name, problem in problems.items():
        with pytest.raises(DsregError) as err:
            get_reader(name)
        message = str(err.value)
        assert f"entry point {name} = {readers[name]}" in message and "of broken-readers" in message, message
        assert problem in message and "reinstall or fix broken-readers" in message
    infos = {i.name: i for i in reader_infos()}
    assert infos["lab_helper"].cls is None and "not a subclass" in (infos["lab_helper"].error or "")
    assert infos["cifar_python"].cls is CifarPython  # one broken package does not hide the others
    assert main(["list", "--readers"]) == 0
    out = capsys.readouterr().out
    assert "lab_helper  (broken-readers: labbroken:helper)\n  cannot be loaded: reader 'lab_helper'" in out
    assert "cifar_python  (dsreg: dsreg.readers.cifar:CifarPython)\n  CIFAR-10/100 python-pickle" in out


def test_a_name_declared_by_two_packages_is_refused(site: Path) -> None:
    write_reader_package(site, "lab-one", {"lab_dup": "labone:Reader"})
    write_reader_package(site, "lab-two", {"lab_dup": "labtwo:Reader"})
    reload_readers()
    with pytest.raises(DsregError, match=r"declared by several installed packages: lab-one \(labone:Reader\); lab-two"):
        get_reader("lab_dup")


def test_stale_metadata_without_dsregs_own_readers_says_to_reinstall(monkeypatch: pytest.MonkeyPatch) -> None:
    import dsreg.readers

    empty: PluginGroup[Reader] = PluginGroup("dsreg.no-such-group", "reader", Reader)
    monkeypatch.setattr(dsreg.readers, "_PLUGINS", empty)
    with pytest.raises(DsregError, match="unknown reader 'cifar_python'") as err:
        get_reader("cifar_python")
    assert "none are installed" in str(err.value) and "reinstall dsreg" in str(err.value)


def test_a_fresh_process_finds_an_installed_package_s_reader(tmp_path: Path) -> None:
    """As after `pip install`: nothing rescanned by hand, the new process's `dsreg list --readers` shows it."""
    site = tmp_path / "site"
    _install_lab_readers(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    cmd = [sys.executable, "-m", "dsreg.cli", "list", "--readers", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    (lab,) = [r for r in json.loads(out) if r["name"] == "lab_lines"]
    assert lab["distribution"] == "lab-readers" and lab["description"].startswith("Integers, one per line")
    assert [a["name"] for a in lab["arguments"]] == ["bug"] and lab["split_arguments"][0]["required"] is True
