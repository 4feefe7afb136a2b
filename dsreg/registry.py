"""Finds recipes and prepared datasets, and resolves references like `name/config:version`.

Recipes come from the package's `recipes/` and from the directories in `DSREG_RECIPES`
(colon-separated; earlier entries win, so a group can override or add recipes without code). A recipe's
file name gives its name, so one recipe is found, and loaded, by name alone: a broken file breaks only itself.
Prepared datasets are found by path, `<root>/<name>/<config>/<version>/`, reading one manifest; only
browsing (`list_prepared`, `list_recipes`) reads them all.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from dsreg.errors import DsregError
from dsreg.manifest import MANIFEST_NAME, Manifest, read_manifest
from dsreg.recipe import Recipe, load_recipe
from dsreg.roots import downloads_dir, expand_path, search_roots
from dsreg.versions import sort_versions

RECIPE_SUFFIX = ".yaml"
HIDDEN_MARKS = (".incomplete-", ".removing-", ".lock")

_REF = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9_.-]*)(?:/(?P<config>[a-z0-9][a-z0-9_.-]*))?(?::(?P<version>[0-9][0-9A-Za-z.+-]*))?$"
)


class NotPreparedError(DsregError):
    """A reference names no published version under the search roots (as opposed to a damaged one)."""


@dataclass(frozen=True)
class Ref:
    """A parsed dataset reference; config and version are None when left to defaults."""

    name: str
    config: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        text = self.name
        if self.config:
            text += f"/{self.config}"
        if self.version:
            text += f":{self.version}"
        return text


def parse_ref(text: str) -> Ref:
    """`"wmt14/de-en:1.0.0"` → Ref("wmt14", "de-en", "1.0.0"); config and version are optional."""
    match = _REF.match(text.strip())
    if not match:
        raise DsregError(
            f"cannot read dataset reference {text!r}",
            fix="write NAME, NAME/CONFIG or NAME/CONFIG:VERSION in lowercase, e.g. cifar10/python:1.0.0",
        )
    if match["name"] == downloads_dir(Path()).name:  # listing skips it, and `dsreg gc` cleans it
        raise DsregError(
            f"{text!r}: 'downloads' is the folder of raw downloads in every root, so no dataset can be called so",
            fix="give the dataset another name",
        )
    return Ref(match["name"], match["config"], match["version"])


def recipe_dirs() -> list[Path]:
    """User recipe directories from `DSREG_RECIPES`, then the recipes shipped with dsreg."""
    env = os.environ.get("DSREG_RECIPES", "")
    dirs = [expand_path(p, "DSREG_RECIPES") for p in env.split(os.pathsep) if p.strip()]
    dirs.append(Path(str(resources.files("dsreg.recipes"))))
    return dirs


def recipe_paths() -> dict[str, Path]:
    """Every recipe file by name (its file name without `.yaml`), first directory first; reads no file."""
    found: dict[str, Path] = {}
    for directory in recipe_dirs():
        for path in sorted(directory.glob(f"*{RECIPE_SUFFIX}")):
            found.setdefault(path.name[: -len(RECIPE_SUFFIX)], path)
    return found


def _load_named(path: Path, name: str) -> Recipe:
    """Load the recipe file that defines `name`; the name inside must agree with the file's name."""
    recipe = load_recipe(path)
    if recipe.name != name:
        raise DsregError(
            f"recipe declares name {recipe.name!r} but its file is called {path.name!r}",
            path=path,
            fix=f"a recipe's file name gives its name: rename the file to {recipe.name}{RECIPE_SUFFIX} "
            f"or set `name: {name}`",
        )
    return recipe


