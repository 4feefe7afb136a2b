"""CoNLL-U parsing: text of one file → sentences with their comments, words, multiword tokens and empty nodes.

Strict where a wrong guess would store wrong data (ten non-empty columns, none but FORM and LEMMA with
whitespace at their ends, IDs numbered 1..n, ranges in place, empty nodes in place and numbered n.1, n.2 …,
integer heads in range): any breach is a `DsregError` naming the file and line. Values are kept as the file
writes them (`_` included); only a sentence without `# text` gets its text rebuilt from the surface tokens
and `SpaceAfter=No`, as the CoNLL 2018 evaluation and the UD tools do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from dsreg.errors import DsregError

COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
_WORD = re.compile(r"[1-9][0-9]*")
_RANGE = re.compile(r"([1-9][0-9]*)-([1-9][0-9]*)")
_EMPTY = re.compile(r"(0|[1-9][0-9]*)\.([1-9][0-9]*)")
_SENT_ID = re.compile(r"#\s*sent_id\s*=\s?(.*)")
_TEXT = re.compile(r"#\s*text\s*=\s?(.*)")
_SPACED = ("FORM", "LEMMA")  # the columns UD v2 lets hold spaces, kept as written (a parser's output may split them)
_FIX = "the file is not valid CoNLL-U (https://universaldependencies.org/format.html): repair it or use another copy"


@dataclass
class Word:
    """One syntactic word (integer ID): the nine columns after ID, HEAD as an int."""

    form: str
    lemma: str
    upos: str
    xpos: str
    feats: str
    head: int
    deprel: str
    deps: str
    misc: str
    line: int


@dataclass
class Sentence:
    """A parsed sentence: `sent_id` and `text` ('' and rebuilt when absent), other comments verbatim,
    words, multiword tokens (first and last word ID, form, feats, misc) and empty nodes (all columns)."""

    sent_id: str
    text: str
    text_given: bool
    comments: list[str]
    words: list[Word]
    multiword: list[dict[str, int | str]]
    empty_nodes: list[dict[str, str]]
    line: int


def _error(where: str, number: int, problem: str) -> DsregError:
    return DsregError(f"line {number}: {problem}", path=where, fix=_FIX)


def _space_after(misc: str) -> bool:
    return "SpaceAfter=No" not in misc.split("|")


class _Builder:
    """Collects the lines of one sentence and checks them as they come."""

    def __init__(self, where: str, line: int):
        self.where, self.line = where, line
        self.sent_id: str | None = None
        self.text: str | None = None
        self.comments: list[str] = []
        self.words: list[Word] = []
        self.multiword: list[dict[str, int | str]] = []
        self.empty: list[dict[str, str]] = []
        self.surface: list[tuple[str, str]] = []  # (form, misc) of each token as written: MWT or plain word
        self.covered = 0  # the last word ID a multiword token covers
        self.last_empty = (-1, 0)  # (word, n) of the last empty node word.n

    def comment(self, text: str, number: int) -> None:
        if self.words or self.multiword or self.empty:
            raise _error(self.where, number, "a comment line among the word lines of a sentence")
        for pattern, attr in ((_SENT_ID, "sent_id"), (_TEXT, "text")):
            match = pattern.fullmatch(text)
            if match:
                if getattr(self, attr) is not None:
                    raise _error(self.where, number, f"a second `# {attr} =` comment in one sentence")
                setattr(self, attr, match[1].strip())
                return
        self.comments.append(text)

    def token(self, text: str, number: int) -> None:
        cols = text.split("\t")
        if len(cols) != 10:
            raise _error(self.where, number, f"{len(cols)} tab-separated columns, CoNLL-U has 10 ({' '.join(COLUMNS)})")
        for name, value in zip(COLUMNS, cols, strict=True):
            if not value:
                raise _error(self.where, number, f"{name} is empty (CoNLL-U writes _ for no value)")
            if name not in _SPACED and (value[0].isspace() or value[-1].isspace()):
                raise _error(self.where, number, f"{name} {value!r} has whitespace at its start or end")
        ident = cols[0]
        if _WORD.fullmatch(ident):
            self._word(cols, number)
        elif match := _RANGE.fullmatch(ident):
            self._range(cols, int(match[1]), int(match[2]), number)
        elif match := _EMPTY.fullmatch(ident):
            self._empty(cols, int(match[1]), int(match[2]), number)
        else:
            raise _error(
                self.where, number, f"ID {ident!r} is neither a word (3), a range (3-4) nor an empty node (3.1)"
            )

    def _word(self, cols: list[str], number: int) -> None:
        expected = len(self.words) + 1
        if int(cols[0]) != expected:
            raise _error(self.where, number, f"word ID {cols[0]} where {expected} comes next")
        if not _WORD.fullmatch(cols[6]) and cols[6] != "0":
            raise _error(self.where, number, f"HEAD {cols[6]!r} is not a word ID (0 for the root)")
        form, lemma, upos, xpos, feats = cols[1:6]
        self.words.append(Word(form, lemma, upos, xpos, feats, int(cols[6]), cols[7], cols[8], cols[9], number))
        if expected > self.covered:
            self.surface.append((cols[1], cols[9]))

    def _range(self, cols: list[str], start: int, end: int, number: int) -> None:
        if start <= self.covered:
            raise _error(self.where, number, f"range {cols[0]} overlaps the multiword token before it")
        if start != len(self.words) + 1 or end <= start:
            raise _error(
                self.where, number, f"range {cols[0]} must start at the next word ({len(self.words) + 1}) and span 2+"
            )
        unexpected = [COLUMNS[i] for i in (2, 3, 4, 6, 7, 8) if cols[i] != "_"]
        if unexpected:
            raise _error(self.where, number, f"multiword token {cols[0]} fills {', '.join(unexpected)} (must be _)")
        self.covered = end
        self.multiword.append({"start": start, "end": end, "form": cols[1], "feats": cols[5], "misc": cols[9]})
        self.surface.append((cols[1], cols[9]))

    def _empty(self, cols: list[str], after: int, index: int, number: int) -> None:
        if after != len(self.words):
            raise _error(self.where, number, f"empty node {cols[0]} must follow word {after}, not {len(self.words)}")
        expected = self.last_empty[1] + 1 if self.last_empty[0] == after else 1
        if index != expected:
            raise _error(self.where, number, f"empty node {cols[0]} where {after}.{expected} comes next")
        self.last_empty = (after, index)
        if cols[6] != "_" or cols[7] != "_":
            raise _error(self.where, number, f"empty node {cols[0]} has a HEAD or DEPREL (must be _; use DEPS)")
        names = ("id", "form", "lemma", "upos", "xpos", "feats", "deps", "misc")
        self.empty.append(dict(zip(names, [*cols[:6], cols[8], cols[9]], strict=True)))

    def build(self, number: int) -> Sentence:
        if not self.words:
            raise _error(self.where, number, "a sentence without words")
        if self.covered > len(self.words):
            raise _error(self.where, number, "a multiword token's range ends after the sentence's last word")
        for word in self.words:
            if word.head > len(self.words):
                raise _error(
                    self.where, word.line, f"HEAD {word.head} is beyond the sentence's {len(self.words)} words"
                )
        rebuilt = "".join(f + (" " if _space_after(m) else "") for f, m in self.surface).rstrip(" ")
        return Sentence(
            sent_id=self.sent_id or "",
            text=rebuilt if self.text is None else self.text,
            text_given=self.text is not None,
            comments=self.comments,
            words=self.words,
            multiword=self.multiword,
            empty_nodes=self.empty,
            line=self.line,
        )


def parse_conllu(text: str, where: str) -> Iterator[Sentence]:
    """The sentences of a CoNLL-U file's text, in order; `where` names the file in errors."""
    builder: _Builder | None = None
    number = 0
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        line = raw.removesuffix("\r")
        if not line.strip():
            if line:
                raise _error(where, number, "a line of only whitespace (sentences are separated by empty lines)")
            if builder is not None:
                yield builder.build(number)
                builder = None
            continue
        if builder is None:
            builder = _Builder(where, number)
        if line.startswith("#"):
            builder.comment(line, number)
        else:
            builder.token(line, number)
    if builder is not None:
        yield builder.build(number)
