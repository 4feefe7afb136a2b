"""Word alignment as NIST sclite does it: transcripts as word networks, aligned by dynamic programming with
sclite's costs (substitution 4, insertion 3, deletion 3, a match 0), counting correct words, substitutions,
deletions and insertions along the cheapest path.

A transcript, once filtered (`dsreg.speech.glm.filter_transcript`), is a sequence of words, ``(WORD)`` for an
optionally deletable word (sclite ``-D``: deleting or inserting it costs nothing and counts nothing; aligned to a
word it counts like any other), ``{ A B / C / @ }`` for alternatives (``@`` the empty one), and fragments
``TH-`` / ``-ING`` (sclite ``-F``: correct when the other word starts / ends with the spelled part). Both sides
are networks, so a hypothesis alternation (a GLM-expanded contraction) aligns the same way as a reference one.
Among paths of equal cost the one with the fewest errors wins, then the first found (match/substitution before
deletion before insertion, earlier words first); sclite's own order among equal-cost paths is not reproduced.

Unit-cost edit distance over plain sequences (CER, TIMIT's PER as Kaldi computes it) stays
`dsreg.metrics.text_recognition.levenshtein`: sclite's weights would change those values, and the bit-parallel
algorithm is far faster for sequences without alternatives.
"""

from __future__ import annotations

from dataclasses import dataclass

from dsreg.errors import DsregError

SUBSTITUTION, INSERTION, DELETION = 4, 3, 3


@dataclass(frozen=True)
class Word:
    """One word of a network: its text (upper-case, markup stripped), and whether it is optional or a fragment."""

    text: str
    optional: bool = False

    @property
    def fragment(self) -> bool:
        return len(self.text) > 1 and (self.text.endswith("-") or self.text.startswith("-"))

    def matches(self, other: Word) -> bool:
        """Equal text, or a fragment whose spelled part begins (``TH-``) or ends (``-ING``) the other word."""
        if self.text == other.text:
            return True
        for frag, word in ((self, other), (other, self)):
            if frag.fragment and not word.fragment:
                if frag.text.endswith("-") and word.text.startswith(frag.text[:-1]):
                    return True
                if frag.text.startswith("-") and word.text.endswith(frag.text[1:]):
                    return True
        return False


Arc = tuple[int, int, Word | None]  # from node, to node (always greater), word (None: the empty alternative)


@dataclass(frozen=True)
class Network:
    """A transcript as a DAG whose nodes are numbered in topological order (arcs go to higher numbers)."""

    nodes: int
    arcs: tuple[Arc, ...]

    def outgoing(self) -> list[list[tuple[int, Word | None]]]:
        out: list[list[tuple[int, Word | None]]] = [[] for _ in range(self.nodes)]
        for start, end, word in self.arcs:
            out[start].append((end, word))
        return out


def _word(piece: str, where: str) -> Word:
    if piece.startswith("(") and piece.endswith(")") and len(piece) > 2:
        return Word(piece[1:-1], optional=True)
    if "(" in piece or ")" in piece:
        raise DsregError(f"malformed optional word {piece!r} in {where!r}", fix="write (WORD)")
    return Word(piece)


def network(text: str, ignore: frozenset[str] = frozenset()) -> Network:
    """The network of a filtered transcript, without the words in `ignore`; unbalanced ``{ / }`` is an error."""
    pieces = text.replace("{", " { ").replace("}", " } ").replace("/", " / ").split()
    arcs: list[Arc] = []
    count = 1

    def sequence(position: int, start: int, inside: bool) -> tuple[int, int]:
        """Arcs for pieces from `position` until a '/' or '}' (inside braces) or the end; (next piece, end node)."""
        nonlocal count
        node = start
        while position < len(pieces):
            piece = pieces[position]
            if piece in ("/", "}"):
                if not inside:
                    raise DsregError(f"{piece!r} outside an alternation in {text!r}", fix="write { A / B }")
                return position, node
            if piece == "{":
                ends = []
                position += 1
                while True:
                    position, end = sequence(position, node, True)
                    ends.append(end)
                    if position >= len(pieces):
                        raise DsregError(f"unclosed '{{' in {text!r}", fix="close the alternation with '}'")
                    position += 1
                    if pieces[position - 1] == "}":
                        break
                join = count
                count += 1
                arcs.extend((end, join, None) for end in ends)
                node = join
                continue
            word = None if piece == "@" else _word(piece, text)
            if word is not None and word.text not in ignore:
                arcs.append((node, count, word))
                node = count
                count += 1
            position += 1
        if inside:
            raise DsregError(f"unclosed '{{' in {text!r}", fix="close the alternation with '}'")
        return position, node

    _, last = sequence(0, 0, False)
    if last != count - 1:  # the final node must be the last: an epsilon arc to a fresh one keeps the order simple
        arcs.append((last, count, None))
        count += 1
    return Network(count, tuple(arcs))


@dataclass(frozen=True)
class Counts:
    """Correct words, substitutions, deletions, insertions; reference words = correct + sub + del."""

    correct: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def reference_words(self) -> int:
        return self.correct + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.correct + other.correct,
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
        )


def align(reference: Network, hypothesis: Network) -> Counts:
    """The counts along the cheapest alignment of two networks (sclite's costs; ties: fewest errors, first found)."""
    ref_out, hyp_out = reference.outgoing(), hypothesis.outgoing()
    width = hypothesis.nodes
    # per node pair: (cost, errors, correct, substitutions, deletions, insertions)
    best: list[tuple[int, int, int, int, int, int] | None] = [None] * (reference.nodes * width)
    best[0] = (0, 0, 0, 0, 0, 0)

    def relax(key: int, state: tuple[int, int, int, int, int, int]) -> None:
        current = best[key]
        if current is None or state[:2] < current[:2]:
            best[key] = state

    for i in range(reference.nodes):
        for j in range(width):
            state = best[i * width + j]
            if state is None:
                continue
            cost, errors, c, s, d, n = state
            for i2, ref in ref_out[i]:
                if ref is not None:
                    for j2, hyp in hyp_out[j]:
                        if hyp is not None:
                            if ref.matches(hyp):
                                relax(i2 * width + j2, (cost, errors, c + 1, s, d, n))
                            else:
                                relax(i2 * width + j2, (cost + SUBSTITUTION, errors + 1, c, s + 1, d, n))
                if ref is None or ref.optional:
                    relax(i2 * width + j, state)
                else:
                    relax(i2 * width + j, (cost + DELETION, errors + 1, c, s, d + 1, n))
            for j2, hyp in hyp_out[j]:
                if hyp is None or hyp.optional:
                    relax(i * width + j2, state)
                else:
                    relax(i * width + j2, (cost + INSERTION, errors + 1, c, s, d, n + 1))
    final = best[reference.nodes * width - 1]
    assert final is not None  # every node reaches the last one
    return Counts(*final[2:])
