"""`dsreg evaluate` and `dsreg scores`: scores printed with their signature, submissions recorded, the table
printed best first with stale scores flagged, errors with exit code 3 and usage errors with 2."""

from __future__ import annotations

import getpass
import json
import re
from pathlib import Path

import pytest

import dsreg
from dsreg.cli import main


def _jsonl(path: Path, predictions: list[int]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in enumerate(predictions)))
    return path


def test_evaluate_prints_and_submits(toy, truth, tmp_path: Path, capsys, record_files) -> None:
    toy()
    preds = _jsonl(tmp_path / "p.jsonl", truth)
    assert main(["evaluate", "toy", "--split", "test", "--predictions", str(preds)]) == 0
    out = capsys.readouterr().out
    assert "toy/default:1.0.0 test: 10 rows, metric accuracy\n  top1: 1.0000" in out
    assert "signature: accuracy|v1|labels|top1" in out and "not submitted" in out and record_files() == []
    args = ["evaluate", "toy:1.0.0", "--split", "test", "--predictions", str(preds), "--model", "resnet", "--submit"]
    assert main([*args, "--notes", "lr 0.1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "resnet" and data["notes"] == "lr 0.1" and data["values"] == {"top1": 1.0}
    assert [str(p) for p in record_files()] == [data["submitted"]]


def test_submit_without_a_model_is_a_usage_error(toy, tmp_path: Path, capsys, record_files) -> None:
    toy()
    preds = _jsonl(tmp_path / "p.jsonl", [0] * 10)
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "toy", "--split", "test", "--predictions", str(preds), "--submit"])
    assert exc.value.code == 2 and "--submit needs --model NAME" in capsys.readouterr().err
    assert record_files() == []


def test_id_mismatch_exits_3_naming_the_ids(toy, tmp_path: Path, capsys, record_files) -> None:
    toy()
    preds = _jsonl(tmp_path / "p.jsonl", [0] * 9)
    args = ["evaluate", "toy", "--split", "test", "--predictions", str(preds), "--model", "m", "--submit"]
    assert main(args) == 3
    assert "1 missing ('9')" in capsys.readouterr().err and record_files() == []


def test_scores_prints_best_first_and_flags_other_versions(toy, truth, capsys) -> None:
    toy()
    dsreg.evaluate("toy", "test", [(y + 1) % 3 for y in truth], model="weak", submit=True, notes="baseline")
    toy(version="1.1.0")
    dsreg.evaluate("toy", "test", truth, model="strong", submit=True)
    assert main(["scores"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "toy/default test accuracy (top1, higher is better; signature accuracy|v1|labels|top1)"
    assert lines[1].split() == ["RANK", "MODEL", "TOP1", "VERSION", "USER", "WHEN", "NOTES"]
    assert lines[3].split()[:4] == ["1", "strong", "1.0000", "1.1.0"]
    assert re.search(r"  root  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", lines[3].replace(getpass.getuser(), "root"))
    assert lines[4].split()[:5] == ["2", "weak", "0.0000", "1.0.0", "*"] and lines[4].endswith("baseline")
    assert "* weak: computed on 1.0.0; latest prepared is 1.1.0" in out
    assert main(["scores", "toy", "--split", "test", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(s["model"], s["rank"], s["stale"]) for s in data["scores"]] == [("strong", 1, False), ("weak", 2, True)]
    assert data["broken"] == []
    assert main(["scores", "nothing"]) == 0 and capsys.readouterr().out == "no scores recorded for nothing\n"


def test_scores_warns_about_unreadable_records(root: Path, capsys) -> None:
    (root / "_scores" / "toy").mkdir(parents=True)
    (root / "_scores" / "toy" / "bad.json").write_text("{")
    assert main(["scores"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "no scores recorded\n" and "bad.json: cannot be read" in captured.err


def test_scores_text_shows_control_characters_escaped_so_no_row_can_be_forged(toy, truth, capsys) -> None:
    """Notes and model names are free text: a newline in them printed a second, forged row (here a rank 1 of
    'mallory' at 0.9999), an escape sequence reached the terminal, and U+202E reversed what followed."""
    toy()
    notes = "lr 0.1\n1  mallory  0.9999  1.0.0  alice  2026-01-01 00:00:00 UTC\x1b[2K\u202e"
    dsreg.evaluate("toy", "test", truth, model="res\tnet", submit=True, notes=notes)
    assert main(["scores"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[3].split()[:3] == ["1", "res\\tnet", "1.0000"]
    assert lines[3].endswith("lr 0.1\\n1  mallory  0.9999  1.0.0  alice  2026-01-01 00:00:00 UTC\\x1b[2K\\u202e")
