"""The manifest: the one contract between preparing and loading a dataset.

A manifest lives at `<root>/<name>/<config>/<version>/manifest.json` and describes everything the
load side needs: features, splits and their shards (relative path, rows, bytes, sha256). It is
validated against the JSON Schema shipped in `manifests/`, and no shard path may leave its directory.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.storage import DEFAULT_FORMAT, get_format, sha256_shard, shard_bytes

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ShardInfo:
    path: str
    rows: int
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}


@dataclass(frozen=True)
class SplitInfo:
    name: str
    shards: tuple[ShardInfo, ...]
    format: str = DEFAULT_FORMAT

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "bytes": self.bytes,
            "format": self.format,
            "shards": [s.to_json() for s in self.shards],
        }


@dataclass(frozen=True)
class Manifest:
    """A parsed, validated manifest plus the directory it describes."""

    name: str
    config: str
    version: str
    features: Features
    splits: dict[str, SplitInfo]
    recipe_digest: str
    dsreg_version: str
    created: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    supervised_keys: tuple[str, str] | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    provenance: str | None = None
    directory: Path | None = None
    url: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.name}/{self.config}:{self.version}"

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.splits.values())

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.splits.values())

    def split(self, name: str) -> SplitInfo:
        try:
            return self.splits[name]
        except KeyError:
            raise DsregError(
                f"{self.full_name} has no split {name!r}", fix=f"use one of: {', '.join(self.splits)}"
            ) from None

    def shard_location(self, shard: ShardInfo) -> str | Path:
        """Where a shard is: its local path, or its URL when the manifest was read from an fsspec URL."""
        if self.url is not None:
            return f"{self.url.rstrip('/')}/{shard.path}"
        return self.shard_path(shard)

    def shard_path(self, shard: ShardInfo) -> Path:
        if self.directory is None:
            raise DsregError(f"manifest of {self.full_name} is not attached to a directory")
        return self.directory / shard.path

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "config": self.config,
            "version": self.version,
            "recipe_digest": self.recipe_digest,
            "dsreg_version": self.dsreg_version,
            "created": self.created,
            "metadata": self.metadata,
            "sources": self.sources,
            **({"provenance": self.provenance} if self.provenance else {}),
            "features": self.features.to_json(),
            "supervised_keys": list(self.supervised_keys) if self.supervised_keys else None,
            "evaluation": self.evaluation,
            "splits": {name: split.to_json() for name, split in self.splits.items()},
        }

    def write(self, directory: str | os.PathLike[str]) -> Path:
        """Write `manifest.json` into `directory` atomically (temporary file, fsync, rename)."""
        path = Path(directory) / MANIFEST_NAME
        tmp = path.with_name(MANIFEST_NAME + ".tmp")
        text = json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path


def manifest_schema() -> dict[str, Any]:
    """The manifest JSON Schema shipped with the package."""
    text = resources.files("dsreg.schemas").joinpath("manifest.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    """The manifest schema's validator, built once: checking the schema itself costs more than a manifest."""
    schema = manifest_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _check_relative(path: str, manifest_path: Path) -> None:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path or not pure.parts:
        raise DsregError(
            f"shard path {path!r} leaves the dataset directory",
            path=manifest_path,
            fix="shard paths must be relative and stay inside the dataset directory; re-prepare the dataset",
        )


