"""Recipes: YAML that declares a corpus, loaded safely and validated with errors naming file and key path.

A recipe file describes one dataset; each entry of `configs` overrides top-level keys for one variant
(a language pair, an archive flavour). `load_recipe` returns the file's `Recipe`; `Recipe.config(name)`
returns the fully resolved `RecipeConfig` that preparation works from.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

from dsreg.errors import DsregError
from dsreg.features import Features, Text
from dsreg.sizes import parse_size
from dsreg.storage import DEFAULT_FORMAT, get_format
from dsreg.versions import check_version

if TYPE_CHECKING:
    from dsreg.readers import Reader

_OVERRIDABLE = (
    "description",
    "version",
    "sources",
    "reader",
    "splits",
    "features",
    "steps",
    "supervised_keys",
    "evaluation",
    "shard_size",
    "storage",
)
DEFAULT_SHARD_SIZE = "256MiB"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys, which plain YAML silently lets the last one win. A merge key
    (`<<: *anchor`) is YAML's own way to share fields, overridden by the mapping's keys: it is no duplicate."""


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # merged by construct_mapping (flatten_mapping), under the keys written here
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def recipe_schema() -> dict[str, Any]:
    text = resources.files("dsreg.schemas").joinpath("recipe.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True)
class SourceSpec:
    """One raw input of a recipe: downloadable (urls + checksum) or manual (instructions + filename)."""

    name: str
    urls: tuple[str, ...] = ()
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    manual: str | None = None
    optional: bool = False

    @property
    def file_name(self) -> str:
        """The file name the vendor ships (what a pre-staged local copy is called)."""
        if self.filename:
            return self.filename
        return self.urls[0].rstrip("/").rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "urls": list(self.urls),
            "filename": self.file_name,
            "size": self.size,
            "sha256": self.sha256,
            "md5": self.md5,
        }


@dataclass(frozen=True)
class SplitSpec:
    """One split: its official row count (None: not checked), reader arguments, file patterns, whether
    the source may lack it (`optional`: left out of the manifest when the reader finds nothing for it), and
    the one translation `direction` (source, target) it is, if it is one (the manifest records it; loading it
    the other way round is refused).

    `files` are glob patterns matched in the source named `source` (or the recipe's only source);
    preparation resolves them to sorted member names and gives them to the reader as `args.files`.
    """

    name: str
    rows: int | None
    args: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    source: str | None = None
    optional: bool = False
    direction: tuple[str, str] | None = None


@dataclass(frozen=True)
class RecipeConfig:
    """Everything needed to prepare one `name/config:version`, with configs already applied."""

    name: str
    config: str
    version: str
    description: str
    homepage: str
    license: str
    citation: str
    sources: dict[str, SourceSpec]
    reader: str
    reader_args: dict[str, Any]
    splits: dict[str, SplitSpec]
    features: Features
    steps: tuple[tuple[str, dict[str, Any]], ...]
    supervised_keys: tuple[str, str] | None
    evaluation: dict[str, Any]
    shard_size: int
    digest: str
    path: Path
    storage: str = DEFAULT_FORMAT

    @property
    def full_name(self) -> str:
        return f"{self.name}/{self.config}:{self.version}"

    def with_storage(self, storage: str | None) -> RecipeConfig:
        """This config written in another storage format (`dsreg prepare --storage`); None keeps the recipe's.

        The digest changes with the format, so a version published in one format is never reused as another.
        """
        if storage is None or storage == self.storage:
            return self
        get_format(storage)
        digest = hashlib.sha256(f"{self.digest}:storage={storage}".encode()).hexdigest()
        return replace(self, storage=storage, digest=digest)

    def metadata(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "homepage": self.homepage,
            "license": self.license,
            "citation": self.citation,
        }


