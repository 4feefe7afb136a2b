"""Metrics are found through the `dsreg.metrics` entry-point group: the shipped ones, a lab's installed package
(scoring a dataset end to end), and clear errors for unknown names, broken entry points and bad recipes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import dsreg
from dsreg.cli import main
from dsreg.errors import DsregError
from dsreg.metrics import ENTRY_POINT_GROUP, get_metric, metric_infos, reload_metrics
from dsreg.metrics.accuracy import Accuracy
from dsreg.metrics.per import PhoneErrorRate
from dsreg.metrics.text_recognition import CharacterErrorRate, WordAccuracy
from dsreg.metrics.translation import Bleu, Chrf
from dsreg.metrics.ud import Conll18
from dsreg.metrics.wer import WordErrorRate
from dsreg.registry import get_recipe
from dsreg.testing.plugins import write_plugin_package

SHIPPED = {
    "accuracy": Accuracy,
    "bleu": Bleu,
    "chrf": Chrf,
    "cer": CharacterErrorRate,
    "word_accuracy": WordAccuracy,
    "per": PhoneErrorRate,
    "wer": WordErrorRate,
    "conll18_ud": Conll18,
}

LAB_METRIC = '''
"""A lab's metric: mean absolute error of numbers."""
from dsreg.metrics import Metric, Score


class MeanAbsoluteError(Metric):
    """Mean absolute error of a number per row."""

    version = "3"

    def prediction(self, value, where):
        return float(value)

    def compute(self, references, predictions):
        error = sum(abs(float(r) - p) for r, p in zip(references, predictions)) / len(predictions)
        return Score({"mae": error}, "mae", False, f"mae|v{self.version}")
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site directory on sys.path for installed test packages; metrics are rescanned around each test."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    reload_metrics()
    yield path
    reload_metrics()
    sys.modules.pop("labmetrics", None)


def test_the_shipped_metrics_are_entry_points_of_dsreg() -> None:
    infos = {i.name: i for i in metric_infos() if i.distribution == "dsreg"}
    assert {name: info.cls for name, info in infos.items()} == SHIPPED
    for name, cls in SHIPPED.items():
        assert get_metric(name) is cls and cls.description() and cls.version


def test_import_dsreg_imports_no_metric_module() -> None:
    code = "import dsreg, sys; print(sorted(m for m in sys.modules if m.startswith('dsreg.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "metrics" not in out and "evaluation" not in out and "pandas" not in out


def test_an_unknown_metric_names_the_installed_ones() -> None:
    with pytest.raises(DsregError, match="unknown metric 'acuracy'") as err:
        get_metric("acuracy")
    assert "did you mean 'accuracy'?" in str(err.value) and ENTRY_POINT_GROUP in str(err.value)


def test_a_metric_from_an_installed_package_scores_a_dataset(site: Path, root: Path, capsys) -> None:
    write_plugin_package(
        site, "lab-metrics", ENTRY_POINT_GROUP, {"mae": "labmetrics:MeanAbsoluteError"}, {"labmetrics": LAB_METRIC}
    )
    reload_metrics()
    feats = dsreg.Features({"t": dsreg.Scalar(dtype="float32")})
    rows = [{"t": float(i)} for i in range(4)]
    dsreg.write_dataset("temps", {"test": rows}, feats, evaluation={"metric": "mae", "reference": "t"}, root=root)
    result = dsreg.evaluate("temps", "test", {0: 0.5, 1: "1", 2: 2.5, 3: 3}, model="lab", submit=True)
    assert result.values == {"mae": 0.25} and result.score.signature == "mae|v3"
    assert result.record["metric"]["version"] == "3" and result.record["metric"]["higher_is_better"] is False
    assert main(["list", "--metrics"]) == 0
    out = capsys.readouterr().out
    assert (
        "mae  (lab-metrics: labmetrics:MeanAbsoluteError)\n  Mean absolute error of a number per row. (version 3)"
        in out
    )


def test_broken_and_doubly_declared_metrics_name_their_distribution(site: Path) -> None:
    modules = {"labmetrics": "def helper():\n    return 1\n"}
    write_plugin_package(
        site, "broken-metrics", ENTRY_POINT_GROUP, {"m_missing": "labnope:X", "m_helper": "labmetrics:helper"}, modules
    )
    write_plugin_package(site, "other-metrics", ENTRY_POINT_GROUP, {"accuracy": "labmetrics:helper"})
    reload_metrics()
    with pytest.raises(DsregError, match="ModuleNotFoundError") as err:
        get_metric("m_missing")
    assert "entry point m_missing = labnope:X" in str(err.value) and "reinstall or fix broken-metrics" in str(err.value)
    with pytest.raises(DsregError, match=r"not a subclass of dsreg\.metrics\.Metric"):
        get_metric("m_helper")
    with pytest.raises(DsregError, match=r"declared by several installed packages: dsreg .*; other-metrics"):
        get_metric("accuracy")
    infos = {(i.name, i.distribution): i for i in metric_infos()}
    assert infos[("m_helper", "broken-metrics")].cls is None


@pytest.mark.parametrize(
    ("evaluation", "problem"),
    [
        ({"metric": "acuracy"}, "unknown metric 'acuracy'"),
        ({"metric": "accuracy", "args": {"topk": [1]}}, "evaluation.args.topk is not an argument of metric 'accuracy'"),
        ({"metric": "accuracy", "args": {"top_k": "5"}}, "evaluation.args.top_k is '5', not a list[int]"),
        ({"metric": "accuracy", "args": {"top_k": [0]}}, "evaluation.args.top_k is [0]"),
        ({"metric": "accuracy", "id": "file"}, "evaluation.id names 'file', which is not a feature"),
        ({"metric": "accuracy", "reference": "image"}, "needs an integer class column as reference"),
        ({"metric": "accuracy", "refrence": "label"}, "unknown key 'refrence' at evaluation.refrence"),
    ],
)
def test_a_recipe_s_evaluation_block_is_checked_when_it_loads(tmp_path: Path, monkeypatch, evaluation, problem) -> None:
    data = yaml.safe_load(Path(get_recipe("cifar10").path).read_text())
    data["evaluation"] = evaluation
    (tmp_path / "recipes").mkdir()
    path = tmp_path / "recipes" / "cifar10.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    with pytest.raises(DsregError) as err:
        get_recipe("cifar10").config(None)
    assert problem in str(err.value) and str(path) in str(err.value)


def test_write_dataset_checks_its_evaluation_block_before_writing(root: Path) -> None:
    feats = dsreg.Features({"label": dsreg.ClassLabel(names=["a", "b"])})
    with pytest.raises(DsregError, match="unknown metric 'acuracy'"):
        dsreg.write_dataset("t", {"test": [{"label": 0}]}, feats, evaluation={"metric": "acuracy"}, root=root)
    with pytest.raises(DsregError, match="metric 'accuracy' has no reference column"):
        dsreg.write_dataset("t", {"test": [{"label": 0}]}, feats, evaluation={"metric": "accuracy"}, root=root)
    assert not (root / "t").exists()
