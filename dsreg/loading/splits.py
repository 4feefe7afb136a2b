"""Split expressions: which rows of which splits a dataset view reads.

Grammar (whitespace ignored)::

    expr  := term ("+" term)*
    term  := split | split "[" [bound] ":" [bound] "]"
    split := a split name of the manifest, or "all" (every split, in manifest order)
    bound := ["-"] digits ["%"]      (percent bounds may have decimals: "train[:0.5%]")

Examples: ``train``, ``train[:10%]``, ``train[1000:2000]``, ``train[-10%:]``, ``train+validation``,
``all``, ``all[:1%]`` (slices the concatenation of every split).

Bounds follow Python slicing: negative bounds count from the end, an empty bound means the start or the
end. Rounding: a percent bound ``k%`` of a split of ``n`` rows is the row ``round(k * n / 100)``, rounded to
the nearest row with ties to even (Python's ``round``); a negative one, ``-k%``, is the row of ``(100 - k)%``,
so ``train[-1%:]`` is never the whole split (``round(-0.4)`` would be row 0, the start) and ``train[:-k%]``
equals ``train[:(100-k)%]``. The same rounding on both sides means ``train[:k%]`` and ``train[k%:]`` are exact
complements. Absolute bounds outside the
split are an error rather than silently clamped, and a reversed range is empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from dsreg.errors import DsregError

ALL = "all"
_SYNTAX = "write e.g. 'train', 'train[:10%]', 'train[1000:2000]', 'train[-10%:]', 'train+validation' or 'all'"
_BOUND = r"\s*(-?\d+(?:\.\d+)?%?)?\s*"
_TERM = re.compile(rf"^\s*(?P<split>[A-Za-z0-9_.-]+)\s*(?:\[(?P<lo>{_BOUND}):(?P<hi>{_BOUND})\])?\s*$")
_SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_NAMING = "name splits with letters, digits, '_', '.' and '-', starting with a letter or digit (e.g. train, dev-clean)"


@dataclass(frozen=True)
class Segment:
    """Rows ``[start, stop)`` of one split, in the split's own row numbering."""

    split: str
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


def check_split_name(name: object, where: str | None = None) -> str:
    """`name` if a split can be published under it: a name split expressions select, other than the keyword
    `all`, and a folder of the version that is no file of its own (its first character a letter or digit, so
    never `..`, a hidden or scratch folder, nor a path); a DsregError naming it (or `where`) otherwise."""
    label = where or f"split {name!r}"
    if not isinstance(name, str) or not _SPLIT_NAME.fullmatch(name):
        raise DsregError(f"{label}: a split expression cannot select a split of that name", fix=_NAMING)
    if name == ALL:
        raise DsregError(
            f"{label}: 'all' is the split expression for every split, so it cannot name one split",
            fix="call the split something else, e.g. 'full' or 'everything'",
        )
    if name.startswith("manifest.json"):
        raise DsregError(f"{label}: that is the name of the version folder's own manifest", fix=_NAMING)
    return name


def _bound(text: str, n: int, expr: str) -> int | None:
    """One slice bound resolved to a row number in ``[0, n]`` (None when empty)."""
    text = text.strip()
    if not text:
        return None
    if text.endswith("%"):
        pct = Decimal(text[:-1])
        if abs(pct) > 100:
            raise DsregError(f"percent bound {text} in split {expr!r} is outside -100%..100%", fix=_SYNTAX)
        if pct < 0:  # counted from the end and rounded there, never turned into row 0 by rounding
            return round((100 + pct) * n / 100)
        return round(pct * n / 100)
    else:
        if "." in text:
            raise DsregError(f"absolute bound {text} in split {expr!r} must be a whole row number", fix=_SYNTAX)
        row = int(text)
        if not -n <= row <= n:
            raise DsregError(
                f"row {row} in split {expr!r} is outside a split of {n} rows",
                fix=f"use a bound between {-n} and {n}, or a percent bound such as [:10%]",
            )
    return row + n if row < 0 else row


def _term(text: str, sizes: Mapping[str, int], expr: str) -> list[Segment]:
    match = _TERM.match(text)
    if not match:
        raise DsregError(f"cannot read split expression {expr!r}", fix=_SYNTAX)
    name = match["split"]
    if name == ALL and ALL in sizes:
        raise DsregError(
            f"split expression {expr!r} is ambiguous: the dataset has a split named 'all', and 'all' also means "
            "every split",
            fix=f"name the splits to read instead (e.g. {'+'.join(n for n in sizes if n != ALL) or 'train'}); the "
            "split named 'all' cannot be selected: publish it again under another name",
        )
    if name == ALL:
        parts = [Segment(s, 0, n) for s, n in sizes.items()]
    elif name in sizes:
        parts = [Segment(name, 0, sizes[name])]
    else:
        raise DsregError(f"there is no split {name!r}", fix=f"use one of: {', '.join([*sizes, ALL])}")
    if match["lo"] is None:
        return parts
    total = sum(p.rows for p in parts)
    lo = _bound(match["lo"], total, expr)
    hi = _bound(match["hi"], total, expr)
    return _slice(parts, 0 if lo is None else lo, total if hi is None else hi)


def _slice(parts: list[Segment], lo: int, hi: int) -> list[Segment]:
    """Rows ``[lo, hi)`` of the concatenation of `parts`, as segments of the underlying splits."""
    out, offset = [], 0
    for part in parts:
        a, b = max(lo - offset, 0), min(hi - offset, part.rows)
        if a < b:
            out.append(Segment(part.split, part.start + a, part.start + b))
        offset += part.rows
    return out


def parse_split(expr: str, sizes: Mapping[str, int]) -> list[Segment]:
    """Resolve a split expression against the split sizes ``{name: rows}`` of a manifest."""
    if not isinstance(expr, str) or not expr.strip():
        raise DsregError(f"split must be a non-empty string, got {expr!r}", fix=_SYNTAX)
    segments: list[Segment] = []
    for term in expr.split("+"):
        segments.extend(_term(term, sizes, expr))
    return segments
