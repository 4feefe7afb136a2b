"""The `dsreg` command: each verb in human and JSON form, and its exit codes."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

import dsreg
from dsreg.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, EXIT_VERIFY_FAILED, main
from dsreg.publish import make_writable
from dsreg.testing import cifar


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def prepared(tmp_path: Path, root: Path) -> dsreg.manifest.Manifest:
    archive = cifar.make_cifar10_python(tmp_path / "raw", train_rows=50, test_rows=10)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    from dsreg.preparation import prepare

    return prepare("cifar10", source=tmp_path / "unpacked", check_counts=False)


def test_list_shows_recipes_and_where_they_are_prepared(capsys, prepared) -> None:
    code, out, _ = run(capsys, "list")
    assert code == EXIT_OK
    line = next(line for line in out.splitlines() if line.startswith("cifar10 "))
    assert "python, binary" in line and "python:1.0.0" in line
    code, out, _ = run(capsys, "list", "--json")
    data = {d["name"]: d for d in json.loads(out)}
    assert data["cifar100"]["prepared"] == [] and data["cifar10"]["prepared"][0]["config"] == "python"


def test_list_readers_shows_each_reader_with_its_arguments(capsys) -> None:
    code, out, _ = run(capsys, "list", "--readers")
    assert code == EXIT_OK
    lines = out.splitlines()
    start = lines.index("cifar_binary  (dsreg: dsreg.readers.cifar:CifarBinary)")
    assert lines[start + 1 : start + 4] == [
        "  CIFAR-10/100 binary archives: fixed-size records of label bytes, then planar pixels.",
        "  reader.args.variant (str, required, one of cifar10, cifar100): which corpus the archive holds",
        "  splits.<split>.args.files (list[str], required): the split's batch files, each once "
        "(data_batch_1 … / test_batch / train / test, or their .bin)",
    ]
    code, out, _ = run(capsys, "list", "--readers", "--json")
    data = {r["name"]: r for r in json.loads(out)}
    assert data["cifar_python"]["distribution"] == "dsreg"
    assert data["cifar_python"]["entry_point"] == "dsreg.readers.cifar:CifarPython"
    assert data["cifar_python"]["arguments"] == [
        {
            "name": "variant",
            "type": "str",
            "required": True,
            "default": None,
            "choices": ["cifar10", "cifar100"],
            "help": "which corpus the archive holds",
        }
    ]
    assert [a["name"] for a in data["cifar_python"]["split_arguments"]] == ["files"]


def test_info_tells_features_splits_sources_license_and_citation(capsys) -> None:
    code, out, _ = run(capsys, "info", "cifar100/binary")
    assert code == EXIT_OK
    for needle in (
        "cifar100/binary:1.0.0",
        "coarse_label: class_label classes=20",
        "train: 50,000 rows",
        "cifar-100-binary.tar.gz",
        "58a81ae192c23a4b",
        "krizhevsky2009learning",
        "prepared: no",
    ):
        assert needle in out, needle
    code, out, _ = run(capsys, "info", "cifar10", "--json")
    data = json.loads(out)
    assert data["splits"] == {"train": {"rows": 50000}, "test": {"rows": 10000}}
    assert data["features"]["label"]["names"][0] == "airplane"


def test_info_says_which_splits_hold_one_translation_direction_only(capsys) -> None:
    code, out, _ = run(capsys, "info", "wmt14/de-en")
    assert code == EXIT_OK
    assert "test_filtered_en_de: size not known, en→de only" in out and "test: 3,003 rows\n" in out
    code, out, _ = run(capsys, "info", "wmt14/de-en", "--json")
    assert json.loads(out)["splits"]["test_filtered_de_en"] == {"rows": None, "direction": ["de", "en"]}


def test_prepare_reports_in_both_forms(capsys, tmp_path, prepared) -> None:
    code, out, _ = run(
        capsys, "prepare", "cifar10", "--source", str(tmp_path / "unpacked"), "--no-check-counts", "--json"
    )
    assert code == EXIT_OK
    data = json.loads(out)
    assert data["reused"] is True and data["splits"]["train"]["rows"] == 50
    code, out, _ = run(capsys, "prepare", "cifar10", "--source", str(tmp_path / "unpacked"), "--no-check-counts")
    assert "already prepared" in out and "train: 50 rows" in out


def test_prepare_failure_prints_the_fix_and_exits_3(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "prepare", "cifar10", "--source", str(tmp_path / "nothing-here"))
    assert code == EXIT_ERROR
    assert err.startswith("dsreg: error:") and "Fix:" in err
    code, _, err = run(capsys, "prepare", "cifar01")
    assert code == EXIT_ERROR and "Did you mean 'cifar10'" in err


def test_verify_exit_codes_follow_the_result(capsys, prepared) -> None:
    code, out, _ = run(capsys, "verify", "cifar10", "--deep")
    assert code == EXIT_OK and out.startswith("OK")
    shard = prepared.directory / prepared.splits["test"].shards[0].path
    make_writable(prepared.directory)
    data = bytearray(shard.read_bytes())
    data[-200] ^= 1
    shard.write_bytes(bytes(data))
    assert run(capsys, "verify", "cifar10")[0] == EXIT_OK  # same size: only --deep can tell
    code, out, _ = run(capsys, "verify", str(prepared.directory), "--deep", "--json")
    assert code == EXIT_VERIFY_FAILED
    (problem,) = json.loads(out)["problems"]
    assert problem["path"] == str(shard) and "sha256" in problem["problem"]


def test_ls_browses_a_root(capsys, prepared, root) -> None:
    code, out, _ = run(capsys, "ls", str(root))
    assert code == EXIT_OK
    assert "cifar10/python:1.0.0" in out and "60" in out and "PREPARED BY" in out
    code, out, _ = run(capsys, "ls", "--json")
    (entry,) = json.loads(out)
    assert entry["rows"] == 60 and entry["splits"] == {"train": 50, "test": 10}


def test_ls_says_which_copy_of_a_version_in_two_roots_opens(capsys, tmp_path, monkeypatch) -> None:
    """The first root of DSREG_ROOT holding a version is the one opened; ls names the other copy as shadowed
    and says whether the two hold the same content."""
    first, second = tmp_path / "scratch", tmp_path / "shared"
    feats = {"x": {"type": "scalar", "dtype": "int64"}}
    for where, value in ((first, 1), (second, 2)):
        dsreg.write_dataset("twice", {"train": [{"x": value}]}, feats, root=where)
    dsreg.write_dataset("same", {"train": [{"x": 0}]}, feats, root=first)
    dsreg.write_dataset("same", {"train": [{"x": 0}]}, feats, root=second)
    monkeypatch.setenv("DSREG_ROOT", f"{first}:{second}")
    assert dsreg.open("twice", "train")[:]["x"].tolist() == [1]
    code, out, _ = run(capsys, "ls")
    assert code == EXIT_OK
    assert (
        f"SHADOWED twice/default:1.0.0 at {second / 'twice/default/1.0.0'}: "
        f"opens as {first / 'twice/default/1.0.0'} (an earlier root), whose content DIFFERS"
    ) in out
    assert f"SHADOWED same/default:1.0.0 at {second / 'same/default/1.0.0'}" in out and "the same content" in out
    code, out, _ = run(capsys, "ls", "--json")
    shadowed = {(e["name"], e["path"]): e["shadowed_by"] for e in json.loads(out)}
    assert shadowed[("twice", str(second / "twice/default/1.0.0"))] == str(first / "twice/default/1.0.0")
    assert shadowed[("twice", str(first / "twice/default/1.0.0"))] is None


def test_usage_errors_exit_2(capsys) -> None:
    assert run(capsys, "prepare")[0] == EXIT_USAGE
    assert run(capsys, "frobnicate")[0] == EXIT_USAGE


def test_cache_verb_stages_a_prepared_dataset(capsys, prepared, tmp_path) -> None:
    code, out, _ = run(capsys, "cache", "stage", "cifar10", "--cache", str(tmp_path / "node"), "--export")
    assert code == EXIT_OK
    assert out.strip().startswith(f"export DSREG_ROOT={tmp_path / 'node'}:")
    code, out, _ = run(capsys, "cache", "usage", "--cache", str(tmp_path / "node"), "--json")
    assert code == EXIT_OK and json.loads(out)[0]["name"] == "cifar10"


def test_cache_takes_json_like_every_command(capsys, prepared, tmp_path) -> None:
    node = str(tmp_path / "node")
    code, out, _ = run(capsys, "cache", "stage", "cifar10", "--cache", node, "--json")
    assert code == EXIT_OK
    data = json.loads(out)
    assert data["staged"][0]["path"] == str(tmp_path / "node" / "cifar10" / "python" / "1.0.0")
    assert data["dsreg_root"].startswith(node + ":") and data["staged"][0]["copied"] is True
    code, out, _ = run(capsys, "cache", "gc", "--cache", node, "--budget", "0", "--json")
    assert code == EXIT_OK and json.loads(out)["removed"] == [data["staged"][0]["path"]]
    code, _, err = run(capsys, "cache", "usage", "--cache", str(tmp_path / "node"), "--root", "/nowhere", "--json")
    assert code == EXIT_OK
    code, _, err = run(capsys, "cache", "run", "cifar10", "--cache", node)
    assert code == EXIT_USAGE and "needs a command after `--`" in err
    code, _, err = run(capsys, "cache", "stage", "nothing-here", "--cache", node, "--json")
    assert code == EXIT_ERROR and json.loads(err)["error"].startswith("nothing-here is not prepared")


def test_one_broken_recipe_breaks_only_itself(capsys, tmp_path, monkeypatch) -> None:
    shipped = (Path(dsreg.__file__).parent.parent / "recipes" / "cifar10.yaml").read_text()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "typo.yaml").write_text(shipped.replace("name: cifar10", "name: typo").replace("license:", "licence:"))
    monkeypatch.setenv("DSREG_RECIPES", str(mine))
    code, out, _ = run(capsys, "list")
    assert code == EXIT_OK
    line = next(line for line in out.splitlines() if line.startswith("typo "))
    assert "BROKEN" in line and "unknown key 'licence'" in line and str(mine / "typo.yaml") in line
    assert any(line.startswith("cifar100 ") and "python, binary" in line for line in out.splitlines())
    code, out, _ = run(capsys, "list", "--json")
    broken = next(d for d in json.loads(out) if d["name"] == "typo")
    assert "unknown key 'licence'" in broken["error"] and broken["path"] == str(mine / "typo.yaml")
    assert run(capsys, "info", "cifar100")[0] == EXIT_OK
    code, _, err = run(capsys, "info", "typo")
    assert code == EXIT_ERROR and "typo.yaml: unknown key 'licence'" in err
    archive = cifar.make_cifar10_python(tmp_path / "raw", train_rows=20, test_rows=5)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    code, out, _ = run(capsys, "prepare", "cifar10", "--source", str(tmp_path / "unpacked"), "--no-check-counts")
    assert code == EXIT_OK and "prepared at" in out


def test_info_on_an_unknown_name_suggests_the_close_recipe(capsys) -> None:
    code, _, err = run(capsys, "info", "cifar11")
    assert code == EXIT_ERROR and "Did you mean" in err


def test_info_works_from_a_manifest_alone(capsys, root) -> None:
    dsreg.write_dataset("house-corpus", {"train": [{"x": 1}]}, {"x": {"type": "scalar"}}, root=root)
    code, out, _ = run(capsys, "info", "house-corpus", "--json")
    assert code == EXIT_OK and json.loads(out)["prepared"]["rows"] == 1


def test_a_damaged_manifest_is_reported_not_hidden(capsys, prepared) -> None:
    make_writable(prepared.directory)
    (prepared.directory / "manifest.json").write_text("{ truncated")
    code, out, _ = run(capsys, "verify", "cifar10")  # a damaged manifest is a failed verification: exit 1
    assert code == EXIT_VERIFY_FAILED and "manifest is not valid JSON" in out and f"FAIL {prepared.directory}" in out
    code, out, _ = run(capsys, "ls")
    assert code == EXIT_OK and f"BROKEN {prepared.directory}" in out


def test_a_version_directory_whose_manifest_was_deleted_fails_verification(capsys, prepared) -> None:
    make_writable(prepared.directory)
    (prepared.directory / "manifest.json").unlink()  # a file cleaner's work, or a half-done `rm -rf`
    code, out, _ = run(capsys, "verify", str(prepared.directory), "--json")
    assert code == EXIT_VERIFY_FAILED  # it said "cannot read dataset reference" with a fix about lowercase names
    (problem,) = json.loads(out)["problems"]
    assert problem["path"] == str(prepared.directory / "manifest.json") and "no manifest" in problem["problem"]


def test_an_unknown_version_is_an_error_naming_those_that_exist(capsys, prepared) -> None:
    code, _, err = run(capsys, "info", "cifar10:2.0.0")
    assert code == EXIT_ERROR and "has no version 2.0.0: the recipe is at 1.0.0; prepared: 1.0.0" in err
    code, _, err = run(capsys, "verify", "cifar10:2.0.0")
    assert code == EXIT_ERROR and "cifar10/python has no version 2.0.0; versions that exist: 1.0.0" in err
    code, _, err = run(capsys, "info", "cifar100:2.0.0")
    assert code == EXIT_ERROR and "no version is prepared" in err
    assert run(capsys, "info", "cifar10:1.0.0")[0] == EXIT_OK


@pytest.mark.parametrize(
    ("array", "element", "share"),
    [("3-5", "4", (1, 3)), ("0-15:4", "8", (2, 4)), ("1-7:2", "7", (3, 4)), ("0-9%2", "9", (9, 10))],
)
def test_array_slurm_gives_each_element_of_a_stepped_array_its_own_share(monkeypatch, array, element, share) -> None:
    from dsreg.cli import _array_element

    first, last, step, count = _slurm_range(array)
    for name, value in {"ID": element, "MIN": first, "MAX": last, "STEP": step, "COUNT": count}.items():
        monkeypatch.setenv(f"SLURM_ARRAY_TASK_{name}", str(value))
    assert _array_element("slurm") == share


def _slurm_range(array: str) -> tuple[int, int, int, int]:
    """What SLURM sets for `sbatch --array=FIRST-LAST[:STEP][%LIMIT]`: min, max (the last index it runs), step
    and count."""
    span, _, text = array.split("%")[0].partition(":")
    first, last = map(int, span.split("-"))
    step = int(text or 1)
    count = (last - first) // step + 1
    return first, first + (count - 1) * step, step, count


def test_array_slurm_refuses_an_array_with_gaps(capsys, monkeypatch) -> None:
    # sbatch --array=1,2,7: three elements, the last one's index 6 has no share of 3
    for name, value in {"ID": 7, "MIN": 1, "MAX": 7, "STEP": 1, "COUNT": 3}.items():
        monkeypatch.setenv(f"SLURM_ARRAY_TASK_{name}", str(value))
    code, _, err = run(capsys, "prepare", "cifar10", "--array", "slurm")
    assert code == EXIT_ERROR and "gaps" in err and "--array=0-2" in err


def test_ls_lists_a_version_directory_without_a_manifest_as_broken(capsys, prepared) -> None:
    make_writable(prepared.directory)
    (prepared.directory / "manifest.json").unlink()
    code, out, _ = run(capsys, "ls")
    assert code == EXIT_OK and f"BROKEN {prepared.directory}: a version directory without a manifest" in out
    code, out, _ = run(capsys, "ls", "--json")
    (entry,) = json.loads(out)
    assert entry["path"] == str(prepared.directory) and "without a manifest" in entry["error"]


def test_a_manifest_that_is_a_directory_is_a_damaged_manifest(capsys, prepared) -> None:
    make_writable(prepared.directory)
    manifest = prepared.directory / "manifest.json"
    manifest.unlink()
    manifest.mkdir()
    code, out, _ = run(capsys, "ls")
    assert code == EXIT_OK and f"BROKEN {manifest}: the manifest is damaged: it is a directory" in out
    code, out, err = run(capsys, "verify", str(prepared.directory))
    assert code == EXIT_VERIFY_FAILED  # a damaged version, like a manifest that is not JSON: it said exit 3
    assert "make it readable" not in out + err and "the manifest is damaged: it is a directory" in out + err
    assert str(manifest) in out + err
