"""NIST GLM (global mapping) rules and the transcript filtering `csrfilt.sh -dh` does before sclite scores.

A GLM file (``en20000405_hub5.glm`` for Hub5) holds string-rewriting rules ``A => B`` or ``A => B / C __ D``
(``C``/``D`` the left/right context; any string may be written in ``[ ]`` or ``' '`` to keep its spaces), ``;;``
comments, ``*`` header lines (``copy_no_hit``, ``case_sensitive``; others are documentation) and
``;; INPUT_DEPENDENT_APPLICATION = "<regex>"`` lines, after which the rules apply only to the input kinds the
regex matches (``stm`` for references, ``ctm`` for hypotheses). Rewriting moves a cursor over the text padded
with one space each side: at each position the first rule in file order whose ``A`` starts there and whose
contexts match the input around it is applied (``B`` output, cursor moved past ``A``); otherwise the character
is copied (or dropped when ``copy_no_hit`` is false). Matching is case-insensitive: everything is upper-cased.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from dsreg.errors import DsregError
from dsreg.vendorlines import vendor_lines

_SECTION = re.compile(r'^;;\s+INPUT_DEPENDENT_APPLICATION\s*=\s*"([^"]*)"', re.I)
_HEADER = re.compile(r"""^\*\s*(\w+)\s*[=:]?\s*["']([^"']*)["']""")
_TRUE, _FALSE = ("T", "YES", "TRUE"), ("F", "NO", "FALSE")
_HYPHEN = re.compile(r"([^( ])-(?=[^) ])")
_DOUBLE_OPEN, _DOUBLE_CLOSE = re.compile(r"\(\s*\("), re.compile(r"\)\s*\)")
_OPT_SPREAD = re.compile(r"(\(\s+[^()\s]+\s+)([^()\s]+)")


@dataclass(frozen=True)
class Rule:
    """``lhs => rhs / left __ right``, upper-cased; `kinds` is the section's regex (None: every input kind)."""

    lhs: str
    rhs: str
    left: str = ""
    right: str = ""
    kinds: str | None = None


@dataclass
class Glm:
    """The rules of one GLM file, indexed by their first character, and its identity for score signatures."""

    rules: list[Rule]
    copy_no_hit: bool = True
    name: str = "glm"
    sha256: str = ""
    _index: dict[str, dict[str, list[Rule]]] = field(default_factory=dict, repr=False)  # kind → 2 chars → rules

    @property
    def signature(self) -> str:
        return f"{self.name}@{self.sha256[:12]}"

    def _candidates(self, kind: str, key: str) -> list[Rule]:
        """The rules for input `kind` that can start at a position whose next two characters are `key`, in file
        order (built once per kind and key: a real GLM has thousands of rules)."""
        table = self._index.setdefault(kind, {})
        if key not in table:
            table[key] = [
                rule
                for rule in self.rules
                if (rule.kinds is None or re.search(rule.kinds, kind))
                and (rule.lhs.startswith(key) or (len(rule.lhs) == 1 and rule.lhs == key[:1]))
            ]
        return table[key]

    def rewrite(self, text: str, kind: str) -> str:
        """`text` (already upper-cased and space-padded) with the rules for input `kind` applied, as rfilter1 does."""
        out: list[str] = []
        position = 0
        while position < len(text):
            for rule in self._candidates(kind, text[position : position + 2]):
                after = position + len(rule.lhs)
                if (
                    text.startswith(rule.lhs, position)
                    and text.startswith(rule.right, after)
                    and text[:position].endswith(rule.left)
                ):
                    out.append(rule.rhs)
                    position = after
                    break
            else:
                if self.copy_no_hit:
                    out.append(text[position])
                position += 1
        return "".join(out)


def _bounded(text: str, number: int, where: str, *, followed: str = "") -> tuple[str, str] | None:
    """A leading ``[...]`` or ``'...'`` string (spaces kept) and the rest, or None when `text` is bare.

    A quote bounds a string only when its closing quote ends the field (nothing after it, or `followed`, e.g. the
    '/' before a context): ``'EM => THEM`` is the bare word ``'EM``, as in the NIST GLMs."""
    text = text.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise DsregError(f"line {number}: unclosed '['", path=where, fix="close the bracket")
        return text[1:close], text[close + 1 :]
    if text.startswith("'"):
        close = text.find("'", 1)
        while close > 0:
            rest = text[close + 1 :].strip()
            if not rest or (followed and rest.startswith(followed)):
                return text[1:close], text[close + 1 :]
            close = text.find("'", close + 1)
    return None


def _side(text: str, number: int, where: str) -> str:
    """One of A, C or D: bracketed or quoted verbatim, else the bare text stripped."""
    bounded = _bounded(text, number, where)
    if bounded is None:
        return text.strip()
    value, rest = bounded
    if rest.strip():
        raise DsregError(f"line {number}: text {rest.strip()!r} after {value!r}", path=where)
    return value


