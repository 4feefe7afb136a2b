"""The switchboard reader: utterances cut at the ms98 times on the right channel, the special tokens, Kaldi's
hold-out order, refusals, and the reader contract, on a generated LDC97S62 + ms98 tree."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import yaml

import dsreg
from dsreg.audio import read_sphere
from dsreg.errors import DsregError
from dsreg.readers import switchboard
from dsreg.readers.switchboard import Segment, normalize_tokens, without_duplicates
from dsreg.sourcetree import SourceTree
from dsreg.testing import Damaged, ReaderContract
from dsreg.testing.switchboard import make_switchboard

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "switchboard.yaml"
HOLD_OUT = 5


def _recipe() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    return data


def _small_recipe(recipes: Path) -> str:
    data = _recipe()
    config = data["configs"]["ms98"]
    config["reader"]["args"]["hold_out"] = HOLD_OUT
    config["splits"] = {
        "train": {"rows": 19, "args": {"utterances": "rest"}},
        "validation": {"rows": HOLD_OUT, "args": {"utterances": "held_out"}},
    }
    data.update(name="switchboard-small")
    recipes.mkdir(parents=True, exist_ok=True)
    (recipes / "switchboard-small.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return "switchboard-small"


def test_special_tokens() -> None:
    words = "[silence] <b_aside> [noise] [laughter] [vocalized-noise] <e_aside> [laughter-yes] wor[th]- -[be]cause ok"
    assert normalize_tokens(words.split()) == [
        "[noise]", "[laughter]", "[vocalized-noise]", "yes", "wor-", "-cause", "ok"
    ]  # fmt: skip
    assert normalize_tokens(["[silence]"]) == []


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("swbd")
    source = make_switchboard(base / "src")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DSREG_RECIPES", str(base / "recipes"))
        dsreg.prepare(_small_recipe(base / "recipes"), source=source, root=base / "root")
    return source, base


def _rows(base: Path, split: str) -> list[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DSREG_RECIPES", str(base / "recipes"))
        tables = dsreg.open("switchboard-small", split, root=base / "root").arrow_tables()
    return [row for table in tables for row in table.to_pylist()]


def test_segments_are_cut_at_the_right_samples_on_the_right_channel(prepared: tuple[Path, Path]) -> None:
    source, base = prepared
    rows = _rows(base, "validation") + _rows(base, "train")
    assert len(rows) == 24  # 3 conversations × 2 sides × 4 kept segments
    decoded = {c: read_sphere(source / "audio" / "swb1" / f"sw0{c}.sph")[0] for c in (2001, 2005, 3439)}
    for row in rows:
        samples = decoded[int(row["conversation"][3:])]
        channel, other = (0, 1) if row["side"] == "A" else (1, 0)
        begin, end = math.floor(row["start"] * 8000 + 0.5), math.floor(row["end"] * 8000 + 0.5)
        audio = np.asarray(row["audio"], dtype=np.int16)
        np.testing.assert_array_equal(audio, samples[channel, begin:end])
        assert not np.array_equal(audio, samples[other, begin:end])
    first = rows[0]
    assert first["id"] == "sw02001-A_000051-000130" and first["text"] == "yeah i [laughter] uh-huh"
    assert len(first["audio"]) == 10400 - 4080  # 0.51 s → sample 4080, 1.3 s → 10400
    texts = [r["text"] for r in rows[:4]]
    assert texts[1:] == ["[noise]", "yes it's wor- the -cause [vocalized-noise]", "okay"]


def test_the_hold_out_is_the_first_utterances_in_kaldi_order(prepared: tuple[Path, Path]) -> None:
    _, base = prepared
    held, rest = [r["id"] for r in _rows(base, "validation")], [r["id"] for r in _rows(base, "train")]
    every = held + rest
    assert every == sorted(every) and len(held) == HOLD_OUT and not set(held) & set(rest)
    assert held[-1].startswith("sw02001-B_") and rest[0].startswith("sw02001-B_")  # a side split across both


def test_a_transcript_holding_another_sides_lines_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file name says the side (channel) its lines are cut from; Kaldi names them by each line's own id. A
    file of side B's lines saved under side A's name would cut B's words from A's channel: refused."""
    source = make_switchboard(tmp_path / "src")
    folder = source / "transcripts" / "swb_ms98_transcriptions" / "20" / "2001"
    side_a, side_b = folder / "sw2001A-ms98-a-trans.text", folder / "sw2001B-ms98-a-trans.text"
    side_a.write_text(side_b.read_text())
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    with pytest.raises(DsregError, match="line 1 is utterance sw2001B-ms98-a-0001, not one of sw2001A"):
        dsreg.prepare(_small_recipe(tmp_path / "recipes"), source=source, root=tmp_path / "root")


