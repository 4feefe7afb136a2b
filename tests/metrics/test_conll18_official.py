"""dsreg.metrics.conll18 against the official scorer (udtools.udeval, the CoNLL 2018 / IWPT 2020 script in the
`udtools` package of the dev extra): the same counts, precision, recall, F1 and aligned accuracy for Tokens,
Sentences, Words, UPOS, UAS and LAS on hand-made pairs and on seeded random perturbations of generated gold
(heads, relations, tags, split and merged tokens, multiword tokens made, undone and re-spelt, sentences split and
joined, spaces inside forms, empty nodes); the real EWT dev against perturbed copies of itself when present."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import dsreg
from dsreg.errors import DsregError
from dsreg.metrics.conll18 import SCORES, conllu_rows, evaluate
from dsreg.testing.realdata import realdata
from dsreg.testing.ud import conllu_text, make_release, pinned_recipe

udeval = pytest.importorskip("udtools.udeval", reason="udtools (the dev extra: the official scorer) is not installed")

EWT_DEV = realdata("ud", "UD_English-EWT", "en_ewt-ud-dev.conllu")
_UPOS = ("ADJ", "ADP", "ADV", "AUX", "DET", "NOUN", "NUM", "PRON", "PROPN", "PUNCT", "VERB", "X")
_RELS = ("nsubj", "nsubj:pass", "obj", "obl", "obl:tmod", "amod", "det", "case", "advmod", "acl:relcl", "conj", "cc")
_FORMS = ("le", "Chat", "été", "voit", "à", "du", "New York", "l'", "!", "x\u00a0y", "Zoë", "ÉCOLE", "3,5", "ça", "a")


def official(gold: str, system: str) -> dict[str, tuple[Any, ...]]:
    """The official scorer's counts and ratios (as `_ours` gives them) for two CoNLL-U texts."""
    g = udeval.load_conllu(io.StringIO(gold), "gold", {})
    s = udeval.load_conllu(io.StringIO(system), "system", {})
    result = udeval.evaluate(g, s)
    return {
        name: (
            result[name].gold_total,
            result[name].system_total,
            result[name].correct,
            result[name].aligned_total,
            result[name].precision,
            result[name].recall,
            result[name].f1,
            result[name].aligned_accuracy,
        )
        for name in SCORES
    }


def ours(gold: str, system: str) -> dict[str, tuple[Any, ...]]:
    result = evaluate(conllu_rows(gold, "gold"), conllu_rows(system, "system"))
    return {
        name: (s.gold, s.system, s.correct, s.aligned, s.precision, s.recall, s.f1, s.aligned_accuracy)
        for name, s in result.items()
    }


def _same(gold: str, system: str) -> None:
    expected, got = official(gold, system), ours(gold, system)
    assert list(got) == list(SCORES)
    for name in SCORES:
        assert got[name] == expected[name], (name, gold, system)  # exact: the same integer ratios


# ----------------------------------------------------------------------------------------------- hand-made

W = "{}\t{}\t_\t{}\t_\t_\t{}\t{}\t_\t_"


def _doc(*sentences: list[str]) -> str:
    return "".join("\n".join(lines) + "\n\n" for lines in sentences)