def _rule(line: str, number: int, where: str, kinds: str | None) -> Rule:
    if "=>" not in line:
        raise DsregError(f"line {number} is not a rule 'A => B [/ C __ D]': {line.strip()!r}", path=where)
    lhs_text, rhs_text = line.split("=>", 1)
    lhs = _side(lhs_text, number, where)
    if not lhs:
        raise DsregError(f"line {number}: the rule rewrites the empty string", path=where, fix="give a left side")
    context = None
    bounded = _bounded(rhs_text, number, where, followed="/")
    if bounded is not None:
        rhs, rest = bounded
        rest = rest.strip()
        if rest:
            if not rest.startswith("/"):
                raise DsregError(f"line {number}: expected '/ C __ D' after the output, not {rest!r}", path=where)
            context = rest[1:]
    else:
        cut = rhs_text.find("__")
        slash = rhs_text.rfind("/", 0, cut) if cut >= 0 else -1
        rhs, context = (rhs_text[:slash].strip(), rhs_text[slash + 1 :]) if slash >= 0 else (rhs_text.strip(), None)
    left = right = ""
    if context is not None:
        if "__" not in context:
            raise DsregError(f"line {number}: the context {context.strip()!r} has no '__'", path=where)
        left_text, right_text = context.split("__", 1)
        left, right = _side(left_text, number, where), _side(right_text, number, where)
    return Rule(lhs.upper(), rhs.upper(), left.upper(), right.upper(), kinds)


def parse_glm(text: str, where: str = "GLM", *, name: str = "glm") -> Glm:
    """The rules of a GLM file's text; a line that is not a comment, header or rule is an error naming it."""
    rules: list[Rule] = []
    kinds: str | None = None
    copy_no_hit = True
    for number, raw in enumerate(vendor_lines(text), 1):
        section = _SECTION.match(raw.strip())
        if section:
            kinds = section.group(1).lower()
            try:
                re.compile(kinds)
            except re.error as err:
                raise DsregError(
                    f"line {number}: the INPUT_DEPENDENT_APPLICATION regex {kinds!r} does not compile ({err})",
                    path=where,
                    fix='write a regular expression such as "(stm|ctm)"',
                ) from None
            continue
        line = raw.split(";;", 1)[0]
        if not line.strip():
            continue
        if line.lstrip().startswith("*"):
            header = _HEADER.match(line.strip())
            if header and header.group(1).lower() == "copy_no_hit":
                copy_no_hit = _flag(header.group(2), number, where)
            elif header and header.group(1).lower() == "case_sensitive" and _flag(header.group(2), number, where):
                raise DsregError(
                    f"line {number}: case-sensitive GLMs are not supported (Hub5 scoring is case-insensitive)",
                    path=where,
                )
            continue
        rules.append(_rule(line, number, where, kinds))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Glm(rules, copy_no_hit, name, digest)


def _flag(value: str, number: int, where: str) -> bool:
    if value.upper() in _TRUE:
        return True
    if value.upper() in _FALSE:
        return False
    raise DsregError(f"line {number}: {value!r} is neither T nor F", path=where)


def read_glm(path: Path, data: bytes | None = None) -> Glm:
    """A GLM file (ASCII or Latin-1 text, as NIST ships them); `data`, when given, is its content already read."""
    data = path.read_bytes() if data is None else data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return parse_glm(text, str(path), name=path.name)


def filter_transcript(text: str, glm: Glm | None, kind: str) -> str:
    """What ``csrfilt.sh -dh -i <kind>`` makes of one transcript: upper-cased, GLM applied, hyphens between
    letters split into spaces (fragments such as ``TH-`` kept), ``( A B )`` spread to ``(A) (B)``. A word the
    GLM makes optional inside the text's own parentheses (``(UH)`` with ``UH => (%HESITATION)``) is optional once."""
    spaced = text.upper().replace("(", "( ").replace(")", " )")
    _check_brackets(spaced, text)
    padded = " " + " ".join(spaced.split()) + " "
    if glm is not None:
        padded = glm.rewrite(padded, kind)
        while True:  # a word the GLM makes optional inside parentheses of the text stays optional once
            flat = _DOUBLE_CLOSE.sub(")", _DOUBLE_OPEN.sub("(", padded))
            if flat == padded:
                break
            padded = flat
    padded = _HYPHEN.sub(r"\1 ", padded)
    while True:
        spread = _OPT_SPREAD.sub(r"\1) ( \2", padded, count=1)
        if spread == padded:
            break
        padded = spread
    _check_brackets(padded, text)
    joined = re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", padded))
    return " ".join(joined.split())


def _check_brackets(text: str, original: str) -> None:
    """Refuse nested or unbalanced optional-deletion parentheses, as csrfilt does."""
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth not in (0, 1):
            break
    if depth != 0:
        raise DsregError(
            f"unbalanced or nested '(' ')' in the transcript {original!r}",
            fix="mark each optionally deletable word as (WORD), without nesting",
        )
