"""Finds recipes and prepared datasets, and resolves references like `name/config:version`.

Recipes come from the package's `recipes/` and from the directories in `DSREG_RECIPES`
(colon-separated; earlier entries win, so a group can override or add recipes without code).
Prepared datasets are found under the roots of `DSREG_ROOT` by their manifests.
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
from dsreg.roots import search_roots

_REF = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9_.-]*)(?:/(?P<config>[a-z0-9][a-z0-9_.-]*))?(?::(?P<version>[0-9][0-9A-Za-z.+-]*))?$"
)


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
    return Ref(match["name"], match["config"], match["version"])


def recipe_dirs() -> list[Path]:
    """User recipe directories from `DSREG_RECIPES`, then the recipes shipped with dsreg."""
    env = os.environ.get("DSREG_RECIPES", "")
    dirs = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    dirs.append(Path(str(resources.files("dsreg.recipes"))))
    return dirs


def list_recipes() -> dict[str, Recipe]:
    """Every recipe by name; a name defined twice resolves to the first directory's file."""
    found: dict[str, Recipe] = {}
    for directory in recipe_dirs():
        for path in sorted(directory.glob("*.yaml")):
            recipe = load_recipe(path)
            found.setdefault(recipe.name, recipe)
    return found


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`, or an error that lists the known names."""
    recipes = list_recipes()
    if name in recipes:
        return recipes[name]
    close = difflib.get_close_matches(name, list(recipes), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise DsregError(
        f"no recipe called {name!r}.{hint}",
        fix=f"known recipes: {', '.join(sorted(recipes)) or '(none)'}; add yours to a directory in DSREG_RECIPES",
    )


def _version_key(version: str) -> tuple[int, ...]:
    core = re.split(r"[-+]", version, maxsplit=1)[0]
    return tuple(int(p) for p in core.split(".") if p.isdigit())


def list_prepared(root: str | os.PathLike[str] | None = None, broken: list[DsregError] | None = None) -> list[Manifest]:
    """Every readable prepared dataset under the search roots (in-progress directories skipped).

    A manifest that does not read or validate is left out; pass a list as `broken` to collect its error.
    """
    manifests = []
    for base in search_roots(root):
        for path in sorted(base.glob(f"*/*/*/{MANIFEST_NAME}")):
            if ".incomplete-" in path.parent.name or path.parts[-4] == "downloads":
                continue
            try:
                manifests.append(read_manifest(path.parent))
            except DsregError as err:
                if broken is not None:
                    broken.append(err)
    return manifests


def find_prepared(ref: Ref | str, root: str | os.PathLike[str] | None = None) -> Manifest:
    """The prepared dataset a reference means: the recipe's default config and the newest version
    unless given. Works with no recipe at all, from manifests alone."""
    ref = parse_ref(ref) if isinstance(ref, str) else ref
    broken: list[DsregError] = []
    candidates = [m for m in list_prepared(root, broken) if m.name == ref.name]
    mine = [err for err in broken if err.path and Path(err.path).parts[-4:-3] == (ref.name,)]
    if not candidates and mine:
        raise mine[0]  # prepared, but its manifest is damaged: say so rather than "not prepared"
    if not candidates:
        roots = ", ".join(map(str, search_roots(root)))
        raise DsregError(
            f"{ref} is not prepared under {roots}",
            fix=f"run `dsreg prepare {ref}` (or add the root holding it to DSREG_ROOT)",
        )
    config = ref.config
    if config is None:
        configs = sorted({m.config for m in candidates})
        if len(configs) == 1:
            config = configs[0]
        else:
            try:
                config = get_recipe(ref.name).default_config
            except DsregError:
                config = configs[0]
    matching = [m for m in candidates if m.config == config]
    if ref.version is not None:
        matching = [m for m in matching if m.version == ref.version]
    if not matching:
        have = ", ".join(sorted(f"{m.config}:{m.version}" for m in candidates))
        raise DsregError(f"{ref} is not prepared (prepared: {have})", fix=f"run `dsreg prepare {ref}`")
    return max(matching, key=lambda m: _version_key(m.version))
