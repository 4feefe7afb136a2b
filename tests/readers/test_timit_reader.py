"""The timit reader: the Kaldi protocol's exact speakers and counts on a generated 630-speaker tree, case and
top-folder variants, clamped alignments, 61/48/39 phones, the real excerpt, and the reader contract."""

from __future__ import annotations

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
from dsreg.speech.phones import PHONES_39, PHONES_48, fold
from dsreg.testing import Damaged, ReaderContract
from dsreg.testing.realdata import realdata
from dsreg.testing.timit import Speaker, make_timit, reference, timit_speakers

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "timit.yaml"
FACTS = reference()
CORE: list[str] = list(FACTS["core_test_speakers"])  # type: ignore[call-overload]
DEV: list[str] = list(FACTS["dev_speakers"])  # type: ignore[call-overload]
SMALL = [
    Speaker("TRAIN", 1, "fxyz0"),
    Speaker("TRAIN", 1, "mabc1"),
    Speaker("TRAIN", 4, "mqrs0"),
    Speaker("TEST", 1, CORE[0]),
    Speaker("TEST", 2, CORE[3]),
    Speaker("TEST", 3, DEV[0]),
    Speaker("TEST", 5, "fzzz9"),
]
SMALL_SPLITS = {
    "train": {"args": {"part": "train"}},
    "validation": {"args": {"part": "test", "speakers": [DEV[0]]}},
    "test": {"args": {"part": "test", "speakers": [CORE[0], CORE[3]]}},
    "test_full": {"args": {"part": "test"}},
}


def _recipe() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    return data


