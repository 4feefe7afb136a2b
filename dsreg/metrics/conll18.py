"""UD parsing scores by the CoNLL 2018 shared-task rules (the semantics of its `conll18_ud_eval.py`).

Gold and system must spell the same characters once whitespace (Unicode Zs) is removed from every form;
their words are then aligned on character spans: plain tokens match when their spans are equal, and inside
a stretch covered by a multiword token on either side words are aligned by a longest common subsequence of
their lowercased forms. Every score counts punctuation; LAS compares universal relations only (a subtype,
`nsubj:pass` → `nsubj`, is stripped, as the official script does). Each score has precision, recall and F1
(the shared task's headline) over gold and system counts, and accuracy over the aligned words.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsreg.errors import DsregError

SCORES = ("Tokens", "Sentences", "Words", "UPOS", "UAS", "LAS")


@dataclass(frozen=True)
class Score:
    """Counts of one score: gold and system items, correct ones, and aligned words (for accuracy)."""

    gold: int
    system: int
    correct: int
    aligned: int | None = None

    @property
    def precision(self) -> float:
        return self.correct / self.system if self.system else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.correct / (self.gold + self.system) if self.gold + self.system else 0.0

    @property
    def aligned_accuracy(self) -> float | None:
        if self.aligned is None:
            return None
        return self.correct / self.aligned if self.aligned else 0.0


@dataclass(eq=False)
class _Word:
    """One word: its token's character span, whether that token is a multiword one, and its annotation."""

    start: int
    end: int
    multiword: bool
    form: str
    upos: str
    deprel: str  # universal part only
    parent: _Word | None = None


@dataclass
class _Document:
    characters: list[str] = field(default_factory=list)
    tokens: list[tuple[int, int]] = field(default_factory=list)
    sentences: list[tuple[int, int]] = field(default_factory=list)
    words: list[_Word] = field(default_factory=list)


def _form(form: str, where: str) -> str:
    cleaned = "".join(c for c in form if unicodedata.category(c) != "Zs")
    if not cleaned:
        raise DsregError(f"{where}: a token with an empty form", fix="every word and token needs a form")
    return cleaned


def _load(sentences: Iterable[Mapping[str, Any]], side: str) -> _Document:
    """Sentences as rows (`tokens`, `upos`, `head`, `deprel`, `multiword` of `{start, end, form}`) → a document."""
    doc = _Document()
    for number, row in enumerate(sentences):
        where = f"{side} sentence {number}"
        forms, upos, deprel = (_column(row, key, where, str) for key in ("tokens", "upos", "deprel"))
        heads = _column(row, "head", where, int)
        if not forms or not (len(forms) == len(heads) == len(upos) == len(deprel)):
            raise DsregError(f"{where}: tokens, upos, head and deprel must be equally long and non-empty")
        ranges = _multiword(row.get("multiword") or [], len(forms), where)
        first, sentence_start = len(doc.words), len(doc.characters)
        k = 1
        while k <= len(forms):
            end, token = ranges.get(k, (k, forms[k - 1]))
            text = _form(token, where)
            span = (len(doc.characters), len(doc.characters) + len(text))
            doc.characters.extend(text)
            doc.tokens.append(span)
            for i in range(k, end + 1):
                form = forms[i - 1] if k in ranges else text  # the script strips spaces from plain words only
                doc.words.append(_Word(*span, k in ranges, form, str(upos[i - 1]), str(deprel[i - 1]).split(":")[0]))
            k = end + 1
        doc.sentences.append((sentence_start, len(doc.characters)))
        _link(doc.words[first:], heads, where)
    return doc


_NAMES = {"tokens": "form", "upos": "UPOS", "head": "HEAD", "deprel": "DEPREL"}


def _column(row: Mapping[str, Any], key: str, where: str, kind: type) -> list[Any]:
    """One column of a sentence: a list of label names (`kind` str) or of integer heads (`kind` int)."""
    values = row[key]
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise DsregError(f"{where}: {key} is {values!r}, not a list")
    out = list(values)
    for i, value in enumerate(out, 1):
        if kind is int:
            if _integer(value) is None:
                raise DsregError(f"{where}: word {i} has HEAD {value!r}, not an integer")
        elif not isinstance(value, str):
            raise DsregError(f"{where}: word {i} has {_NAMES[key]} {value!r}, not a label name")
    return [int(v) for v in out] if kind is int else out


