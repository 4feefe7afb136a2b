"""The manifest: the one contract between preparing and loading a dataset.

A manifest lives at `<root>/<name>/<config>/<version>/manifest.json` and describes everything the
load side needs: features, splits and their shards (relative path, rows, bytes, sha256). It is
validated against the JSON Schema shipped in `manifests/`, and no shard path may leave its directory.

It is self-verifying: `manifest_sha256` is the sha256 of the canonical JSON of every other field
(`canonical_json`), checked on every read, so no flipped bit or hand edit reads as a different dataset.
On top of it, every read checks the structure (shard `k` of a split of `n` is `<split>/<k>-of-<n>.*`, no
shard listed twice, split totals equal their shards'). Manifests written before the digest existed still
open (their `digest` is None, and `verify` says so); the per-shard checks of the storage format, made when
a shard is first opened and by `verify --deep`, protect them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema

from dsreg.errors import DsregError, os_error
from dsreg.features import Features
from dsreg.storage import DEFAULT_FORMAT, get_format, sha256_shard, shard_bytes
from dsreg.urls import is_url, local_path

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DIGEST_KEY = "manifest_sha256"


class DamagedManifest(DsregError):
    """A manifest that exists but is not what dsreg wrote: bad bytes, JSON, schema, digest or structure.

    `verify` reports it as a verification failure (exit 1) rather than as an error running the check."""


def canonical_json(data: Any) -> bytes:
    """The bytes a manifest digest covers: sorted keys, no whitespace, ASCII only (independent of layout)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def manifest_digest(data: dict[str, Any]) -> str:
    """Hex sha256 of a manifest's canonical JSON, without its own digest field."""
    return hashlib.sha256(canonical_json({k: v for k, v in data.items() if k != DIGEST_KEY})).hexdigest()


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
    """A published split: its shards, their storage format, and the one translation direction (source, target)
    it is, when its recipe declares one (a test set made for one direction only)."""

    name: str
    shards: tuple[ShardInfo, ...]
    format: str = DEFAULT_FORMAT
    direction: tuple[str, str] | None = None

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
            **({"direction": list(self.direction)} if self.direction else {}),
            "shards": [s.to_json() for s in self.shards],
        }


@dataclass(frozen=True)
class AssetInfo:
    """A file a preparation step made beside the shards (a tokenizer model): relative path, size, sha256, role."""

    path: str
    bytes: int
    sha256: str
    role: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "sha256": self.sha256, "role": self.role}


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
    digest: str | None = None  # the verified manifest_sha256 read from disk; None for manifests without one
    assets: tuple[AssetInfo, ...] = ()

    def asset_path(self, role_or_path: str) -> Path:
        """The local path of the asset with this path or role (e.g. a SentencePiece model, to decode ids)."""
        for asset in self.assets:
            if role_or_path in (asset.path, asset.role):
                if self.directory is None:
                    raise DsregError(f"manifest of {self.full_name} is not attached to a directory")
                return self.directory / asset.path
        raise DsregError(
            f"{self.full_name} has no asset {role_or_path!r}",
            fix=f"assets are: {', '.join(a.path for a in self.assets) or 'none'}",
        )

    def read_asset(self, role_or_path: str) -> bytes:
        """The bytes of an asset, checked against the size and sha256 the manifest records, so a metric or a
        reader never uses an asset changed since it was published (what `verify --deep` would report)."""
        path = self.asset_path(role_or_path)
        asset = next(a for a in self.assets if role_or_path in (a.path, a.role))
        try:
            data = path.read_bytes()
        except OSError as err:
            raise DsregError(f"cannot read the asset: {err.strerror or err}", path=path) from None
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != asset.bytes or digest != asset.sha256:
            raise DsregError(
                f"the asset {asset.role or asset.path!r} of {self.full_name} has changed since it was published "
                f"({len(data)} bytes, sha256 {digest}; the manifest says {asset.bytes} bytes, sha256 {asset.sha256})",
                path=path,
                fix=f"run `dsreg verify {self.name}/{self.config}:{self.version} --deep`, then remove the version and "
                "prepare it again",
            )
        return data

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
            **({"assets": [a.to_json() for a in self.assets]} if self.assets else {}),
        }

    def write(self, directory: str | os.PathLike[str]) -> Path:
        """Write `manifest.json`, sealed with its digest, into `directory` atomically (temp file, fsync, rename)."""
        path = Path(directory) / MANIFEST_NAME
        tmp = path.with_name(MANIFEST_NAME + ".tmp")
        data = json.loads(json.dumps(self.to_json()))  # exactly what a reader will parse back
        data[DIGEST_KEY] = manifest_digest(data)
        text = json.dumps(data, indent=2, sort_keys=False) + "\n"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as err:
            raise os_error(err, "cannot write the manifest", path=tmp) from None
        return path


