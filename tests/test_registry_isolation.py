"""One bad file never takes down its neighbours: a damaged or unreadable manifest, a binary or invalid recipe."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dsreg
from dsreg import DsregError, Features, Scalar
from dsreg.cli import EXIT_ERROR, EXIT_OK, EXIT_VERIFY_FAILED, main
from dsreg.loading import open_dataset
from dsreg.manifest import Manifest
from dsreg.publish import make_writable
from dsreg.registry import get_recipe, list_recipes

FEATURES = Features({"x": Scalar()})


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def neighbours(root: Path) -> tuple[Manifest, Manifest]:
    good = dsreg.write_dataset("good", {"train": [{"x": i} for i in range(10)]}, FEATURES, root=root)
    bad = dsreg.write_dataset("bad", {"train": [{"x": i} for i in range(10)]}, FEATURES, root=root)
    return good, bad


def _neighbours_still_work(capsys: pytest.CaptureFixture[str], good: Manifest, bad_path: Path) -> None:
    assert open_dataset("good", "train")[:]["x"].tolist() == list(range(10))
    assert [b["x"].tolist() for b in dsreg.load("good", batch_size=5)] == [list(range(5)), list(range(5, 10))]
    code, out, _ = _cli(capsys, "ls")
    assert code == EXIT_OK and "good/default:1.0.0" in out and f"BROKEN {bad_path}" in out
    code, out, _ = _cli(capsys, "ls", "--json")
    broken = [d for d in json.loads(out) if "error" in d]
    assert code == EXIT_OK and [d["path"] for d in broken] == [str(bad_path)] and broken[0]["error"]
    code, out, _ = _cli(capsys, "list")
    assert code == EXIT_OK and "good" in out and f"BROKEN {bad_path}" in out
    code, out, _ = _cli(capsys, "info", "good")
    assert code == EXIT_OK and f"prepared at: {good.directory}" in out
    code, out, _ = _cli(capsys, "verify", "good", "--deep")
    assert code == EXIT_OK and out.startswith("OK")


def test_a_manifest_with_a_non_utf8_byte_is_reported_and_hides_nothing(capsys, neighbours) -> None:
    good, bad = neighbours
    assert bad.directory is not None
    path = bad.directory / "manifest.json"
    make_writable(bad.directory)
    raw = path.read_bytes()
    path.write_bytes(raw[:40] + b"\xff" + raw[41:])
    _neighbours_still_work(capsys, good, path)
    with pytest.raises(DsregError, match="not UTF-8 text"):
        open_dataset("bad")
    code, out, _ = _cli(capsys, "verify", "bad")
    assert code == EXIT_VERIFY_FAILED and "not UTF-8" in out


def test_a_manifest_the_caller_cannot_read_is_reported_and_hides_nothing(capsys, neighbours, monkeypatch) -> None:
    """A mocked PermissionError (the real one, as another user, is the setpriv test below)."""
    good, bad = neighbours
    assert bad.directory is not None
    path = bad.directory / "manifest.json"
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    _neighbours_still_work(capsys, good, path)
    with pytest.raises(DsregError, match="cannot read the manifest \\(Permission denied\\)"):
        open_dataset("bad")
    code, _, err = _cli(capsys, "verify", "bad")
    assert code == EXIT_ERROR and "Permission denied" in err


_AS_ANOTHER_USER = """
import json, sys
from dsreg.cli import main
from dsreg.loading import open_dataset
result = {"good": open_dataset("good")[:]["x"].tolist()}
for verb in (["ls"], ["list"], ["info", "good"], ["verify", "good", "--deep"], ["verify", "bad"]):
    result[" ".join(verb)] = main(verb)
print(json.dumps(result))
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to drop DAC override"
)
def test_another_users_unreadable_manifest_as_seen_without_dac_override(tmp_path: Path, neighbours) -> None:
    """As root, drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH so that mode 0400 owned by nobody really is unreadable."""
    _, bad = neighbours
    assert bad.directory is not None
    path = bad.directory / "manifest.json"
    make_writable(bad.directory)
    os.chown(path, 65534, 65534)
    os.chmod(path, 0o400)
    env = {**os.environ, "PYTHONPATH": str(Path(dsreg.__file__).parent.parent)}
    proc = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-c", _AS_ANOTHER_USER],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result == {
        "good": list(range(10)),
        "ls": EXIT_OK,
        "list": EXIT_OK,
        "info good": EXIT_OK,
        "verify good --deep": EXIT_OK,
        "verify bad": EXIT_ERROR,
    }
    assert f"BROKEN {path}: cannot read the manifest (Permission denied)" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 4, b"name: [unclosed\n", b"- just\n- a list\n", b"name: x\nversion: 1\n", b"\x00\x01"],
    ids=["binary", "bad-yaml", "not-a-mapping", "schema-invalid", "nul-bytes"],
)
def test_a_broken_recipe_file_hides_nothing(capsys, tmp_path: Path, monkeypatch, neighbours, content: bytes) -> None:
    del neighbours  # two prepared datasets, "good" read below
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    bad = recipes / "junk.yaml"
    bad.write_bytes(content)
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    broken: list[DsregError] = []
    assert "cifar10" in list_recipes(broken)
    assert [e.path for e in broken] == [str(bad)]
    with pytest.raises(DsregError) as err:
        get_recipe("junk")  # asked for by name: its own error, not "no recipe called"
    assert err.value.path == str(bad)
    code, out, _ = _cli(capsys, "list")
    (row,) = [line for line in out.splitlines() if line.startswith("junk ")]
    assert code == EXIT_OK and "cifar10" in out and "BROKEN" in row and str(bad) in out
    code, out, _ = _cli(capsys, "info", "cifar10")
    assert code == EXIT_OK and "cifar10" in out
    assert open_dataset("good")[:]["x"].tolist() == list(range(10))
    code, out, _ = _cli(capsys, "verify", "good")
    assert code == EXIT_OK
