"""Provenance: how the raw data of a prepared version was obtained, recorded in its manifest.

- `vendor-verified`: every source's file matched the checksums the recipe publishes for it;
- `local-unverified`: at least one source came from a local directory (or a file with no checksum to check);
- `generated`: the data is synthetic (`dsreg demo`), whatever its layout imitates.

A version is as trustworthy as its weakest source. `prepare` compares what it would now obtain with what an
existing version was made from, and says so when it could do better.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsreg.manifest import Manifest
    from dsreg.recipe import SourceSpec

VENDOR_VERIFIED, LOCAL_UNVERIFIED, GENERATED = "vendor-verified", "local-unverified", "generated"
STRENGTH = {GENERATED: 0, LOCAL_UNVERIFIED: 1, VENDOR_VERIFIED: 2}
MEANING = {
    VENDOR_VERIFIED: "every source matched the vendor's checksums",
    LOCAL_UNVERIFIED: "made from a local copy whose checksums could not be checked",
    GENERATED: "generated data, not the real corpus",
}
_VERIFIED_ORIGINS = ("download", "cache", "local-file")


def weakest(kinds: Iterable[str]) -> str | None:
    """The least trustworthy of `kinds`, or None when there are none."""
    return min(kinds, key=STRENGTH.__getitem__, default=None)


def of_source(spec: SourceSpec, origin: str, *, generated: bool = False) -> str:
    """How one resolved source was obtained: checked against a published checksum, or not."""
    if generated:
        return GENERATED
    checked = bool(spec.sha256 or spec.md5) and origin in _VERIFIED_ORIGINS
    return VENDOR_VERIFIED if checked else LOCAL_UNVERIFIED


def of_records(sources: list[dict[str, Any]]) -> str | None:
    """A version's provenance from its manifest's source records (each recorded, or derived from its origin
    for manifests written before provenance was recorded); None when it has no sources (`write_dataset`)."""
    kinds = []
    for record in sources:
        kind = record.get("provenance")
        if kind not in STRENGTH:
            verified = record.get("origin") in _VERIFIED_ORIGINS and (record.get("sha256") or record.get("md5"))
            kind = VENDOR_VERIFIED if verified else LOCAL_UNVERIFIED
        kinds.append(str(kind))
    return weakest(kinds)


def of_manifest(manifest: Manifest) -> str | None:
    """A version's provenance: as recorded, else derived from its sources; None for `write_dataset` output."""
    return manifest.provenance or of_records(manifest.sources)


def offered(
    specs: Mapping[str, SourceSpec], source: str | os.PathLike[str] | None, *, generated: bool = False
) -> str | None:
    """The provenance a preparation from `source` would have, judged without fetching or hashing anything:
    downloads and vendor files are checked against the recipe's checksums; an unpacked directory is not."""
    if generated:
        return GENERATED
    local = None if source is None else Path(source)
    if local is not None and local.is_dir():
        names = {p.name.lower() for p in local.iterdir()}
        if not any(spec.file_name.lower() in names for spec in specs.values()):
            return LOCAL_UNVERIFIED  # taken as the unpacked content of every source
    return weakest(VENDOR_VERIFIED if spec.sha256 or spec.md5 else LOCAL_UNVERIFIED for spec in specs.values())


def weaker_note(full_name: str, have: str | None, now: str | None, *, replace: str) -> str | None:
    """The message `prepare` gives when an existing version's provenance is weaker than what it now offers."""
    if have is None or now is None or STRENGTH[have] >= STRENGTH[now]:
        return None
    return (
        f"{full_name} already exists as {have} ({MEANING[have]}); what you offer now would be {now}. "
        f"It was kept as it is. To replace it: `dsreg rm {full_name} --yes`, then `{replace}`"
    )