def _integer(value: Any) -> int | None:
    """`value` as an int if it is an integer (Python or numpy; not a bool, a float or a string), else None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def _multiword(tokens: Any, words: int, where: str) -> dict[int, tuple[int, str]]:
    """A sentence's multiword tokens by first word: (last word, form); each within the sentence, none overlapping."""
    if isinstance(tokens, (str, bytes, Mapping)) or not isinstance(tokens, Iterable):
        raise DsregError(f"{where}: multiword is {tokens!r}, not a list of {{start, end, form}}")
    spans: list[tuple[int, int, str]] = []
    for token in tokens:
        fields = [token.get(k) if isinstance(token, Mapping) else None for k in ("start", "end", "form")]
        start, end = (_integer(v) for v in fields[:2])
        form = fields[2]
        if start is None or end is None or not isinstance(form, str):
            raise DsregError(f"{where}: multiword token {token!r} is not {{start, end, form}} (two integers, a text)")
        if not 1 <= start <= end <= words:
            raise DsregError(f"{where}: multiword token {start}-{end} is outside the sentence's words 1-{words}")
        spans.append((start, end, form))
    spans.sort()
    for (s1, e1, _), (s2, e2, _) in itertools.pairwise(spans):
        if s2 <= e1:
            raise DsregError(f"{where}: multiword tokens {s1}-{e1} and {s2}-{e2} overlap")
    return {start: (end, form) for start, end, form in spans}


def _link(words: Sequence[_Word], heads: Sequence[int], where: str) -> None:
    """Point each word at its head; a head out of range, a cycle or a second root is an error (as in the script)."""
    for i, head in enumerate(heads):
        if head < 0 or head > len(words):
            raise DsregError(f"{where}: word {i + 1} has HEAD {head}, outside 0..{len(words)}")
        words[i].parent = words[head - 1] if head else None
    roots = sum(1 for h in heads if h == 0)
    if roots != 1:
        raise DsregError(f"{where}: {roots} roots (HEAD 0); a tree has exactly one")
    for i in range(len(words)):
        seen, j = set(), i
        while heads[j] != 0:
            if j in seen:
                raise DsregError(f"{where}: the heads of word {i + 1} run in a cycle")
            seen.add(j)
            j = heads[j] - 1


def _spans_score(gold: Sequence[tuple[int, int]], system: Sequence[tuple[int, int]]) -> Score:
    correct = gi = si = 0
    while gi < len(gold) and si < len(system):
        if system[si][0] < gold[gi][0]:
            si += 1
        elif gold[gi][0] < system[si][0]:
            gi += 1
        else:
            correct += gold[gi][1] == system[si][1]
            gi, si = gi + 1, si + 1
    return Score(len(gold), len(system), correct)


def _beyond_end(words: Sequence[_Word], i: int, end: int) -> bool:
    if i >= len(words):
        return True
    return words[i].start >= end if words[i].multiword else words[i].end > end


def _extend_end(word: _Word, end: int) -> int:
    return word.end if word.multiword and word.end > end else end


def _multiword_span(gold: Sequence[_Word], system: Sequence[_Word], gi: int, si: int) -> tuple[int, int, int, int]:
    """The minimal stretch around a multiword token: (gold start, system start, gold end, system end)."""
    if gold[gi].multiword:
        end = gold[gi].end
        if not system[si].multiword and system[si].start < gold[gi].start:
            si += 1
    else:
        end = system[si].end
        if not gold[gi].multiword and gold[gi].start < system[si].start:
            gi += 1
    gs, ss = gi, si
    while not _beyond_end(gold, gi, end) or not _beyond_end(system, si, end):
        if gi < len(gold) and (si >= len(system) or gold[gi].start <= system[si].start):
            end = _extend_end(gold[gi], end)
            gi += 1
        else:
            end = _extend_end(system[si], end)
            si += 1
    return gs, ss, gi, si


