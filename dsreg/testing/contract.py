"""`ReaderContract`: the checks every reader must pass, inherited by subclassing (like TFDS's DatasetBuilderTestCase).

A reader's test module subclasses it in a class named `Test…`, names the reader and its recipe (or its
features, arguments and splits), writes fake raw data in `make_source`, states the rows that data
holds, and damages it in `damaged_sources`. It then inherits: deterministic output (two preparations
give byte-identical shards), independent and order-stable tasks (each task run alone, last first, as
SLURM array elements do, gives the same shards), every emitted item matching the features, exact split
counts, disjoint splits where declared, and hostile input refused with a `DsregError`, nothing
published. Everything runs through `dsreg.prepare`, so what is checked is what users get.
"""

from __future__ import annotations

import hashlib
import pickle
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest
import yaml

from dsreg.errors import DsregError
from dsreg.loading.dataset import open_dataset
from dsreg.manifest import Manifest
from dsreg.preparation import Progress, prepare, prepare_tasks
from dsreg.readers import Reader, get_reader
from dsreg.recipe import RecipeConfig, load_recipe
from dsreg.registry import get_recipe, parse_ref
from dsreg.sources import resolve_sources
from dsreg.sourcetree import SourceTree
from dsreg.splitfiles import split_reader_args
from dsreg.testing.hostile import truncated_copy

_VERSION = "1.0.0"


@dataclass(frozen=True)
class Damaged:
    """One hostile variant of the fake raw data: what was done, the damaged source, and text the error must name."""

    what: str
    source: Path
    message: str = ""


@dataclass(frozen=True)
class ContractRun:
    """What the class-wide preparations produced, shared by every check of one reader's contract."""

    source: Path
    recipes: Path
    ref: str
    first: Manifest
    second: Manifest
    by_tasks: Manifest
    by_tasks_progress: Progress
    tasks_total: int


def _shard_bytes(manifest: Manifest) -> dict[str, list[tuple[str, str, bytes]]]:
    """Split → its shards as (path in the manifest, recorded sha256, file bytes), in order."""
    return {
        name: [(s.path, s.sha256, manifest.shard_path(s).read_bytes()) for s in split.shards]
        for name, split in manifest.splits.items()
    }


def _row_digests(manifest: Manifest, split: str) -> list[str]:
    """One digest per published row of `split`, over every column's value."""
    tables = open_dataset(manifest.directory or "", split).arrow_tables()
    rows = [row for table in tables for row in table.to_pylist()]
    return [hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest() for row in rows]


