"""The public writer: build a dataset from iterables of example dicts, with the guarantees of `prepare`.

For a group's own corpora (and for tests): same shard format, same manifest, same atomic, locked,
read-only publication as a recipe-prepared dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dsreg.errors import DsregError, reports_os_errors
from dsreg.features import Features
from dsreg.manifest import Manifest
from dsreg.publish import VersionBuild, created_stamp, discard, wait_message
from dsreg.recipe import DEFAULT_SHARD_SIZE
from dsreg.roots import writable_root
from dsreg.sizes import parse_size
from dsreg.storage import DEFAULT_FORMAT, WrittenShard, get_format
from dsreg.version import __version__
from dsreg.versions import check_version


@reports_os_errors("write_dataset")
def write_dataset(
    name: str,
    splits: Mapping[str, Iterable[Mapping[str, Any]]],
    features: Features | Mapping[str, Any],
    *,
    root: str | os.PathLike[str] | None = None,
    config: str = "default",
    version: str = "1.0.0",
    description: str = "",
    license: str = "",
    citation: str = "",
    homepage: str = "",
    supervised_keys: tuple[str, str] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    shard_size: str | int = DEFAULT_SHARD_SIZE,
    storage: str = DEFAULT_FORMAT,
) -> Manifest:
    """Write `splits` (split name → iterable of example dicts) as `name/config:version` under `root`.

    Returns the published manifest. If that version is already published with the same schema and
    metadata, it is returned untouched; if it differs, a DsregError asks for a new version. `storage` is the
    shard format: arrow (default), zarr or hdf5.
    """
    from dsreg.loading.splits import check_split_name
    from dsreg.registry import parse_ref

    check_version(version)
    parse_ref(f"{name}/{config}:{version}")  # validates the three parts
    for split in splits:
        check_split_name(split)  # each becomes a folder of the version and a term of split expressions
    feats = features if isinstance(features, Features) else Features.from_json(features)
    for key in supervised_keys or ():
        feats[key]  # raises a DsregError naming the columns
    if evaluation:
        from dsreg.evaluation.spec import bind_metric

        bind_metric(evaluation, feats, supervised_keys)  # the metric exists and can read these columns
    target = shard_size if isinstance(shard_size, int) else parse_size(shard_size)
    get_format(storage)  # an unknown format is refused before anything is written
    meta = {"description": description, "homepage": homepage, "license": license, "citation": citation}
    spec = {
        "name": name,
        "config": config,
        "version": version,
        "features": feats.to_json(),
        "metadata": meta,
        "splits": sorted(splits),
        "shard_size": target,
    }
    if storage != DEFAULT_FORMAT:  # digests of Arrow datasets stay those written before the format existed
        spec["storage"] = storage
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    base = writable_root(root)
    with VersionBuild(base, name, config, version, on_wait=wait_message(f"{name}/{config}:{version}")) as build:
        existing = build.published()
        if existing is not None:
            if existing.recipe_digest != digest:
                raise DsregError(
                    f"{name}/{config}:{version} is already published with different contents",
                    path=build.final,
                    fix="write under a new version; published versions never change",
                )
            return existing
        work = build.start(digest[:12], resume=False)
        try:
            parts = _write_splits(work, splits, feats, target, storage)
        except BaseException:
            discard(work)  # a bad value (or an interrupt) leaves nothing behind, published or not
            raise
        manifest = Manifest(
            name=name,
            config=config,
            version=version,
            features=feats,
            splits=build.finalize_shards(parts, storage),
            recipe_digest=digest,
            dsreg_version=__version__,
            created=created_stamp(),
            metadata=meta,
            supervised_keys=supervised_keys,
            evaluation=dict(evaluation or {}),
        )
        return build.publish(manifest, scratch=["_parts"])


def _write_splits(
    work: Path, splits: Mapping[str, Iterable[Mapping[str, Any]]], feats: Features, target: int, storage: str
) -> dict[str, list[WrittenShard]]:
    """Every split's examples written as shards under `work/_parts`; each value is checked against its feature
    as it is encoded, and the first bad one is a DsregError naming its split, row and column."""
    fmt = get_format(storage)
    parts: dict[str, list[WrittenShard]] = {}
    for split, examples in splits.items():
        writer = fmt.writer(work / "_parts" / split, "part", feats, target)
        try:
            for example in examples:
                writer.write(example)
            parts[split] = writer.close()
        except DsregError as err:
            raise DsregError(f"split {split!r}, {err.problem}", path=err.path, fix=err.fix) from None
    return parts