def test_a_conversation_file_under_another_name_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Switchboard's headers name the conversation (conversation_id); sw02005's audio saved as sw02001.sph would
    give sw02001's words over another call's audio."""
    source = make_switchboard(tmp_path / "src")
    folder = source / "audio" / "swb1"
    original = (folder / "sw02001.sph").read_bytes()
    (folder / "sw02001.sph").write_bytes((folder / "sw02005.sph").read_bytes())
    (folder / "sw02005.sph").write_bytes(original)
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    with pytest.raises(DsregError, match=r"sw02001\.sph holds conversation '2005'"):
        dsreg.prepare(_small_recipe(tmp_path / "recipes"), source=source, root=tmp_path / "root")


def test_a_transcript_edited_in_place_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parsed transcripts are kept per process; a second prepare after fixing a transcript in place (same
    names, same source path) published the old words."""
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    name = _small_recipe(tmp_path / "recipes")
    source = make_switchboard(tmp_path / "src")
    dsreg.prepare(name, source=source, root=tmp_path / "r1")
    transcript = next(source.rglob("sw2001A-ms98-a-trans.text"))
    transcript.write_text(transcript.read_text().replace("okay", "sure"))  # the same size
    dsreg.prepare(name, source=source, root=tmp_path / "r2")
    texts = {}
    for root in ("r1", "r2"):
        tables = dsreg.open(name, "validation", root=tmp_path / root).arrow_tables()
        texts[root] = [row["text"] for table in tables for row in table.to_pylist()]
    assert texts["r1"][3] == "okay" and texts["r2"][3] == "sure"
    assert texts["r2"][:3] == texts["r1"][:3]


def test_the_transcripts_are_stat_ed_once_per_opened_tree_not_per_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every task asks for all segments; checking ~4,900 transcript files each time cost a stat pass per task."""
    transcripts = make_switchboard(tmp_path / "src") / "transcripts"
    passes: list[str] = []
    file_states = switchboard._file_states

    def counted(tree: SourceTree, names: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
        passes.append(str(tree.path))
        return file_states(tree, names)

    monkeypatch.setattr(switchboard, "_file_states", counted)
    with SourceTree.open(transcripts) as tree:
        first = switchboard._segments(tree)
        assert all(switchboard._segments(tree) is first for _ in range(3))
    assert passes == [str(transcripts)]
    with SourceTree.open(transcripts) as reopened:  # the next preparation: stat-ed again, the same parse reused
        assert switchboard._segments(reopened) is first
    assert passes == [str(transcripts)] * 2


def test_ids_are_kaldis_with_ties_rounded_up() -> None:
    """swbd1_data_prep.sh names a segment with awk's int(100*t+0.5): 0.125 s is 13 cs and 1.125 s 113 cs (Python's
    round() gave 12 and 112, ids Kaldi's train_dev and its hypotheses do not have)."""
    assert Segment(2001, "A", 0.125, 1.125, "x").id == "sw02001-A_000013-000113"
    assert Segment(2001, "B", 0.51, 2.317875, "x").id == "sw02001-B_000051-000232"
    assert Segment(4940, "A", 12.344999, 12.355, "x").id == "sw04940-A_001234-001236"


