"""The CoNLL-U reader and the `ud` recipe: every column of a hand-written sentence with the format's quirks,
malformed lines named by file and line, label sets closed, release tarball and treebank folder, pieces of
a split, test-only treebanks, any treebank by code; the reader contract; the real EWT dev and test when
`../shared/realdata` is present."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from dsreg.errors import DsregError
from dsreg.loading.dataset import open_dataset
from dsreg.preparation import prepare
from dsreg.readers import get_reader
from dsreg.readers.conllu_format import parse_conllu
from dsreg.registry import get_recipe
from dsreg.sourcetree import SourceTree
from dsreg.testing import Damaged, ReaderContract
from dsreg.testing.ud import make_release, pinned_recipe, write_treebank

# the real excerpts live at ../shared/realdata/ from the project root; DSREG_REALDATA points elsewhere (a worktree)
REALDATA = (
    Path(os.environ.get("DSREG_REALDATA") or Path(__file__).resolve().parents[3] / "shared" / "realdata")
    / "ud"
    / "UD_English-EWT"
)
EWT = get_recipe("ud").config("en_ewt")
UPOS = EWT.features["upos"].feature.names  # type: ignore[attr-defined]
DEPREL = EWT.features["deprel"].feature.names  # type: ignore[attr-defined]

# A French sentence with a multiword token (du = de le) and an empty node, and one without `# text`.
QUIRKS = "\n".join(
    [
        "# newdoc id = doc1",
        "# newpar",
        "# sent_id = s1",
        "# text = Il parle du chat.",
        "# translit = il parle du chat",
        "1\tIl\til\tPRON\t_\tPerson=3\t2\tnsubj\t2:nsubj\t_",
        "2\tparle\tparler\tVERB\t_\t_\t0\troot\t0:root\t_",
        "2.1\tparle\tparler\tVERB\t_\t_\t_\t_\t2:conj\tEmpty=Yes",
        "3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_",
        "3\tde\tde\tADP\t_\t_\t5\tcase\t5:case\t_",
        "4\tle\tle\tDET\t_\tDefinite=Def\t5\tdet\t5:det\t_",
        "5\tchat\tchat\tNOUN\t_\t_\t2\tobl:arg\t2:obl:arg\tSpaceAfter=No",
        "6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_",
        "",
        "# sent_id = s2",
        "1-2\tAu\t_\t_\t_\t_\t_\t_\t_\t_",
        "1\tÀ\tà\tADP\t_\t_\t3\tcase\t_\t_",
        "2\tle\tle\tDET\t_\t_\t3\tdet\t_\t_",
        "3\tdébut\tdébut\tNOUN\t_\t_\t0\troot\t_\tSpaceAfter=No",
        "4\t!\t!\tPUNCT\t_\t_\t3\tpunct\t_\t_",
        "",
        "",
    ]
)


def _reader() -> Any:
    return get_reader("conllu")({"treebank": "fr_gsd", "release": "2.16"}, EWT.features)


def _rows(tmp_path: Path, text: str, name: str = "fr_gsd-ud-test.conllu") -> list[dict[str, Any]]:
    folder = tmp_path / "UD_French-GSD"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    trees = {"release": SourceTree.open(folder)}
    reader = _reader()
    return [row for task in reader.tasks(trees, "test", {}) for row in reader.read(trees, "test", {}, task)]


def test_every_column_of_a_sentence_with_the_quirks(tmp_path: Path) -> None:
    first, second = _rows(tmp_path, QUIRKS)
    assert first["sent_id"] == "s1" and first["text"] == "Il parle du chat."
    assert first["comments"] == ["# newdoc id = doc1", "# newpar", "# translit = il parle du chat"]
    assert first["tokens"] == ["Il", "parle", "de", "le", "chat", "."]  # words, not the token du
    assert first["lemmas"] == ["il", "parler", "de", "le", "chat", "."]
    assert [UPOS[i] for i in first["upos"]] == ["PRON", "VERB", "ADP", "DET", "NOUN", "PUNCT"]
    assert first["head"] == [2, 0, 5, 5, 2, 2]
    assert [DEPREL[i] for i in first["deprel"]] == ["nsubj", "root", "case", "det", "obl:arg", "punct"]
    assert first["feats"][0] == "Person=3" and first["feats"][3] == "Definite=Def"
    assert first["deps"][4] == "2:obl:arg" and first["misc"][4] == "SpaceAfter=No"
    assert first["xpos"] == ["_"] * 6
    assert first["multiword"] == [{"start": 3, "end": 4, "form": "du", "feats": "_", "misc": "_"}]
    assert first["empty_nodes"] == [
        {
            "id": "2.1",
            "form": "parle",
            "lemma": "parler",
            "upos": "VERB",
            "xpos": "_",
            "feats": "_",
            "deps": "2:conj",
            "misc": "Empty=Yes",
        }
    ]
    # no `# text`: rebuilt from the tokens as written (the multiword token's form) and SpaceAfter=No
    assert second["sent_id"] == "s2" and second["text"] == "Au début!" and second["comments"] == []
    assert second["tokens"] == ["À", "le", "début", "!"]


@pytest.mark.parametrize(
    ("line", "replacement", "problem"),
    [
        ("6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_", "6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct", "9 tab-separated"),
        ("6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_", "7\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_", "word ID 7"),
        ("6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_", "6\t.\t.\tPUNCT\t_\t_\tx\tpunct\t2:punct\t_", "HEAD 'x'"),
        ("6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_", "6\t.\t.\tPUNCT\t_\t_\t9\tpunct\t2:punct\t_", "HEAD 9"),
        ("6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_", "six\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_", "ID 'six'"),
        ("3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_", "3-4\tdu\tdu\t_\t_\t_\t_\t_\t_\t_", "fills LEMMA"),
        ("3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_", "3-3\tdu\t_\t_\t_\t_\t_\t_\t_\t_", "range 3-3 must"),
        ("3\tde\tde\tADP\t_\t_\t5\tcase\t5:case\t_", "4-5\tx\t_\t_\t_\t_\t_\t_\t_\t_", "overlaps"),
        (
            "2.1\tparle\tparler\tVERB\t_\t_\t_\t_\t2:conj\tEmpty=Yes",
            "2.1\tparle\tparler\tVERB\t_\t_\t1\tx\t_\t_",
            "empty",
        ),
        ("6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_", "6\t.\t.\tPUNC\t_\t_\t2\tpunct\t2:punct\t_", "UPOS 'PUNC'"),
        # these read wrong without a word before: an empty FORM stored as "", and a MISC with a trailing
        # space whose SpaceAfter=No went unseen (the rebuilt text of s2 became "Au début !")
        ("1\tÀ\tà\tADP\t_\t_\t3\tcase\t_\t_", "1\t\tà\tADP\t_\t_\t3\tcase\t_\t_", "FORM is empty"),
        (
            "3\tdébut\tdébut\tNOUN\t_\t_\t0\troot\t_\tSpaceAfter=No",
            "3\tdébut\tdébut\tNOUN\t_\t_\t0\troot\t_\tSpaceAfter=No ",
            "MISC 'SpaceAfter=No ' has whitespace",
        ),
        (
            "4\tle\tle\tDET\t_\tDefinite=Def\t5\tdet\t5:det\t_",
            "4\tle\tle\tDET\t_\tDefinite=Def \t5\tdet\t5:det\t_",
            "FEATS 'Definite=Def '",
        ),
        # a second empty node numbered 2.1 again (or 2.3 after 2.1) made its DEPS references ambiguous
        (
            "3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_",
            "2.1\tx\tx\tX\t_\t_\t_\t_\t2:dep\t_\n3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_",
            "empty node 2.1 where 2.2 comes next",
        ),
        ("6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_", "6\t.\t.\tPUNCT\t_\t_\t2\tpunct:x\t_\t_", "'punct:x'"),
    ],
)
def test_a_malformed_line_names_the_file_and_line(tmp_path: Path, line: str, replacement: str, problem: str) -> None:
    text = QUIRKS.replace(line, replacement, 1)
    number = QUIRKS.split("\n").index(line) + 1
    with pytest.raises(DsregError) as err:
        _rows(tmp_path, text)
    message = str(err.value)
    assert problem in message and "fr_gsd-ud-test.conllu" in message and f"line {number}:" in message


def test_a_comment_among_words_and_a_sentence_without_words_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DsregError, match="line 3: a comment line among the word lines"):
        _rows(tmp_path, "# sent_id = a\n1\tx\tx\tX\t_\t_\t0\troot\t_\t_\n# oops\n\n")
    with pytest.raises(DsregError, match="line 2: a sentence without words"):
        _rows(tmp_path, "# sent_id = a\n\n")
    with pytest.raises(DsregError, match="not UTF-8"):
        folder = tmp_path / "latin1"
        folder.mkdir()
        (folder / "fr_gsd-ud-test.conllu").write_bytes("# text = é\n".encode("latin-1"))
        reader, trees = _reader(), {"release": SourceTree.open(folder)}
        list(reader.read(trees, "test", {}, "fr_gsd-ud-test.conllu"))


def test_crlf_and_a_bom_are_read_and_the_last_sentence_needs_no_blank_line(tmp_path: Path) -> None:
    text = "\ufeff# sent_id = a\r\n# text = x\r\n1\tx\tx\tX\t_\t_\t0\troot\t_\t_"
    (row,) = _rows(tmp_path, text)
    assert (row["sent_id"], row["text"], row["tokens"]) == ("a", "x", ["x"])


def test_the_label_sets_are_closed_and_documented() -> None:
    assert len(UPOS) == 17 and len(set(DEPREL)) == len(DEPREL) == 455  # the release's relation set
    assert list(DEPREL) == sorted(DEPREL)
    ewt = "acl:relcl advcl:relcl aux:pass cc:preconj compound:prt csubj:outer csubj:pass det:predet nmod:desc"
    assert set(ewt.split()) <= set(DEPREL)  # every subtype of EWT 2.16 (its stats.xml)
    bad = {**EWT.features.to_json(), "upos": {"type": "sequence", "feature": {"type": "text"}}}
    from dsreg.features import Features

    with pytest.raises(DsregError, match=r"features\.upos must be a sequence of class_label"):
        get_reader("conllu")({"treebank": "en_ewt"}, Features.from_json(bad))


def test_any_treebank_by_code_keeps_the_releases_subtypes_and_refuses_a_made_up_one(tmp_path: Path) -> None:
    """fr dislocated:obj, cs det:numgov, en obl:unmarked and Abkhaz obj:lo prepare through generic_config with
    their own ids; nsubj:madeup stops preparation naming the file, line and label, and nothing is published."""
    folder, _ = write_treebank(tmp_path / "raw", "xx_made", {"test": 3})
    path = folder / "xx_made-ud-test.conllu"
    lines = path.read_text(encoding="utf-8").split("\n")
    words = [i for i, line in enumerate(lines) if line.split("\t")[0].isdigit() and line.split("\t")[7] != "root"]
    subtypes = ["dislocated:obj", "det:numgov", "obl:unmarked", "obj:lo"]
    for i, label in zip(words, subtypes, strict=False):
        columns = lines[i].split("\t")
        lines[i] = "\t".join([*columns[:7], label, *columns[8:]])
    path.write_text("\n".join(lines), encoding="utf-8")
    manifest = prepare("ud/xx_made", source=folder, root=tmp_path / "ok")
    table = open_dataset(manifest.directory or "", "test").arrow_tables()
    used = {DEPREL[i] for t in table for row in t["deprel"].to_pylist() for i in row}
    assert set(subtypes) <= used

    columns = lines[words[1]].split("\t")
    lines[words[1]] = "\t".join([*columns[:7], "nsubj:madeup", *columns[8:]])
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DsregError) as err:
        prepare("ud/xx_made", source=folder, root=tmp_path / "bad")
    message = str(err.value)
    assert f"line {words[1] + 1}: DEPREL 'nsubj:madeup' is not in the recipe's label set" in message
    assert "xx_made-ud-test.conllu" in message
    assert not list((tmp_path / "bad").rglob("manifest.json"))


def test_parse_counts_by_integer_ids() -> None:
    sentences = list(parse_conllu(QUIRKS, "q.conllu"))
    assert [len(s.words) for s in sentences] == [6, 4]
    assert [s.text_given for s in sentences] == [True, False]


# --------------------------------------------------------------------------- preparation through the recipe


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A generated release: EWT, PUD (test only), PDT with train in pieces, and French-Sequoia (no recipe entry)."""
    treebanks = {
        "en_ewt": {"train": 9, "dev": 4, "test": 5},
        "en_pud": {"test": 6},
        "cs_pdt": {"train": [4, 3, 2], "dev": 3, "test": 2},
        "fr_sequoia": {"train": 5, "test": 3},
    }
    return make_release(tmp_path_factory.mktemp("ud") / "raw", treebanks)