def manifest_from_json(data: Any, manifest_path: Path) -> Manifest:
    """Validate a manifest's JSON against the schema and the path rules, then build the model."""
    try:
        best = jsonschema.exceptions.best_match(_validator().iter_errors(data))
        if best is not None:
            raise best
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise DsregError(
            f"manifest is invalid at {where}: {err.message}",
            path=manifest_path,
            fix="re-prepare the dataset; do not edit manifests by hand",
        ) from None
    if data["format_version"] > FORMAT_VERSION:
        raise DsregError(
            f"manifest format {data['format_version']} is newer than this dsreg understands ({FORMAT_VERSION})",
            path=manifest_path,
            fix="upgrade dsreg",
        )
    splits = {}
    for split_name, split in data["splits"].items():
        shards = []
        for shard in split["shards"]:
            _check_relative(shard["path"], manifest_path)
            shards.append(ShardInfo(shard["path"], shard["rows"], shard["bytes"], shard["sha256"]))
        fmt = split.get("format", DEFAULT_FORMAT)  # manifests older than the storage seam are all Arrow
        try:
            get_format(fmt)
        except DsregError as err:
            raise DsregError(f"split {split_name!r}: {err.problem}", path=manifest_path, fix="upgrade dsreg") from None
        splits[split_name] = SplitInfo(split_name, tuple(shards), fmt)
    keys = data.get("supervised_keys")
    features = Features.from_json(data["features"])
    for key in keys or ():
        if key not in features:
            raise DsregError(f"supervised key {key!r} is not a feature", path=manifest_path)
    return Manifest(
        name=data["name"],
        config=data["config"],
        version=data["version"],
        features=features,
        splits=splits,
        recipe_digest=data["recipe_digest"],
        dsreg_version=data["dsreg_version"],
        created=data["created"],
        metadata=data.get("metadata", {}),
        sources=data.get("sources", []),
        supervised_keys=(keys[0], keys[1]) if keys else None,
        evaluation=data.get("evaluation") or {},
        provenance=data.get("provenance"),
        directory=manifest_path.parent,
    )


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether a location is a remote fsspec URL (``s3://…``, ``gs://…``) rather than a local path."""
    text = os.fspath(location)
    return "://" in text and not text.startswith("file://")


def read_manifest_url(url: str) -> Manifest:
    """Read and validate `<url>/manifest.json` through fsspec; its shards are then read from that URL too."""
    import fsspec

    where = f"{url.rstrip('/')}/{MANIFEST_NAME}"
    try:
        with fsspec.open(where, "rb") as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        raise DsregError("no manifest here", path=where, fix="check the URL: it names a prepared version") from None
    except json.JSONDecodeError as err:
        raise DsregError(f"manifest is not valid JSON ({err})", path=where, fix="re-prepare the dataset") from None
    except (OSError, ValueError, ImportError) as err:
        raise DsregError(
            f"cannot read the manifest ({type(err).__name__}: {err})",
            path=where,
            fix="check the URL, the credentials and that the fsspec backend (e.g. s3fs) is installed",
        ) from None
    return replace(manifest_from_json(data, Path(where)), directory=None, url=url.rstrip("/"))


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """Read and validate `<directory>/manifest.json` (a local directory, or an fsspec URL: see `read_manifest_url`)."""
    if is_url(directory):
        return read_manifest_url(os.fspath(directory))
    path = Path(directory) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DsregError("no manifest here", path=path, fix="prepare the dataset with `dsreg prepare`") from None
    except json.JSONDecodeError as err:
        raise DsregError(f"manifest is not valid JSON ({err})", path=path, fix="re-prepare the dataset") from None
    return manifest_from_json(data, path)


@dataclass(frozen=True)
class Problem:
    """One thing `verify` found wrong with a prepared dataset."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def verify_manifest(manifest: Manifest, *, deep: bool = False) -> list[Problem]:
    """Check every shard is present with its recorded size; with `deep`, re-hash every byte."""
    problems: list[Problem] = []
    for split in manifest.splits.values():
        for shard in split.shards:
            path = manifest.shard_path(shard)
            try:
                size = shard_bytes(path)
            except FileNotFoundError:
                problems.append(Problem(str(path), "missing"))
                continue
            if size != shard.bytes:
                problems.append(Problem(str(path), f"size {size} bytes, manifest says {shard.bytes} (truncated?)"))
                continue
            if deep:
                digest = sha256_shard(path)
                if digest != shard.sha256:
                    problems.append(Problem(str(path), f"sha256 {digest} does not match manifest {shard.sha256}"))
    return problems