class ReaderContract(ABC):
    """Base class of a reader's contract test; see the module docstring and docs/recipes.md ("Writing a reader").

    Set `reader` and `rows`, and either `recipe` ("name/config" of a recipe whose reader arguments,
    features, splits and steps are used) or `reader_args`, `features` and `splits` (split → its recipe
    entry without `rows`, e.g. `{"args": {...}}`). Sources default to one manual source named after
    what `make_source` returns; set `sources` for a reader that reads several.
    """

    reader: ClassVar[str]
    rows: ClassVar[dict[str, int]]
    recipe: ClassVar[str | None] = None
    reader_args: ClassVar[dict[str, Any]] = {}
    features: ClassVar[dict[str, Any] | None] = None
    splits: ClassVar[dict[str, dict[str, Any]] | None] = None
    sources: ClassVar[dict[str, Any] | None] = None
    disjoint_splits: ClassVar[bool] = False
    shard_size: ClassVar[str] = "64KiB"

    @abstractmethod
    def make_source(self, dest: Path) -> Path:
        """Write the fake raw data under `dest`; return the path given to `prepare --source` (file or directory)."""

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        """Damaged copies of `source` written under `dest`; extend with the reader's own (`yield from super()…`).

        By default a file source is truncated to half its size and emptied.
        """
        if source.is_file():
            half = truncated_copy(source, dest / "half")
            yield Damaged("the source cut to half its size", half, source.name)
            empty = dest / "empty" / source.name
            empty.parent.mkdir(parents=True)
            empty.write_bytes(b"")
            yield Damaged("an empty source file", empty, source.name)

    # ------------------------------------------------------------------------------------ the recipe

    def recipe_data(self, source: Path) -> dict[str, Any]:
        """The recipe the checks prepare: the named recipe's config or the declared parts, with fake sources."""
        data: dict[str, Any] = {}
        if self.recipe is not None:
            ref = parse_ref(self.recipe)
            found = get_recipe(ref.name)
            config = ref.config or found.default_config
            data = {k: v for k, v in found.data.items() if k not in ("configs", "default_config")}
            data.update((found.data.get("configs") or {}).get(config) or {})
        else:
            if self.features is None or self.splits is None:
                raise TypeError(f"{type(self).__name__} must set `recipe`, or `features` and `splits`")
            data = {"reader": {"name": self.reader, "args": dict(self.reader_args)}, "features": self.features}
            data["splits"] = self.splits
        if data["reader"]["name"] != self.reader:
            raise TypeError(f"{self.recipe} uses reader {data['reader']['name']!r}, not {self.reader!r}")
        if set(data["splits"]) != set(self.rows):
            raise TypeError(f"`rows` must give a count for each split: {sorted(data['splits'])}")
        manual = "generated by the reader's contract test"
        data.update(
            name=f"contract-{self.reader.lower()}",
            version=_VERSION,
            description=f"the contract test of reader {self.reader}",
            sources=self.sources or {"raw": {"manual": manual, "filename": source.name}},
            splits={name: {**spec, "rows": self.rows[name]} for name, spec in data["splits"].items()},
            shard_size=self.shard_size,
        )
        for key in ("homepage", "license", "citation", "supervised_keys", "evaluation"):
            data.pop(key, None)
        return data

    def _write_recipe(self, source: Path, recipes: Path) -> str:
        recipes.mkdir(parents=True, exist_ok=True)
        data = self.recipe_data(source)
        (recipes / f"{data['name']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return str(data["name"])

    def _instance(
        self, run: ContractRun
    ) -> tuple[RecipeConfig, Reader, dict[str, SourceTree], dict[str, dict[str, Any]]]:
        """The recipe config, the reader as preparation builds it (features completed from the data), its
        sources opened as preparation does, and each split's reader arguments (file patterns resolved)."""
        config = load_recipe(run.recipes / f"{run.ref}.yaml").config()
        resolved = resolve_sources(config.sources, run.recipes.parent / "downloads", local=run.source)
        trees = {name: SourceTree.open(src.path) for name, src in resolved.items()}
        split_args = {split: split_reader_args(spec, trees) for split, spec in config.splits.items()}
        reader = get_reader(config.reader)(config.reader_args, config.features)
        features = reader.resolve_features(trees, split_args)
        return config, get_reader(config.reader)(config.reader_args, features), trees, split_args

    # ------------------------------------------------------------------------------- shared fixture

    @pytest.fixture(scope="class")
    @classmethod
    def contract_run(cls, tmp_path_factory: pytest.TempPathFactory) -> ContractRun:
        """Prepare the fake data three times: twice whole, once task by task in reverse order."""
        self = cls()
        base = tmp_path_factory.mktemp(f"contract-{self.reader}")
        source = self.make_source(base / "raw")
        recipes = base / "recipes"
        with pytest.MonkeyPatch.context() as env:
            env.setenv("DSREG_RECIPES", str(recipes))
            ref = self._write_recipe(source, recipes)
            first_progress = Progress()
            first = prepare(ref, source=source, root=base / "first", check_counts=False, report=first_progress)
            second = prepare(ref, source=source, root=base / "second", check_counts=False)
            total = first_progress.tasks_total
            for index in reversed(range(total)):
                prepare_tasks(ref, index, total, source=source, root=base / "by-tasks")
            progress = Progress()
            by_tasks = prepare(ref, source=source, root=base / "by-tasks", check_counts=False, report=progress)
        return ContractRun(source, recipes, ref, first, second, by_tasks, progress, total)

    # ------------------------------------------------------------------------------------ the checks

    def test_output_is_deterministic(self, contract_run: ContractRun) -> None:
        first, second = _shard_bytes(contract_run.first), _shard_bytes(contract_run.second)
        assert first.keys() == second.keys()
        for split in first:
            assert [p for p, _, _ in first[split]] == [p for p, _, _ in second[split]], f"{split}: other shards"
            for (path, digest, data), (_, digest2, data2) in zip(first[split], second[split], strict=True):
                assert digest == digest2 and data == data2, f"{split}: {path} differs between two preparations"

    def test_tasks_are_independent_and_order_stable(self, contract_run: ContractRun) -> None:
        assert contract_run.tasks_total > 0, "the reader made no tasks"
        assert contract_run.by_tasks_progress.tasks_run == 0, "tasks run one by one were not all reused"
        alone, whole = _shard_bytes(contract_run.by_tasks), _shard_bytes(contract_run.first)
        assert alone == whole, "running each task alone, last first, gave other shards than one preparation"
        config, reader, trees, split_args = self._instance(contract_run)
        for split in config.splits:
            args = split_args[split]
            tasks = reader.tasks(trees, split, args)
            assert all(isinstance(t, str) and t for t in tasks), f"{split}: task ids must be non-empty strings"
            assert len(set(tasks)) == len(tasks), f"{split}: task ids repeat: {tasks}"
            assert reader.tasks(trees, split, args) == tasks, f"{split}: a second call lists other tasks"
        try:
            pickle.dumps(reader)  # worker processes get the reader pickled
        except Exception as err:
            pytest.fail(f"the reader does not pickle for worker processes: {type(err).__name__}: {err}")

    def test_schema_equals_the_features(self, contract_run: ContractRun) -> None:
        config, reader, trees, split_args = self._instance(contract_run)
        features = reader.features
        assert contract_run.first.features.to_json() == features.to_json()
        schema = features.arrow_schema()
        for split in config.splits:
            args = split_args[split]
            for task in reader.tasks(trees, split, args):
                for item in reader.read(trees, split, args, task):
                    if isinstance(item, pa.RecordBatch):
                        assert item.schema.equals(schema), f"{split}/{task}: {item.schema} is not {schema}"
                    else:
                        assert isinstance(item, Mapping), f"{split}/{task}: {type(item).__name__} is not a row"
                        assert sorted(item) == sorted(features.names()), f"{split}/{task}: columns {sorted(item)}"
            for table in open_dataset(contract_run.first.directory or "", split).arrow_tables():
                assert table.schema.remove_metadata().equals(schema.remove_metadata())

    def test_split_counts_are_exact(self, contract_run: ContractRun) -> None:
        got = {name: split.rows for name, split in contract_run.first.splits.items()}
        assert got == self.rows

    def test_splits_do_not_overlap(self, contract_run: ContractRun) -> None:
        if not self.disjoint_splits:
            pytest.skip(f"{type(self).__name__} does not declare disjoint_splits")
        seen: dict[str, str] = {}
        for split in contract_run.first.splits:
            for digest in set(_row_digests(contract_run.first, split)):
                assert digest not in seen, f"a row of {split} is also in {seen[digest]}"
                seen[digest] = split

    def test_hostile_input_is_refused_and_nothing_published(
        self, contract_run: ContractRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DSREG_RECIPES", str(contract_run.recipes))
        damaged = list(self.damaged_sources(contract_run.source, tmp_path / "damaged"))
        assert damaged, f"{type(self).__name__}.damaged_sources yields no damaged data"
        for number, bad in enumerate(damaged):
            root = tmp_path / f"root-{number}"
            try:
                prepare(contract_run.ref, source=bad.source, root=root, check_counts=False)
            except DsregError as err:
                assert bad.message in str(err), f"{bad.what}: the error does not name {bad.message!r}: {err}"
            except Exception as err:
                pytest.fail(f"{bad.what}: raised {type(err).__name__}: {err}, not a DsregError")
            else:
                pytest.fail(f"{bad.what}: was prepared without an error")
            published = sorted(str(p.relative_to(root)) for p in root.rglob("manifest.json"))
            assert not published, f"{bad.what}: published {published}"
