"""The `icdar2015` recipe: exact word labels, strict image/ground-truth pairing, quadrilaterals, don't-care flags."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from generic_fakes import damaged_copy, rows

from dsreg.errors import DsregError
from dsreg.preparation import prepare
from dsreg.registry import recipe_dirs
from dsreg.testing import Damaged, ReaderContract, icdar2015

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "icdar2015"
if not REALDATA.is_dir():  # a worktree sits one level deeper than the project checkout
    REALDATA = Path(__file__).resolve().parents[4] / "shared" / "realdata" / "icdar2015"


def _shipped(config: str) -> dict[str, Any]:
    """The shipped recipe's config, merged over its top level."""
    data: dict[str, Any] = yaml.safe_load((recipe_dirs()[-1] / "icdar2015.yaml").read_text(encoding="utf-8"))
    merged = {k: v for k, v in data.items() if k not in ("configs", "default_config")}
    return {**merged, **data["configs"][config]}


def _rezip(path: Path, drop: str | None = None, add: tuple[str, bytes] | None = None) -> None:
    """Rewrite a zip without the member `drop` and/or with one more member."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist() if n != drop}
    if add:
        members[add[0]] = add[1]
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


class TestWordsContract(ReaderContract):
    """The reader contract on the shipped icdar2015/words recipe, over generated vendor zips."""

    reader = "icdar2015_words"
    recipe = "icdar2015/words"
    sources: ClassVar[dict[str, Any]] = _shipped("words")["sources"]
    rows: ClassVar[dict[str, int]] = {"train": 12, "test": 5}
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        icdar2015.make_words(dest)
        return dest

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        bad = damaged_copy(source, dest, "missing image")
        _rezip(bad / icdar2015.TEST_ZIP, drop="word_3.png")
        yield Damaged(
            "a GT line naming a missing image",
            bad,
            f"line 3 of {bad / icdar2015.TEST_GT} names 'word_3.png', which is not in {bad / icdar2015.TEST_ZIP}",
        )
        bad = damaged_copy(source, dest, "unnamed image")
        _rezip(bad / icdar2015.TRAIN_ZIP, add=("word_99.png", icdar2015.image_bytes(99, "PNG")))
        yield Damaged(
            "an image with no GT line",
            bad,
            f"'word_99.png' in {bad / icdar2015.TRAIN_ZIP} is named by no line of {bad / icdar2015.TRAIN_ZIP}::gt.txt",
        )
        bad = damaged_copy(source, dest, "unquoted")
        (bad / icdar2015.TEST_GT).write_bytes(icdar2015.gt_file(["word_1.png, JOINT"]))
        yield Damaged("an unquoted label", bad, 'line 1 is not `<image>, "<label>"`')
        bad = damaged_copy(source, dest, "not an image")
        _rezip(bad / icdar2015.TEST_ZIP, drop="word_2.png", add=("word_2.png", b"\x89PNG\r\n\x1a\n broken"))
        yield Damaged("a crop that does not decode", bad, "word_2.png: the image does not decode")


class TestLocalizationContract(ReaderContract):
    """The reader contract on the shipped icdar2015/localization recipe, over generated vendor zips."""

    reader = "icdar2015_localization"
    recipe = "icdar2015/localization"
    sources: ClassVar[dict[str, Any]] = _shipped("localization")["sources"]
    rows: ClassVar[dict[str, int]] = {"train": 11, "test": 3}
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        icdar2015.make_localization(dest)
        return dest

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        images, gts = icdar2015.LOCALIZATION["test"]
        bad = damaged_copy(source, dest, "missing image")
        _rezip(bad / images, drop="img_2.jpg")
        yield Damaged(
            "a GT file whose image is missing",
            bad,
            f"{bad / gts}::gt_img_2.txt is the ground truth of 'img_2.jpg', which is not in {bad / images}",
        )
        bad = damaged_copy(source, dest, "missing gt")
        _rezip(bad / gts, drop="gt_img_3.txt")
        yield Damaged(
            "an image without a GT file", bad, f"'img_3.jpg' in {bad / images} has no ground truth gt_img_3.txt"
        )
        bad = damaged_copy(source, dest, "short line")
        _rezip(bad / gts, drop="gt_img_1.txt", add=("gt_img_1.txt", icdar2015.gt_file(["1,2,3,4,5,6,7,Word"])))
        yield Damaged("a line with 7 coordinates", bad, "gt_img_1.txt: line 1 has 7 commas")


def _recipes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config: str, **changes: Any) -> str:
    """A copy of a shipped config as its own recipe (counts of the fakes, or none), in DSREG_RECIPES."""
    data = {**_shipped(config), "name": f"ic15-{config}", **changes}
    data.pop("default_config", None)
    recipes = tmp_path / "recipes"
    recipes.mkdir(exist_ok=True)
    (recipes / f"ic15-{config}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    return f"ic15-{config}"


@pytest.mark.parametrize("unpacked", [False, True], ids=["zips", "unpacked-folders"])
def test_every_word_label_comes_out_exactly(tmp_path: Path, monkeypatch, root, unpacked: bool) -> None:
    want = icdar2015.make_words(tmp_path / "raw", unpacked=unpacked)
    name = _recipes(monkeypatch, tmp_path, "words")
    prepare(name, source=tmp_path / "raw", check_counts=False)
    for split in ("train", "test"):
        assert rows(name, split) == want[split]
    labels = {r["text"] for r in want["train"]}
    assert {"36,000,000", '"Hi"', "C:\\", "line\u2028sep", " padded ", "CAFÉ"} <= labels


def test_a_zip_with_a_top_folder_reads_the_same(tmp_path: Path, monkeypatch, root) -> None:
    want = icdar2015.make_words(tmp_path / "raw", train=3, test=2)
    archive = tmp_path / "raw" / icdar2015.TRAIN_ZIP
    with zipfile.ZipFile(archive) as z:
        members = {n: z.read(n) for n in z.namelist()}
    with zipfile.ZipFile(archive, "w") as z:
        for n, data in members.items():
            z.writestr(f"ch4_training_word_images_gt/{n}", data)
    name = _recipes(monkeypatch, tmp_path, "words")
    prepare(name, source=tmp_path / "raw", check_counts=False)
    assert rows(name, "train") == want["train"]


def test_missing_and_unnamed_images_are_named_with_both_files(tmp_path: Path, monkeypatch, root) -> None:
    icdar2015.make_words(tmp_path / "raw", train=3, test=4, unpacked=True)
    name = _recipes(monkeypatch, tmp_path, "words")
    folder = tmp_path / "raw" / "ch4_test_word_images_gt"
    (folder / "word_2.png").rename(folder / "word_20.png")
    with pytest.raises(DsregError) as caught:
        prepare(name, source=tmp_path / "raw", check_counts=False)
    message = str(caught.value)
    gt = tmp_path / "raw" / icdar2015.TEST_GT
    assert f"line 2 of {gt} names 'word_2.png', which is not in {folder}" in message
    assert f"'word_20.png' in {folder} is named by no line of {gt}" in message
    assert list((tmp_path / "root").rglob("manifest.json")) == []


def test_a_label_named_twice_is_refused(tmp_path: Path, monkeypatch, root) -> None:
    icdar2015.make_words(tmp_path / "raw", train=2, test=2)
    gt = tmp_path / "raw" / icdar2015.TEST_GT
    gt.write_bytes(gt.read_bytes() + b'word_1.png, "again"\r\n')
    name = _recipes(monkeypatch, tmp_path, "words")
    with pytest.raises(DsregError, match=r"line 3 names 'word_1.png' again \(first on line 1\)"):
        prepare(name, source=tmp_path / "raw", check_counts=False)


def test_the_official_counts_are_checked(tmp_path: Path, monkeypatch, root) -> None:
    icdar2015.make_words(tmp_path / "raw", train=2, test=2)
    with pytest.raises(DsregError, match="train: 2 rows, expected 4468"):
        prepare("icdar2015/words", source=tmp_path / "raw")


def test_quadrilaterals_transcriptions_and_dont_care_flags(tmp_path: Path, monkeypatch, root) -> None:
    want = icdar2015.make_localization(tmp_path / "raw", unpacked=True)
    name = _recipes(monkeypatch, tmp_path, "localization")
    prepare(name, source=tmp_path / "raw", check_counts=False)
    got = rows(name, "train")
    assert [r["file_name"] for r in got][8:] == ["img_9.jpg", "img_10.jpg", "img_11.jpg"]  # by number
    for g, w in zip(got, want["train"], strict=True):
        assert (g["image"], g["file_name"]) == (w["image"], w["file_name"])
        words = g["words"]  # struct of arrays
        assert words["points"].tolist() == [x["points"] for x in w["words"]]
        assert list(words["text"]) == [x["text"] for x in w["words"]]
        assert words["dont_care"].tolist() == [x["dont_care"] for x in w["words"]]
    flat = [(t, d) for r in got for t, d in zip(r["words"]["text"], r["words"]["dont_care"], strict=True)]
    assert ("", True) in flat and ("1,000,000", False) in flat and not any(t == "###" for t, _ in flat)


@pytest.mark.skipif(
    not (REALDATA / "Challenge4_Test_Task3_GT.txt").is_file(),
    reason=f"the real ICDAR 2015 excerpt is not at {REALDATA} (only on development machines and CI)",
)
def test_the_real_test_crops_keep_their_labels_exactly(tmp_path: Path, monkeypatch, root) -> None:
    config = _shipped("words")
    sources = {k: v for k, v in config["sources"].items() if k != "train"}
    splits = {"test": config["splits"]["test"]}
    name = _recipes(monkeypatch, tmp_path, "words", sources=sources, splits=splits)
    prepare(name, source=REALDATA, check_counts=False)  # the GT file and the unpacked crops folder, read in place
    got = rows(name, "test")
    raw = (REALDATA / "Challenge4_Test_Task3_GT.txt").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 200
    # the label of each line, computed here independently: between the first '"' and the last
    lines = raw[3:].decode("utf-8").split("\r\n")[:-1]
    want = [(ln.split(", ", 1)[0], ln[ln.index('"') + 1 : ln.rindex('"')].replace('\\"', '"')) for ln in lines]
    assert [(r["file_name"], r["text"]) for r in got] == want
    assert len(got) == 200
    assert got[0]["text"] == "JOINT" and got[176]["text"] == "CAFÉ"
    for r in got:
        assert r["image"] == (REALDATA / "ch4_test_word_images_gt" / r["file_name"]).read_bytes()


def test_word_predictions_are_scored_by_file_name(tmp_path: Path, monkeypatch, root) -> None:
    import dsreg

    want = icdar2015.make_words(tmp_path / "raw", train=2, test=4)
    name = _recipes(monkeypatch, tmp_path, "words")
    prepare(name, source=tmp_path / "raw", check_counts=False)
    truth = {r["file_name"]: r["text"] for r in want["test"]}  # 'C:\\', 'a, b', ' padded ', 'line\u2028sep'
    predictions = dict(truth)
    predictions["word_2.png"] = "A, B"  # right but for case
    predictions["word_3.png"] = "padded"  # the spaces are part of the label
    result = dsreg.evaluate(name, "test", predictions)
    assert result.values == {"word_accuracy": pytest.approx(2 / 4), "word_accuracy_ci": pytest.approx(3 / 4)}
    assert truth["word_2.png"] == "a, b" and truth["word_3.png"] == " padded "
