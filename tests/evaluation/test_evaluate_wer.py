"""eval2000 end to end: the generated LDC trees prepared (the STM and GLM published as assets), a CTM and
per-segment text scored by `dsreg evaluate` with the sclite-style WER per subset, and the score recorded."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import dsreg
from dsreg.cli import main
from dsreg.errors import DsregError
from dsreg.testing.eval2000 import GLM, make_eval2000

# the generated STM's scored segments (dsreg.testing.eval2000.STM), with one error per line marked
CTM = """;; hypothesis
en_4156 A 0.40 0.20 Oh
en_4156 A 0.70 0.20 yeah
en_4156 A 2.00 0.30 noise
en_4156 B 0.90 0.30 i'm
en_4156 B 1.30 0.20 an
en_4156 B 1.60 0.20 ok
sw_4390 A 0.10 0.30 right
sw_4390 A 2.20 0.30 uh-huh
sw_4390 B 1.20 0.20 we
sw_4390 B 1.50 0.20 do
sw_4390 B 1.80 0.20 this
sw_4390 B 2.20 0.20 every
sw_4390 B 2.50 0.20 year
sw_4390 B 2.70 0.20 again
"""


@pytest.fixture
def eval2000(root: Path, tmp_path: Path) -> Path:
    source = make_eval2000(tmp_path / "src")
    dsreg.prepare("eval2000", source=source, root=root, check_counts=False)
    return source


def test_prepared_eval2000_carries_its_stm_and_glm(eval2000: Path, root: Path) -> None:
    manifest = dsreg.open("eval2000", "test", root=root).manifest
    reference = eval2000 / "transcripts" / "2000_hub5_eng_eval_tr" / "reference"
    for role, name in (("stm", "hub5e00.english.000405.stm"), ("glm", "en20000405_hub5.glm")):
        path = manifest.asset_path(role)
        assert path.name == name and path.read_bytes() == (reference / name).read_bytes()
        (asset,) = [a for a in manifest.assets if a.role == role]
        assert asset.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert main(["verify", "eval2000", "--deep"]) == 0


def test_evaluate_a_ctm_per_subset_and_submit(eval2000: Path, root: Path, tmp_path: Path, capsys) -> None:
    ctm = tmp_path / "x.ctm"
    ctm.write_text(CTM)
    args = ["evaluate", "eval2000", "--split", "test", "--predictions", str(ctm), "--model", "tdnn", "--submit"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # callhome: "oh yeah (%HESITATION)": 2 correct, the optional hesitation deleted free and not counted (NOISE
    # falls in the ignored region); "i'm {A / AN} okay": 3 correct. swbd: "right", "uh-huh" → UH HUH correct;
    # "we do that every year" → 1 substitution + 1 insertion. So 13 reference words, 2 errors.
    assert out["values"] == pytest.approx({"wer": 2 / 13, "wer_callhome": 0.0, "wer_swbd": 2 / 8})
    (record_path,) = list((root / "_scores").rglob("*.json"))
    record = json.loads(record_path.read_text())
    assert record["model"] == "tdnn" and record["metric"]["name"] == "wer"
    assert record["metric"]["signature"].startswith("wer|v1|glm:en20000405_hub5.glm@")
    assert record["details"]["swbd"] == {
        "reference_words": 8, "correct": 7, "substitutions": 1, "deletions": 0, "insertions": 1, "errors": 2,
        "segments": 3,
    }  # fmt: skip
    assert record["details"]["all"]["reference_words"] == 13
    assert record["details"]["ctm"] == {
        "words": 14, "dropped_in_ignored_regions": 1, "segments_without_words": 0, "sides_without_words": [],
    }  # fmt: skip
    assert main(["scores", "eval2000"]) == 0 and "tdnn" in capsys.readouterr().out


def test_evaluate_per_segment_text(eval2000: Path, root: Path, tmp_path: Path) -> None:
    ids = [r["id"] for t in dsreg.open("eval2000", "test", root=root).arrow_tables() for r in t.to_pylist()]
    assert ids[4] == "sw_4390-B_000110-000295"  # rows in id order
    hyps = dict(zip(ids, ["oh yeah", "I'M AN OK", "right", "uh-huh", "we do that every year"], strict=True))
    preds = tmp_path / "x.jsonl"
    preds.write_text("".join(json.dumps({"id": k, "prediction": v}) + "\n" for k, v in hyps.items()))
    assert dsreg.evaluate("eval2000", "test", preds, root=root).values == {
        "wer": 0.0, "wer_callhome": 0.0, "wer_swbd": 0.0
    }  # fmt: skip
    # "uh huh" is not "uh-huh": the GLM maps the free-standing UH to an optional hesitation before csrfilt
    # splits the hyphen, so the reference's UH (from UH-HUH) is deleted
    hyps[ids[3]] = "uh huh"
    assert dsreg.evaluate("eval2000", "test", hyps, root=root).score.details["swbd"]["deletions"] == 1
    hyps[ids[4]] = ""  # a segment with nothing recognised: all deletions
    assert dsreg.evaluate("eval2000", "test", hyps, root=root).score.details["swbd"]["deletions"] == 1 + 5


def test_unknown_conversation_in_the_ctm_records_nothing(eval2000: Path, root: Path, tmp_path: Path) -> None:
    ctm = tmp_path / "x.ctm"
    ctm.write_text(CTM + "en_9999 A 1.0 0.2 hello\n")
    with pytest.raises(DsregError, match=r"no segment in eval2000/stm:1\.0\.0: en_9999 A"):
        dsreg.evaluate("eval2000", "test", ctm, root=root, model="m", submit=True)
    assert not (root / "_scores").exists() or not list((root / "_scores").rglob("*.json"))


def test_eval2000_without_its_glm_is_refused(tmp_path: Path) -> None:
    source = make_eval2000(tmp_path / "src")
    (source / "transcripts" / "2000_hub5_eng_eval_tr" / "reference" / "en20000405_hub5.glm").unlink()
    with pytest.raises(DsregError, match=r"expected one en20000405_hub5\.glm"):
        dsreg.prepare("eval2000", source=source, root=tmp_path / "r", check_counts=False)
    assert GLM  # the generator's GLM is what the prepared tests above scored with
    shutil.rmtree(source)


def test_a_glm_asset_changed_after_publishing_is_refused_not_scored_with(
    eval2000: Path, root: Path, tmp_path: Path
) -> None:
    manifest = dsreg.open("eval2000", "test", root=root).manifest
    glm = manifest.asset_path("glm")
    text = glm.read_bytes()
    assert b"=>  OKAY " in text
    glm.chmod(0o644)
    glm.write_bytes(text.replace(b"=>  OKAY ", b"=>  OK   ", 1))  # same size: only the sha256 tells
    ctm = tmp_path / "x.ctm"
    ctm.write_text(CTM)
    with pytest.raises(DsregError, match="sha256") as err:
        dsreg.evaluate("eval2000", "test", ctm, root=root, model="m", submit=True)
    assert str(glm) in str(err.value)
    assert not (root / "_scores").exists() or not list((root / "_scores").rglob("*.json"))
    assert main(["verify", "eval2000", "--deep"]) != 0


def test_a_ctm_missing_a_conversation_side_is_scored_with_a_warning(
    eval2000: Path, root: Path, tmp_path: Path, capsys
) -> None:
    ctm = tmp_path / "x.ctm"
    ctm.write_text("".join(line + "\n" for line in CTM.splitlines() if not line.startswith("en_4156 B")))
    args = ["evaluate", "eval2000", "--split", "test", "--predictions", str(ctm), "--model", "m", "--submit"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and "en_4156 B" in captured.err and "deletions" in captured.err
    (record_path,) = list((root / "_scores").rglob("*.json"))
    record = json.loads(record_path.read_text())
    assert record["details"]["ctm"]["sides_without_words"] == ["en_4156 B"]
    assert "en_4156 B" in record["details"]["warning"]
