"""The public operations, re-exported from `dsreg`: prepare, info, list, verify, open and load.

Every CLI verb is a thin wrapper over one of these, so scripts and the command line agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dsreg.errors import DsregError, os_error
from dsreg.manifest import MANIFEST_NAME, DamagedManifest, Manifest, Problem, read_manifest, verify_manifest
from dsreg.preparation import prepare
from dsreg.provenance import of_manifest
from dsreg.registry import (
    NotPreparedError,
    Ref,
    find_prepared,
    get_recipe,
    list_prepared,
    list_recipes,
    parse_ref,
    prepared_configs,
    prepared_versions,
)

__all__ = ["export", "info", "list_datasets", "prepare", "verify"]


def list_datasets(
    root: str | os.PathLike[str] | None = None, broken_manifests: list[DsregError] | None = None
) -> list[dict[str, Any]]:
    """Every known recipe, with its configs and where each is prepared under the search roots.

    A recipe file that does not load is listed with its `error` (and `path`, `fix`) instead of failing the list;
    a manifest that does not read is left out (pass a list as `broken_manifests` to collect its error).
    """
    prepared = list_prepared(root, broken_manifests)
    broken: list[DsregError] = []
    recipes = list_recipes(broken)
    out: list[dict[str, Any]] = []
    for err in broken:
        name = Path(str(err.path)).stem
        out.append(
            {
                "name": name,
                "error": err.problem,
                "path": err.path,
                "fix": err.fix,
                "prepared": [
                    {"config": m.config, "version": m.version, "path": str(m.directory)}
                    for m in prepared
                    if m.name == name
                ],
            }
        )
    for name, recipe in sorted(recipes.items()):
        out.append(
            {
                "name": name,
                "version": recipe.version,
                "description": recipe.description,
                "configs": recipe.config_names,
                "default_config": recipe.default_config,
                "prepared": [
                    {"config": m.config, "version": m.version, "path": str(m.directory)}
                    for m in prepared
                    if m.name == name
                ],
            }
        )
    out.sort(key=lambda d: str(d["name"]))
    known = {d["name"] for d in out}
    for m in prepared:  # datasets written with write_dataset or from recipes this install lacks
        if m.name not in known:
            out.append(
                {
                    "name": m.name,
                    "version": m.version,
                    "description": m.metadata.get("description", ""),
                    "configs": [m.config],
                    "default_config": m.config,
                    "prepared": [{"config": m.config, "version": m.version, "path": str(m.directory)}],
                }
            )
            known.add(m.name)
    return out


def info(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Features, splits, sizes, sources, license and citation of a dataset, from its recipe and/or manifest."""
    ref = parse_ref(name)
    recipe_error: DsregError | None = None
    try:
        recipe = get_recipe(ref.name)
    except DsregError as err:
        recipe, recipe_error = None, err
    try:
        manifest: Manifest | None = find_prepared(ref, root)
    except NotPreparedError as err:
        if recipe is None:
            if prepared_configs(ref.name, root):
                raise  # prepared, but not in the config or version asked for: name those that exist
            raise (recipe_error or err) from None  # neither a recipe nor a prepared dataset: suggest close names
        wanted = recipe.config(ref.config).version
        if ref.version is not None and ref.version != wanted:
            raise _no_such_version(ref, wanted, root) from err
        manifest = None
    result: dict[str, Any] = {"name": ref.name}
    if recipe is not None:
        from dsreg.steps import step_features  # steps may add columns (token ids): show what will be stored

        config = recipe.config(ref.config)
        result.update(
            config=config.config,
            configs=recipe.config_names,
            generic_configs=recipe.generic_pattern(),
            version=config.version,
            recipe=str(config.path),
            **config.metadata(),
            features=step_features(config.steps, config.features).to_json(),
            supervised_keys=list(config.supervised_keys) if config.supervised_keys else None,
            evaluation=config.evaluation,
            splits={
                s.name: {
                    "rows": s.rows,
                    **({"optional": True} if s.optional else {}),
                    **({"direction": list(s.direction)} if s.direction else {}),
                }
                for s in config.splits.values()
            },
            sources=[{**s.to_json(), "manual": s.manual} for s in config.sources.values()],
            reader=config.reader,
        )
    if manifest is not None:
        result.setdefault("config", manifest.config)
        result["version"] = manifest.version if ref.version else result.get("version", manifest.version)
        for key, value in manifest.metadata.items():
            result.setdefault(key, value)
        result.setdefault("features", manifest.features.to_json())
        result.setdefault("supervised_keys", list(manifest.supervised_keys) if manifest.supervised_keys else None)
        result.setdefault("evaluation", manifest.evaluation)
        result["prepared"] = {
            "path": str(manifest.directory),
            "version": manifest.version,
            "rows": manifest.rows,
            "bytes": manifest.bytes,
            "created": manifest.created,
            "splits": {
                s.name: {"rows": s.rows, "bytes": s.bytes, "shards": len(s.shards), "format": s.format}
                for s in manifest.splits.values()
            },
            "sources": manifest.sources,
            "provenance": of_manifest(manifest),
        }
    else:
        result["prepared"] = None
    return result