CAT = [
    W.format(1, "The", "DET", 2, "det"),
    W.format(2, "cat", "NOUN", 3, "nsubj"),
    W.format(3, "sat", "VERB", 0, "root"),
]
DU_GOLD = [
    "# text = Il parle du chat.",
    W.format(1, "Il", "PRON", 2, "nsubj"),
    W.format(2, "parle", "VERB", 0, "root"),
    "3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_",
    W.format(3, "de", "ADP", 5, "case"),
    W.format(4, "le", "DET", 5, "det"),
    W.format(5, "chat", "NOUN", 2, "obl:arg"),
    W.format(6, ".", "PUNCT", 2, "punct"),
]
HAND_MADE = {
    "identical": (_doc(CAT, DU_GOLD), _doc(CAT, DU_GOLD)),
    "subtype, tag and head errors": (
        _doc(CAT),
        _doc(
            [
                W.format(1, "The", "DET", 3, "det:poss"),
                W.format(2, "cat", "PROPN", 3, "nsubj:pass"),
                W.format(3, "sat", "VERB", 0, "root"),
            ]
        ),
    ),
    "no multiword token and a token glued to punctuation": (
        _doc(DU_GOLD),
        _doc(
            [
                W.format(1, "Il", "PRON", 3, "nsubj"),
                W.format(2, "parle", "NOUN", 0, "root"),
                W.format(3, "du", "DET", 4, "det"),
                W.format(4, "chat.", "NOUN", 2, "obl"),
            ]
        ),
    ),
    "multiword tokens on both sides, words differently spelt and cased": (
        _doc(DU_GOLD),
        _doc(
            [
                W.format(1, "Il", "PRON", 2, "nsubj"),
                W.format(2, "parle", "VERB", 0, "root"),
                "3-5\tdu\t_\t_\t_\t_\t_\t_\t_\t_",
                W.format(3, "DE", "ADP", 6, "case"),
                W.format(4, "l", "DET", 6, "det"),
                W.format(5, "e", "DET", 6, "det"),
                "6-7\tchat.\t_\t_\t_\t_\t_\t_\t_\t_",
                W.format(6, "chat", "NOUN", 2, "obl"),
                W.format(7, ".", "PUNCT", 6, "punct"),
            ]
        ),
    ),
    "spaces inside forms and a split token": (
        _doc([W.format(1, "New York", "PROPN", 2, "nsubj"), W.format(2, "x\u00a0y", "VERB", 0, "root")]),
        _doc(
            [
                W.format(1, "New", "PROPN", 2, "compound"),
                W.format(2, "York", "PROPN", 3, "nsubj"),
                W.format(3, "xy", "VERB", 0, "root"),
            ]
        ),
    ),
    "sentences split and joined, empty nodes skipped": (
        _doc(CAT, [W.format(1, "Oui", "INTJ", 0, "root"), W.format(2, "!", "PUNCT", 1, "punct")]),
        _doc(
            [W.format(1, "The", "DET", 2, "det"), W.format(2, "cat", "NOUN", 0, "root")],
            [
                W.format(1, "sat", "VERB", 0, "root"),
                "1.1\tsat\t_\t_\t_\t_\t_\t_\t0:root\t_",
                W.format(2, "Oui", "INTJ", 1, "discourse"),
                W.format(3, "!", "PUNCT", 1, "punct"),
            ],
        ),
    ),
    # the plain system token starts before the gold multiword token, so the script leaves it out of the
    # multiword stretch: its form equals a gold word's, yet it is not aligned
    "a plain system token reaching into a gold multiword token": (
        _doc(
            [
                W.format(1, "le", "DET", 2, "det"),
                "2-3\tdu\t_\t_\t_\t_\t_\t_\t_\t_",
                W.format(2, "ledu", "NOUN", 0, "root"),
                W.format(3, "x", "ADP", 2, "case"),
            ]
        ),
        _doc([W.format(1, "ledu", "NOUN", 0, "root")]),
    ),
    "a system with no word aligned inside a multiword stretch": (
        _doc(DU_GOLD),
        _doc(
            [
                W.format(1, "Il", "PRON", 2, "nsubj"),
                W.format(2, "parle", "VERB", 0, "root"),
                "3-4\tduchat\t_\t_\t_\t_\t_\t_\t_\t_",
                W.format(3, "x", "ADP", 2, "obl"),
                W.format(4, "y", "NOUN", 3, "fixed"),
                W.format(5, ".", "PUNCT", 2, "punct"),
            ]
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(HAND_MADE))
def test_hand_made_pairs_score_as_the_official_script(case: str) -> None:
    _same(*HAND_MADE[case])


def test_both_refuse_different_text_two_roots_and_a_cycle() -> None:
    two_roots = _doc([W.format(1, "The", "DET", 0, "root"), W.format(2, "cat", "NOUN", 0, "root")])
    cycle = _doc([W.format(1, "The", "DET", 2, "det"), W.format(2, "cat", "NOUN", 1, "root")])
    other_text = _doc([W.format(1, "A", "DET", 2, "det"), W.format(2, "cat", "NOUN", 0, "root")])
    good = _doc([W.format(1, "The", "DET", 2, "det"), W.format(2, "cat", "NOUN", 0, "root")])
    for gold, system in ((good, other_text), (good, two_roots), (good, cycle), (cycle, good)):
        with pytest.raises(udeval.UDError):
            official(gold, system)
        with pytest.raises(DsregError):
            ours(gold, system)


# ------------------------------------------------------------------------------------ random perturbations


@dataclass(eq=False)
class Word:
    form: str
    upos: str
    deprel: str
    head: Word | None = None


@dataclass(eq=False)
class Token:
    form: str
    words: list[Word]
    multiword: bool = False


@dataclass(eq=False)
class Sentence:
    tokens: list[Token] = field(default_factory=list)

    @property
    def words(self) -> list[Word]:
        return [w for t in self.tokens for w in t.words]


def _gold(rng: random.Random) -> list[Sentence]:
    """Sentences of 1–7 tokens; a fifth are multiword tokens of 2–3 words spelt unlike the token (du = de le)."""
    doc = []
    for _ in range(rng.randint(1, 5)):
        sentence = Sentence()
        for _ in range(rng.randint(1, 7)):
            form = rng.choice(_FORMS)
            if rng.random() < 0.2:
                words = [
                    Word(rng.choice(_FORMS), rng.choice(_UPOS), rng.choice(_RELS)) for _ in range(rng.randint(2, 3))
                ]
                sentence.tokens.append(Token(form, words, multiword=True))
            else:
                sentence.tokens.append(Token(form, [Word(form, rng.choice(_UPOS), rng.choice(_RELS))]))
        words = sentence.words
        order = rng.sample(words, len(words))
        for k, word in enumerate(order[1:], start=1):
            word.head = rng.choice(order[:k])  # earlier in a random order: a tree rooted at order[0]
        order[0].deprel = "root"
        doc.append(sentence)
    return doc


def _copy(doc: list[Sentence]) -> list[Sentence]:
    mapping = {id(w): Word(w.form, w.upos, w.deprel) for s in doc for w in s.words}
    for s in doc:
        for w in s.words:
            mapping[id(w)].head = mapping[id(w.head)] if w.head else None
    return [Sentence([Token(t.form, [mapping[id(w)] for w in t.words], t.multiword) for t in s.tokens]) for s in doc]


def _redirect(sentence_words: list[Word], old: Word, new: Word) -> None:
    for w in sentence_words:
        if w.head is old:
            w.head = new


def _perturb(doc: list[Sentence], rng: random.Random) -> list[Sentence]:
    """A system output: each sentence gets a few edits; the text (without whitespace) stays the gold's."""
    for _ in range(rng.randint(1, 6)):
        si = rng.randrange(len(doc))
        sentence = doc[si]
        words, tokens = sentence.words, sentence.tokens
        ti = rng.randrange(len(tokens))
        token = tokens[ti]
        edit = rng.randrange(10)
        if edit == 0:  # relation (sometimes only its subtype)
            w = rng.choice(words)
            w.deprel = rng.choice([*_RELS, w.deprel.split(":")[0] + ":x", w.deprel.split(":")[0]])
        elif edit == 1:
            rng.choice(words).upos = rng.choice(_UPOS)
        elif edit == 2:  # a new head outside the word's own subtree, or the root
            w = rng.choice(words)
            below = {id(x) for x in words if _reaches(x, w)}
            w.head = rng.choice([None, *[x for x in words if id(x) not in below]])
        elif edit == 3 and not token.multiword and len(token.form.replace(" ", "")) > 1:  # split a token
            at = rng.randrange(1, len(token.form))
            first, second = token.form[:at], token.form[at:]
            if first.strip() and second.strip():
                word = token.words[0]
                token.form = word.form = first
                tokens.insert(ti + 1, Token(second, [Word(second, word.upos, "dep", word)]))
        elif edit == 4 and ti + 1 < len(tokens) and not token.multiword and not tokens[ti + 1].multiword:  # merge
            nxt = tokens.pop(ti + 1)
            word, gone = token.words[0], nxt.words[0]
            token.form = word.form = token.form + nxt.form
            _redirect(words, gone, word)
            if word.head is word:
                word.head = None
        elif edit == 5 and not token.multiword:  # make a multiword token, its words re-spelt
            word = token.words[0]
            parts = [rng.choice([token.form.upper(), token.form.lower(), token.form]), rng.choice(_FORMS)]
            word.form = parts[0]
            token.words.append(Word(parts[1], word.upos, "case", word))
            token.multiword = True
        elif edit == 6 and token.multiword:  # undo a multiword token: one word spelt as the token
            keep = token.words[0]
            for gone in token.words[1:]:
                _redirect(words, gone, keep)
            keep.form, token.words, token.multiword = token.form, [keep], False
            if keep.head is keep or keep.head in token.words[1:]:
                keep.head = None
        elif edit == 7 and token.multiword:  # re-spell or re-case one word of a multiword token
            w = rng.choice(token.words)
            w.form = rng.choice([w.form.swapcase(), w.form + "s", rng.choice(_FORMS)])
        elif edit == 8 and len(tokens) > 1:  # split the sentence
            at = rng.randrange(1, len(tokens))
            doc[si : si + 1] = [Sentence(tokens[:at]), Sentence(tokens[at:])]
        elif edit == 9 and si + 1 < len(doc):  # join it with the next one
            doc[si : si + 2] = [Sentence(tokens + doc[si + 1].tokens)]
    for sentence in doc:
        _repair(sentence.words, rng)
    return doc


def _reaches(word: Word, ancestor: Word) -> bool:
    """Whether `ancestor` is on the way from `word` up to the root (cycles stop the walk)."""
    seen: set[int] = set()
    at: Word | None = word
    while at is not None and id(at) not in seen:
        if at is ancestor:
            return True
        seen.add(id(at))
        at = at.head
    return False


def _repair(words: list[Word], rng: random.Random) -> None:
    """One root, heads inside the sentence, no cycle (the edits above may break any of these)."""
    inside = {id(w) for w in words}
    for w in words:
        if w.head is not None and id(w.head) not in inside:
            w.head = None
    roots = [w for w in words if w.head is None] or [rng.choice(words)]
    root = roots[0]
    root.head = None
    for w in words:
        if w is not root and w.head is None:
            w.head = root
    for w in words:
        path: list[Word] = []
        x: Word | None = w
        while x is not None:
            if x in path:
                x.head = root
                break
            path.append(x)
            x = x.head


def _conllu(doc: list[Sentence], rng: random.Random) -> str:
    out = []
    for n, sentence in enumerate(doc):
        index = {id(w): i for i, w in enumerate(sentence.words, start=1)}
        lines = [f"# sent_id = s{n}"]
        for token in sentence.tokens:
            first = index[id(token.words[0])]
            if token.multiword:
                lines.append(f"{first}-{first + len(token.words) - 1}\t{token.form}\t_\t_\t_\t_\t_\t_\t_\t_")
            for w in token.words:
                head = index[id(w.head)] if w.head else 0
                lines.append(W.format(index[id(w)], w.form, w.upos, head, "root" if not head else w.deprel))
            if not token.multiword and rng.random() < 0.1:
                lines.append(f"{first}.1\t{token.form}\t_\t_\t_\t_\t_\t_\t{first}:dep\t_")
        out.append("\n".join(lines) + "\n\n")
    return "".join(out)


def _pairs(count: int) -> Iterator[tuple[int, str, str]]:
    for seed in range(count):
        rng = random.Random(seed)
        gold = _gold(rng)
        yield seed, _conllu(gold, rng), _conllu(_perturb(_copy(gold), rng), rng)


def test_random_perturbations_score_as_the_official_script() -> None:
    kinds: dict[str, int] = {"tokens differ": 0, "words differ": 0, "sentences differ": 0, "las < uas": 0}
    for seed, gold, system in _pairs(2000):
        expected = official(gold, system)
        assert ours(gold, system) == expected, f"seed {seed}\n{gold}\n{system}"
        tokens, words, sentences = expected["Tokens"], expected["Words"], expected["Sentences"]
        kinds["tokens differ"] += tokens[2] < tokens[0]
        kinds["words differ"] += words[2] < words[0]
        kinds["sentences differ"] += sentences[2] < sentences[0]
        kinds["las < uas"] += expected["LAS"][2] < expected["UAS"][2]
    assert min(kinds.values()) > 100, kinds  # the generator really exercises each kind of difference


@pytest.mark.skipif(EWT_DEV is None, reason="real UD data not present (../shared/realdata/ud/UD_English-EWT)")
def test_real_ewt_dev_against_a_perturbed_copy_scores_as_the_official_script() -> None:
    """The EWT dev (2,001 sentences) against itself with tags, relations and heads changed, multiword tokens
    undone and sentences joined: every line of both texts goes through both scorers."""
    gold = (EWT_DEV.read_text(encoding="utf-8") if EWT_DEV else "").replace("\r\n", "\n")
    rng = random.Random(0)
    blocks = [_edit_block(block.split("\n"), rng) for block in gold.strip("\n").split("\n\n")]
    joined: list[list[str]] = []
    for block in blocks:
        if joined and rng.random() < 0.2:
            joined[-1] = _join(joined[-1], block)
        else:
            joined.append(block)
    system = "".join("\n".join(block) + "\n\n" for block in joined)
    assert system != gold
    _same(gold, system)


def test_the_conll18_ud_metric_reports_the_official_scores(tmp_path: Path) -> None:
    """Through `dsreg.evaluate` on a prepared (generated) treebank: every value and count the metric reports."""
    archive, _ = make_release(tmp_path / "raw", {"en_pud": {"test": 40}})
    with pytest.MonkeyPatch.context() as env:  # the shipped recipe would refuse the stand-in's sha256
        env.setenv("DSREG_RECIPES", str(pinned_recipe(tmp_path / "recipes", archive)))
        dsreg.prepare("ud/en_pud", source=archive, root=tmp_path / "root", check_counts=False)
    gold = conllu_text("en_pud", "test", 40)[0]
    rng = random.Random(0)
    system = "".join("\n".join(_edit_block(b.split("\n"), rng)) + "\n\n" for b in gold.strip("\n").split("\n\n"))
    (tmp_path / "system.conllu").write_text(system, encoding="utf-8")
    scored = dsreg.evaluate("ud/en_pud", "test", tmp_path / "system.conllu", root=tmp_path / "root")
    expected = official(gold, system)
    assert expected["LAS"][6] < expected["UAS"][6] < 1.0 and expected["Tokens"][6] < 1.0
    assert {k: v for k, v in scored.values.items() if not k.endswith("_aligned_accuracy")} == {
        name.lower(): expected[name][6] for name in SCORES
    }
    assert {k: v for k, v in scored.values.items() if k.endswith("_aligned_accuracy")} == {
        f"{name.lower()}_aligned_accuracy": expected[name][7] for name in ("UPOS", "UAS", "LAS")
    }
    assert scored.score.details == {
        name: {"gold": expected[name][0], "system": expected[name][1], "correct": expected[name][2]} for name in SCORES
    }


def _cols(line: str) -> list[str]:
    return line.split("\t") if line and not line.startswith("#") else []


def _edit_block(block: list[str], rng: random.Random) -> list[str]:
    """One sentence: multiword tokens undone (half of them), and of its words one in five retagged, one in ten
    relabelled, one in ten re-attached to the root (never a cycle)."""
    root = next(c[0] for c in map(_cols, block) if c and c[0].isdigit() and c[6] == "0")
    out = []
    for line in block:
        cols = _cols(line)
        if cols and "-" in cols[0] and rng.random() < 0.5:
            continue
        if cols and cols[0].isdigit():
            if rng.random() < 0.2:
                cols[3] = rng.choice(_UPOS)
            if cols[6] != "0" and rng.random() < 0.1:
                cols[7] = rng.choice(_RELS)
            if cols[6] != "0" and rng.random() < 0.1:
                cols[6] = root
            line = "\t".join(cols)
        out.append(line)
    return out


def _join(first: list[str], second: list[str]) -> list[str]:
    """One sentence of two: the second's comments dropped, its IDs and heads shifted, its root under the first's."""
    offset = sum(1 for c in map(_cols, first) if c and c[0].isdigit())
    root = next(c[0] for c in map(_cols, first) if c and c[0].isdigit() and c[6] == "0")
    out = list(first)
    for line in second:
        cols = _cols(line)
        if not cols:
            continue
        ids = cols[0].replace("-", ".").split(".")
        if "-" in cols[0]:
            cols[0] = f"{int(ids[0]) + offset}-{int(ids[1]) + offset}"
        elif "." in cols[0]:
            cols[0], cols[8] = f"{int(ids[0]) + offset}.{ids[1]}", "_"
        else:
            cols[0] = str(int(cols[0]) + offset)
            cols[6] = root if cols[6] == "0" else str(int(cols[6]) + offset)
            cols[8] = "_"
        out.append("\t".join(cols))
    return out
