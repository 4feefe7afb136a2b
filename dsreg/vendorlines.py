"""Lines of a vendor's text file split where the vendor's own tools split them: at `\n` only.

`str.splitlines` also breaks at form feed, vertical tab, `\x1c`-`\x1e`, a lone `\r`, U+0085, U+2028 and
U+2029, so a transcript or table line holding one of them would silently become two lines (or a line error
with the wrong number). sclite, Kaldi and the C/Perl tools that read these files split at `\n` alone; a
`\r` just before it (a file saved with CRLF) is dropped, any other character stays inside its line.
"""

from __future__ import annotations


def vendor_lines(text: str) -> list[str]:
    """`text` split at `\\n` (a `\\r` before it dropped), without the empty piece after a final newline."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