@dataclass(frozen=True)
class Recipe:
    """A validated recipe file: its top-level fields and its named configs."""

    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def description(self) -> str:
        return str(self.data["description"])

    @property
    def config_names(self) -> list[str]:
        return list(self.data.get("configs") or {"default": {}})

    @property
    def default_config(self) -> str:
        return str(self.data.get("default_config") or self.config_names[0])

    def generic_pattern(self) -> str | None:
        """The regular expression of the config names resolved from `generic_config`, if the recipe has one."""
        generic = self.data.get("generic_config")
        return str(generic["pattern"]) if generic else None

    def config(self, name: str | None = None) -> RecipeConfig:
        """Resolve one config: top-level fields, overridden key by key by the config's entry (or, for an
        undeclared name matching `generic_config.pattern`, by the generic entry with `{config}` filled in)."""
        name = name or self.default_config
        configs = self.data.get("configs") or {"default": {}}
        pattern = self.generic_pattern()
        if name in configs:
            override = dict(configs[name] or {})
        elif pattern is not None and re.fullmatch(pattern, name):
            return self._merge(name, self._generic(name), "generic_config.config")
        else:
            also = f", or any name matching {pattern}" if pattern else ""
            raise DsregError(
                f"recipe {self.name!r} has no config {name!r}",
                path=self.path,
                fix=f"use one of: {', '.join(configs)}{also}{_did_you_mean(name, configs)}",
            )
        return self._merge(name, override)

    def _generic(self, name: str) -> dict[str, Any]:
        """The generic config's entry with every `{config}` in its strings replaced by `name`."""
        return dict(_fill(self.data["generic_config"]["config"], name))

    def _merge(self, name: str, override: dict[str, Any], where: str | None = None) -> RecipeConfig:
        merged = {k: v for k, v in self.data.items() if k not in ("configs", "generic_config")}
        if "description" in override:  # a config's description adds to the dataset's, it does not replace it
            override["description"] = f"{merged['description'].strip()} {override['description'].strip()}"
        merged.update(override)
        where = where or (f"configs.{name}" if self.data.get("configs") else "(top level)")
        for key in ("sources", "reader", "splits", "features"):
            if key not in merged:
                raise DsregError(f"config {name!r} has no {key!r}", path=self.path, fix=f"add {key} at {where}")
        return _resolve(self.path, name, merged)


def _fill(value: Any, name: str) -> Any:
    """`value` with `{config}` replaced by `name` in every string, at any depth."""
    if isinstance(value, str):
        return value.replace("{config}", name)
    if isinstance(value, dict):
        return {k: _fill(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, name) for v in value]
    return value


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _resolve(path: Path, config: str, data: dict[str, Any]) -> RecipeConfig:
    from dsreg.evaluation.spec import bind_metric
    from dsreg.readers import get_reader
    from dsreg.steps import get_step

    try:
        check_version(data["version"])
        features = Features.from_json(data["features"])
    except DsregError as err:
        raise DsregError(err.problem, path=path, fix=err.fix) from None
    keys = data.get("supervised_keys")
    for key in keys or ():
        if key not in features:
            raise DsregError(
                f"supervised_keys names {key!r}, which is not a feature",
                path=path,
                fix=f"use feature names: {', '.join(features.names())}{_did_you_mean(key, features.names())}",
            )
    reader = data["reader"]
    try:
        reader_cls = get_reader(reader["name"])
        reader_args = reader_cls.check_args(reader.get("args") or {}, reader["name"])
        splits = {k: _split_spec(k, v, data["sources"], reader_cls, reader["name"]) for k, v in data["splits"].items()}
        for spec in splits.values():
            _check_direction(spec, features)
        steps = tuple((s["name"], dict(s.get("args") or {})) for s in data.get("steps") or ())
        for step_name, step_args in steps:
            get_step(step_name)
            _check_step_splits(step_name, step_args, splits)
        if data.get("evaluation"):
            bind_metric(data["evaluation"], features, (keys[0], keys[1]) if keys else None)
    except DsregError as err:
        raise DsregError(err.problem, path=path, fix=err.fix) from None
    sources = {
        key: SourceSpec(
            name=key,
            urls=tuple(spec.get("urls", ())),
            filename=spec.get("filename"),
            size=spec.get("size"),
            sha256=spec.get("sha256"),
            md5=spec.get("md5"),
            manual=spec.get("manual"),
            optional=bool(spec.get("optional", False)),
        )
        for key, spec in data["sources"].items()
    }
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return RecipeConfig(
        name=data["name"],
        config=config,
        version=data["version"],
        description=data.get("description", ""),
        homepage=data.get("homepage", ""),
        license=data.get("license", ""),
        citation=data.get("citation", ""),
        sources=sources,
        reader=reader["name"],
        reader_args=reader_args,
        splits=splits,
        features=features,
        steps=steps,
        supervised_keys=(keys[0], keys[1]) if keys else None,
        evaluation=dict(data.get("evaluation") or {}),
        shard_size=parse_size(data.get("shard_size", DEFAULT_SHARD_SIZE)),
        storage=data.get("storage", DEFAULT_FORMAT),
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
        path=path,
    )


