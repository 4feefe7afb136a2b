"""Universal Dependencies reader: one treebank's CoNLL-U files from a release tarball or a treebank folder.

Files are found by name anywhere in the source, `<treebank>-ud-<part>.conllu` or, for a split the
treebank ships in pieces (UD_Czech-PDT's `cs_pdt-ud-train-ca.conllu` …), `<treebank>-ud-<part>-<piece>.conllu`;
each file is one task, pieces in name order. A split the source lacks has no tasks (a test-only PUD
treebank), which the recipe marks `optional`. UPOS and DEPREL become class labels of the recipe's closed
label sets: a value outside them stops preparation with the file, line and label, never a silent -1.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import ClassLabel, Features, Sequence
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.conllu_format import Sentence, parse_conllu
from dsreg.sourcetree import SourceTree

UPOS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)  # fmt: skip
UNIVERSAL_RELATIONS = (
    "acl", "advcl", "advmod", "amod", "appos", "aux", "case", "cc", "ccomp", "clf", "compound", "conj", "cop",
    "csubj", "dep", "det", "discourse", "dislocated", "expl", "fixed", "flat", "goeswith", "iobj", "list", "mark",
    "nmod", "nsubj", "nummod", "obj", "obl", "orphan", "parataxis", "punct", "reparandum", "root", "vocative",
    "xcomp",
)  # fmt: skip
COLUMNS = (
    "sent_id", "text", "comments", "tokens", "lemmas", "upos", "xpos", "feats", "head", "deprel", "deps", "misc",
    "multiword", "empty_nodes",
)  # fmt: skip
_RELEASE_DIR = re.compile(r"ud-treebanks-v(\d+\.\d+)")
_UD_FILE = re.compile(r"([a-z0-9_]+)-ud-([a-z]+)(?:-([A-Za-z0-9]+))?\.conllu")


def _label_names(features: Features, column: str) -> tuple[str, ...]:
    feature = dict(features.items()).get(column)
    if not (isinstance(feature, Sequence) and isinstance(feature.feature, ClassLabel)):
        raise DsregError(
            f"features.{column} must be a sequence of class_label",
            fix=f"declare {column}: {{type: sequence, feature: {{type: class_label, names: [...]}}}}",
        )
    return tuple(feature.feature.names)


def _check_features(features: Features) -> tuple[dict[str, int], dict[str, int]]:
    """The recipe's features must be this reader's columns, UPOS the 17 tags, DEPREL all universal relations."""
    if sorted(features.names()) != sorted(COLUMNS):
        raise DsregError(
            f"the conllu reader fills the columns {list(COLUMNS)}, but the features are {features.names()}",
            fix="declare exactly those features (see recipes/ud.yaml)",
        )
    upos = _label_names(features, "upos")
    if sorted(upos) != sorted(UPOS):
        raise DsregError(f"features.upos names {list(upos)}, not the 17 UPOS tags", fix=f"use {list(UPOS)}")
    deprel = _label_names(features, "deprel")
    missing = [r for r in UNIVERSAL_RELATIONS if r not in deprel]
    if missing:
        raise DsregError(f"features.deprel lacks universal relations {missing}", fix="add them to its names")
    return {n: i for i, n in enumerate(upos)}, {n: i for i, n in enumerate(deprel)}


def _release_of(name: str) -> str | None:
    """The UD release (`2.16`) a member's path says it comes from (`ud-treebanks-v2.16/…`), if it says."""
    for part in name.split("/"):
        match = _RELEASE_DIR.fullmatch(part)
        if match:
            return match[1]
    return None


def _single_tree(sources: Mapping[str, SourceTree]) -> SourceTree:
    if len(sources) != 1:
        raise DsregError(
            f"the conllu reader reads one source, the recipe gives {len(sources)}: {sorted(sources)}",
            fix="list one source: the release tarball or a treebank folder",
        )
    return next(iter(sources.values()))


