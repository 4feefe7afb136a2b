"""The UD generators write every quirk the reader must handle, deterministically, in the release layouts."""

from __future__ import annotations

import tarfile
from pathlib import Path

from dsreg.readers.conllu_format import parse_conllu
from dsreg.testing.ud import conllu_text, make_release, write_treebank


def test_conllu_text_has_every_quirk_and_counts_it() -> None:
    text, counts = conllu_text("fr_gsd", "train", 42)
    assert conllu_text("fr_gsd", "train", 42) == (text, counts)  # deterministic
    sentences = list(parse_conllu(text, "generated"))
    assert counts.sentences == len(sentences) == 42
    assert counts.words == sum(len(s.words) for s in sentences)
    assert counts.multiword == sum(len(s.multiword) for s in sentences) > 0
    assert counts.empty_nodes == sum(len(s.empty_nodes) for s in sentences) > 0
    assert counts.without_text == sum(not s.text_given for s in sentences) > 0
    comments = [c for s in sentences for c in s.comments]
    assert any(c.startswith("# newdoc id = ") for c in comments) and any(c.startswith("# newpar") for c in comments)
    assert any(c.startswith("# translit") for c in comments)
    assert any("SpaceAfter=No" in str(m["misc"]) for s in sentences for m in s.multiword)
    for sentence in sentences:  # a given text agrees with the one rebuilt from the tokens
        if sentence.text_given:
            rebuilt = next(parse_conllu("\n".join(_without_text(text, sentence.sent_id)), "x"))
            assert rebuilt.text == sentence.text


def _without_text(text: str, sent_id: str) -> list[str]:
    block = next(b for b in text.split("\n\n") if f"# sent_id = {sent_id}\n" in b)
    return [line for line in block.split("\n") if not line.startswith("# text")]


def test_release_and_folder_layouts(tmp_path: Path) -> None:
    folder, counts = write_treebank(tmp_path / "one", "cs_pdt", {"train": [2, 3], "test": 1})
    assert folder.name == "UD_Czech-PDT" and counts["train"].sentences == 5
    assert sorted(p.name for p in folder.iterdir()) == [
        "LICENSE.txt",
        "README.md",
        "cs_pdt-ud-test.conllu",
        "cs_pdt-ud-train-a.conllu",
        "cs_pdt-ud-train-b.conllu",
    ]
    archive, _ = make_release(tmp_path / "rel", {"en_pud": {"test": 2}}, version="2.16")
    assert archive.name == "ud-treebanks-v2.16.tgz" and not list((tmp_path / "rel").glob(".*"))
    with tarfile.open(archive) as tar:
        assert "ud-treebanks-v2.16/UD_English-PUD/en_pud-ud-test.conllu" in tar.getnames()