def _check_step_splits(step: str, args: Mapping[str, Any], splits: Mapping[str, Any]) -> None:
    """A step's `splits` (those it applies to) and `split` (the one it learns from) must name the recipe's
    splits: a misspelt one would silently leave every split untouched."""
    named = args.get("splits")
    if named is not None and (not isinstance(named, list) or not all(isinstance(n, str) for n in named)):
        raise DsregError(f"step {step}: args.splits is {named!r}, not a list of split names", fix="e.g. [train]")
    named = [*(named or ()), *([args["split"]] if "split" in args else [])]
    unknown = [n for n in named if n not in splits]
    if unknown:
        raise DsregError(
            f"step {step} names the split(s) {unknown}, which the recipe does not have",
            fix=f"name one of: {', '.join(splits)}",
        )


def _split_spec(
    name: str, spec: dict[str, Any], sources: dict[str, Any], reader: type[Reader], reader_name: str
) -> SplitSpec:
    """A split's spec with its reader arguments checked; `files` patterns need an unambiguous source, a reader
    that takes `files`, and exclude a hand-written `args.files` (dsreg fills it in when it resolves them)."""
    from dsreg.loading.splits import check_split_name

    check_split_name(name, f"splits.{name}")
    rows = spec.get("rows")
    given = dict(spec.get("args") or {})
    files = spec.get("files") or ()
    patterns = (files,) if isinstance(files, str) else tuple(files)
    source = spec.get("source")
    if source is not None and source not in sources:
        raise DsregError(
            f"splits.{name}.source is {source!r}, which is not a source",
            fix=f"use one of: {', '.join(sources)}{_did_you_mean(source, sources)}",
        )
    if source is not None and not patterns:
        raise DsregError(f"splits.{name}.source is given without files", fix=f"add splits.{name}.files")
    if patterns:
        if given.get("files") is not None:
            raise DsregError(
                f"splits.{name} has both files (patterns) and args.files",
                fix="give the split's files once: as patterns in `files`, or as exact names in `args.files`",
            )
        if source is None and len(sources) != 1:
            raise DsregError(
                f"splits.{name}.files does not say which of the {len(sources)} sources it matches",
                fix=f"add splits.{name}.source: one of {', '.join(sources)}",
            )
        takes = {arg.name for arg in reader.split_arguments}
        if "files" not in takes or (source is not None and "source" not in takes):
            what = "its files by pattern" if "files" not in takes else "a source for its files"
            raise DsregError(
                f"splits.{name}: reader {reader_name!r} does not take {what}",
                fix="list the split's inputs in the reader's own split arguments (see docs/recipes.md)",
            )
        given["files"] = list(patterns)  # a stand-in for the type check; dsreg resolves the patterns
        if source is not None:
            given["source"] = source
    args = reader.check_split_args(name, given, reader_name)
    if patterns:
        args["files"] = None
    direction = spec.get("direction")
    return SplitSpec(
        name,
        None if rows is None else int(rows),
        args,
        patterns,
        source,
        bool(spec.get("optional")),
        None if direction is None else (direction[0], direction[1]),
    )