def manifest_schema() -> dict[str, Any]:
    """The manifest JSON Schema shipped with the package."""
    text = resources.files("dsreg.schemas").joinpath("manifest.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    """The schema's validator, built once (building it, and checking the schema, costs more than validating)."""
    schema = manifest_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _check_relative(path: str, manifest_path: Path) -> None:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path or not pure.parts:
        raise DamagedManifest(
            f"shard path {path!r} leaves the dataset directory",
            path=manifest_path,
            fix="shard paths must be relative and stay inside the dataset directory; re-prepare the dataset",
        )


def _check_digest(data: dict[str, Any], manifest_path: Path) -> str | None:
    recorded = data.get(DIGEST_KEY)
    if recorded is None:
        return None
    actual = manifest_digest(data)
    if actual != recorded:
        raise DamagedManifest(
            f"manifest does not match its own digest (manifest_sha256 {recorded}, content hashes to {actual}): "
            "it was damaged or edited after publishing",
            path=manifest_path,
            fix="restore the version from a good copy or re-prepare it (move the broken version away first); "
            "never edit manifests by hand",
        )
    return actual


def _check_structure(splits: dict[str, Any], manifest_path: Path) -> None:
    """Each split's format is known, its shards complete and in order (shard `k` of `n` is exactly
    `<split>/<k>-of-<n><format suffix>`), none listed twice, its totals equal to its shards'."""
    fix = "restore the version from a good copy or re-prepare it"
    for split_name, split in splits.items():
        fmt = split.get("format", DEFAULT_FORMAT)  # manifests older than the storage seam are all Arrow
        try:
            suffix = get_format(fmt).suffix
        except DsregError as err:
            raise DsregError(f"split {split_name!r}: {err.problem}", path=manifest_path, fix="upgrade dsreg") from None
        shards = split["shards"]
        seen: set[str] = set()
        for position, shard in enumerate(shards):
            expected = f"{split_name}/{position:05d}-of-{len(shards):05d}{suffix}"
            if shard["path"] in seen:
                raise DamagedManifest(f"shard {shard['path']!r} is listed twice", path=manifest_path, fix=fix)
            if shard["path"] != expected:
                raise DamagedManifest(
                    f"shard {position} of split {split_name!r} is {shard['path']!r}, expected {expected!r}: "
                    "shards are missing, duplicated, out of order or of another split or format",
                    path=manifest_path,
                    fix=fix,
                )
            seen.add(shard["path"])
        for total in ("rows", "bytes"):
            parts = sum(s[total] for s in shards)
            if split[total] != parts:
                raise DamagedManifest(
                    f"split {split_name!r} records {split[total]} {total} but its shards add up to {parts}",
                    path=manifest_path,
                    fix=fix,
                )


_EDITED = "restore the version from a good copy or re-prepare it (manifests are written by dsreg, never by hand)"


def _check_not_newer(data: Any, manifest_path: Path) -> None:
    """Refuse a manifest whose integer `format_version` is above this dsreg's, naming the upgrade (not "invalid")."""
    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise DsregError(
            f"manifest format {version} is newer than this dsreg understands ({FORMAT_VERSION})",
            path=manifest_path,
            fix="upgrade dsreg to read it (the dataset is not damaged for that; do not re-prepare or remove it)",
        )


def manifest_from_json(data: Any, manifest_path: Path) -> Manifest:
    """Validate a manifest's JSON against the schema, the path rules, its own digest and its structure.

    A newer format is refused before the schema is applied: fields a later dsreg added are not damage."""
    _check_not_newer(data, manifest_path)
    try:
        best = jsonschema.exceptions.best_match(_validator().iter_errors(data))
        if best is not None:
            raise best
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise DamagedManifest(
            f"manifest is invalid at {where}: {err.message}",
            path=manifest_path,
            fix="re-prepare the dataset; do not edit manifests by hand",
        ) from None
    for split in data["splits"].values():
        for shard in split["shards"]:
            _check_relative(shard["path"], manifest_path)
    for asset in data.get("assets", []):
        _check_relative(asset["path"], manifest_path)
    digest = _check_digest(data, manifest_path)
    _check_structure(data["splits"], manifest_path)
    splits = {
        split_name: SplitInfo(
            split_name,
            tuple(ShardInfo(s["path"], s["rows"], s["bytes"], s["sha256"]) for s in split["shards"]),
            split.get("format", DEFAULT_FORMAT),
            (split["direction"][0], split["direction"][1]) if "direction" in split else None,
        )
        for split_name, split in data["splits"].items()
    }
    keys = data.get("supervised_keys")
    try:
        features = Features.from_json(data["features"])
        features.arrow_schema()  # representable: every shape and dtype has an Arrow type
    except (DsregError, ValueError, TypeError, KeyError, AttributeError, ArithmeticError, NotImplementedError) as err:
        problem = err.problem if isinstance(err, DsregError) else f"{type(err).__name__}: {err}"
        raise DamagedManifest(
            f"manifest features are invalid: {problem}",
            path=manifest_path,
            fix="restore the version from a good copy or re-prepare it",
        ) from None
    for key in keys or ():
        if key not in features:
            raise DamagedManifest(f"supervised key {key!r} is not a feature", path=manifest_path, fix=_EDITED)
    for split in splits.values():
        for lang in split.direction or ():
            if lang not in features:
                raise DamagedManifest(
                    f"split {split.name!r}: direction names {lang!r}, not a feature", path=manifest_path, fix=_EDITED
                )
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
        digest=digest,
        assets=tuple(AssetInfo(a["path"], a["bytes"], a["sha256"], a["role"]) for a in data.get("assets", [])),
    )


