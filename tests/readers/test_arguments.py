"""Readers declare their arguments; a recipe's reader and split arguments are checked against them at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dsreg.errors import DsregError
from dsreg.readers import Arg, check_args
from dsreg.recipe import load_recipe
from dsreg.registry import recipe_dirs


def _cifar10(tmp_path: Path, edit: Any) -> Path:
    data = yaml.safe_load((recipe_dirs()[-1] / "cifar10.yaml").read_text())
    edit(data["configs"]["binary"])
    path = tmp_path / "cifar10.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("edit", "problem", "fix"),
    [
        (
            lambda c: c["reader"]["args"].update(colour=True),
            "reader.args.colour is not an argument of reader 'cifar_binary'",
            "allowed here: variant",
        ),
        (
            lambda c: c["reader"]["args"].update(variants="x"),
            "reader.args.variants is not an argument",
            "did you mean 'variant'",
        ),
        (
            lambda c: c["reader"].pop("args"),
            "reader.args.variant is missing; reader 'cifar_binary' needs it",
            "which corpus",
        ),
        (
            lambda c: c["reader"]["args"].update(variant="cifar1000"),
            "reader.args.variant is 'cifar1000', not one of cifar10, cifar100",
            "set reader.args.variant to one of",
        ),
        (
            lambda c: c["splits"]["test"]["args"].update(file="x"),
            "splits.test.args.file is not an argument",
            "did you mean 'files'",
        ),
        (
            lambda c: c["splits"]["train"]["args"].update(files="data_batch_1.bin"),
            "splits.train.args.files is 'data_batch_1.bin', not a list[str]",
            "the split's batch files",
        ),
    ],
)
def test_a_recipe_with_wrong_reader_arguments_is_refused_at_load(
    tmp_path: Path, edit: Any, problem: str, fix: str
) -> None:
    path = _cifar10(tmp_path, edit)
    with pytest.raises(DsregError) as err:
        load_recipe(path)
    assert err.value.problem.startswith(problem)
    assert fix in (err.value.fix or "") and str(err.value.path) == str(path)


def test_defaults_are_filled_and_types_checked() -> None:
    declared = (
        Arg("delimiter", "str", "the column separator", default=","),
        Arg("skip", "int", "header lines to skip", default=0),
        Arg("columns", "dict", "source column → feature", default={}),
    )
    filled = check_args(declared, {"skip": 1}, "reader.args", "reader 'table'")
    assert filled == {"delimiter": ",", "skip": 1, "columns": {}}
    assert filled["columns"] is not declared[2].default  # a fresh copy: a reader may not share the default
    with pytest.raises(DsregError, match=r"reader.args.skip is True, not a int"):
        check_args(declared, {"skip": True}, "reader.args", "reader 'table'")
    with pytest.raises(DsregError, match=r"reader.args.x is not an argument of reader 'table'"):
        check_args(declared, {"x": 1}, "reader.args", "reader 'table'")
    assert check_args((), {}, "splits.train.args", "reader 'r'") == {}
    with pytest.raises(DsregError) as err:
        check_args((), {"files": []}, "splits.train.args", "reader 'r'")
    assert err.value.fix == "allowed here: none: remove it"
    with pytest.raises(ValueError, match="has type 'path'"):
        Arg("where", "path", "a path")
