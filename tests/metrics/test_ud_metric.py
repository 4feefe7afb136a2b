"""The `conll18_ud` metric through `dsreg.evaluate` on a prepared (generated) treebank: CoNLL-U and JSON parses,
keyed by sent_id or in order; scores worked out by hand from the generated counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import dsreg
from dsreg.errors import DsregError
from dsreg.metrics.conll18 import conllu_rows
from dsreg.testing.ud import conllu_text, make_release, pinned_recipe

SENTENCES = 6


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """en_pud (test only) prepared from a generated release; returns the root and the gold CoNLL-U text."""
    base = tmp_path_factory.mktemp("ud-metric")
    archive, _ = make_release(base / "raw", {"en_pud": {"test": SENTENCES}})
    with pytest.MonkeyPatch.context() as env:  # the shipped recipe would refuse the stand-in's sha256
        env.setenv("DSREG_RECIPES", str(pinned_recipe(base / "recipes", archive)))
        dsreg.prepare("ud/en_pud", source=archive, root=base / "root", check_counts=False)
    return base / "root", conllu_text("en_pud", "test", SENTENCES)[0]


def test_the_gold_file_scores_one_and_a_wrong_relation_costs_one_word(
    prepared: tuple[Path, str], tmp_path: Path
) -> None:
    root, gold = prepared
    (tmp_path / "gold.conllu").write_text(gold, encoding="utf-8")
    perfect = dsreg.evaluate("ud/en_pud", "test", tmp_path / "gold.conllu", root=root)
    assert perfect.score.primary == "las" and perfect.values["las"] == 1.0 and perfect.values["uas"] == 1.0
    rows = conllu_rows(gold, "gold")
    words = sum(len(r["tokens"]) for r in rows)
    parses: dict[str, Any] = {r.pop("sent_id"): r for r in rows}
    first = next(iter(parses.values()))
    first["deprel"][-1] = "obj"  # the final full stop: punct → obj, one wrong label (punctuation counts)
    first["deprel"][0] = "root:x"  # a subtype the script strips: still right
    scored = dsreg.evaluate("ud/en_pud", "test", parses, root=root)
    # every word aligned and every head right; LAS misses exactly one of `words` words
    assert scored.values["uas"] == 1.0 and scored.values["las"] == pytest.approx((words - 1) / words)
    assert scored.score.details["LAS"] == {"gold": words, "system": words, "correct": words - 1}


def test_json_lines_and_ordered_conllu(prepared: tuple[Path, str], tmp_path: Path) -> None:
    root, gold = prepared
    rows = conllu_rows(gold, "gold")
    lines = [json.dumps({"id": r.pop("sent_id"), "prediction": r}) for r in rows]
    (tmp_path / "parse.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert dsreg.evaluate("ud/en_pud", "test", tmp_path / "parse.jsonl", root=root).values["las"] == 1.0
    unkeyed = "\n".join(line for line in gold.split("\n") if not line.startswith("# sent_id"))
    (tmp_path / "ordered.conllu").write_text(unkeyed, encoding="utf-8")  # no sent_id: read in split order
    assert dsreg.evaluate("ud/en_pud", "test", tmp_path / "ordered.conllu", root=root).values["las"] == 1.0


def test_bad_parses_are_refused(prepared: tuple[Path, str], tmp_path: Path) -> None:
    root, gold = prepared
    rows = {r.pop("sent_id"): r for r in conllu_rows(gold, "gold")}
    first = next(iter(rows))
    with pytest.raises(DsregError, match="not a parse with tokens, upos, head, deprel"):
        dsreg.evaluate("ud/en_pud", "test", {**rows, first: {"tokens": ["x"]}}, root=root)
    short = {**rows[first], "head": rows[first]["head"][:-1]}
    with pytest.raises(DsregError, match="not non-empty lists of one length"):
        dsreg.evaluate("ud/en_pud", "test", {**rows, first: short}, root=root)
    other = {**rows[first], "tokens": ["Q", *rows[first]["tokens"][1:]], "multiword": []}
    with pytest.raises(DsregError, match="gold and system text differ at character 0"):
        dsreg.evaluate("ud/en_pud", "test", {**rows, first: other}, root=root)