def _parse(raw: bytes, where: str | Path) -> Any:
    """A manifest's bytes as JSON: strict UTF-8, no NaN or Infinity (a digest cannot cover them); anything else is
    a DamagedManifest naming `where`."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as err:
        raise DamagedManifest(
            f"manifest is not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start})",
            path=where,
            fix="restore the version from a good copy or re-prepare it",
        ) from None
    except (json.JSONDecodeError, ValueError, RecursionError) as err:
        raise DamagedManifest(f"manifest is not valid JSON ({err})", path=where, fix="re-prepare the dataset") from None


def read_manifest_url(url: str) -> Manifest:
    """Read and validate `<url>/manifest.json` through fsspec; its shards are then read from that URL too."""
    import fsspec

    where = f"{url.rstrip('/')}/{MANIFEST_NAME}"
    try:
        with fsspec.open(where, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DsregError("no manifest here", path=where, fix="check the URL: it names a prepared version") from None
    except (OSError, ValueError, ImportError) as err:
        raise DsregError(
            f"cannot read the manifest ({type(err).__name__}: {err})",
            path=where,
            fix="check the URL, the credentials and that the fsspec backend (e.g. s3fs) is installed",
        ) from None
    try:
        manifest = manifest_from_json(_parse(raw, where), Path(where))
    except DsregError as err:  # named by the URL itself, not by a Path of it (which folds its `//`)
        raise type(err)(err.problem, path=where, fix=err.fix) from None
    return replace(manifest, directory=None, url=url.rstrip("/"))


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """Read and validate `<directory>/manifest.json` (a local directory, or an fsspec URL: see `read_manifest_url`)."""
    if is_url(directory):
        return read_manifest_url(os.fspath(directory))
    path = Path(local_path(directory)) / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DsregError("no manifest here", path=path, fix="prepare the dataset with `dsreg prepare`") from None
    except IsADirectoryError:
        raise DamagedManifest(
            "the manifest is damaged: it is a directory, not a file",
            path=path,
            fix="move this version's directory away and prepare it again, or restore it from a good copy",
        ) from None
    except OSError as err:
        raise DsregError(
            f"cannot read the manifest ({err.strerror or err})",
            path=path,
            fix="ask its owner to make it readable (and its directories searchable), or drop its root from DSREG_ROOT",
        ) from None
    return manifest_from_json(_parse(raw, path), path)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True)
class Problem:
    """One thing `verify` found wrong with a prepared dataset."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def verify_manifest(manifest: Manifest, *, deep: bool = False, progress: bool = False) -> list[Problem]:
    """Check every shard is present with its recorded size; with `deep`, re-hash every byte and check each
    shard's own schema, embedded features, row count and labels against the manifest (with `progress`, a bar
    of the bytes checked and the rate).

    The manifest's own digest and structure were checked when it was read."""
    from dsreg.progress import bar

    total = sum(s.bytes for s in manifest.splits.values())
    with bar(total, f"verifying {manifest.full_name}", enabled=deep and progress) as meter:
        return _verify_shards(manifest, deep, meter.update)


def _verify_shards(manifest: Manifest, deep: bool, done: Callable[[int], object]) -> list[Problem]:
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
                found = [] if digest == shard.sha256 else [f"sha256 {digest} does not match manifest {shard.sha256}"]
                found += _shard_problems(path, manifest.features, shard, split.format)
                if found:
                    problems.append(Problem(str(path), "; ".join(found)))
                done(shard.bytes)
    for asset in manifest.assets:
        problems += _asset_problems(manifest, asset, deep)
    return problems


def _asset_problems(manifest: Manifest, asset: AssetInfo, deep: bool) -> list[Problem]:
    """An asset missing, of another size, or (with `deep`) of another sha256 than the manifest records."""
    path = (manifest.directory or Path()) / asset.path
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [Problem(str(path), "missing")]
    if size != asset.bytes:
        return [Problem(str(path), f"size {size} bytes, manifest says {asset.bytes}")]
    if deep:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != asset.sha256:
            return [Problem(str(path), f"sha256 {digest} does not match manifest {asset.sha256}")]
    return []


def _shard_problems(path: Path, features: Features, shard: ShardInfo, fmt: str) -> list[str]:
    """How the shard disagrees with the manifest, as its storage format checks it."""
    try:
        reader = get_format(fmt).reader(path, features)
    except DsregError as err:
        return [err.problem]
    return reader.problems(features, shard.rows, shard.bytes) + reader.deep_problems()
