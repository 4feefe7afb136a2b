"""Locations: remote fsspec URLs versus local paths (a ``file://`` URL is local), one rule for every reader."""

from __future__ import annotations

import os

from dsreg.errors import DsregError


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether a location is a remote fsspec URL (``s3://…``, ``gs://…``) rather than a local path."""
    text = os.fspath(location)
    return "://" in text and not text.startswith("file://")


def local_path(location: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """`location` with a ``file://`` URL turned into the local path it names (anything else as it is)."""
    text = os.fspath(location)
    if not text.startswith("file://"):
        return location
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(text)
    if parts.netloc not in ("", "localhost"):
        raise DsregError(f"{text} names another host", fix="give the path of a local or mounted directory")
    return unquote(parts.path)