def _lcs(gold: Sequence[_Word], system: Sequence[_Word]) -> list[list[int]]:
    table = [[0] * (len(system) + 1) for _ in range(len(gold) + 1)]
    for g in reversed(range(len(gold))):
        for s in reversed(range(len(system))):
            if gold[g].form.lower() == system[s].form.lower():
                table[g][s] = 1 + table[g + 1][s + 1]
            table[g][s] = max(table[g][s], table[g + 1][s], table[g][s + 1])
    return table


def _align(gold: Sequence[_Word], system: Sequence[_Word]) -> list[tuple[_Word, _Word]]:
    """Aligned (gold, system) word pairs, in order."""
    pairs: list[tuple[_Word, _Word]] = []
    gi = si = 0
    while gi < len(gold) and si < len(system):
        if gold[gi].multiword or system[si].multiword:
            gs, ss, gi, si = _multiword_span(gold, system, gi, si)
            if gi > gs and si > ss:
                g_words, s_words = gold[gs:gi], system[ss:si]
                table = _lcs(g_words, s_words)
                g = s = 0
                while g < len(g_words) and s < len(s_words):
                    if g_words[g].form.lower() == s_words[s].form.lower():
                        pairs.append((g_words[g], s_words[s]))
                        g, s = g + 1, s + 1
                    elif table[g][s] == table[g + 1][s]:
                        g += 1
                    else:
                        s += 1
        elif (gold[gi].start, gold[gi].end) == (system[si].start, system[si].end):
            pairs.append((gold[gi], system[si]))
            gi, si = gi + 1, si + 1
        elif gold[gi].start <= system[si].start:
            gi += 1
        else:
            si += 1
    return pairs


def evaluate(gold: Iterable[Mapping[str, Any]], system: Iterable[Mapping[str, Any]]) -> dict[str, Score]:
    """Tokens, Sentences, Words, UPOS, UAS and LAS of `system` against `gold` (rows with label names)."""
    g, s = _load(gold, "gold"), _load(system, "system")
    if g.characters != s.characters:
        at = next((i for i, (a, b) in enumerate(zip(g.characters, s.characters, strict=False)) if a != b), None)
        at = min(len(g.characters), len(s.characters)) if at is None else at
        show = "".join(g.characters[at : at + 20]), "".join(s.characters[at : at + 20])
        raise DsregError(
            f"gold and system text differ at character {at} (gold {show[0]!r}, system {show[1]!r})",
            fix="the system output must tokenise the same text as gold (whitespace aside)",
        )
    pairs = _align(g.words, s.words)
    to_gold = {id(sw): gw for gw, sw in pairs}

    def counted(key: Any) -> Score:
        correct = sum(1 for gw, sw in pairs if key(gw, lambda w: w) == key(sw, lambda w: _mapped(to_gold, w)))
        return Score(len(g.words), len(s.words), correct, len(pairs))

    return {
        "Tokens": _spans_score(g.tokens, s.tokens),
        "Sentences": _spans_score(g.sentences, s.sentences),
        "Words": Score(len(g.words), len(s.words), len(pairs)),
        "UPOS": counted(lambda w, _: w.upos),
        "UAS": counted(lambda w, to: to(w.parent)),
        "LAS": counted(lambda w, to: (to(w.parent), w.deprel)),
    }


def _mapped(to_gold: Mapping[int, _Word], word: _Word | None) -> _Word | str | None:
    """The gold word a system word is aligned to (None for the root, a marker when unaligned)."""
    if word is None:
        return None
    return to_gold.get(id(word), "not aligned")


def conllu_rows(text: str, where: str) -> list[dict[str, Any]]:
    """The sentences of CoNLL-U text as the rows `evaluate` takes (label names, not indices), with their sent_id."""
    from dsreg.readers.conllu_format import parse_conllu

    return [
        {
            "sent_id": sentence.sent_id,
            "tokens": [w.form for w in sentence.words],
            "upos": [w.upos for w in sentence.words],
            "head": [w.head for w in sentence.words],
            "deprel": [w.deprel for w in sentence.words],
            "multiword": sentence.multiword,
        }
        for sentence in parse_conllu(text, where)
    ]