def list_recipes(broken: list[DsregError] | None = None) -> dict[str, Recipe]:
    """Every recipe by name, reading every recipe file (for browsing); a name defined twice resolves to the
    first directory's file. A file that does not load raises, or, given a `broken` list, is collected there."""
    found: dict[str, Recipe] = {}
    for name, path in sorted(recipe_paths().items()):
        try:
            found[name] = _load_named(path, name)
        except DsregError as err:
            if broken is None:
                raise
            broken.append(err)
    return found


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`, reading only its own file (a broken neighbour cannot break it), or an error
    that lists the known names."""
    for directory in recipe_dirs():
        path = directory / f"{name}{RECIPE_SUFFIX}"
        if path.is_file():
            return _load_named(path, name)
    known = sorted(recipe_paths())
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise DsregError(
        f"no recipe called {name!r}.{hint}",
        fix=f"known recipes: {', '.join(known) or '(none)'}; add yours to a directory in DSREG_RECIPES",
    )


def _published_here(directory: Path) -> bool:
    """A published version directory: not work in progress, not being removed, holding a manifest."""
    return not any(mark in directory.name for mark in HIDDEN_MARKS) and (directory / MANIFEST_NAME).is_file()


def _subdirs(directory: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(directory) if e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def prepared_versions(name: str, config: str, root: str | os.PathLike[str] | None = None) -> list[str]:
    """The published versions of `name/config` under the search roots, oldest first; lists one directory per root."""
    found = {
        v
        for base in search_roots(root)
        for v in _subdirs(base / name / config)
        if _published_here(base / name / config / v)
    }
    return sort_versions(list(found))


def prepared_configs(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """The configs of `name` with at least one published version, each with its versions (oldest first)."""
    configs = sorted({c for base in search_roots(root) for c in _subdirs(base / name)})
    versions = {c: prepared_versions(name, c, root) for c in configs}
    return {c: v for c, v in versions.items() if v}


def list_prepared(root: str | os.PathLike[str] | None = None, broken: list[DsregError] | None = None) -> list[Manifest]:
    """Every readable prepared dataset under the search roots (for browsing: reads every manifest).

    A version whose manifest is missing or does not read or validate is left out; pass a list as `broken` to
    collect its error.
    """
    manifests = []
    for base in search_roots(root):
        for version in sorted(base.glob("*/*/*")):
            if any(mark in version.name for mark in HIDDEN_MARKS) or version.parts[-3] == downloads_dir(base).name:
                continue
            if not version.is_dir():
                continue
            try:
                if not os.path.lexists(version / MANIFEST_NAME):
                    if any(part.startswith(".") for part in version.parts[-3:]):
                        continue  # a tool's own state (a staging cache's `.staging/<name>/<config>`), no version
                    raise DsregError(
                        "a version directory without a manifest: an incomplete or damaged version, not dsreg's making",
                        path=version,
                        fix="move it away (or restore it from a good copy), then prepare the version again",
                    )
                manifests.append(read_manifest(version))
            except DsregError as err:
                if broken is not None:
                    broken.append(err)
    return manifests


def _default_config(name: str, configs: list[str]) -> str:
    """The config a reference without one means: the only one prepared, else the recipe's default."""
    if len(configs) == 1:
        return configs[0]
    try:
        return get_recipe(name).default_config
    except DsregError:
        return configs[0]


def find_prepared(ref: Ref | str, root: str | os.PathLike[str] | None = None) -> Manifest:
    """The prepared dataset a reference means: the recipe's default config and the newest version
    unless given. Resolved by path (`<root>/<name>/<config>/<version>/`): lists only this dataset's
    directories and reads one manifest, however many datasets the roots hold. Needs no recipe."""
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    roots = search_roots(root)
    configs = prepared_configs(ref.name, root)
    if not configs:
        raise NotPreparedError(
            f"{ref} is not prepared under {', '.join(map(str, roots))}",
            fix=f"run `dsreg prepare {ref}` (or add the root holding it to DSREG_ROOT)",
        )
    config = ref.config or _default_config(ref.name, sorted(configs))
    have = ", ".join(f"{c}:{v}" for c, versions in configs.items() for v in versions)
    versions = configs.get(config)
    if not versions:
        raise NotPreparedError(
            f"{ref.name}/{config} is not prepared (prepared: {have})",
            fix=f"open one of those, or run `dsreg prepare {ref.name}/{config}`",
        )
    version = ref.version or versions[-1]
    if version not in versions:
        raise NotPreparedError(
            f"{ref.name}/{config} has no version {version}; versions that exist: {', '.join(versions)}",
            fix=f"ask for one of those (e.g. {ref.name}/{config}:{versions[-1]}), or prepare {version}",
        )
    for base in roots:
        directory = base / ref.name / config / version
        if _published_here(directory):
            manifest = read_manifest(directory)
            _check_identity(manifest, directory)
            return manifest
    raise NotPreparedError(
        f"{ref.name}/{config}:{version} vanished while being opened", fix="it was removed; open another"
    )


def _check_identity(manifest: Manifest, directory: Path) -> None:
    """A manifest must describe the directory it lies in, or a lookup by path would serve the wrong data."""
    where = (directory.parent.parent.name, directory.parent.name, directory.name)
    if (manifest.name, manifest.config, manifest.version) != where:
        raise DsregError(
            f"manifest describes {manifest.full_name} but lies at {'/'.join(where)}",
            path=directory / MANIFEST_NAME,
            fix=f"move the directory to <root>/{manifest.name}/{manifest.config}/{manifest.version}, or re-prepare",
        )
