"""`dsreg.evaluate`: every predictions format gives the same score; every id mismatch fails naming the ids and
records nothing; the result names the exact dataset bytes it was computed on."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg.errors import DsregError
from dsreg.evaluation.run import manifest_sha256
from dsreg.preparation import prepare
from dsreg.testing import cifar


def _logits(truth: list[int], wrong: set[int]) -> np.ndarray:
    """Scores ranking the true class first, except rows in `wrong` where it comes second."""
    out = np.zeros((len(truth), 3), dtype=np.float32)
    for i, y in enumerate(truth):
        out[i, y] = 2.0
        out[i, (y + 1) % 3] = 3.0 if i in wrong else 1.0
    return out


def test_every_format_gives_the_same_score(toy, truth, tmp_path: Path) -> None:
    toy()
    predicted = [y if i % 4 else (y + 1) % 3 for i, y in enumerate(truth)]  # rows 0, 4, 8 wrong
    expected = sum(p == y for p, y in zip(predicted, truth, strict=True)) / len(truth)
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in reversed(list(enumerate(predicted))))
    )
    csv = tmp_path / "p.csv"
    csv.write_text("prediction,id\n" + "".join(f"{p},{i}\n" for i, p in enumerate(predicted)), encoding="utf-8-sig")
    npy = tmp_path / "p.npy"
    np.save(npy, np.asarray(predicted, dtype=np.int64))
    sources = [jsonl, str(csv), npy, {str(i): p for i, p in enumerate(predicted)}, predicted, np.asarray(predicted)]
    for source in sources:
        result = dsreg.evaluate("toy", "test", source)
        assert result.values == {"top1": pytest.approx(expected)}, source
        assert result.score.signature == "accuracy|v1|labels|top1"
    assert expected == pytest.approx(0.7)


def test_scores_give_top_k_and_labels_only_top_1(toy, truth, tmp_path: Path) -> None:
    toy(top_k=[1, 2])
    logits = _logits(truth, wrong={1, 2, 3})
    np.save(tmp_path / "l.npy", logits)
    result = dsreg.evaluate("toy", "test", tmp_path / "l.npy")
    assert result.values == {"top1": pytest.approx(0.7), "top2": pytest.approx(1.0)}
    assert result.score.primary == "top1" and "top1+top2" in result.score.signature
    rows = [{"id": i, "prediction": row.tolist()} for i, row in enumerate(logits)]
    (tmp_path / "l.jsonl").write_text("\n".join(map(json.dumps, rows)))
    assert dsreg.evaluate("toy", "test", tmp_path / "l.jsonl").values == result.values


@pytest.mark.parametrize(
    ("ids", "named"),
    [
        ([*range(9)], "1 missing ('9')"),
        ([*range(10), 3], "1 duplicated ('3')"),
        ([*range(10), 10, 42], "2 unknown ('10', '42')"),
        ([0, 1, 1, 2, 77], "7 missing ('3', '4', '5', '6', '7' and 2 more); 1 duplicated ('1'); 1 unknown ('77')"),
    ],
)
def test_id_mismatches_name_the_ids_and_record_nothing(toy, tmp_path: Path, record_files, ids, named) -> None:
    toy()
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": i, "prediction": 0}) + "\n" for i in ids))
    with pytest.raises(DsregError) as err:
        dsreg.evaluate("toy", "test", path, model="m", submit=True)
    assert named in str(err.value) and str(path) in str(err.value)
    assert "toy/default:1.0.0 split 'test'" in str(err.value)
    assert record_files() == []


def test_positional_predictions_of_the_wrong_length_name_the_missing_rows(toy, tmp_path: Path) -> None:
    toy()
    np.save(tmp_path / "short.npy", np.zeros(8, dtype=np.int64))
    with pytest.raises(DsregError, match=r"8 predictions for the 10 rows .* missing the last 2 rows \(ids '8', '9'\)"):
        dsreg.evaluate("toy", "test", tmp_path / "short.npy")
    with pytest.raises(DsregError, match=r"11 predictions for the 10 rows .* 1 more than the split's rows"):
        dsreg.evaluate("toy", "test", [0] * 11)


def test_a_dataset_s_own_id_column_keys_the_predictions(named, truth, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,prediction\n" + "".join(f"img-{i}.png,{y}\n" for i, y in enumerate(truth)))
    assert dsreg.evaluate("named", "test", path).values == {"top1": 1.0}
    path.write_text("id,prediction\n" + "".join(f"{i},{y}\n" for i, y in enumerate(truth)))  # row indices: wrong key
    with pytest.raises(DsregError, match=r"10 missing \('img-0.png'.*10 unknown \('0', '1'"):
        dsreg.evaluate("named", "test", path)


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("p.jsonl", '{"id": 0, "prediction": 1}\n{"id": 1 "prediction": 1}\n', "line 2 is not JSON"),
        ("p.jsonl", '{"id": 0, "label": 1}\n', "line 1 is not an object with 'id' and 'prediction'"),
        ("p.jsonl", '{"id": 0.5, "prediction": 1}\n', "line 1: id 0.5 is neither an integer nor a string"),
        ("p.jsonl", '{"id": 0, "prediction": 3}\n', "line 1: class index 3 is out of range"),
        ("p.jsonl", '{"id": 0, "prediction": [0.1, 0.9]}\n', "line 1: 2 scores, but the reference has 3 classes"),
        ("p.jsonl", '{"id": 0, "prediction": true}\n', "line 1: prediction True is neither"),
        ("p.csv", "row,label\n0,1\n", "not one with the columns id and prediction"),
        ("p.csv", "id,prediction\n0,cat\n", "line 2: prediction 'cat' is neither"),
        # an unquoted comma in a hypothesis ('Hello, world') kept only 'Hello' and dropped the rest silently
        ("p.csv", "id,prediction\n0,1\n1,2, 0\n", "line 3 has 3 fields but the header 2"),
        ("p.tsv", "id\tprediction\tscore\n0\t1\t0.5\n1\t2\n", "line 3 has 2 fields but the header 3"),
        ("p.txt", "1\n", "cannot tell the format of predictions from the suffix '.txt'"),
        ("p.npy", "not numpy", "not a readable .npy array"),
        ("p.jsonl", b'{"id": 0, "prediction": 1}\n{"id": "\xe9", "prediction": 1}\n', "line 2 is not UTF-8"),
        ("p.csv", b"\xef\xbb\xbfid,prediction\n0,1\n1,\xff\n", "line 3 is not UTF-8"),
    ],
)
def test_bad_prediction_files_name_file_line_and_problem(
    toy, tmp_path: Path, record_files, name, text, problem
) -> None:
    toy()
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DsregError) as err:
        dsreg.evaluate("toy", "test", path, model="m", submit=True)
    assert problem in str(err.value) and str(path) in str(err.value)
    assert record_files() == []


def test_mixed_labels_and_scores_and_bad_arrays_are_refused(toy, tmp_path: Path) -> None:
    toy()
    with pytest.raises(DsregError, match="mix class indices and score lists"):
        dsreg.evaluate("toy", "test", [0] * 9 + [[0.1, 0.2, 0.7]])
    with pytest.raises(DsregError, match=r"shape \(10, 3, 1\) .* neither labels"):
        dsreg.evaluate("toy", "test", np.zeros((10, 3, 1)))


def test_what_cannot_be_evaluated_is_an_error(toy, root: Path) -> None:
    toy()
    with pytest.raises(DsregError, match=r"has no split 'validation'.*\n.*Fix: evaluate one of: test, train"):
        dsreg.evaluate("toy", "validation", [0] * 10)
    with pytest.raises(DsregError, match="submitting a score needs the model's name"):
        dsreg.evaluate("toy", "test", [0] * 10, submit=True)
    feats = dsreg.Features({"label": dsreg.ClassLabel(names=["a", "b"])})
    dsreg.write_dataset("bare", {"test": [{"label": 0}]}, feats, root=root)
    with pytest.raises(DsregError, match=r"bare/default:1\.0\.0: declares no evaluation metric"):
        dsreg.evaluate("bare", "test", [0])


def test_the_result_names_the_dataset_bytes_and_the_submitted_record(toy, truth, root: Path) -> None:
    toy()
    result = dsreg.evaluate("toy/default:1.0.0", "test", truth, model="resnet", submit=True, notes="seed 1")
    manifest = root / "toy" / "default" / "1.0.0" / "manifest.json"
    assert result.dataset == {
        "name": "toy",
        "config": "default",
        "version": "1.0.0",
        "manifest_sha256": json.loads(manifest.read_text())["manifest_sha256"],  # the manifest's own digest
    }
    legacy = dataclasses.replace(dsreg.open("toy", "test").manifest, digest=None)  # a manifest from before digests
    assert manifest_sha256(legacy) == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert result.path is not None and result.path.parent == root / "_scores" / "toy"
    record = json.loads(result.path.read_text())
    assert record["model"] == "resnet" and record["notes"] == "seed 1" and record["split"] == "test"
    assert record["values"] == {"top1": 1.0} and record["rows"] == 10
    assert record["metric"] == {
        "name": "accuracy",
        "version": "1",
        "signature": "accuracy|v1|labels|top1",
        "primary": "top1",
        "higher_is_better": True,
        "reference": ["label"],  # the columns scored against
    }
    assert record["user"] and record["time"].endswith("+00:00") and record["dataset"] == result.dataset
    assert record["predictions"] is None and record["details"] == {"rows": 10}  # passed in memory
    assert dsreg.evaluate("toy", "test", truth).path is None  # not submitted: nothing written
    assert len(list((root / "_scores" / "toy").iterdir())) == 1


def test_cifar10_end_to_end_from_a_prepared_archive(fake_recipe, tmp_path: Path, monkeypatch) -> None:
    """The shipped cifar10 recipe (its evaluation block untouched), prepared from a generated archive, scored
    from a .npy of logits."""
    archive = cifar.make_cifar10_python(tmp_path / "raw", train_rows=10, test_rows=20)
    fake_recipe(
        tmp_path / "recipes",
        "cifar10",
        "python",
        archive,
        ["http://127.0.0.1:9/x.tar.gz"],
        rows={"train": 10, "test": 20},
    )
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    prepare("cifar10/python", source=archive)
    truth = dsreg.open("cifar10", "test").read_column("label")
    logits = np.zeros((20, 10), dtype=np.float32)
    logits[np.arange(20), truth] = 1.0
    logits[np.arange(20)[:5], (truth[:5] + 1) % 10] = 2.0  # five rows: the truth ranks second
    np.save(tmp_path / "logits.npy", logits)
    result = dsreg.evaluate("cifar10", "test", tmp_path / "logits.npy", model="m", submit=True)
    assert result.values == {"top1": 0.75, "top5": 1.0}
    digest = hashlib.sha256((tmp_path / "logits.npy").read_bytes()).hexdigest()
    assert result.record["predictions"] == {"file": str(tmp_path / "logits.npy"), "sha256": digest}
    assert result.dataset["name"] == "cifar10" and result.dataset["config"] == "python"


def test_a_parallel_corpus_is_scored_against_the_direction_asked_for(root: Path, tmp_path: Path, capsys) -> None:
    """wmt14/cs-en's recipe scores against `en`; an English→Czech system scored so got BLEU near 0 without a
    word. `reference=` (`--reference`) names the other side; the record says which, and it ranks apart."""
    from dsreg.cli import main
    from dsreg.evaluation.table import ranked

    czech = ["Kočka sedí na rohožce .", "Dnes prší a fouká vítr .", "Ulice je dlouhá a široká ."]
    english = ["The cat sits on the mat .", "It is raining and windy today .", "The street is long and wide ."]
    feats = dsreg.Features({"cs": dsreg.Text(), "en": dsreg.Text()})
    rows = [{"cs": c, "en": e} for c, e in zip(czech, english, strict=True)]
    dsreg.write_dataset(
        "pair", {"test": rows}, feats, supervised_keys=("cs", "en"), evaluation={"metric": "bleu"}, root=root
    )
    default = dsreg.evaluate("pair", "test", czech, model="en-cs", submit=True)
    assert default.values["bleu"] < 5 and default.record["metric"]["reference"] == ["en"]
    chosen = dsreg.evaluate("pair", "test", czech, model="en-cs", submit=True, reference="cs")
    assert chosen.values["bleu"] == pytest.approx(100.0)
    assert chosen.record["metric"]["reference"] == ["cs"] and chosen.record["metric"]["reference_chosen"] is True
    assert {e.benchmark for e in ranked("pair")} == {"pair/default test bleu", "pair/default test bleu against cs"}
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("\n".join(czech) + "\n", encoding="utf-8")
    assert main(["evaluate", "pair", "--split", "test", "--predictions", str(hyp), "--reference", "cs"]) == 0
    out = capsys.readouterr().out
    assert "bleu: 100.00" in out and "against: cs" in out
    with pytest.raises(DsregError, match="'de', which is not a feature"):
        dsreg.evaluate("pair", "test", czech, reference="de")


def test_pandas_predictions_are_keyed_by_their_ids_not_their_positions(toy, truth, named) -> None:
    """A Series indexed by row id in another order (gathered from several ranks) was read positionally: a perfect
    model scored 0.2 without a word."""
    pd = pytest.importorskip("pandas")
    toy()
    series = pd.Series(truth, index=range(len(truth))).sample(frac=1, random_state=0)
    assert list(series.index) != list(range(len(truth)))
    assert dsreg.evaluate("toy", "test", series).values == {"top1": 1.0}
    frame = pd.DataFrame({"id": series.index, "prediction": series.values, "logit": 0.0})
    assert dsreg.evaluate("toy", "test", frame).values == {"top1": 1.0}
    names = pd.Series(truth, index=[f"img-{i}.png" for i in range(len(truth))])[::-1]
    assert dsreg.evaluate("named", "test", names).values == {"top1": 1.0}
    with pytest.raises(DsregError, match="2 missing"):
        dsreg.evaluate("toy", "test", series.iloc[2:])
    with pytest.raises(DsregError, match=r"a DataFrame with the columns \['label'\]"):
        dsreg.evaluate("toy", "test", pd.DataFrame({"label": truth}))
    assert dsreg.evaluate("toy", "test", {np.int64(i): y for i, y in enumerate(truth)}).values == {"top1": 1.0}