def test_train_nodup_keeps_the_first_of_each_transcript(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kaldi's train_nodup (remove_dup_utts.sh): at most N utterances per transcript in train, first in id
    order; validation (train_dev) untouched. Every generated side says the same four things."""
    data = _recipe()
    config = data["configs"]["ms98_nodup"]
    assert config["reader"]["args"] == {"hold_out": 4000, "max_duplicates": 300}  # Kaldi's numbers
    config["reader"]["args"] = {"hold_out": HOLD_OUT, "max_duplicates": 2}
    config["splits"] = {
        "train": {"rows": 8, "args": {"utterances": "rest"}},
        "validation": {"rows": HOLD_OUT, "args": {"utterances": "held_out"}},
    }
    data.update(name="switchboard-small", configs={"ms98_nodup": config}, default_config="ms98_nodup")
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "switchboard-small.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    dsreg.prepare("switchboard-small", source=make_switchboard(tmp_path / "src"), root=tmp_path / "root")
    rows = {
        split: [r for t in dsreg.open("switchboard-small", split, root=tmp_path / "root").arrow_tables()
                for r in t.to_pylist()]
        for split in ("train", "validation")
    }  # fmt: skip
    held = [r["id"] for r in rows["validation"]]
    assert len(held) == HOLD_OUT and held[-1].startswith("sw02001-B_")  # the same hold-out as ms98
    train = rows["train"]
    texts = [r["text"] for r in train]
    assert sorted(set(texts)) == sorted({r["text"] for r in rows["validation"]}) and len(set(texts)) == 4
    assert all(texts.count(t) == 2 for t in set(texts))
    # the first two of each text in id order: sw02001-B's last three, then sw02005-A's, then one of sw02005-B
    assert [r["id"][:9] for r in train] == ["sw02001-B"] * 3 + ["sw02005-A"] * 4 + ["sw02005-B"]
    assert train[-1]["text"] == "yeah i [laughter] uh-huh"


def test_without_duplicates_keeps_the_first_and_refuses_a_limit_below_one() -> None:
    segments = [Segment(2001, "A", float(i), i + 0.5, text) for i, text in enumerate("abaabca")]
    kept = without_duplicates(segments, 2)
    assert [(s.start, s.text) for s in kept] == [(0, "a"), (1, "b"), (2, "a"), (4, "b"), (5, "c")]
    with pytest.raises(DsregError, match="max_duplicates is 0"):
        without_duplicates(segments, 0)


def test_missing_audio_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_switchboard(tmp_path / "src", conversations=(2001, 2005))
    (source / "audio" / "swb1" / "sw02005.sph").unlink()
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    with pytest.raises(DsregError, match=r"have transcripts but no audio: sw02005\.sph"):
        dsreg.prepare(_small_recipe(tmp_path / "recipes"), source=source, root=tmp_path / "root", check_counts=False)


class TestSwitchboardContract(ReaderContract):
    reader = "switchboard"
    reader_args: ClassVar[dict[str, Any]] = {"hold_out": HOLD_OUT}
    features: ClassVar[dict[str, Any]] = _recipe()["features"]
    splits: ClassVar[dict[str, dict[str, Any]]] = {
        "train": {"args": {"utterances": "rest"}},
        "validation": {"args": {"utterances": "held_out"}},
    }
    sources: ClassVar[dict[str, Any]] = _recipe()["configs"]["ms98"]["sources"]
    rows: ClassVar[dict[str, int]] = {"train": 11, "validation": HOLD_OUT}
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        return make_switchboard(dest / "swbd", conversations=(2001, 4940))

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        yield from super().damaged_sources(source, dest)

        def copy(what: str) -> Path:
            target = dest / what
            shutil.copytree(source, target)
            return target

        tree = copy("times")
        path = tree / "transcripts" / "swb_ms98_transcriptions" / "20" / "2001" / "sw2001A-ms98-a-trans.text"
        path.write_text("sw2001A-ms98-a-0001 1.5 0.5 okay\n")
        yield Damaged("a segment ending before it starts", tree, "is not a time span")
        tree = copy("shorten")
        audio = tree / "audio" / "swb1" / "sw04940.sph"
        audio.write_bytes(audio.read_bytes()[:3000])
        yield Damaged("a truncated shorten stream", tree, "sw04940.sph")
        tree = copy("none")
        shutil.rmtree(tree / "transcripts")
        yield Damaged("no transcripts", tree, "no ms98 transcripts found")