def _no_such_version(ref: Ref, recipe_version: str, root: str | os.PathLike[str] | None) -> DsregError:
    """The error for a version that neither the recipe nor any prepared copy has, naming those that exist."""
    config = get_recipe(ref.name).config(ref.config).config
    prepared = prepared_versions(ref.name, config, root)
    return DsregError(
        f"{ref.name}/{config} has no version {ref.version}: the recipe is at {recipe_version}"
        f"{'; prepared: ' + ', '.join(prepared) if prepared else ', and no version is prepared'}",
        fix=f"ask for {ref.name}/{config}:{recipe_version}{', or one of the prepared versions' if prepared else ''}",
    )


def verify(
    name: str | os.PathLike[str],
    *,
    deep: bool = False,
    root: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> tuple[str, list[Problem]]:
    """Check a prepared dataset (a reference or a version directory): (its directory, problems found); with
    `deep` and `progress`, a bar of the bytes re-hashed on stderr.

    A damaged manifest (bytes, JSON, schema, its own digest, structure) is a problem found, not an error."""
    missing = os.path.join(name, MANIFEST_NAME)
    if os.path.isdir(name) and not os.path.lexists(missing) and not _is_ref(str(name)):
        return str(name), [Problem(missing, "no manifest: not a prepared version, or its manifest was deleted")]
    try:
        if os.path.isdir(name) and os.path.exists(os.path.join(name, MANIFEST_NAME)):
            manifest = read_manifest(name)
        else:
            manifest = find_prepared(str(name), root)
    except DamagedManifest as err:
        path = Path(err.path or os.fspath(name))
        return str(path.parent), [Problem(str(path), err.problem)]
    return str(manifest.directory), verify_manifest(manifest, deep=deep, progress=progress)


def _is_ref(text: str) -> bool:
    """Whether `text` reads as a dataset reference (a directory called like one is looked up as one)."""
    try:
        parse_ref(text)
    except DsregError:
        return False
    return True


def export(
    name: str | os.PathLike[str],
    split: str,
    format: str,
    out: str | os.PathLike[str],
    *,
    version: str | None = None,
    root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Write a split expression of a prepared dataset to `out` as one Parquet file, HDF5 file or zarr group
    (`format`), for tools other than dsreg. Returns what was written: dataset, split, format, path, rows."""
    from dsreg.loading.dataset import open_dataset
    from dsreg.storage.export import export_tables

    dataset = open_dataset(name, split, version=version, root=root)
    try:
        rows = export_tables(dataset.arrow_tables(), dataset.features, format, out)
    except OSError as err:  # disk full, file too large, permission denied: nothing was left at `out`
        raise os_error(err, f"exporting {split} to {os.fspath(out)} failed") from err
    return {"dataset": dataset.manifest.full_name, "split": split, "format": format, "path": str(out), "rows": rows}
