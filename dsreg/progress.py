"""Progress bars on stderr for long work (downloads, hashing, reading, deep verification), as tqdm users expect.

Library functions draw a bar only when asked (`progress=True`); the command line asks when stderr is a terminal
and neither ``--json`` nor ``--quiet`` is given (`wanted`), so logs, pipes and machine-read output stay clean.
"""

from __future__ import annotations

import sys
from typing import Any

HASH_BAR_BYTES = 8 << 20  # hashing a smaller file takes too little time for a bar to help


def wanted(*, json_output: bool = False, quiet: bool = False) -> bool:
    """Whether the command line draws progress: stderr is a terminal, and neither --json nor --quiet."""
    return not json_output and not quiet and sys.stderr.isatty()


def bar(total: int | None, desc: str, *, unit: str = "B", enabled: bool = True, initial: int = 0) -> Any:
    """A tqdm bar on stderr: bytes with binary prefixes and a rate (unit "B"), or a count of `unit`s; a no-op
    bar when not `enabled`. Cleared when closed, so the lines printed after it stay readable."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        unit_scale=True,
        unit_divisor=1024 if unit == "B" else 1000,
        file=sys.stderr,
        disable=not enabled,
        leave=False,
        dynamic_ncols=True,
    )
