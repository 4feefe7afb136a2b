"""Recipe-driven preparation: sources → reader tasks → shards → manifest, resumable and parallel.

Each split's reader tasks run independently — in this process, a process pool, or the elements of a
SLURM job array (`prepare_tasks`) — and write their parts under `<work>/_tasks/<split>/<task>/`, each
under its own lock; a task's `done.json` marks it finished, so a rerun after a crash skips it. When every
task is done the parts are renamed to their final shard names, counts are checked against the recipe,
and the version is published atomically.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from dsreg import provenance
from dsreg.errors import DsregError, reports_os_errors
from dsreg.features import Features
from dsreg.hashing import FollowingHasher
from dsreg.lock import FileLock
from dsreg.manifest import MANIFEST_NAME, AssetInfo, Manifest, SplitInfo, read_manifest
from dsreg.progress import bar
from dsreg.publish import VersionBuild, created_stamp, wait_message
from dsreg.readers import Reader, get_reader
from dsreg.recipe import RecipeConfig, SplitSpec
from dsreg.registry import get_recipe, parse_ref
from dsreg.roots import STAGING_MARKER, downloads_dir, may_create_in, search_roots, writable_root
from dsreg.sources import ResolvedSource, confirm_read, resolve_sources
from dsreg.sourcetree import SourceTree
from dsreg.splitfiles import split_reader_args
from dsreg.steps import FitInput, StepContext, apply_steps, bind_step, get_fitter, step_features, step_records
from dsreg.storage import DEFAULT_FORMAT, WrittenShard, get_format
from dsreg.version import __version__
from dsreg.workers import die_with_parent, pool_context

TASKS_DIR = "_tasks"
Budget = tuple[int, str] | None  # the most bytes one source member may hold, and why
ASSETS_DIR = "assets"
STEP_LOCKS = "_steps"  # under TASKS_DIR: the fitted steps' locks, scratch like the tasks' own
STATE_NAME = "_state.json"


@dataclass(frozen=True)
class TaskSpec:
    """Everything one worker needs to run one reader task; plain data, so it pickles to any process."""

    reader: str
    reader_args: dict[str, Any]
    features: Features
    steps: tuple[tuple[str, dict[str, Any]], ...]
    sources: dict[str, str]
    split: str
    split_args: dict[str, Any]
    task: str
    out_dir: str
    shard_size: int
    storage: str = DEFAULT_FORMAT
    member_budget: Budget = None  # for the members this task reads
    listing_budget: Budget = None  # for every member of a source, when listing it (the largest split's)
    out_features: Features | None = None  # what the steps write, when they add columns to the reader's
    progress: bool = False  # a bar of the rows this task has written, on stderr


@dataclass
class Progress:
    """What a preparation did, for the CLI's report."""

    tasks_total: int = 0
    tasks_reused: int = 0
    tasks_run: int = 0
    reused: bool = False
    sources: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None  # e.g. an existing version is of weaker provenance than what was offered


def run_task(spec: TaskSpec, trees: Mapping[str, SourceTree] | None = None, committer: Committer | None = None) -> bool:
    """Run one reader task unless another process already has; True when this call ran it.

    The task's lock keeps two processes (pool workers, array elements, a rerun) off the same task.
    `trees` are the sources already open in this process (an archive is then indexed once, not per task);
    a worker process opens its own. With a `committer`, the task's last step (syncing its shards, marking
    it done, releasing its lock) is handed to it, so that the next task runs meanwhile.
    """
    out = Path(spec.out_dir)
    lock = FileLock(out.with_name(out.name + ".lock"))
    lock.acquire()
    try:
        if (out / "done.json").exists():
            lock.release()
            return False
        trees = trees or {name: SourceTree.open(path) for name, path in spec.sources.items()}
        finish = _run_task_locked(spec, out, trees, defer=committer is not None)
    except BaseException:
        lock.release()
        raise

    def commit() -> None:
        try:
            lock.ensure_held("this task's shards were not committed by it")
            finish()
        finally:
            lock.release()

    if committer is None:
        commit()
    else:
        committer.submit(commit)
    return True


