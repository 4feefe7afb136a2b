"""TIMIT's 61 phone labels and the standard folding to 48 (training) and 39 (scoring) labels.

The folding is Lee & Hon (1989) as Kaldi's ``egs/timit/s5/conf/phones.60-48-39.map`` gives it; the glottal
stop ``q`` has no 48- or 39-label and is deleted from both sequences.
"""

from __future__ import annotations

from collections.abc import Iterable

# 61-label → (48-label, 39-label); None deletes the phone
_FOLDING: dict[str, tuple[str, str] | None] = {
    "aa": ("aa", "aa"), "ae": ("ae", "ae"), "ah": ("ah", "ah"), "ao": ("ao", "aa"), "aw": ("aw", "aw"),
    "ax": ("ax", "ah"), "ax-h": ("ax", "ah"), "axr": ("er", "er"), "ay": ("ay", "ay"), "b": ("b", "b"),
    "bcl": ("vcl", "sil"), "ch": ("ch", "ch"), "d": ("d", "d"), "dcl": ("vcl", "sil"), "dh": ("dh", "dh"),
    "dx": ("dx", "dx"), "eh": ("eh", "eh"), "el": ("el", "l"), "em": ("m", "m"), "en": ("en", "n"),
    "eng": ("ng", "ng"), "epi": ("epi", "sil"), "er": ("er", "er"), "ey": ("ey", "ey"), "f": ("f", "f"),
    "g": ("g", "g"), "gcl": ("vcl", "sil"), "h#": ("sil", "sil"), "hh": ("hh", "hh"), "hv": ("hh", "hh"),
    "ih": ("ih", "ih"), "ix": ("ix", "ih"), "iy": ("iy", "iy"), "jh": ("jh", "jh"), "k": ("k", "k"),
    "kcl": ("cl", "sil"), "l": ("l", "l"), "m": ("m", "m"), "n": ("n", "n"), "ng": ("ng", "ng"),
    "nx": ("n", "n"), "ow": ("ow", "ow"), "oy": ("oy", "oy"), "p": ("p", "p"), "pau": ("sil", "sil"),
    "pcl": ("cl", "sil"), "q": None, "r": ("r", "r"), "s": ("s", "s"), "sh": ("sh", "sh"), "t": ("t", "t"),
    "tcl": ("cl", "sil"), "th": ("th", "th"), "uh": ("uh", "uh"), "uw": ("uw", "uw"), "ux": ("uw", "uw"),
    "v": ("v", "v"), "w": ("w", "w"), "y": ("y", "y"), "z": ("z", "z"), "zh": ("zh", "sh"),
}  # fmt: skip

PHONES_61: tuple[str, ...] = tuple(sorted(_FOLDING))
PHONES_48: tuple[str, ...] = tuple(sorted({f[0] for f in _FOLDING.values() if f}))
PHONES_39: tuple[str, ...] = tuple(sorted({f[1] for f in _FOLDING.values() if f}))
_LEVEL = {48: 0, 39: 1}


def fold_phone(phone: str, to: int) -> str | None:
    """The 48- or 39-label of a 61-, 48- or 39-label (`to` is 48 or 39); None for ``q``; KeyError if unknown."""
    if to not in _LEVEL:
        raise ValueError(f"fold to 48 or 39 labels, not {to}")
    if phone in _FOLDING:
        folded = _FOLDING[phone]
        return None if folded is None else folded[_LEVEL[to]]
    if to == 39 and phone in PHONES_48:  # a 48-label: fold through any 61-label that maps to it
        return next(f[1] for f in _FOLDING.values() if f and f[0] == phone)
    if phone in (PHONES_39 if to == 39 else PHONES_48):
        return phone
    raise KeyError(phone)


def fold(phones: Iterable[str], to: int) -> list[str]:
    """A phone sequence folded to 48 or 39 labels, ``q`` deleted."""
    out = []
    for phone in phones:
        folded = fold_phone(phone, to)
        if folded is not None:
            out.append(folded)
    return out