class ConlluTreebank(Reader):
    """Universal Dependencies CoNLL-U: one treebank's files from a release tarball or a treebank folder."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("treebank", "str", "the treebank code, the file names' prefix (en_ewt, fr_gsd, cs_pdt …)", required=True),
        Arg(
            "release",
            "str",
            "the UD release (2.16): a source whose paths name another (ud-treebanks-v2.15/…) is refused",
        ),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("part", "str", "the file part this split reads (train, dev, test); default: the split's name"),
    )

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        self.upos, self.deprel = _check_features(features)

    def _files(self, tree: SourceTree) -> dict[str, list[str]]:
        """Part → the treebank's files of that part (pieces in name order); checks the release and duplicates."""
        treebank, release = self.args["treebank"], self.args["release"]
        found: dict[str, dict[str, str]] = {}
        codes: set[str] = set()
        for name in tree.names():
            match = _UD_FILE.fullmatch(posixpath.basename(name))
            if not match:
                continue
            codes.add(match[1])
            if match[1] != treebank:
                continue
            named = _release_of(name)
            if release and named and named != release:
                raise DsregError(
                    f"the source is UD release {named}, this recipe prepares release {release}",
                    path=tree.location(name),
                    fix=f"pass ud-treebanks-v{release}.tgz (or a folder of that release)",
                )
            base = posixpath.basename(name)
            pieces = found.setdefault(match[2], {})
            if base in pieces:
                raise DsregError(
                    f"{base} occurs twice in the source ({pieces[base]} and {name})",
                    path=tree.location(name),
                    fix="pass one release or one treebank folder",
                )
            pieces[base] = name
        if not found:
            listed = ", ".join(sorted(codes)[:20]) or "none"
            raise DsregError(
                f"no CoNLL-U file of treebank {treebank!r} ({treebank}-ud-*.conllu) in the source "
                f"(treebanks found: {listed})",
                path=str(tree.path),
                fix="pass the release tarball or the treebank's folder, and check the treebank code",
            )
        return {part: [pieces[b] for b in sorted(pieces)] for part, pieces in found.items()}

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        """The treebank's files of the split's part; [] when the source has none (a test-only treebank)."""
        return self._files(_single_tree(sources)).get(split_args.get("part") or split, [])

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree = _single_tree(sources)
        where = tree.location(task)
        data = tree.read_bytes(task)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DsregError(
                f"not UTF-8 (byte {data[err.start]:#04x} at offset {err.start})",
                path=where,
                fix="CoNLL-U is UTF-8: use an undamaged copy of the file",
            ) from None
        for sentence in parse_conllu(text, where):
            yield self._row(sentence, where)

    def _row(self, sentence: Sentence, where: str) -> dict[str, Any]:
        words = sentence.words
        return {
            "sent_id": sentence.sent_id,
            "text": sentence.text,
            "comments": sentence.comments,
            "tokens": [w.form for w in words],
            "lemmas": [w.lemma for w in words],
            "upos": [self._label(self.upos, w.upos, "UPOS", where, w.line) for w in words],
            "xpos": [w.xpos for w in words],
            "feats": [w.feats for w in words],
            "head": [w.head for w in words],
            "deprel": [self._label(self.deprel, w.deprel, "DEPREL", where, w.line) for w in words],
            "deps": [w.deps for w in words],
            "misc": [w.misc for w in words],
            "multiword": sentence.multiword,
            "empty_nodes": sentence.empty_nodes,
        }

    @staticmethod
    def _label(names: Mapping[str, int], value: str, column: str, where: str, line: int) -> int:
        try:
            return names[value]
        except KeyError:
            feature = "upos" if column == "UPOS" else "deprel"
            raise DsregError(
                f"line {line}: {column} {value!r} is not in the recipe's label set (features.{feature})",
                path=where,
                fix=f"a new relation subtype: add {value!r} to features.{feature}.names in a recipe of your own "
                "(DSREG_RECIPES) with a new version; otherwise the file is damaged",
            ) from None
