"""The eval2000 reader: rows are exactly the scored STM segments, cut on the right channel at the right
samples, tagged swbd/callhome; ignored segments, comments and tags handled; refusals; the reader contract."""

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
from dsreg.readers.eval2000 import parse_stm
from dsreg.testing import Damaged, ReaderContract
from dsreg.testing.eval2000 import STM, make_eval2000

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "eval2000.yaml"


def _recipe() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    return data


def test_stm_parsing() -> None:
    segments = parse_stm(STM, "x.stm")
    assert [s.id for s in segments] == [
        "en_4156-A_000031-000125", "en_4156-B_000080-000190", "sw_4390-A_000000-000075",
        "sw_4390-B_000110-000295", "sw_4390-A_000200-000300",
    ]  # fmt: skip
    assert [s.subset for s in segments] == ["callhome", "callhome", "swbd", "swbd", "swbd"]
    assert segments[0].text == "oh yeah (%HESITATION)" and segments[1].text == "i'm {A / AN} okay"
    assert segments[1].speaker == "en_4156_B"
    with pytest.raises(DsregError, match="line 1 is not"):
        parse_stm("en_4156 A spk zero 1.0 <O> hi\n", "x.stm")
    with pytest.raises(DsregError, match="channel 'C' or span"):
        parse_stm("en_4156 C spk 0.0 1.0 <O> hi\n", "x.stm")


def test_rows_are_the_stm_segments_cut_on_their_channel(tmp_path: Path) -> None:
    source = make_eval2000(tmp_path / "src")
    manifest = dsreg.prepare("eval2000", source=source, root=tmp_path / "root", check_counts=False)
    assert manifest.metadata["counts_checked"] is False  # 5 generated segments, not the real 4,459
    tables = dsreg.open("eval2000", "test", root=tmp_path / "root").arrow_tables()
    rows = [row for table in tables for row in table.to_pylist()]
    assert [r["id"] for r in rows] == sorted(s.id for s in parse_stm(STM, "x"))
    for row in rows:
        samples, _ = read_sphere(source / "audio" / "hub5e_00" / "english" / f"{row['conversation']}.sph")
        channel, other = (0, 1) if row["side"] == "A" else (1, 0)
        begin, end = (min(math.floor(t * 8000 + 0.5), samples.shape[1]) for t in (row["start"], row["end"]))
        np.testing.assert_array_equal(np.asarray(row["audio"], dtype=np.int16), samples[channel, begin:end])
        assert not np.array_equal(np.asarray(row["audio"], dtype=np.int16), samples[other, begin:end])
        assert row["subset"] == ("swbd" if row["conversation"].startswith("sw") else "callhome")
    assert len(rows[0]["audio"]) == 10000 - 2480  # 0.31 s → 2480, 1.25 s → 10000


def test_missing_audio_is_named(tmp_path: Path) -> None:
    source = make_eval2000(tmp_path / "src")
    (source / "audio" / "hub5e_00" / "english" / "sw_4390.sph").unlink()
    with pytest.raises(DsregError, match=r"have no audio: sw_4390\.sph"):
        dsreg.prepare("eval2000", source=source, root=tmp_path / "root", check_counts=False)


class TestEval2000Contract(ReaderContract):
    reader = "eval2000"
    features: ClassVar[dict[str, Any]] = _recipe()["features"]
    splits: ClassVar[dict[str, dict[str, Any]]] = {
        "test": {"args": {"subset": "all"}},
        "swbd": {"args": {"subset": "swbd"}},
        "callhome": {"args": {"subset": "callhome"}},
    }
    sources: ClassVar[dict[str, Any]] = _recipe()["configs"]["stm"]["sources"]
    rows: ClassVar[dict[str, int]] = {"test": 5, "swbd": 3, "callhome": 2}

    def make_source(self, dest: Path) -> Path:
        return make_eval2000(dest / "eval2000")

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        yield from super().damaged_sources(source, dest)
        tree = dest / "span"
        shutil.copytree(source, tree)
        stm = tree / "transcripts" / "2000_hub5_eng_eval_tr" / "reference" / "hub5e00.english.000405.stm"
        stm.write_text(STM.replace("0.31 1.25", "1.25 0.31"))
        yield Damaged("a segment ending before it starts", tree, "is invalid")
        tree = dest / "nostm"
        shutil.copytree(source, tree)
        (tree / "transcripts" / "2000_hub5_eng_eval_tr" / "reference" / "hub5e00.english.000405.stm").unlink()
        yield Damaged("no STM", tree, "expected one hub5e00.english.000405.stm")
