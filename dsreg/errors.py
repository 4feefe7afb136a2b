"""The one exception type users see: every failure names the file, the problem and the fix."""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


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


_OS_FIXES = {
    errno.ENOSPC: "free space on that filesystem (or point DSREG_ROOT at one with room) and rerun",
    errno.EDQUOT: "free space within your quota (or point DSREG_ROOT elsewhere) and rerun",
    errno.EFBIG: "raise the file-size limit (`ulimit -f unlimited`) or use a filesystem that allows larger files",
    errno.EACCES: "check the permissions of that path and its directories",
    errno.EPERM: "check the permissions of that path and its directories",
    errno.EROFS: "that filesystem is read-only: put a writable directory first in DSREG_ROOT",
    errno.EIO: "the storage reported an I/O error: check the disk or file server and rerun",
}


def os_error(err: OSError, doing: str, *, path: str | os.PathLike[str] | None = None) -> DsregError:
    """The `DsregError` for an operating-system failure (disk full, file too large, permission denied...)."""
    where = err.filename if err.filename is not None else path
    reason = err.strerror or str(err) or type(err).__name__
    return DsregError(f"{doing}: {reason}", path=where, fix=_OS_FIXES.get(err.errno or -1, "fix the cause and rerun"))


def reports_os_errors(doing: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a public operation so that an OSError from anywhere beneath it (disk full, file too large,
    permission denied, I/O error) reaches the caller as a DsregError saying what failed and what to do."""

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except OSError as err:
                raise os_error(err, f"{doing} failed") from err

        return call

    return wrap
