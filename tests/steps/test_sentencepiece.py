"""`sentencepiece`: trained during prepare on a seeded sample, deterministic, saved beside the manifest and
verified with it; rows keep their text and get ids that decode back to it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import dsreg
from dsreg.errors import DsregError
from dsreg.manifest import verify_manifest
from dsreg.preparation import prepare

spm = pytest.importorskip("sentencepiece")

WORDS_DE = [
    "der",
    "die",
    "das",
    "Haus",
    "Katze",
    "Hund",
    "läuft",
    "schnell",
    "über",
    "Straße",
    "und",
    "Garten",
    "heute",
    "morgen",
    "Ärger",
]
WORDS_EN = [
    "the",
    "house",
    "cat",
    "dog",
    "runs",
    "quickly",
    "over",
    "street",
    "and",
    "garden",
    "today",
    "tomorrow",
    "trouble",
    "a",
    "an",
]


def _corpus(directory: Path, rows: int = 300) -> list[tuple[str, str]]:
    rng = np.random.default_rng(7)
    pairs = []
    for _ in range(rows):
        de = " ".join(rng.choice(WORDS_DE, size=int(rng.integers(1, 12))))
        en = " ".join(rng.choice(WORDS_EN, size=int(rng.integers(1, 12))))
        pairs.append((de, en))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "train.de").write_text("".join(d + "\n" for d, _ in pairs), encoding="utf-8")
    (directory / "train.en").write_text("".join(e + "\n" for _, e in pairs), encoding="utf-8")
    # a split the model never saw: characters outside the training sample, an empty line, only whitespace
    (directory / "test.de").write_text("".join(d + "\n" for d, _ in UNSEEN), encoding="utf-8")
    (directory / "test.en").write_text("".join(e + "\n" for _, e in UNSEEN), encoding="utf-8")
    return pairs


UNSEEN = [("Die Katze 猫 ist ★ schön", "the cat ß 猫 runs"), ("", " \t "), ("Haus\u2028Garten", "¿qué?")]


def _recipe(recipes: Path, name: str, joint: bool = True, vocab: int = 300, **extra: object) -> None:
    import yaml

    data = {
        "name": name,
        "version": "1.0.0",
        "description": "sentencepiece test",
        "sources": {"data": {"manual": "the folder", "filename": "corpus"}},
        "reader": {"name": "text_lines"},
        "features": {"de": {"type": "text"}, "en": {"type": "text"}},
        "splits": {"train": {"files": "train.*"}, "test": {"files": "test.*", "optional": True}},
        "steps": [
            {
                "name": "sentencepiece",
                "args": {
                    "columns": ["de", "en"],
                    "vocab_size": vocab,
                    "joint": joint,
                    "sample_size": 200,
                    "seed": 3,
                    **extra,
                },
            }
        ],
    }
    recipes.mkdir(parents=True, exist_ok=True)
    (recipes / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("spm")
    pairs = _corpus(base / "corpus")
    _recipe(base / "recipes", "spm")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DSREG_RECIPES", str(base / "recipes"))
        first = prepare("spm", source=base / "corpus", root=base / "a")
        second = prepare("spm", source=base / "corpus", root=base / "b", workers=2)
    return pairs, first, second, base


def test_twice_gives_the_same_model_and_ids(prepared) -> None:
    _, first, second, _ = prepared
    assert [a.path for a in first.assets] == ["assets/sentencepiece-0/joint.model"]
    assert first.assets == second.assets  # same bytes (sha256) and size
    a, b = first.directory / first.assets[0].path, second.directory / second.assets[0].path
    assert a.read_bytes() == b.read_bytes()
    assert sorted(first.splits) == sorted(second.splits) == ["test", "train"]
    for name, split in first.splits.items():
        for s1, s2 in zip(split.shards, second.splits[name].shards, strict=True):
            assert s1.sha256 == s2.sha256


def test_rows_hold_text_and_ids_that_decode_back(prepared) -> None:
    pairs, first, _, _ = prepared
    ds = dsreg.open(str(first.directory), "train")
    batch = ds.take(np.arange(len(ds)))
    model = spm.SentencePieceProcessor(model_file=str(first.asset_path("assets/sentencepiece-0/joint.model")))
    assert list(batch["de"]) == [d for d, _ in pairs]
    assert first.features["de_ids"].to_json() == {"type": "sequence", "dtype": "int32"}
    for text_de, ids_de, text_en, ids_en in zip(
        batch["de"], batch["de_ids"], batch["en"], batch["en_ids"], strict=True
    ):
        assert ids_de.dtype == np.int32 and ids_de.size and 0 not in ids_de  # 0 is padding only
        assert model.decode(ids_de.tolist()) == _normalized(model, text_de)
        assert model.decode(ids_en.tolist()) == _normalized(model, text_en)
    # the declared normalisation (nmt_nfkc) is all that changes: doubled spaces collapse, NFKC folds
    assert model.decode(model.encode("Haus  ｃａｔ")) == "Haus cat"


def _normalized(model, text: str) -> str:
    """The text as the model's normaliser sees it (whitespace as the ▁ meta symbol), as decoding writes it."""
    return model.normalize(text).replace("\u2581", " ").strip()


