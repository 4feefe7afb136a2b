"""A prepare killed during publication is finished by the next run, by its user without privileges or by another."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsreg.manifest import read_manifest, verify_manifest
from dsreg.publish import make_writable
from dsreg.testing import cifar

SETPRIV = shutil.which("setpriv")
needs_setpriv = pytest.mark.skipif(SETPRIV is None or os.geteuid() != 0, reason="needs root and setpriv")

# Runs `dsreg prepare` with SIGKILL injected at one step of publication (argv: point, source, root).
_KILLED = """
import os, signal, sys
import dsreg.publish as publish

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

point, source, root = sys.argv[1:4]
if point == "sealed":  # manifest written, scratch not yet removed
    publish.make_writable = die
elif point == "read-only":  # the old order's crash: work directory read-only, not yet renamed
    real_rename = os.rename
    def rename(src, dst):
        if os.path.basename(dst) == "1.0.0":
            publish.make_read_only(publish.Path(src))
            die()
        real_rename(src, dst)
    publish.os.rename = rename
elif point == "renamed":  # in place under its final name, still writable
    publish.make_read_only = die
from dsreg.preparation import prepare
prepare("cifar10", source=source, root=root, check_counts=False)
"""

POINTS = ["sealed", "read-only", "renamed"]


@pytest.fixture(scope="module")
def shared_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="dsreg-publish-"))
    path.chmod(0o755)
    yield path
    make_writable(path)
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def source(shared_dir: Path) -> Path:
    archive = cifar.make_cifar10_python(shared_dir / "raw", train_rows=300, test_rows=60)
    out = shared_dir / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    return out


def _killed_at(point: str, source: Path, root: Path) -> Path:
    """Run a prepare killed at `point`; the dataset directory it leaves."""
    run = subprocess.run([sys.executable, "-c", _KILLED, point, str(source), str(root)], capture_output=True)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    dataset = root / "cifar10" / "python"
    if point == "renamed":
        assert (dataset / "1.0.0" / "manifest.json").exists()
    else:
        (work,) = dataset.glob("1.0.0.incomplete-*")
        assert (work / "manifest.json").exists()
    return dataset


def _rerun(source: Path, root: Path, *privileges: str, array: str | None = None) -> dict:
    args = [sys.executable, "-m", "dsreg.cli", "prepare", "cifar10", "--source", str(source), "--json"]
    args += ["--array", array] if array else []
    env = {**os.environ, "DSREG_ROOT": str(root), "HOME": "/tmp"}
    run = subprocess.run([*privileges, *args, "--no-check-counts"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _assert_published(dataset: Path, clean_splits: dict) -> None:
    assert sorted(p.name for p in dataset.iterdir() if not p.name.endswith(".lock")) == ["1.0.0"]
    version = dataset / "1.0.0"
    assert sorted(p.name for p in version.iterdir()) == ["manifest.json", "test", "train"]
    manifest = read_manifest(version)
    assert verify_manifest(manifest, deep=True) == []
    assert manifest.to_json()["splits"] == clean_splits


@pytest.fixture(scope="module")
def clean_splits(source: Path, shared_dir: Path) -> dict:
    from dsreg.preparation import prepare

    return prepare("cifar10", source=source, root=shared_dir / "clean", check_counts=False).to_json()["splits"]


@needs_setpriv
@pytest.mark.parametrize("point", POINTS)
def test_a_kill_during_publication_is_finished_by_its_user_without_privileges(
    point: str, source: Path, shared_dir: Path, clean_splits: dict
) -> None:
    root = shared_dir / f"own-{point}"
    dataset = _killed_at(point, source, root)
    # The same user, without root's power to write read-only directories (CAP_DAC_OVERRIDE and the rest).
    report = _rerun(source, root, SETPRIV, "--inh-caps=-all", "--bounding-set=-all")
    assert report["tasks"]["run"] == 0  # finished, not redone
    _assert_published(dataset, clean_splits)
    for path in [dataset / "1.0.0", *(dataset / "1.0.0").rglob("*")]:
        assert not stat.S_IMODE(path.stat().st_mode) & 0o222, path


@needs_setpriv
@pytest.mark.parametrize("point", ["read-only", "renamed"])
def test_a_kill_during_publication_is_finished_by_another_user(
    point: str, source: Path, shared_dir: Path, clean_splits: dict
) -> None:
    root = shared_dir / f"other-{point}"
    dataset = _killed_at(point, source, root)
    for shared in (root, root / "cifar10", dataset):  # a group-shared dataset tree
        shared.chmod(0o777)
    _rerun(source, root, SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups")
    _assert_published(dataset, clean_splits)


@needs_setpriv
def test_another_user_who_may_not_write_there_gets_the_published_version(source: Path, shared_dir: Path) -> None:
    from dsreg.preparation import prepare

    root = shared_dir / "published-by-root"
    published = prepare("cifar10", source=source, root=root, check_counts=False)
    nobody = (SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups")
    for mode in (0o777, 0o755):  # the root writable by all, its dataset directories root's; then the root too
        root.chmod(mode)
        report = _rerun(source, root, *nobody)
        assert report["reused"] and report["path"] == str(published.directory)
    assert _rerun(source, root, *nobody, array="1/2")["reused"]  # an array element: nothing to do
    assert sorted(p.name for p in (root / "cifar10" / "python").iterdir()) == ["1.0.0"]