def _prepare(ref: str, source: Path, root: Path, **kwargs: Any) -> Any:
    """Prepare from a treebank folder, or from a generated release tarball with the recipe pinned to it (the
    shipped recipe verifies the real release's sha256 and would refuse the stand-in)."""
    if not source.is_file():
        return prepare(ref, source=source, root=root, **kwargs)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DSREG_RECIPES", str(pinned_recipe(root.parent / f"recipes-{root.name}", source)))
        return prepare(ref, source=source, root=root, **kwargs)


def test_release_tarball_gives_each_treebank(release: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    archive, counts = release
    ewt = _prepare("ud/en_ewt", archive, tmp_path, check_counts=False)
    assert {n: s.rows for n, s in ewt.splits.items()} == {p: c.sentences for p, c in counts["en_ewt"].items()}
    pdt = _prepare("ud/cs_pdt", archive, tmp_path)  # sizes unknown for 2.16 here: not checked, still published
    assert pdt.splits["train"].rows == 9
    ids = [
        r for t in open_dataset(pdt.directory or "", "train").arrow_tables() for r in t.column("sent_id").to_pylist()
    ]
    assert ids[0].startswith("cs_pdt-train-a-") and ids[-1].startswith("cs_pdt-train-c-")  # pieces in name order
    words = sum(
        len(r) for t in open_dataset(pdt.directory or "", "train").arrow_tables() for r in t["tokens"].to_pylist()
    )
    assert words == counts["cs_pdt"]["train"].words


def test_a_test_only_treebank_prepares_the_split_it_has(release: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    archive, _ = release
    pud = _prepare("ud/en_pud", archive, tmp_path, check_counts=False)
    assert {n: s.rows for n, s in pud.splits.items()} == {"test": 6}
    sequoia = _prepare("ud/fr_sequoia", archive, tmp_path)  # any treebank by code; dev absent, left out
    assert {n: s.rows for n, s in sequoia.splits.items()} == {"train": 5, "test": 3}
    assert sequoia.config == "fr_sequoia"


def test_counts_are_checked_where_the_recipe_knows_them(release: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    archive, _ = release
    with pytest.raises(DsregError, match="train: 9 rows, expected 12544"):
        _prepare("ud/en_ewt", archive, tmp_path)
    assert not list(tmp_path.rglob("manifest.json"))


def test_unknown_treebank_other_release_and_bad_code_are_refused(
    release: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    archive, _ = release
    with pytest.raises(DsregError, match=r"no CoNLL-U file of treebank 'xx_none'.*en_ewt"):
        _prepare("ud/xx_none", archive, tmp_path / "a")
    older, _ = make_release(tmp_path / "old", {"fr_gsd": {"test": 2}}, version="2.15")
    with pytest.raises(DsregError, match=r"the source is UD release 2\.15, this recipe prepares release 2\.16"):
        _prepare("ud/fr_gsd", older, tmp_path / "b", check_counts=False)
    with pytest.raises(DsregError, match=r"(?s)no config 'en'.*any name matching"):
        get_recipe("ud").config("en")
    assert not list(tmp_path.rglob("manifest.json"))


def test_a_treebank_folder_is_a_source(tmp_path: Path) -> None:
    folder, counts = write_treebank(tmp_path / "raw", "fr_gsd", {"train": 4, "dev": 2, "test": 3})
    with pytest.raises(DsregError, match="train: 4 rows, expected 14450"):  # fr_gsd's official counts are checked
        _prepare("ud/fr_gsd", folder, tmp_path / "root")
    manifest = _prepare("ud/fr_gsd", folder, tmp_path / "root", check_counts=False)
    assert {n: s.rows for n, s in manifest.splits.items()} == {"train": 4, "dev": 2, "test": 3}
    rows = open_dataset(manifest.directory or "", "dev").take([0, 1])
    assert list(rows["sent_id"]) == ["fr_gsd-dev-s0", "fr_gsd-dev-s1"]
    dev = [r for t in open_dataset(manifest.directory or "", "dev").arrow_tables() for r in t.to_pylist()]
    assert sum(len(r["tokens"]) for r in dev) == counts["dev"].words
    assert sum(len(r["multiword"]) for r in dev) == counts["dev"].multiword
    assert sum(len(r["empty_nodes"]) for r in dev) == counts["dev"].empty_nodes


# --------------------------------------------------------------------------------------- the contract


class TestConlluContract(ReaderContract):
    reader = "conllu"
    recipe = "ud/en_ewt"
    rows: ClassVar[dict[str, int]] = {"train": 11, "dev": 4, "test": 5}
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        folder, _ = write_treebank(dest, "en_ewt", self.rows)
        return folder

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        yield from super().damaged_sources(source, dest)
        dev = "en_ewt-ud-dev.conllu"
        cut = shutil.copytree(source, dest / "cut")
        text = (cut / dev).read_text(encoding="utf-8")
        (cut / dev).write_text(text[: text.index("\troot") + 3], encoding="utf-8")
        yield Damaged("the dev file cut inside a word line", cut, "en_ewt-ud-dev.conllu")
        binary = shutil.copytree(source, dest / "binary")
        (binary / dev).write_bytes(b"\xff\xfe" + (binary / dev).read_bytes())
        yield Damaged("a dev file that is not UTF-8", binary, "not UTF-8")
        empty = dest / "empty"
        empty.mkdir()
        yield Damaged("a folder without the treebank", empty, "no CoNLL-U file of treebank 'en_ewt'")


# ------------------------------------------------------------------------------------------ real data


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real UD data not present at {REALDATA} (../shared/realdata)")
def test_real_ewt_dev_and_test_counts() -> None:
    reader = get_reader("conllu")(EWT.reader_args, EWT.features)
    trees = {"release": SourceTree.open(REALDATA)}
    got = {}
    for split in ("dev", "test"):
        rows = [row for task in reader.tasks(trees, split, {}) for row in reader.read(trees, split, {}, task)]
        got[split] = (len(rows), sum(len(r["tokens"]) for r in rows), sum(len(r["multiword"]) for r in rows))
    assert reader.tasks(trees, "train", {}) == []  # the excerpt has no train file
    assert got == {"dev": (2001, 25147, 359), "test": (2077, 25094, 354)}  # fused counts from its stats.xml


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real UD data not present at {REALDATA} (../shared/realdata)")
def test_the_real_excerpt_without_train_is_not_published_as_en_ewt(tmp_path: Path) -> None:
    with pytest.raises(DsregError, match="the source has nothing for split 'train'"):
        prepare("ud/en_ewt", source=REALDATA, root=tmp_path)
    assert not list(tmp_path.rglob("manifest.json"))


def test_info_names_the_generic_configs_and_unknown_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dsreg.api import info
    from dsreg.cli import main

    data = info("ud/fr_sequoia", root=tmp_path)
    assert data["config"] == "fr_sequoia" and data["generic_configs"] == "^[a-z]+_[a-z0-9]+$"
    assert data["splits"] == {s: {"rows": None, "optional": True} for s in ("train", "dev", "test")}
    assert main(["info", "ud/cs_pdt", "--root", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "and any name matching ^[a-z]+_[a-z0-9]+$" in text and "  train: size not known\n" in text
