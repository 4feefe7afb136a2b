"""Progress on long work: bytes and rate while hashing and deep-verifying, rows per task while preparing;
drawn on a terminal only, never when stderr is piped, with --json or with --quiet."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import tarfile
import termios
from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg.manifest import verify_manifest
from dsreg.sources import file_digests
from dsreg.testing.cifar import make_cifar10_python


def run_cli(args: list[str], env: dict[str, str], *, terminal: bool) -> tuple[int, str]:
    """`python -m dsreg ARGS` with stderr on a pseudo-terminal (or a pipe); returns (exit code, stderr)."""
    command = [sys.executable, "-m", "dsreg", *args]
    if not terminal:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0 columns wide
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=slave) as child:
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = child.wait(timeout=120)
    os.close(master)
    return code, b"".join(chunks).decode(errors="replace")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DSREG_ROOT": str(tmp_path / "root")}


@pytest.fixture
def big(root: Path) -> Path:
    """A prepared dataset of about 12 MB (2 shards)."""
    features = dsreg.Features({"x": dsreg.Tensor(shape=(1024,), dtype="float32")})
    rows = ({"x": np.full(1024, i, np.float32)} for i in range(3000))
    return dsreg.write_dataset("big", {"train": rows}, features, root=root, shard_size="8MB").directory


def test_hashing_a_large_file_shows_bytes_and_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    large, small = tmp_path / "large.bin", tmp_path / "small.bin"
    large.write_bytes(os.urandom(9 << 20))
    small.write_bytes(b"x" * 1000)
    assert file_digests(large, progress=True) == file_digests(large)
    err = capsys.readouterr().err
    assert "hashing large.bin" in err and "/9.00M" in err and "B/s" in err
    file_digests(small, progress=True)
    assert capsys.readouterr().err == ""  # too small for a bar to help


def test_deep_verify_shows_the_bytes_checked(big: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = dsreg.manifest.read_manifest(big)
    assert verify_manifest(manifest, deep=True, progress=True) == []
    err = capsys.readouterr().err
    assert "verifying big/default:1.0.0" in err and "B/s" in err
    verify_manifest(manifest, deep=False, progress=True)
    assert capsys.readouterr().err == ""  # a shallow check is instant: no bar


def test_cli_verify_deep_draws_progress_on_a_terminal_only(big: Path, env: dict[str, str]) -> None:
    code, err = run_cli(["verify", "--deep", str(big)], env, terminal=True)
    assert code == 0 and "verifying big/default:1.0.0" in err and "B/s" in err
    for args, terminal in ((["verify", "--deep", str(big)], False), (["verify", "--deep", "--json", str(big)], True)):
        code, err = run_cli(args, env, terminal=terminal)
        assert code == 0 and "verifying" not in err and "B/s" not in err, err
    code, err = run_cli(["verify", "--deep", "--quiet", str(big)], env, terminal=True)
    assert code == 0 and "verifying" not in err and "B/s" not in err, err


def test_cli_prepare_shows_rows_per_task_on_a_terminal(tmp_path: Path, env: dict[str, str]) -> None:
    archive = make_cifar10_python(tmp_path, train_rows=500, test_rows=100)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    prepare = ["prepare", "cifar10", "--source", str(tmp_path / "unpacked"), "--no-check-counts", "--workers", "1"]
    code, err = run_cli([*prepare, "--quiet"], {**env, "DSREG_ROOT": str(tmp_path / "quiet")}, terminal=True)
    assert code == 0 and "rows/s" not in err, err
    code, err = run_cli(prepare, {**env, "DSREG_ROOT": str(tmp_path / "piped")}, terminal=False)
    assert code == 0 and "rows/s" not in err and "train task data_batch_1 done" in err, err
    code, err = run_cli(prepare, env, terminal=True)
    assert code == 0, err
    assert "train task data_batch_1: " in err and "rows/s" in err, err
