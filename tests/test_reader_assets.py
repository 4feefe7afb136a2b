"""Files a reader publishes with the dataset (`Reader.assets`): written under `assets/reader/`, rewritten only
when their bytes differ (a resumed preparation), and refused when the reader names one badly."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dsreg.errors import DsregError
from dsreg.features import Features, Text
from dsreg.preparation import _reader_assets
from dsreg.readers import Output, Reader, ReaderAsset
from dsreg.sourcetree import SourceTree


class _Publishing(Reader):
    """Publishes the assets it is given."""

    published: tuple[ReaderAsset, ...] = ()

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        return []

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        return iter(())

    def assets(self, sources: Mapping[str, SourceTree]) -> list[ReaderAsset]:
        return list(self.published)


def reader(*assets: ReaderAsset) -> Reader:
    instance = _Publishing({}, Features({"t": Text()}))
    instance.published = assets
    return instance


def test_assets_are_written_and_rewritten_when_they_differ(tmp_path: Path) -> None:
    out = _reader_assets(reader(ReaderAsset("x.glm", b"A => B\n", "glm")), {}, tmp_path)
    assert out == [("assets/reader/x.glm", "glm")]
    path = tmp_path / "assets" / "reader" / "x.glm"
    assert path.read_bytes() == b"A => B\n"
    path.write_bytes(b"stale")  # e.g. left by an interrupted preparation of other sources
    _reader_assets(reader(ReaderAsset("x.glm", b"A => B\n", "glm")), {}, tmp_path)
    assert path.read_bytes() == b"A => B\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.glm"]  # no temporary left


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden"])
def test_badly_named_assets_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(DsregError, match="names an asset"):
        _reader_assets(reader(ReaderAsset(name, b"", "x")), {}, tmp_path)
    assert not (tmp_path / "assets").exists()


def test_a_run_killed_while_writing_an_asset_leaves_nothing_to_publish(tmp_path: Path, monkeypatch) -> None:
    """Killed between writing an asset's temporary file and renaming it: `assets/` is published as it stands,
    so the temporary must not lie there."""

    def killed(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("dsreg.preparation.os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        _reader_assets(reader(ReaderAsset("x.glm", b"A => B\n", "glm")), {}, tmp_path)
    assert [p for p in (tmp_path / "assets").rglob("*") if p.is_file()] == []
