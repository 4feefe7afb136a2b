"""Fake line-aligned text files (a small parallel corpus), as the `text_lines` reader reads them.

`make_parallel` writes the layout of docs/examples/news-de-en.yaml: `train.de`/`train.en` (the German side
gzip-compressed, with a byte order mark and CRLF line ends) and `newstest.de`/`newstest.en`, with non-ASCII
text, empty lines and lines with surrounding spaces kept as they are. Returns split → rows.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

_DE = ("Guten Morgen.", "Die Straße ist lang.", "", "  Zwei  Leerzeichen  ", "Ärger über Öl", "Tschüss!")
_EN = ("Good morning.", "The street is long.", "", "  Two  spaces  ", "Trouble over oil", "Bye!")


def _line(lines: tuple[str, ...], i: int) -> str:
    """The i-th line: the samples in turn, numbered after the first round so lines stay distinct."""
    return lines[i % len(lines)] + (f" #{i}" if i >= len(lines) else "")


def make_parallel(
    dest: str | os.PathLike[str], train_rows: int = 7, test_rows: int = 3
) -> dict[str, list[dict[str, str]]]:
    """Write the two splits under `dest`; return split → rows ({de, en})."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[dict[str, str]]] = {}
    for split, stem, count in (("train", "train", train_rows), ("test", "newstest", test_rows)):
        rows = [{"de": _line(_DE, i), "en": _line(_EN, i)} for i in range(count)]
        de = "".join(r["de"] + ("\r\n" if split == "train" else "\n") for r in rows).encode()
        if split == "train":
            (root / f"{stem}.de.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + de, mtime=0))
        else:
            (root / f"{stem}.de").write_bytes(de)
        (root / f"{stem}.en").write_bytes("".join(r["en"] + "\n" for r in rows).encode())
        out[split] = rows
    return out
