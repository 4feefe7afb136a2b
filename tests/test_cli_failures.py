"""Every failure is a DsregError with exit code 3 (never a traceback with exit 1, which means "verification
failed"): disk full, file-size limits, an unknown `~user` in a path; in human and in JSON form."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import dsreg
from dsreg import DsregError, Features, Scalar
from dsreg.cli import EXIT_ERROR, main
from dsreg.preparation import prepare
from dsreg.storage import arrow_shards
from dsreg.testing import cifar


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def source(tmp_path: Path) -> Path:
    archive = cifar.make_cifar10_python(tmp_path / "raw", train_rows=600, test_rows=100)  # 300 KB parts
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    return tmp_path / "unpacked"


_real_fsync = os.fsync


def _disk_full(fd: int) -> None:
    """fsync reporting ENOSPC (as it does when a delayed write finds the disk full), here for every file."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _disk_full_for_shards(fd: int) -> None:
    """The disk fills up while shards are written: ENOSPC for shard files only."""
    if os.readlink(f"/proc/self/fd/{fd}").endswith(".arrow.tmp"):
        _disk_full(fd)
    _real_fsync(fd)


def test_a_full_disk_is_a_dsreg_error_in_the_library(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setattr(arrow_shards.os, "fsync", _disk_full_for_shards)
    with pytest.raises(DsregError, match="cannot write shard: No space left on device") as err:
        dsreg.write_dataset("nums", {"train": [{"x": 1}]}, Features({"x": Scalar()}), root=root)
    assert err.value.fix and "free space" in err.value.fix and err.value.path and err.value.path.endswith(".tmp")
    assert not list(root.rglob("*.arrow.tmp"))  # the half shard is removed: it only took the space needed
    monkeypatch.setattr(arrow_shards.os, "fsync", _disk_full)  # full before anything (the lock file) is written
    with pytest.raises(DsregError, match="write_dataset failed: No space left on device"):
        dsreg.write_dataset("nums", {"train": [{"x": 1}]}, Features({"x": Scalar()}), root=root)


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_full_disk_exits_3_with_the_fix(capsys, monkeypatch, source: Path, json_flag: list[str]) -> None:
    monkeypatch.setattr(arrow_shards.os, "fsync", _disk_full)
    code, _, err = _cli(capsys, "prepare", "cifar10", "--source", str(source), "--no-check-counts", *json_flag)
    assert code == EXIT_ERROR and "Traceback" not in err
    if json_flag:
        report = json.loads(err)
        assert "No space left on device" in report["error"] and "free space" in report["fix"]
    else:
        assert err.startswith("dsreg: error:") and "No space left on device" in err and "Fix: free space" in err


def test_any_os_error_deep_inside_is_exit_3_not_a_traceback(capsys, monkeypatch, source: Path) -> None:
    """A raw OSError from code that does not convert it is still a DsregError from the library's public
    operation, and a clean exit 3 from any verb."""

    def broken(*_args: object, **_kw: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO), "/mnt/raw/cifar")

    fix = "the storage reported an I/O error: check the disk or file server and rerun"
    monkeypatch.setattr("dsreg.preparation.resolve_sources", broken)
    with pytest.raises(DsregError, match="prepare failed: Input/output error"):
        prepare("cifar10", source=source)
    code, _, err = _cli(capsys, "prepare", "cifar10", "--source", str(source), "--json")
    assert code == EXIT_ERROR
    assert json.loads(err) == {"error": "prepare failed: Input/output error", "path": "/mnt/raw/cifar", "fix": fix}
    monkeypatch.setattr("dsreg.api.list_datasets", broken)
    code, _, err = _cli(capsys, "list", "--json")
    assert code == EXIT_ERROR
    assert json.loads(err) == {"error": "dsreg list failed: Input/output error", "path": "/mnt/raw/cifar", "fix": fix}


def _limit_file_size(ignore_sigxfsz: bool) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))
    if ignore_sigxfsz:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@pytest.mark.parametrize("ignore_sigxfsz", [True, False], ids=["SIGXFSZ-ignored", "default-SIGXFSZ"])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_file_size_limit_exits_3_with_the_fix(root: Path, source: Path, ignore_sigxfsz: bool, json_flag) -> None:
    """`ulimit -f 64` (64 KiB): shards cannot be written. With the signal left at its default the CLI itself
    ignores SIGXFSZ, so the process is not killed but fails with EFBIG, as it does when the caller ignores it."""
    env = {**os.environ, "DSREG_ROOT": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dsreg.cli",
            "prepare",
            "cifar10",
            "--source",
            str(source),
            "--no-check-counts",
            *json_flag,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        preexec_fn=lambda: _limit_file_size(ignore_sigxfsz),
    )
    assert proc.returncode == EXIT_ERROR, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    if json_flag:
        report = json.loads(proc.stderr.strip().splitlines()[-1])
        assert "File too large" in report["error"] and "ulimit -f" in report["fix"]
    else:
        assert "File too large" in proc.stderr and "ulimit -f" in proc.stderr


@pytest.mark.parametrize("verb", [["ls"], ["list"], ["verify", "cifar10"], ["info", "cifar10"], ["prepare", "cifar10"]])
def test_a_root_under_an_unknown_user_is_exit_3(capsys, monkeypatch, verb: list[str]) -> None:
    monkeypatch.setenv("DSREG_ROOT", "~nouser-dsreg-test/x")
    code, _, err = _cli(capsys, *verb)
    assert code == EXIT_ERROR and "Traceback" not in err
    assert "cannot expand '~nouser-dsreg-test/x' given by DSREG_ROOT: no such user" in err
    code, _, err = _cli(capsys, *verb, "--json")
    assert code == EXIT_ERROR and "no such user" in json.loads(err)["error"]


def test_an_unknown_user_in_recipes_or_root_arguments_is_a_dsreg_error(monkeypatch) -> None:
    from dsreg.registry import list_recipes
    from dsreg.roots import search_roots

    with pytest.raises(DsregError, match="given by --root"):
        search_roots("~nouser-dsreg-test")
    monkeypatch.setenv("DSREG_RECIPES", "~nouser-dsreg-test/recipes")
    with pytest.raises(DsregError, match="given by DSREG_RECIPES"):
        list_recipes()