def _small_recipe(recipes: Path, *, include_sa: bool = False) -> str:
    """A copy of the shipped recipe with small speaker lists, so a small tree prepares through the same code."""
    data = _recipe()
    config = data["configs"]["with_sa" if include_sa else "kaldi"]
    per = 10 if include_sa else 8
    counts = {"train": 3, "validation": 1, "test": 2, "test_full": 4}
    config["splits"] = {name: {"rows": counts[name] * per, **spec} for name, spec in SMALL_SPLITS.items()}
    data.update(name="timit-small", configs={"kaldi": config}, default_config="kaldi")
    recipes.mkdir(parents=True, exist_ok=True)
    (recipes / "timit-small.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return "timit-small"


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped recipe prepared from a generated tree with all 630 speakers (an uncompressed tar)."""
    base = tmp_path_factory.mktemp("timit-full")
    source = make_timit(base / "timit", archive=True)
    dsreg.prepare("timit", source=source, root=base / "root")
    return base / "root"


def _column(root: Path, split: str, name: str) -> list[Any]:
    return [row for table in dsreg.open("timit", split, root=root).arrow_tables() for row in table[name].to_pylist()]


def test_the_kaldi_protocol_speakers_and_counts(full: Path) -> None:
    counts = {
        split: len(dsreg.open("timit", split, root=full)) for split in ("train", "validation", "test", "test_full")
    }
    assert counts == {"train": 3696, "validation": 400, "test": 192, "test_full": 1344}
    assert counts == FACTS["splits"]["kaldi"]  # type: ignore[index]
    speakers = {split: _column(full, split, "speaker") for split in counts}
    assert set(speakers["validation"]) == set(DEV) and len(DEV) == 50
    assert set(speakers["test"]) == set(CORE) and len(CORE) == 24
    assert len(set(speakers["train"])) == 462 and len(set(speakers["test_full"])) == 168
    assert set(speakers["validation"]) | set(speakers["test"]) <= set(speakers["test_full"])
    assert not set(speakers["train"]) & set(speakers["test_full"])
    ids = _column(full, "test", "id")
    assert not [i for i in ids if i.split("_")[1].startswith("sa")], "SA sentences are excluded"
    assert all(speakers["test"].count(s) == 8 for s in CORE)  # 5 SX + 3 SI each


def test_the_recipe_lists_are_the_reference_facts() -> None:
    data = _recipe()
    for config in data["configs"].values():
        splits = config["splits"]
        assert splits["validation"]["args"]["speakers"] == DEV
        assert splits["test"]["args"]["speakers"] == CORE
        assert {name: spec["rows"] for name, spec in splits.items()} == FACTS["splits"][  # type: ignore[index]
            "with_sa" if config["reader"]["args"]["include_sa"] else "kaldi"
        ]
    real = realdata("timit", "dev_spk.list")
    if real is not None:
        assert sorted(real.read_text().split()) == sorted(DEV)


def test_rows_hold_clamped_alignments_and_folded_phones(full: Path) -> None:
    table = next(iter(dsreg.open("timit", "test", root=full).arrow_tables()))
    for row in table.slice(0, 40).to_pylist():
        frames = len(row["audio"])
        assert row["speaker"] == row["id"].split("_")[0] and row["sex"] == row["speaker"][0]
        assert row["dialect_region"] in {f"dr{n}" for n in range(1, 9)}
        for key in ("words", "phones", "phones_48", "phones_39"):
            assert all(0 <= item["start"] <= item["end"] <= frames for item in row[key]), key
        phones = [p["phone"] for p in row["phones"]]
        assert [p["phone"] for p in row["phones_48"]] == fold(phones, 48)
        assert [p["phone"] for p in row["phones_39"]] == fold(phones, 39)
        assert set(fold(phones, 39)) <= set(PHONES_39) and set(fold(phones, 48)) <= set(PHONES_48)
        assert row["text"].endswith(".") and row["text"][0].isupper()
    assert any(row["phones"][-1]["end"] == len(row["audio"]) for row in table.to_pylist())


def test_letter_case_and_top_folder_do_not_matter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipes = tmp_path / "recipes"
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    name = _small_recipe(recipes)
    rows = {}
    for top, upper in (("TIMIT", True), ("data", True), ("timit", False), ("", False)):
        source = make_timit(tmp_path / f"src-{top}-{upper}", speakers=SMALL, top=top, upper=upper)
        root = tmp_path / f"root-{top}-{upper}"
        dsreg.prepare(name, source=source, root=root)
        tables = dsreg.open(name, "test_full", root=root).arrow_tables()
        rows[(top, upper)] = [row for t in tables for row in t.to_pylist()]
    first = next(iter(rows.values()))
    assert len(first) == 32 and all(r == first for r in rows.values())


def test_the_sa_config_keeps_sa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipes = tmp_path / "recipes"
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    name = _small_recipe(recipes, include_sa=True)
    manifest = dsreg.prepare(name, source=make_timit(tmp_path / "src", speakers=SMALL), root=tmp_path / "root")
    assert {k: s.rows for k, s in manifest.splits.items()} == {
        "train": 30, "validation": 10, "test": 20, "test_full": 40
    }  # fmt: skip
    ids = [
        i for t in dsreg.open(name, "validation", root=tmp_path / "root").arrow_tables() for i in t["id"].to_pylist()
    ]
    assert f"{DEV[0]}_sa1" in ids and f"{DEV[0]}_sa2" in ids


def test_a_missing_listed_speaker_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipes = tmp_path / "recipes"
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    source = make_timit(tmp_path / "src", speakers=[s for s in SMALL if s.name != CORE[3]])
    with pytest.raises(DsregError, match=f"listed speaker.*not in the test part.*{CORE[3]}"):
        dsreg.prepare(_small_recipe(recipes), source=source, root=tmp_path / "root")
    assert not list((tmp_path / "root").rglob("manifest.json"))


def test_alignments_far_past_a_truncated_wav_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .WAV cut short (its header still counting the full length: read_sphere only warns) must not give rows
    whose phones and words are clamped onto audio that does not hold them."""
    recipes = tmp_path / "recipes"
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    source = make_timit(tmp_path / "src", speakers=SMALL)
    wav = next(source.rglob("SX*.WAV"))
    data = wav.read_bytes()
    wav.write_bytes(data[: 1024 + (len(data) - 1024) // 2 // 2 * 2])  # half of the samples
    with pytest.warns(UserWarning, match="SPHERE header says"), pytest.raises(DsregError, match="past the end of the"):
        dsreg.prepare(_small_recipe(recipes), source=source, root=tmp_path / "root")
    assert not list((tmp_path / "root").rglob("manifest.json"))


def test_a_wav_of_another_utterance_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TIMIT's .WAV headers name their utterance (utterance_id xyz0_sx10); two .WAV files swapped, both longer
    than the other's alignments, gave each utterance the other's audio."""
    recipes = tmp_path / "recipes"
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    source = make_timit(tmp_path / "src", speakers=SMALL, samples=(400, 401))  # every .WAV 400 samples
    folder = next(source.rglob("FXYZ0"))
    first, second = folder / "SX0.WAV", folder / "SX1.WAV"
    data = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(data)
    with pytest.raises(DsregError, match=r"says it is utterance 'xyz0_sx[01]'"):
        dsreg.prepare(_small_recipe(recipes), source=source, root=tmp_path / "root")


REAL = realdata("timit", "data")


@pytest.mark.skipif(REAL is None, reason="the real TIMIT excerpt (../shared/realdata/timit) is not on this machine")
def test_real_utterances_prepare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert REAL is not None
    source = tmp_path / "timit"
    shutil.copytree(REAL, source / "data")  # a scratch copy: prepare reads it, the project never holds it
    recipes = tmp_path / "recipes"
    data = _recipe()
    config = data["configs"]["with_sa"]
    config["splits"] = {"train": {"rows": 2, "args": {"part": "train"}}}
    data.update(name="timit-real", configs={"with_sa": config}, default_config="with_sa")
    recipes.mkdir()
    (recipes / "timit-real.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    dsreg.prepare("timit-real", source=source, root=tmp_path / "root")
    rows = [r for t in dsreg.open("timit-real", "train", root=tmp_path / "root").arrow_tables() for r in t.to_pylist()]
    assert [r["id"] for r in rows] == ["fdfb0_sa1", "mrvg0_sa1"]
    mrvg0 = rows[1]
    samples, rate = read_sphere(REAL / "TRAIN" / "DR5" / "MRVG0" / "SA1.WAV")
    np.testing.assert_array_equal(np.asarray(mrvg0["audio"]), samples[0])
    assert rate == 16000 and len(mrvg0["audio"]) == 43725
    assert mrvg0["text"] == "She had your dark suit in greasy wash water all year."  # its TXT ends at 43726
    assert mrvg0["words"][-1] == {"start": 37305, "end": 41691, "word": "year"}
    assert mrvg0["phones"][-1] == {"start": 41691, "end": 43680, "phone": "h#"}
    assert "q" in [p["phone"] for p in mrvg0["phones"]] and "q" not in [p["phone"] for p in mrvg0["phones_39"]]
    assert len(mrvg0["phones_39"]) == len(mrvg0["phones"]) - 1


class TestTimitContract(ReaderContract):
    reader = "timit"
    reader_args: ClassVar[dict[str, Any]] = {"include_sa": False}
    features: ClassVar[dict[str, Any]] = _recipe()["features"]
    splits: ClassVar[dict[str, dict[str, Any]]] = SMALL_SPLITS
    rows: ClassVar[dict[str, int]] = {"train": 24, "validation": 8, "test": 16, "test_full": 32}

    def make_source(self, dest: Path) -> Path:
        return make_timit(dest / "timit", speakers=SMALL)

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        yield from super().damaged_sources(source, dest)
        speaker = source / "TIMIT" / "TEST" / "DR1" / CORE[0].upper()

        def copy(what: str) -> tuple[Path, Path]:
            target = dest / what
            shutil.copytree(source, target)
            return target, target / speaker.relative_to(source)

        tree, where = copy("phone")
        (where / "SX30.PHN").write_text("0 10 h#\n10 20 xx\n")
        yield Damaged("an unknown phone label", tree, "'xx' is not one of TIMIT's 61 phones")
        tree, where = copy("wav")
        (where / "SX30.WAV").write_bytes((where / "SX30.WAV").read_bytes()[:300])
        yield Damaged("a truncated SPHERE header", tree, "SX30.WAV")
        tree, where = copy("wrd")
        (where / "SI1030.WRD").unlink()
        yield Damaged("a missing .WRD file", tree, "has no WRD file")
        tree, where = copy("speaker")
        shutil.rmtree(where)
        yield Damaged("a listed speaker's folder removed", tree, CORE[0])
        tree, where = copy("bad-line")
        (where / "SX30.WRD").write_text("0 ten she\n")
        yield Damaged("a malformed alignment line", tree, "is not '<begin> <end> <label>'")
        empty = dest / "empty"
        empty.mkdir()
        yield Damaged("a source without TIMIT", empty, "no TIMIT utterances found")


def test_speaker_generator_is_the_protocol() -> None:
    speakers = timit_speakers()
    assert len(speakers) == 630 and len({s.name for s in speakers}) == 630
    assert sum(s.part == "TRAIN" for s in speakers) == 462
    assert [s.region for s in speakers if s.name in CORE] == [1 + i // 3 for i in range(24)]
