"""Where prepared datasets live: `DSREG_ROOT`, a colon-separated search path of directories.

Loading searches every root in order; preparing writes to the first writable one. Raw downloads go
to `<root>/downloads/`, content-addressed, so one cache serves the whole group.
"""

from __future__ import annotations

import os
from pathlib import Path

from dsreg.errors import DsregError

DEFAULT_ROOT = Path.home() / ".local" / "share" / "dsreg"


def expand_path(path: str | os.PathLike[str], what: str) -> Path:
    """`path` with a leading `~` or `~user` expanded; an unknown user is a DsregError naming `what` set it."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise DsregError(
            f"cannot expand {os.fspath(path)!r} given by {what}: no such user or no home directory",
            fix=f"give {what} an absolute path, or a `~user` that exists on this machine",
        ) from None


def _refuse_url(value: str, what: str) -> None:
    """Roots are directories: a URL in DSREG_ROOT would be split at its ':' into relative folders (``s3``,
    ``//bucket/...``), and preparing would silently write under the working directory."""
    if "://" in value:
        raise DsregError(
            f"{what} holds a URL ({value}): dataset roots are local or shared directories",
            fix="give directories in DSREG_ROOT (colon-separated) or --root; a version copied to an object store "
            "is opened by its URL instead: dsreg.open('s3://bucket/<name>/<config>/<version>', split)",
        )


def search_roots(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The roots to search: an explicit `root` alone, else `DSREG_ROOT`'s entries, else the default."""
    if root is not None:
        _refuse_url(os.fspath(root), "--root")
        return [expand_path(root, "--root")]
    env = os.environ.get("DSREG_ROOT", "")
    _refuse_url(env, "DSREG_ROOT")
    entries = [expand_path(p, "DSREG_ROOT") for p in env.split(os.pathsep) if p.strip()]
    return entries or [DEFAULT_ROOT]


def may_create_in(path: Path) -> bool:
    """Whether this user may create files in `path`: in it, or in its nearest existing ancestor if it is yet to
    be made."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


STAGING_MARKER = ".staging"


def writable_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The root that receives new preparations: the first writable entry of the search path.

    Node-local staging caches (`dsreg cache`, marked by a `.staging` folder) are skipped: a job whose
    DSREG_ROOT puts its scratch copy first still prepares onto the shared root.
    """
    roots = search_roots(root)
    for candidate in roots:
        if (candidate / STAGING_MARKER).is_dir():
            continue
        if may_create_in(candidate):
            candidate.mkdir(parents=True, exist_ok=True)
            return candidate
    raise DsregError(
        f"none of the dataset roots is writable: {', '.join(map(str, roots))}",
        fix="put a writable directory first in DSREG_ROOT (colon-separated) or pass --root DIR",
    )


def downloads_dir(root: Path) -> Path:
    return root / "downloads"
