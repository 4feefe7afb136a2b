"""The `iam` recipe: lines in split-list order with exact text, `err` lines flagged, both splits, strict pairing."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from generic_fakes import damaged_copy, rows

from dsreg.errors import DsregError
from dsreg.preparation import prepare
from dsreg.readers.iam import parse_lines_txt
from dsreg.registry import recipe_dirs
from dsreg.testing import Damaged, ReaderContract, iam


def _shipped(config: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((recipe_dirs()[-1] / "iam.yaml").read_text(encoding="utf-8"))
    merged = {k: v for k, v in data.items() if k not in ("configs", "default_config")}
    return {**merged, **data["configs"][config]}


def _replace_in_tgz(path: Path, name: str, data: bytes | None) -> None:
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    if data is None:
        members.pop(name)
    else:
        members[name] = data
    with tarfile.open(path, "w:gz") as tar:
        for n, d in members.items():
            info = tarfile.TarInfo(n)
            info.size = len(d)
            tar.addfile(info, io.BytesIO(d))


def _rewrite_zip(path: Path, name: str, data: bytes) -> None:
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members[name] = data
    with zipfile.ZipFile(path, "w") as z:
        for n, d in members.items():
            z.writestr(n, d)


class TestIamAachenContract(ReaderContract):
    reader = "iam_lines"
    recipe = "iam/aachen"
    sources: ClassVar[dict[str, Any]] = _shipped("aachen")["sources"]
    rows: ClassVar[dict[str, int]] = {"train": 5, "validation": 2, "test": 1}
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        iam.make_iam(dest)
        return dest

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        bad = damaged_copy(source, dest, "no image")
        _replace_in_tgz(bad / "lines.tgz", "b04/b04-011/b04-011-01.png", None)
        yield Damaged(
            "a line without its image",
            bad,
            f"1 line(s) of {bad / 'ascii.tgz'}::lines.txt in split 'validation' have no image in "
            f"{bad / 'lines.tgz'} (first: b04-011-01.png)",
        )
        bad = damaged_copy(source, dest, "bad entry")
        with tarfile.open(source / "ascii.tgz") as tar:
            text = tar.extractfile("lines.txt").read()
        _replace_in_tgz(bad / "ascii.tgz", "lines.txt", text.replace(b"c03-096f-00 ok", b"c03-096f-00 maybe"))
        yield Damaged("a segmentation flag that is neither ok nor err", bad, "lines.txt: line ")


class TestIamOfficialContract(ReaderContract):
    reader = "iam_lines"
    recipe = "iam/official"
    sources: ClassVar[dict[str, Any]] = _shipped("official")["sources"]
    rows: ClassVar[dict[str, int]] = {"train": 3, "validation1": 1, "validation2": 1, "test": 2}
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        iam.make_iam(dest)
        return dest

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        bad = damaged_copy(source, dest, "unknown id")
        task = bad / "largeWriterIndependentTextLineRecognitionTask.zip"
        _rewrite_zip(task, "testset.txt", b"c03-096f-00\nz99-999-00\n")
        yield Damaged(
            "a listed line that lines.txt lacks",
            bad,
            f"line 2 of {task}::testset.txt names 'z99-999-00', which is neither a line nor a form of "
            f"{bad / 'ascii.tgz'}::lines.txt",
        )


def _recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str) -> str:
    data = {**_shipped(config), "name": f"iam-{config}"}
    for spec in data["splits"].values():
        spec.pop("rows")
    (tmp_path / "recipes").mkdir(exist_ok=True)
    (tmp_path / "recipes" / f"iam-{config}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    return f"iam-{config}"


@pytest.mark.parametrize("config", ["aachen", "official"])
def test_lines_come_out_exactly_in_list_order(tmp_path: Path, monkeypatch, root, config: str) -> None:
    want = iam.make_iam(tmp_path / "raw")[config]
    name = _recipe(tmp_path, monkeypatch, config)
    prepare(name, source=tmp_path / "raw")
    for split, expected in want.items():
        assert rows(name, split) == expected, split
    flat = [r for split in want.values() for r in split]
    assert {r["text"] for r in flat} >= {'" I agree " , said Mr. Smith & Co', "it's a # mark"}
    assert (
        sorted(r["line_id"] for r in flat if not r["segmentation_ok"])
        == ["a01-000u-01", "b04-011-01"][: len([r for r in flat if not r["segmentation_ok"]])]
    )


def test_a_line_listed_twice_is_refused(tmp_path: Path, monkeypatch, root) -> None:
    iam.make_iam(tmp_path / "raw")
    _rewrite_zip(tmp_path / "raw" / "splits.zip", "test.uttlist", b"c03-096f\nc03-096f-00\n")
    name = _recipe(tmp_path, monkeypatch, "aachen")
    with pytest.raises(DsregError, match="names the line 'c03-096f-00' twice"):
        prepare(name, source=tmp_path / "raw")


def test_lines_txt_entries_are_parsed_exactly() -> None:
    data = (iam.HEADER + "a01-000u-00 err 154 19 408 746 1661 89 a|&quot;b&quot;|c||d\r\n").encode()
    entry = parse_lines_txt(data, "lines.txt")["a01-000u-00"]
    assert (entry.ok, entry.text) == (False, 'a "b" c  d')
    with pytest.raises(DsregError, match=r"lines\.txt: line 2 repeats the line id 'x-y-00'"):
        parse_lines_txt(b"x-y-00 ok 1 2 3 4 5 6 a\nx-y-00 ok 1 2 3 4 5 6 b\n", "lines.txt")
