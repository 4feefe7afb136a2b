"""Ordering of dataset versions by `packaging.version` (PEP 440): `1.0.0-rc1` < `1.0.0` < `1.2.0` < `1.10.0`."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version


def version_key(version: str) -> tuple[int, Version | str]:
    """A sort key: PEP 440 versions in their order; a string packaging cannot read sorts below all of them."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def sort_versions(versions: list[str]) -> list[str]:
    """`versions` oldest first."""
    return sorted(versions, key=version_key)