class Committer:
    """Runs finished tasks' last steps (sync the shards, mark the task done, release its lock) on a thread of
    its own, in order, while the next task reads and writes: the waits for the disk and for the shards'
    digests overlap that work. One commit is pending at most, so a slow disk holds the reading back instead of
    letting unsynced shards pile up. `submit` and `wait` raise a commit's failure; use as a context manager."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dsreg-commit")
        self._pending: Future[None] | None = None

    def submit(self, commit: Callable[[], None]) -> None:
        """Run `commit` once the one pending has ended, then raise that one's failure, if any (the task handed
        over now is committed all the same: its lock is released, and a rerun reuses it)."""
        previous, self._pending = self._pending, None
        failure = None if previous is None else previous.exception()
        self._pending = self._pool.submit(commit)
        if failure is not None:
            raise failure

    def wait(self) -> None:
        """Wait for the pending commit, raising its failure."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> Committer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:
                self.wait()  # raises a failed commit
        finally:
            self._pool.shutdown(wait=True)  # after an error the pending commit still ends (its lock released)


# a pool worker's open source trees, so an archive is indexed (a directory walked) once per worker, not once
# per task; a pool lives for one preparation, so the trees never outlive the sources they describe
_WORKER_TREES: dict[str, SourceTree] = {}


def _run_task_in_worker(spec: TaskSpec) -> tuple[bool, dict[str, int]]:
    """`run_task` in a pool worker, reusing the trees this worker already opened; with how far into each
    source file this worker's reads have reached (for the main process's `FollowingHasher`)."""
    trees = {}
    for name, path in spec.sources.items():
        if path not in _WORKER_TREES:
            _WORKER_TREES[path] = SourceTree.open(path)
        trees[name] = _WORKER_TREES[path]
    ran = run_task(spec, trees)
    return ran, {path: tree.high_water for path, tree in _WORKER_TREES.items()}


def _run_task_locked(spec: TaskSpec, out: Path, trees: Mapping[str, SourceTree], *, defer: bool) -> Callable[[], None]:
    """Write the task's shards into `<out>.partial`; return what finishes it: sync the shards (left to it with
    `defer`), mark the task done and rename it into place."""
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    reader = get_reader(spec.reader)(spec.reader_args, spec.features)
    features = spec.out_features or spec.features
    writer = get_format(spec.storage).writer(partial, "part", features, spec.shard_size, defer_sync=defer)
    try:
        with _bounded(trees, spec.listing_budget):
            for tree in trees.values():
                tree.names()  # a worker's own trees are listed here, against the bound every split allows
        context = StepContext(spec.split)
        with _bounded(trees, spec.member_budget):
            items = apply_steps(spec.steps, iter(reader.read(trees, spec.split, spec.split_args, spec.task)), context)
            with bar(None, f"{spec.split} task {spec.task}", unit="rows", enabled=spec.progress) as rows:
                for item in items:
                    if isinstance(item, pa.RecordBatch):
                        writer.write_batch(item)
                        rows.update(item.num_rows)
                    else:
                        writer.write(item)
                        rows.update(1)
        writer.flush()
    except BaseException:
        writer.abandon()
        raise
    dropped, notes = dict(sorted(context.dropped.items())), reader.notes()

    def finish() -> None:
        shards = writer.close()
        done = [{"file": s.path.name, "rows": s.rows, "bytes": s.bytes, "sha256": s.sha256} for s in shards]
        record = {"task": spec.task, "parts": done, "dropped": dropped, "notes": notes}
        (partial / "done.json").write_text(json.dumps(record), encoding="utf-8")
        os.replace(partial, out)

    return finish


