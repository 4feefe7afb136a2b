"""Where the real corpus excerpts are (``../shared/realdata`` beside the project), for conformance tests.

They exist on development machines and in CI, not in a fresh clone: tests that use them skip, with the
reason, when `realdata` returns None. ``DSREG_REALDATA`` points elsewhere; a git worktree finds the
folder beside any directory above it.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROJECT = Path(__file__).resolve().parents[2]


def realdata(*parts: str) -> Path | None:
    """The folder ``realdata/<parts…>`` if it exists, else None."""
    override = os.environ.get("DSREG_REALDATA")
    bases = [Path(override)] if override else [d / "shared" / "realdata" for d in _PROJECT.parents]
    for base in bases:
        candidate = base.joinpath(*parts)
        if candidate.exists():
            return candidate
    return None
