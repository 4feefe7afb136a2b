"""Ordering of dataset versions by `packaging.version` (PEP 440): `1.0.0-rc1` < `1.0.0` < `1.2.0` < `1.10.0`."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from dsreg.errors import DsregError


def version_key(version: str) -> tuple[int, Version | str]:
    """A sort key: PEP 440 versions in their order; a string packaging cannot read sorts below all of them."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def sort_versions(versions: list[str]) -> list[str]:
    """`versions` oldest first."""
    return sorted(versions, key=version_key)


def check_version(version: str) -> str:
    """`version` if a manifest can record it (``MAJOR.MINOR.PATCH``, optional ``-pre``/``+build``), else a
    DsregError: checked before anything is written, so a bad version never leaves a broken folder behind."""
    from dsreg.manifest import manifest_schema
    from dsreg.registry import HIDDEN_MARKS

    pattern = manifest_schema()["properties"]["version"]["pattern"]
    if not isinstance(version, str) or not re.fullmatch(pattern, version):
        raise DsregError(
            f"version {version!r} is not MAJOR.MINOR.PATCH",
            fix="give a version like '1.0.0' (optionally '1.0.0-rc1' or '1.0.0+build')",
        )
    marks = [mark for mark in HIDDEN_MARKS if mark in version]
    if marks:  # its folder would be taken for another version's work, lock or removal, and never listed
        raise DsregError(
            f"version {version!r} is named like dsreg's own {marks[0]!r} folders and files beside the versions",
            fix="give a pre-release or build tag without it, e.g. '1.0.0-rc1'",
        )
    return version