def _check_direction(spec: SplitSpec, features: Features) -> None:
    """A split's direction names two different text columns (the languages), else loading could not honour it."""
    if spec.direction is None:
        return
    texts = [n for n in features.names() if isinstance(features[n], Text)]
    wrong = [lang for lang in spec.direction if lang not in texts]
    if wrong or spec.direction[0] == spec.direction[1]:
        raise DsregError(
            f"splits.{spec.name}.direction is {list(spec.direction)}: "
            + (f"{wrong[0]!r} is not a text column" if wrong else "source and target are one language"),
            fix=f"give [source, target], two of the text columns: {', '.join(texts)}",
        )


def _schema_error(path: Path, err: jsonschema.ValidationError) -> DsregError:
    where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    fix = "see docs/recipes.md for the recipe fields"
    if err.validator == "additionalProperties":
        props = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
        extra = [k for k in err.instance if k not in props] if isinstance(err.instance, dict) else []
        if extra:
            key = extra[0]
            where = f"{where}.{key}" if where != "(top level)" else key
            return DsregError(
                f"unknown key {key!r} at {where}",
                path=path,
                fix=f"allowed keys here: {', '.join(props)}{_did_you_mean(key, props)}",
            )
    expected = err.validator_value if err.validator == "type" else None
    wants_text = expected == "string" or (isinstance(expected, list) and "string" in expected)
    if isinstance(err.instance, (bool, int, float)) and wants_text:
        fix = (
            'put it in quotes ("no", "1.0"): YAML reads a bare yes, no, on, off, true or false as a boolean and '
            f"1.0 or 2017 as a number, as it read this one ({err.instance!r})"
        )
    if err.validator == "oneOf" and "sources" in err.absolute_path:
        fix = "a source needs `urls` with `sha256` or `md5`, or `manual` instructions with `filename`"
    return DsregError(f"invalid recipe at {where}: {err.message}", path=path, fix=fix)


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe file with a safe YAML loader and validate it; every error names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DsregError(f"cannot read recipe ({err.strerror})", path=path) from None
    except UnicodeDecodeError as err:
        raise DsregError(
            f"recipe is not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start})",
            path=path,
            fix="save the recipe as UTF-8 YAML, or move the file out of the recipe directory",
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise DsregError(f"recipe is not valid YAML: {err}", path=path, fix="fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise DsregError("recipe must be a YAML mapping", path=path)
    validator = jsonschema.Draft202012Validator(recipe_schema())
    errors = sorted(
        validator.iter_errors(data),
        key=lambda e: (e.validator != "additionalProperties", len(e.absolute_path), str(e.absolute_path)),
    )
    if errors:
        raise _schema_error(path, errors[0])
    default = data.get("default_config")
    if default and default not in (data.get("configs") or {}):
        raise DsregError(
            f"default_config {default!r} is not one of the configs",
            path=path,
            fix=f"use one of: {', '.join(data.get('configs') or {})}",
        )
    generic = data.get("generic_config")
    if generic is not None:
        try:
            re.compile(generic["pattern"])
        except re.error as err:
            raise DsregError(
                f"generic_config.pattern is not a regular expression: {err}", path=path, fix="fix the pattern"
            ) from None
    recipe = Recipe(path, data)
    for config in recipe.config_names:
        recipe.config(config)  # resolve every config now so errors surface at load, not at prepare
    if generic is not None:
        recipe._merge(
            "generic_config", recipe._generic("generic_config"), "generic_config.config"
        )  # the generic entry resolves too
    return recipe
