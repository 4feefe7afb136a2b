"""Packaging and the public namespace: what ships, what `import dsreg` costs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tomllib

import dsreg
from dsreg.recipe import load_recipe
from dsreg.registry import recipe_dirs

REPO = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {"dsreg"} | {
        "dsreg." + ".".join(p.parent.relative_to(REPO / "dsreg").parts)
        for p in (REPO / "dsreg").rglob("__init__.py")
        if p.parent != REPO / "dsreg"
    }
    assert on_disk | {"dsreg.recipes", "dsreg.schemas"} == listed


def test_recipes_and_schemas_resolve_as_package_data() -> None:
    from importlib import resources

    assert (resources.files("dsreg.schemas") / "manifest.schema.json").is_file()
    assert (resources.files("dsreg.recipes") / "cifar10.yaml").is_file()


def test_import_is_lazy_and_needs_no_framework() -> None:
    code = (
        "import sys, dsreg; heavy = ['torch', 'tensorflow', 'keras', 'datasets', 'pyarrow', 'jsonschema'];"
        "print([m for m in heavy if m in sys.modules]); dsreg.Features; print('pyarrow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True"  # resolved on first use


def test_public_names_resolve() -> None:
    for name in dsreg.__all__:
        assert getattr(dsreg, name) is not None
    assert "write_dataset" in dir(dsreg)


def test_each_recipe_reproduces_its_reference_facts() -> None:
    """Split sizes, class counts, label names and vendor checksums match manifests/reference (TFDS-style)."""
    shipped = recipe_dirs()[-1]
    for ref_path in sorted((REPO / "manifests" / "reference").glob("*.json")):
        ref = json.loads(ref_path.read_text())
        recipe = load_recipe(shipped / f"{ref['name']}.yaml")
        archives = {}
        for config_name in recipe.config_names:
            config = recipe.config(config_name)
            expected = ref["splits"].get(config_name, ref["splits"])  # per config where configs differ
            assert {s: spec.rows for s, spec in config.splits.items()} == expected, config.full_name
            for column, count in ref.get("classes", {}).items():
                assert config.features[column].num_classes == count
            for column, names in ref.get("label_names", {}).items():
                assert list(config.features[column].names) == names
            for source in config.sources.values():
                if source.manual is not None:
                    continue  # a licensed corpus the user copies in: no vendor checksum to pin
                archives[source.file_name] = {
                    k: v for k, v in {"size": source.size, "md5": source.md5, "sha256": source.sha256}.items() if v
                }
        assert archives == ref.get("archives", {}), ref_path.name


def test_public_functions_stay_functions_after_every_submodule_is_imported() -> None:
    """A submodule named like a public function would replace it on import (`dsreg.prepare` was the module)."""
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(dsreg.__path__)}
    assert submodules & set(dsreg.__all__) == dsreg._SUBMODULES  # only the public subpackages (dsreg.audio)
    code = (
        "import importlib, pkgutil, dsreg\n"
        "for m in pkgutil.walk_packages(dsreg.__path__, 'dsreg.'):\n"
        "    if not m.name.startswith(('dsreg.frameworks.', 'dsreg.__main__')):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(n for n in dsreg.__all__ if type(getattr(dsreg, n)).__name__ == 'module'))\n"
        "print(callable(dsreg.prepare), callable(dsreg.open), callable(dsreg.info))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == [str(sorted(dsreg._SUBMODULES)), "True True True"]


def test_exit_codes_live_with_the_errors_and_staging_needs_no_cli() -> None:
    from dsreg import cli, errors

    assert (cli.EXIT_OK, cli.EXIT_VERIFY_FAILED, cli.EXIT_USAGE, cli.EXIT_ERROR) == (0, 1, 2, 3)
    assert cli.EXIT_ERROR is errors.EXIT_ERROR
    code = "import sys, dsreg.staging; print('dsreg.cli' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