def test_text_the_sample_never_held_decodes_back_through_byte_fallback(prepared) -> None:
    _, first, _, _ = prepared
    ds = dsreg.open(str(first.directory), "test")
    batch = ds.take(np.arange(len(ds)))
    model = spm.SentencePieceProcessor(model_file=str(first.asset_path("assets/sentencepiece-0/joint.model")))
    assert list(zip(batch["de"], batch["en"], strict=True)) == UNSEEN
    assert (model.pad_id(), model.unk_id()) == (0, 1)  # the ids the step declares, read from the model
    for column in ("de", "en"):
        for text, ids in zip(batch[column], batch[f"{column}_ids"], strict=True):
            assert not {model.unk_id(), model.pad_id()} & set(ids.tolist())  # no <unk>, no padding id
            assert ((ids >= 0) & (ids < model.get_piece_size())).all()
            assert model.decode(ids.tolist()) == _normalized(model, text)
    # an empty line and a line of only whitespace have no ids at all
    assert batch["de_ids"][1].size == 0 and batch["en_ids"][1].size == 0


def test_the_model_is_verified_with_the_shards(prepared, tmp_path: Path) -> None:
    import shutil

    _, first, _, _ = prepared
    copy = tmp_path / "copy"
    shutil.copytree(first.directory, copy)
    model = copy / first.assets[0].path
    model.chmod(0o644)
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF
    model.write_bytes(bytes(data))
    manifest = dsreg.open(str(copy), "train").manifest
    assert verify_manifest(manifest) == []  # same size: only a deep check sees it
    problems = verify_manifest(manifest, deep=True)
    assert [p.path for p in problems] == [str(model)] and "sha256" in problems[0].problem
    model.unlink()
    assert "missing" in verify_manifest(manifest)[0].problem


def test_one_model_per_language(tmp_path: Path, monkeypatch) -> None:
    _corpus(tmp_path / "corpus")
    _recipe(tmp_path / "recipes", "spm2", joint=False, vocab=40, byte_fallback=False)
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    manifest = prepare("spm2", source=tmp_path / "corpus")
    assert sorted(a.path.rsplit("/", 1)[1] for a in manifest.assets) == ["de.model", "en.model"]
    de = spm.SentencePieceProcessor(model_file=str(manifest.asset_path("assets/sentencepiece-0/de.model")))
    assert de.get_piece_size() == 40
    # without byte fallback, as declared, a character the sample never held is <unk> and lost
    row = dsreg.open(str(manifest.directory), "test")[0]
    assert de.unk_id() == 1 and de.unk_id() in row["de_ids"].tolist()
    assert de.decode(row["de_ids"].tolist()) != _normalized(de, row["de"])


def test_a_vocabulary_too_large_for_the_sample_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    _corpus(tmp_path / "corpus", rows=5)
    _recipe(tmp_path / "recipes", "spm3", vocab=5000)
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    with pytest.raises(DsregError, match="lower vocab_size"):
        prepare("spm3", source=tmp_path / "corpus")
    assert not list((tmp_path / "root").rglob("manifest.json"))


def test_encoding_uses_every_core(tmp_path: Path, monkeypatch) -> None:
    calls: list[int | None] = []
    original = spm.SentencePieceProcessor.encode

    def spy(self, input, **kwargs):
        calls.append(kwargs.get("num_threads"))
        return original(self, input, **kwargs)

    monkeypatch.setattr(spm.SentencePieceProcessor, "encode", spy)
    _corpus(tmp_path / "corpus", rows=50)
    _recipe(tmp_path / "recipes", "spm4", vocab=40, byte_fallback=False)
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    prepare("spm4", source=tmp_path / "corpus")
    assert calls and set(calls) == {os.cpu_count()}


def test_a_killed_contenders_lock_probe_is_never_published(tmp_path: Path, monkeypatch) -> None:
    """A contender killed while it probes the file server's clock beside a lock leaves its `.now-` file there; a
    fitted step's lock must live where that is never published with the version."""
    from dsreg.lock import FileLock

    real_acquire = FileLock.acquire

    def after_a_killed_contender(self: FileLock, *args: object, **kwargs: object) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.with_name(f"{self.path.name}.now-killed").touch()  # what the killed one left behind
        real_acquire(self, *args, **kwargs)

    monkeypatch.setattr(FileLock, "acquire", after_a_killed_contender)
    _corpus(tmp_path / "corpus", rows=60)
    _recipe(tmp_path / "recipes", "spm5", vocab=40, byte_fallback=False)
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    manifest = prepare("spm5", source=tmp_path / "corpus", root=tmp_path / "root")
    published = [p.relative_to(manifest.directory) for p in manifest.directory.rglob("*")]
    assert any(p.parts[0] == "assets" for p in published)
    assert [p for p in published if ".lock" in p.name] == []
    assert verify_manifest(manifest, deep=True) == []