def _dropped(task_dirs: list[Path]) -> dict[str, int]:
    """The rows the steps of finished tasks dropped, by reason, added over the tasks."""
    total: dict[str, int] = {}
    for task_dir in task_dirs:
        try:
            done = json.loads((task_dir / "done.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        for reason, count in done.get("dropped", {}).items():
            total[reason] = total.get(reason, 0) + int(count)
    return dict(sorted(total.items()))


def _done_shards(task_dir: Path) -> list[WrittenShard]:
    """The parts a finished task recorded, or [] if it never finished."""
    try:
        done = json.loads((task_dir / "done.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [WrittenShard(task_dir / p["file"], p["rows"], p["bytes"], p["sha256"]) for p in done["parts"]]


def _budget(config: RecipeConfig, split: str) -> Budget:
    """The most bytes a source member read for `split` may hold: 1.5 × the rows the recipe declares
    × the fixed row size (room for a vendor format's framing, names and labels) + 1 MiB, and why;
    None when a feature has no fixed size (text, audio) or the split's rows are not declared, so the
    recipe implies no bound."""
    rows = config.splits[split].rows
    if rows is None:
        return None
    row = 0
    for _, feature in config.features.items():
        shape = feature.example_shape()
        if not feature.fixed_shape or any(d is None for d in shape):
            return None
        row += math.prod(d for d in shape if d is not None) * feature.numpy_dtype().itemsize
    why = f"1.5 × the {rows} rows the recipe declares for {split} × {row} bytes a row, + 1 MiB"
    return rows * row * 3 // 2 + (1 << 20), why


@contextmanager
def _bounded(trees: Mapping[str, SourceTree], budget: Budget) -> Iterator[None]:
    """Every tree refuses members over `budget` inside the block (`SourceTree.bounded`)."""
    with ExitStack() as stack:
        for tree in trees.values():
            stack.enter_context(tree.bounded(*(budget or (None, ""))))
        yield


def _task_notes(work: Path, splits: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Split → what its reader tasks recorded as changed (`Reader.notes`), in task order; splits with none left out."""
    out: dict[str, list[dict[str, Any]]] = {}
    for split in splits:
        notes = []
        for done in sorted((work / TASKS_DIR / split).glob("[0-9][0-9][0-9][0-9][0-9]/done.json")):
            notes.extend(json.loads(done.read_text(encoding="utf-8")).get("notes", []))
        if notes:
            out[split] = notes
    return out


def _reader_metadata(reader: Reader, resolved: Mapping[str, ResolvedSource], work: Path, splits: Any) -> dict[str, Any]:
    """The manifest's `metadata.reader`: the reader's facts about the sources and the rows it changed, if any."""
    with ExitStack() as stack:
        trees = {name: stack.enter_context(SourceTree.open(src.path)) for name, src in resolved.items()}
        facts = reader.describe(trees)
    changed = _task_notes(work, splits)
    if changed:
        facts = {**facts, "changed": changed}
    return {"reader": facts} if facts else {}


def _build_id(config: RecipeConfig, sources: Mapping[str, ResolvedSource], states: Mapping[str, str]) -> str:
    """Identifies the inputs of a preparation, so a rerun resumes only work made from the same inputs."""
    ident = {
        "recipe": config.digest,
        "sources": {k: [_identity(s, states[k])] for k, s in sorted(sources.items())},
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]


def _identity(source: ResolvedSource, state: str) -> str:
    """What names a source's content: the recipe's digest for a file verified against it, the path of an
    unpacked directory, which has none. A file still to be verified by the pass that reads it is also named
    by its `state`: tasks made from it before its checksum was confirmed are never reused for another file
    or for the same file changed in place (a fixed copy put in its place starts afresh)."""
    if source.origin == "local-directory":
        return str(source.path)
    digest = source.spec.sha256 or source.sha256 or source.spec.md5 or source.md5 or str(source.path)
    if source.verified:
        return digest
    return f"{digest}@{source.path.resolve()}:{state}"


def _file_states(sources: Mapping[str, ResolvedSource]) -> dict[str, str]:
    """Each source file's device, inode, size, mtime and ctime: any write or replacement changes them, even
    one that restores the size and mtime (`touch -r`), since nothing can set a ctime back ("" for a directory)."""
    states = {}
    for name, source in sources.items():
        try:
            st = source.path.stat()
        except FileNotFoundError:
            states[name] = "missing"
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        states[name] = "" if is_dir else f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    return states


def _check_unchanged(sources: Mapping[str, ResolvedSource], states: Mapping[str, str], work: Path | None) -> None:
    """Refuse the pass if a source file changed (written, truncated, replaced) since `states` were taken: the
    tasks may hold bytes other than those its checksum was computed from, so they are deleted from `work` (None
    for an array element: other elements may be writing there, and no later run resumes work keyed by the
    old `states`)."""
    now = _file_states(sources)
    changed = [name for name in states if now[name] != states[name]]
    if changed:
        if work is not None:
            shutil.rmtree(work / TASKS_DIR, ignore_errors=True)
        path = sources[changed[0]].path
        kept = "nothing made from it was kept" if work is not None else "the final prepare will not reuse this work"
        raise DsregError(
            f"source {changed[0]!r} changed while it was being read (written to, or replaced); {kept}",
            path=path,
            fix="let whatever is writing or copying it finish, then run again",
        )


def _config_for(ref: str | RecipeConfig, storage: str | None = None) -> RecipeConfig:
    """The resolved recipe config a reference names (in `storage`, if given, instead of the recipe's format);
    a version other than the recipe's is refused."""
    if isinstance(ref, RecipeConfig):
        return ref.with_storage(storage)
    parsed = parse_ref(ref)
    config = get_recipe(parsed.name).config(parsed.config).with_storage(storage)
    if parsed.version and parsed.version != config.version:
        raise DsregError(
            f"the {config.name} recipe is at version {config.version}, not {parsed.version}",
            path=config.path,
            fix=f"prepare {config.name}/{config.config}:{config.version}, or use the dsreg release whose recipe "
            f"had version {parsed.version}",
        )
    return config


def _published(build: VersionBuild, config: RecipeConfig) -> Manifest | None:
    """The published version if it exists and came from this recipe; refuse one from another recipe."""
    existing = build.published()
    if existing is not None and existing.recipe_digest != config.digest:
        raise DsregError(
            f"{config.full_name} is already published from a different recipe",
            path=build.final,
            fix="bump the recipe's version: published versions never change",
        )
    return existing


def _records(resolved: Mapping[str, ResolvedSource], generated: bool) -> list[dict[str, Any]]:
    """The manifest's source records: what was used, and how it was obtained (its provenance). A source
    whose checksums have not been confirmed yet is never recorded as vendor-verified."""
    return [
        {
            **src.to_json(),
            "provenance": provenance.of_source(src.spec, src.origin, generated=generated)
            if src.verified or generated
            else provenance.LOCAL_UNVERIFIED,
        }
        for src in resolved.values()
    ]


def _pending_records(resolved: Mapping[str, ResolvedSource], generated: bool) -> list[dict[str, Any]]:
    """The work directory's record of its inputs while some are still to be verified by the reading pass:
    those carry the digests the recipe expects (which name their cache entries, so `gc` keeps them)."""
    records = _records(resolved, generated)
    for record, src in zip(records, resolved.values(), strict=True):
        if not src.verified:
            record.update(sha256=src.spec.sha256, md5=src.spec.md5, verification="pending")
    return records


def _weaker_note(existing: Manifest, config: RecipeConfig, source: object, generated: bool) -> str | None:
    """What to tell when the published version was made from weaker sources than those offered now."""
    offered = provenance.offered(config.sources, None if source is None else str(source), generated=generated)
    again = f"dsreg prepare {config.name}/{config.config}" + (f" --source {source}" if source is not None else "")
    return provenance.weaker_note(config.full_name, provenance.of_manifest(existing), offered, replace=again)


def _published_in_another_root(
    config: RecipeConfig, base: Path | None, root: str | os.PathLike[str] | None, say: Callable[[str], None]
) -> Manifest | None:
    """The version as already published in another root of the search path (read-only ones included), so a
    writable scratch root never silently receives a second full copy; node-local staging caches don't count.
    `base` (the writable root, None if there is none) counts too where this user may not create the version's
    lock there: a version another user published is theirs to finish, and this one's to read."""
    for other in search_roots(root):
        if (other / STAGING_MARKER).is_dir():
            continue
        if other == base and may_create_in(other / config.name / config.config):
            continue
        final = other / config.name / config.config / config.version
        if not (final / MANIFEST_NAME).exists():
            continue
        try:
            existing = read_manifest(final)
        except DsregError as err:
            fresh = f"; preparing a fresh copy under {base}" if base is not None and other != base else ""
            say(f"{config.full_name} at {final} does not read ({err.problem}){fresh}")
            continue
        if existing.recipe_digest != config.digest:
            raise DsregError(
                f"{config.full_name} is already published from a different recipe",
                path=final,
                fix="bump the recipe's version: published versions never change",
            )
        return existing
    return None


@reports_os_errors("prepare")
def prepare(
    ref: str | RecipeConfig,
    *,
    source: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    workers: int = 1,
    check_counts: bool = True,
    progress: bool = False,
    lock_timeout: float | None = None,
    stale_after: float = 120.0,
    storage: str | None = None,
    report: Progress | None = None,
    log: Callable[[str], None] | None = None,
    generated: bool = False,
) -> Manifest:
    """Prepare `name[/config][:version]` (or a resolved recipe config) under the first writable root and return
    its manifest. `generated` records the sources as synthetic (`dsreg demo`).

    Already published with the same recipe → returned as is (with a note in `report` if what is offered now
    has stronger provenance than what it was made from). A crash leaves a resumable
    `.incomplete-<id>` directory; the next call with the same inputs finishes it, reusing the tasks
    that finished (including those run by `prepare_tasks` array elements). `storage` (arrow, zarr, hdf5)
    overrides the recipe's shard format.
    """
    say = log or (lambda _msg: None)
    report = report if report is not None else Progress()
    config = _config_for(ref, storage)
    if workers < 1:
        raise DsregError(f"--workers must be at least 1, got {workers}")
    try:
        base = writable_root(root)
    except DsregError:  # no root to prepare in: a published version is all that can be given
        elsewhere = _published_in_another_root(config, None, root, say)
        if elsewhere is None:
            raise
    else:
        elsewhere = _published_in_another_root(config, base, root, say)
    if elsewhere is not None:
        report.reused = True
        report.note = _weaker_note(elsewhere, config, source, generated)
        say(f"{config.full_name} is already prepared at {elsewhere.directory}")
        return elsewhere
    reader = get_reader(config.reader)(config.reader_args, config.features)
    with VersionBuild(
        base,
        config.name,
        config.config,
        config.version,
        lock_timeout=lock_timeout,
        on_wait=wait_message(config.full_name),
        stale_after=stale_after,
    ) as build:
        existing = _published(build, config)
        if existing is not None:
            report.reused = True
            report.note = _weaker_note(existing, config, source, generated)
            build.discard_abandoned()
            say(f"{config.full_name} is already prepared at {build.final}")
            return existing
        sealed = build.sealed(config.digest)
        if sealed is not None:
            say(f"finishing {config.full_name}: an interrupted run had completed it in {sealed}")
            published = build.finish(sealed, scratch=[TASKS_DIR, STATE_NAME])
            report.sources = list(published.sources)
            say(f"published {config.full_name} at {build.final}")
            return published
        resolved = resolve_sources(
            config.sources, downloads_dir(base), local=source, progress=progress, defer_local=True
        )
        states = _file_states(resolved)
        work = build.start(_build_id(config, resolved, states))
        run = _run_all(
            config, reader, resolved, states, work, workers, report, say, generated=generated, progress=progress
        )
        if check_counts:
            _check_counts(config, run.parts)
        manifest = Manifest(
            name=config.name,
            config=config.config,
            version=config.version,
            features=run.features,
            splits=_with_directions(build.finalize_shards(run.parts, config.storage), config.splits),
            recipe_digest=config.digest,
            dsreg_version=__version__,
            created=created_stamp(),
            metadata={
                **config.metadata(),
                "counts_checked": check_counts and all(s.rows is not None for s in config.splits.values()),
                **({"dropped": run.dropped} if any(run.dropped.values()) else {}),
                **({"steps": run.steps} if run.steps else {}),
                **_reader_metadata(reader, resolved, work, config.splits),
            },
            sources=report.sources,
            supervised_keys=config.supervised_keys,
            evaluation=config.evaluation,
            provenance=provenance.weakest(s["provenance"] for s in report.sources),
            assets=_asset_infos(work, run.assets),
        )
        published = build.publish(manifest, scratch=[TASKS_DIR, STATE_NAME])
        say(f"published {config.full_name} at {build.final}")
        return published


def _with_directions(splits: dict[str, SplitInfo], specs: Mapping[str, SplitSpec]) -> dict[str, SplitInfo]:
    """The published splits with the translation direction their recipe declares (checked when loading)."""
    return {name: replace(info, direction=specs[name].direction) for name, info in splits.items()}


@reports_os_errors("prepare (array element)")
def prepare_tasks(
    ref: str,
    index: int,
    count: int,
    *,
    source: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    progress: bool = False,
    storage: str | None = None,
    report: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> Progress:
    """Run this array element's share of the reader tasks (task numbers ≡ `index` mod `count`).

    For SLURM job arrays: every element runs at once without the version lock (each task has its own),
    and a final `prepare` — e.g. a job depending on the array with `afterok` — publishes the result.
    """
    if not 0 <= index < count:
        raise DsregError(
            f"array element {index} is outside 0..{count - 1}",
            fix="pass --array INDEX/COUNT with 0 <= INDEX < COUNT, or --array slurm inside a job array",
        )
    say = log or (lambda _msg: None)
    report = report if report is not None else Progress()
    config = _config_for(ref, storage)
    try:
        base = writable_root(root)
    except DsregError:  # no root to work in: nothing to do if the version is published
        published = _published_in_another_root(config, None, root, say)
        if published is None:
            raise
        report.reused = True
        say(f"{config.full_name} is already prepared at {published.directory}")
        return report
    reader = get_reader(config.reader)(config.reader_args, config.features)
    build = VersionBuild(base, config.name, config.config, config.version)
    existing = _published_in_another_root(config, base, root, say) or _published(build, config)
    if existing is not None:
        report.reused = True
        build.discard_abandoned()
        say(f"{config.full_name} is already prepared at {existing.directory}")
        return report
    resolved = resolve_sources(config.sources, downloads_dir(base), local=source, progress=progress, defer_local=True)
    states = _file_states(resolved)
    work = build.start(_build_id(config, resolved, states), clean=False)

    def mine(number: int) -> bool:
        return number % count == index

    _run_all(
        config, reader, resolved, states, work, 1, report, say, select=mine, stop=build.final.exists, progress=progress
    )
    # A final prepare may have published meanwhile from other inputs, leaving this work abandoned:
    # the last element out removes it (the final prepare leaves work that elements still hold alone).
    build.discard_abandoned()
    return report


def _record_inputs(work: Path, config: RecipeConfig, sources: list[dict[str, Any]]) -> None:
    """Write what a work directory is built from, for whoever inspects it (its name already encodes them)."""
    state = {"recipe_digest": config.digest, "sources": sources}
    (work / STATE_NAME).write_text(json.dumps(state, indent=2), encoding="utf-8")


@dataclass(frozen=True)
class RunResult:
    """What running the tasks gave: the features written, each split's parts in task order, the rows the
    steps dropped per split, the files fitted steps made (path relative to the work directory, role), and what
    the steps that depend on their input record (`step_records`)."""

    features: Features
    parts: dict[str, list[WrittenShard]]
    dropped: dict[str, dict[str, int]]
    assets: list[tuple[str, str]]
    steps: list[dict[str, Any]]


def _fit_steps(
    config: RecipeConfig,
    reader: Reader,
    trees: Mapping[str, SourceTree],
    split_args: Mapping[str, dict[str, Any]],
    work: Path,
    features: Features,
) -> tuple[tuple[tuple[str, dict[str, Any]], ...], list[tuple[str, str]]]:
    """The steps with their arguments completed from the features each gets (`bind_step`) and what fitted
    steps learnt, and the files they made.

    A fitted step learns once per work directory, under a lock (array elements wait for the first), and
    records what it made in `done.json`, so a resumed preparation reuses it."""
    fitted: list[tuple[str, dict[str, Any]]] = []
    assets: list[tuple[str, str]] = []
    for index, (name, recipe_args) in enumerate(config.steps):
        args = bind_step(name, recipe_args, step_features(tuple(fitted), features))
        fitter = get_fitter(name)
        if fitter is None:
            fitted.append((name, args))
            continue
        relative = f"{ASSETS_DIR}/{name}-{index}"
        directory = work / relative

        rows = functools.partial(_rows_after, config, reader, trees, split_args, tuple(fitted))
        # the lock lives in the scratch `_tasks/`, never in `assets/`: what it leaves behind (a killed contender's
        # `.now-` probe or `.stale-` file) must never be published with the version
        lock = work / TASKS_DIR / STEP_LOCKS / f"{name}-{index}.lock"
        with FileLock(lock) as held:
            done = directory / "done.json"
            if not done.exists():
                partial = directory.with_name(directory.name + ".partial")
                if partial.exists():
                    shutil.rmtree(partial)
                extra, files = fitter(args, FitInput(rows, partial))
                extra = {**extra, "directory": str(directory)}
                (partial / "done.json").write_text(json.dumps({"args": extra, "files": files}), encoding="utf-8")
                held.ensure_held("what this step learnt was not committed by it")
                os.replace(partial, directory)
            record = json.loads(done.read_text(encoding="utf-8"))
        fitted.append((name, {**args, **record["args"]}))
        assets += [(f"{relative}/{file}", role) for file, role in record["files"]]
    return tuple(fitted), assets


def _rows_after(
    config: RecipeConfig,
    reader: Reader,
    trees: Mapping[str, SourceTree],
    split_args: Mapping[str, dict[str, Any]],
    steps: tuple[tuple[str, dict[str, Any]], ...],
    split: str,
) -> Iterator[Mapping[str, Any]]:
    """The rows of `split`, task by task in order, after `steps` (what a fitted step learns from)."""
    if split not in config.splits:
        raise DsregError(
            f"a step learns from split {split!r}, which {config.full_name} does not have",
            path=config.path,
            fix=f"use one of: {', '.join(config.splits)}",
        )
    for task in reader.tasks(trees, split, split_args[split]):
        items = reader.read(trees, split, split_args[split], task)
        for item in apply_steps(steps, iter(items), StepContext(split)):
            yield from (item.to_pylist() if isinstance(item, pa.RecordBatch) else [item])


def _reader_assets(reader: Reader, trees: Mapping[str, SourceTree], work: Path) -> list[tuple[str, str]]:
    """Write the files the reader publishes under `assets/reader/` (atomically, through a temporary file in the
    scratch `_tasks/`, so a killed run leaves none to publish; array elements write the same bytes) and return
    them as (path relative to the work directory, role)."""
    out = []
    for asset in reader.assets(trees):
        if not asset.name or "/" in asset.name or asset.name.startswith("."):
            raise DsregError(f"the reader names an asset {asset.name!r}", fix="use a plain file name")
        relative = f"{ASSETS_DIR}/reader/{asset.name}"
        path = work / relative
        if not path.is_file() or path.read_bytes() != asset.data:
            path.parent.mkdir(parents=True, exist_ok=True)
            (work / TASKS_DIR).mkdir(exist_ok=True)
            temp = work / TASKS_DIR / f".reader-{asset.name}.{os.getpid()}.tmp"
            temp.write_bytes(asset.data)
            os.replace(temp, path)
        out.append((relative, asset.role))
    return out


def _asset_infos(work: Path, assets: list[tuple[str, str]]) -> tuple[AssetInfo, ...]:
    """The manifest's records of the fitted steps' files: size and sha256 of each, as written."""
    out = []
    for path, role in assets:
        data = (work / path).read_bytes()
        out.append(AssetInfo(path, len(data), hashlib.sha256(data).hexdigest(), role))
    return tuple(out)


def _run_all(
    config: RecipeConfig,
    reader: Reader,
    resolved: Mapping[str, ResolvedSource],
    states: Mapping[str, str],
    work: Path,
    workers: int,
    report: Progress,
    say: Callable[[str], None],
    select: Callable[[int], bool] | None = None,
    stop: Callable[[], bool] | None = None,
    generated: bool = False,
    progress: bool = False,
) -> RunResult:
    """Run every unfinished task of every split (or those whose number `select` picks), one at a time
    until `stop()` says the work is no longer wanted, after fitting the steps that learn from the data;
    return what they made (the reader may complete the features from the data, and steps may add
    columns); a source whose file `states` no longer match is refused. Pool workers die with this process.
    `generated` records the sources as synthetic."""
    trees = {name: SourceTree.open(src.path) for name, src in resolved.items()}
    budgets = {split: _budget(config, split) for split in config.splits}
    bounds = [b for b in budgets.values() if b is not None]
    listing = max(bounds) if len(bounds) == len(budgets) else None
    with _bounded(trees, listing):
        for tree in trees.values():
            tree.names()
        # A source read by byte ranges (a plain tar) is hashed by the pass that reads it for the tasks and
        # verified after it, before anything is published; the others are verified before any task runs,
        # from the digests their listing computed (or from a pass of their own).
        streamed = [name for name, tree in trees.items() if tree.reads_by_range()]
        confirmed = {
            n: confirm_read(src, trees[n].digests()) if n not in streamed else src for n, src in resolved.items()
        }
    report.sources = _records(confirmed, generated)
    _record_inputs(work, config, _pending_records(confirmed, generated))
    paths = {name: str(src.path) for name, src in resolved.items()}
    split_args = {split: split_reader_args(spec, trees) for split, spec in config.splits.items()}
    features = reader.resolve_features(trees, split_args)
    if features != config.features:
        reader = get_reader(config.reader)(config.reader_args, features)
    steps, assets = _fit_steps(config, reader, trees, split_args, work, features)
    assets += _reader_assets(reader, trees, work)
    out_features = step_features(steps, features)
    plan: dict[str, list[Path]] = {}
    pending: list[TaskSpec] = []
    report.tasks_total = 0
    for split, split_spec in config.splits.items():
        with _bounded(trees, budgets[split]):
            tasks = reader.tasks(trees, split, split_args[split])
        if not tasks and split_spec.optional:
            say(f"  {split}: not in the source (an optional split), left out")
            continue
        if not tasks:
            raise DsregError(
                f"{config.full_name}: the source has nothing for split {split!r}",
                path=config.path,
                fix="pass the complete source (the release, not a part of it); a split a source may lack is "
                "marked `optional: true` in the recipe",
            )
        plan[split] = []
        for index, task in enumerate(tasks):
            out = work / TASKS_DIR / split / f"{index:05d}"
            plan[split].append(out)
            if (out / "done.json").exists():
                report.tasks_reused += 1
                continue
            if select is not None and not select(report.tasks_total + index):
                continue
            pending.append(
                TaskSpec(
                    reader=config.reader,
                    reader_args=config.reader_args,
                    features=features,
                    steps=steps,
                    sources=paths,
                    split=split,
                    split_args=split_args[split],
                    task=task,
                    out_dir=str(out),
                    shard_size=config.shard_size,
                    storage=config.storage,
                    member_budget=budgets[split],
                    listing_budget=listing,
                    out_features=out_features if out_features != features else None,
                    progress=progress and workers <= 1,  # pool workers' bars would overwrite each other
                )
            )
        report.tasks_total += len(tasks)
    if not plan:
        raise DsregError(
            f"{config.full_name}: the source holds none of the splits {', '.join(config.splits)}",
            path=config.path,
            fix="check that --source is the right archive or folder for this config",
        )
    if report.tasks_reused:
        say(f"resuming: {report.tasks_reused} of {report.tasks_total} tasks already done")
    for out in {Path(t.out_dir).parent for t in pending}:
        out.mkdir(parents=True, exist_ok=True)
    # An array element leaves the whole-file checksums to the final `prepare`, which verifies them once.
    verify = streamed if select is None else []
    if workers > 1 and len(pending) > 1:
        followers = {name: FollowingHasher(resolved[name].path) for name in verify}
        try:
            with ProcessPoolExecutor(
                max_workers=min(workers, len(pending)),
                mp_context=pool_context(type(reader).__module__),
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            ) as pool:
                results = pool.map(_run_task_in_worker, pending)
                for number, (spec, (ran, reached)) in enumerate(zip(pending, results, strict=True), 1):
                    for name, follower in followers.items():
                        if reached.get(paths[name]):
                            follower.advance(reached[paths[name]])
                    _count(report, spec, ran, number, len(pending), say)
            digests: dict[str, dict[str, str] | None] = {name: f.finish() for name, f in followers.items()}
        finally:
            for follower in followers.values():
                follower.stop()
    else:
        for name in verify:
            trees[name].hash_reads()
        try:
            with Committer() as committer:
                for number, spec in enumerate(pending, 1):
                    if stop is not None and stop():
                        say("stopping: the version was published meanwhile")
                        break
                    _count(report, spec, run_task(spec, trees, committer), number, len(pending), say)
                digests = {name: trees[name].digests() for name in verify}
        except BaseException:
            for tree in trees.values():
                tree.close()  # ends the hashing threads of a failed pass
            raise
    _check_unchanged(resolved, states, work if select is None else None)
    if verify:
        _confirm_streamed(confirmed, digests, work)
        report.sources = _records(confirmed, generated)
        _record_inputs(work, config, report.sources)
    parts = {split: [s for out in outs for s in _done_shards(out)] for split, outs in plan.items()}
    dropped = {split: _dropped(outs) for split, outs in plan.items()}
    return RunResult(out_features, parts, dropped, assets, step_records(steps))


def _confirm_streamed(
    confirmed: dict[str, ResolvedSource], digests: Mapping[str, dict[str, str] | None], work: Path
) -> None:
    """Verify the sources hashed by the reading pass (in place in `confirmed`). On a mismatch the tasks made
    from the file are deleted, so that nothing made from it is ever published or resumed, and it raises."""
    try:
        for name, found in digests.items():
            confirmed[name] = confirm_read(confirmed[name], found)
    except DsregError:
        shutil.rmtree(work / TASKS_DIR, ignore_errors=True)
        raise


def _count(report: Progress, spec: TaskSpec, ran: bool, number: int, total: int, say: Callable[[str], None]) -> None:
    """Record and tell one finished task: run here, or finished meanwhile by another process."""
    if ran:
        report.tasks_run += 1
    else:
        report.tasks_reused += 1
    how = "done" if ran else "done by another process"
    say(f"  {spec.split} task {spec.task} {how} ({number}/{total})")


def _check_counts(config: RecipeConfig, parts: Mapping[str, list[WrittenShard]]) -> None:
    """Refuse to publish a split whose row count differs from the recipe's official one (where the recipe
    knows it; an optional split the source lacks has no parts and nothing to check)."""
    wrong = {
        split: (sum(s.rows for s in parts[split]), spec.rows)
        for split, spec in config.splits.items()
        if split in parts and spec.rows is not None and sum(s.rows for s in parts[split]) != spec.rows
    }
    if wrong:
        detail = ", ".join(f"{split}: {got} rows, expected {want}" for split, (got, want) in wrong.items())
        raise DsregError(
            f"{config.full_name} does not have the official split sizes ({detail}); nothing was published",
            path=config.path,
            fix="check that the raw data is complete and the right release; "
            "pass --no-check-counts only for a deliberately partial copy",
        )
