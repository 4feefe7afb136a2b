"""The one exception type users see: every failure names the file, the problem and the fix."""

from __future__ import annotations

import os


class DsregError(Exception):
    """A failure the user can act on.

    The message always says *what* went wrong, *where* (a file, URL or key path when there is one)
    and *what to do about it*, so that a training script's log is enough to fix the problem.
    """

    def __init__(self, problem: str, *, path: str | os.PathLike[str] | None = None, fix: str | None = None):
        self.problem = problem
        self.path = None if path is None else os.fspath(path)
        self.fix = fix
        parts = [f"{self.path}: {problem}" if self.path else problem]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__("\n".join(parts))


# Exit codes of the `dsreg` command, one per kind of outcome (documented in the README).
EXIT_OK, EXIT_VERIFY_FAILED, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
