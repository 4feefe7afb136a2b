"""`dsreg demo` beside a real preparation: its own name, `generated` provenance, no shadowing of real data."""

from __future__ import annotations

import json
import tarfile

import numpy as np

import dsreg
from dsreg.cli import EXIT_OK, main
from dsreg.testing import cifar


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_prepares_verifies_and_reads_back(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "demo", "--rows", "500", "--root", str(tmp_path / "demo"), "--json")
    assert code == EXIT_OK
    result = json.loads(out)
    assert result["verified"] is True and result["rows"] == {"train": 500, "test": 100}
    assert result["dataset"] == "demo-cifar10/python:1.0.0" and result["provenance"] == "generated"
    code, out, _ = run(capsys, "demo", "--rows", "500", "--root", str(tmp_path / "demo"), "--json")
    assert json.loads(out)["reused"] is True


def test_imagenet_demo_prepares_the_official_layout_and_reads_train_crops(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "demo", "imagenet", "--rows", "30", "--root", str(tmp_path / "demo"), "--json")
    assert code == EXIT_OK
    result = json.loads(out)
    assert result["verified"] is True and result["provenance"] == "generated"
    assert result["dataset"] == "demo-imagenet2012/default:1.0.0"
    assert result["rows"] == {"train": 33, "validation": 50}  # 10 classes × 3, plus the gray, CMYK and PNG images
    assert result["reencoded"] == ["n01739381_1309.JPEG", "n02105855_2933.JPEG"]
    assert not (tmp_path / "demo" / "imagenet2012").exists()


def test_demo_never_stands_in_for_the_real_corpus(capsys, tmp_path, root, monkeypatch, fake_recipe) -> None:
    assert run(capsys, "demo", "--rows", "300")[0] == EXIT_OK  # into the shared root, as the README's user would
    archive = cifar.make_cifar10_python(tmp_path / "raw", train_rows=40, test_rows=10, seed=7)
    fake_recipe(
        tmp_path / "recipes", "cifar10", "python", archive, ["http://127.0.0.1:9/x"], rows={"train": 40, "test": 10}
    )
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    code, out, _ = run(capsys, "prepare", "cifar10", "--source", str(archive))
    assert code == EXIT_OK and "cifar10/python:1.0.0 prepared at" in out and "already prepared" not in out
    assert "provenance: vendor-verified" in out
    real = dsreg.open("cifar10", "train")
    assert len(real) == 40 and np.array_equal(
        real.take([3])["image"], cifar.expected_cifar("cifar10", "train", 40, seed=7)["image"][[3]]
    )
    assert len(dsreg.open("demo-cifar10", "train")) == 300
    code, out, _ = run(capsys, "ls")
    lines = out.splitlines()
    assert "PROVENANCE" in lines[0]
    assert any(line.startswith("cifar10/python:1.0.0") and "vendor-verified" in line for line in lines)
    assert any(line.startswith("demo-cifar10/python:1.0.0") and "generated" in line for line in lines)
    code, out, _ = run(capsys, "info", "demo-cifar10")
    assert code == EXIT_OK and "provenance: generated (generated data, not the real corpus)" in out
    code, out, _ = run(capsys, "info", "cifar10", "--json")
    assert json.loads(out)["prepared"]["provenance"] == "vendor-verified"


def test_prepare_says_when_the_existing_version_has_weaker_provenance(
    capsys, tmp_path, root, monkeypatch, fake_recipe
) -> None:
    archive = cifar.make_cifar10_python(tmp_path / "raw", train_rows=40, test_rows=10)
    fake_recipe(
        tmp_path / "recipes", "cifar10", "python", archive, ["http://127.0.0.1:9/x"], rows={"train": 40, "test": 10}
    )
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    code, out, _ = run(capsys, "prepare", "cifar10", "--source", str(tmp_path / "unpacked"))
    assert code == EXIT_OK and "provenance: local-unverified" in out
    code, out, err = run(capsys, "prepare", "cifar10", "--source", str(archive))
    assert code == EXIT_OK and "already prepared" in out and "provenance: local-unverified" in out
    assert "already exists as local-unverified" in err and "would be vendor-verified" in err
    assert "dsreg rm cifar10/python:1.0.0 --yes" in err and f"dsreg prepare cifar10/python --source {archive}" in err
    code, out, err = run(capsys, "prepare", "cifar10", "--source", str(tmp_path / "unpacked"), "--json")
    assert json.loads(out)["note"] is None and err == ""  # the same kind of source again: nothing to say
    assert run(capsys, "rm", "cifar10/python:1.0.0", "--yes")[0] == EXIT_OK
    code, out, _ = run(capsys, "prepare", "cifar10", "--source", str(archive))
    assert code == EXIT_OK and "provenance: vendor-verified" in out
    manifest = json.loads((root / "cifar10" / "python" / "1.0.0" / "manifest.json").read_text())
    assert manifest["provenance"] == "vendor-verified" and manifest["sources"][0]["provenance"] == "vendor-verified"


def test_manifests_from_before_provenance_was_recorded_derive_it_from_their_sources() -> None:
    from dsreg.provenance import of_records

    assert of_records([{"origin": "local-directory", "sha256": None}]) == "local-unverified"
    assert of_records([{"origin": "download", "sha256": "ab" * 32}]) == "vendor-verified"
    assert (
        of_records([{"origin": "download", "sha256": "ab" * 32}, {"origin": "local-directory"}]) == "local-unverified"
    )
    assert of_records([]) is None
