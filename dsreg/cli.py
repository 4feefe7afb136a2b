"""The `dsreg` command: list, info, prepare, verify, export, ls, rm, gc, cache, demo, evaluate and scores,
each a thin wrapper over the library.

Human-readable output by default, `--json` for scripts. Exit codes: 0 success, 1 verification found
problems, 2 usage error, 3 any other failure (a DsregError, printed with its fix).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dsreg.cli_cache import add_cache_parser, check_command, split_command
from dsreg.cli_scores import add_evaluation_parsers
from dsreg.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, EXIT_VERIFY_FAILED, DsregError, os_error
from dsreg.progress import wanted
from dsreg.provenance import MEANING, of_manifest
from dsreg.sizes import human_bytes

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "EXIT_VERIFY_FAILED", "build_parser", "main"]

# dsreg.storage.FORMATS and export.EXPORT_FORMATS, named here so the CLI starts without pyarrow
STORAGE_FORMATS = ("arrow", "zarr", "hdf5")
EXPORT_FORMATS = ("parquet", "hdf5", "zarr")


class UsageError(DsregError):
    """A command used wrongly in a way argparse cannot see (exit code 2, like argparse's own errors)."""


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def cmd_list(args: argparse.Namespace) -> int:
    from dsreg.api import list_datasets

    if args.readers:
        return cmd_list_readers(args)
    if args.metrics:
        return cmd_list_metrics(args)
    broken: list[DsregError] = []  # unreadable manifests (a broken recipe is an entry of its own)
    datasets: list[dict[str, Any]] = list_datasets(args.root, broken)
    rows = [
        [
            d["name"],
            "BROKEN" if "error" in d else d["version"],
            f"{d['error']} ({d['path']})" if "error" in d else ", ".join(d["configs"]),
            ", ".join(f"{p['config']}:{p['version']}" for p in d["prepared"]) or "-",
        ]
        for d in datasets
    ]
    text = _table(rows, ["NAME", "VERSION", "CONFIGS", "PREPARED"]) if rows else "no datasets"
    _emit(args, datasets + _broken_json(broken), text + _broken_text(broken))
    return EXIT_OK


def cmd_list_readers(args: argparse.Namespace) -> int:
    from dsreg.readers import reader_infos

    infos = reader_infos()
    lines = []
    for info in infos:
        lines.append(f"{info.name}  ({info.distribution}: {info.entry_point})")
        if info.cls is None:
            lines.append(f"  cannot be loaded: {info.error}")
            continue
        lines.append(f"  {info.cls.description()}")
        declared = [("reader.args", a) for a in info.cls.arguments]
        declared += [("splits.<split>.args", a) for a in info.cls.split_arguments]
        for where, arg in declared:
            lines.append(f"  {where}.{arg.name} ({arg.summary()}): {arg.help}")
    _emit(args, [i.to_json() for i in infos], "\n".join(lines) or "no readers are installed")
    return EXIT_OK


def cmd_list_metrics(args: argparse.Namespace) -> int:
    from dsreg.metrics import metric_infos

    infos = metric_infos()
    lines = []
    for info in infos:
        lines.append(f"{info.name}  ({info.distribution}: {info.entry_point})")
        if info.cls is None:
            lines.append(f"  cannot be loaded: {info.error}")
            continue
        native = f"; native predictions: {', '.join(info.cls.native_suffixes)}" if info.cls.native_suffixes else ""
        lines.append(f"  {info.cls.description()} (version {info.cls.version}{native})")
        lines += [f"  evaluation.args.{a.name} ({a.summary()}): {a.help}" for a in info.cls.arguments]
    _emit(args, [i.to_json() for i in infos], "\n".join(lines) or "no metrics are installed")
    return EXIT_OK


def _provenance(kind: str | None) -> str:
    """A provenance as `dsreg ls`/`info`/`prepare` print it: the kind and what it means."""
    return f"{kind} ({MEANING[kind]})" if kind else "written (by write_dataset, not from a recipe's sources)"


def _broken_json(broken: list[DsregError]) -> list[dict[str, Any]]:
    return [{"path": err.path, "error": err.problem, "fix": err.fix} for err in broken]


def _broken_text(broken: list[DsregError]) -> str:
    """One `BROKEN` line per unreadable recipe or manifest, so one bad file is seen without hiding the rest."""
    return "".join(f"\nBROKEN {err.path}: {err.problem}" + (f"; fix: {err.fix}" if err.fix else "") for err in broken)


def cmd_info(args: argparse.Namespace) -> int:
    from dsreg.api import info

    data = info(args.name, args.root)
    lines = [f"{data['name']}/{data.get('config')}:{data.get('version')}"]
    if data.get("description"):
        lines.append(f"  {data['description']}")
    for key in ("homepage", "license", "recipe", "reader"):
        if data.get(key):
            lines.append(f"{key}: {data[key]}")
    if data.get("configs"):
        also = f", and any name matching {data['generic_configs']}" if data.get("generic_configs") else ""
        lines.append(f"configs: {', '.join(data['configs'])}{also}")
    lines.append("features:")
    for col, spec in data["features"].items():
        extra = {k: v for k, v in spec.items() if k != "type"}
        if "names" in extra:
            names = extra.pop("names")
            extra["classes"] = f"{len(names)} ({', '.join(names[:5])}{', …' if len(names) > 5 else ''})"
        lines.append(f"  {col}: {spec['type']} {' '.join(f'{k}={v}' for k, v in extra.items())}".rstrip())
    if data.get("supervised_keys"):
        lines.append(f"supervised keys: {data['supervised_keys'][0]} → {data['supervised_keys'][1]}")
    if data.get("evaluation"):
        lines.append(f"evaluation: {data['evaluation'].get('metric')}")
    prepared = data.get("prepared")
    splits = data.get("splits") or {}
    lines.append("splits:")
    for name in splits or (prepared or {}).get("splits", {}):
        expected = splits.get(name, {}).get("rows")
        unknown = " size not known" + (", optional" if splits.get(name, {}).get("optional") else "")
        have = (prepared or {}).get("splits", {}).get(name)
        got = (
            f", prepared {have['rows']:,} rows in {have['shards']} {have.get('format', 'arrow')} shards "
            f"({human_bytes(have['bytes'])})"
            if have
            else ""
        )
        direction = splits.get(name, {}).get("direction")
        got += f", {direction[0]}→{direction[1]} only" if direction else ""
        lines.append(f"  {name}: {expected:,} rows{got}" if expected is not None else f"  {name}:{unknown}{got}")
    for src in data.get("sources", []):
        where = ", ".join(src["urls"]) or "manual"
        digest = f"sha256 {src['sha256']}" if src.get("sha256") else f"md5 {src['md5']}" if src.get("md5") else ""
        lines.append(f"source {src['name']}: {src['filename']} ({where}) {digest}".rstrip())
    lines.append(f"prepared at: {prepared['path']}" if prepared else "prepared: no (run `dsreg prepare`)")
    if prepared:
        lines.append(f"provenance: {_provenance(prepared.get('provenance'))}")
    if data.get("citation"):
        lines.append("citation:\n" + "\n".join("  " + c for c in data["citation"].rstrip().splitlines()))
    _emit(args, data, "\n".join(lines))
    return EXIT_OK


def _array_element(spec: str) -> tuple[int, int]:
    """`--array 3/16` → (3, 16); `--array slurm` reads the SLURM job-array environment."""
    if spec == "slurm":
        return _slurm_element()
    index, sep, count = spec.partition("/")
    if not (sep and index.isdigit() and count.isdigit()):
        raise DsregError(f"cannot read --array {spec!r}", fix="write INDEX/COUNT, e.g. --array 3/16, or --array slurm")
    return int(index), int(count)


def _slurm_element() -> tuple[int, int]:
    """This SLURM job-array element's (index, count): its place in the array's range FIRST-LAST[:STEP]."""
    env = os.environ
    try:
        task, count = int(env["SLURM_ARRAY_TASK_ID"]), int(env["SLURM_ARRAY_TASK_COUNT"])
        first, step = int(env.get("SLURM_ARRAY_TASK_MIN", "0")), int(env.get("SLURM_ARRAY_TASK_STEP") or "1")
        last = int(env.get("SLURM_ARRAY_TASK_MAX", str(first + (count - 1) * step)))
    except (KeyError, ValueError):
        raise DsregError(
            "--array slurm needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT",
            fix="run it inside `sbatch --array=0-N`, or pass --array INDEX/COUNT",
        ) from None
    index, off_step = divmod(task - first, step) if step > 0 else (task - first, 1)
    if off_step or last - first != (count - 1) * step:
        raise DsregError(
            f"this SLURM job array's {count} elements ({first} to {last}, this one {task}) are not an evenly "
            "spaced range: it has gaps, so its elements cannot be numbered 0 to COUNT-1 to share the tasks",
            fix=f"submit the array as one range, e.g. sbatch --array=0-{count - 1} (a :STEP or a %LIMIT is fine), "
            "or pass --array INDEX/COUNT to each element",
        )
    return index, count


def cmd_prepare_array(args: argparse.Namespace) -> int:
    from dsreg.preparation import Progress, prepare_tasks

    index, count = _array_element(args.array)
    log = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    report = prepare_tasks(
        args.name,
        index,
        count,
        source=args.source,
        root=args.root,
        storage=args.storage,
        report=Progress(),
        log=log,
        progress=wanted(json_output=args.json, quiet=args.quiet),
    )
    data = {
        "array": [index, count],
        "reused": report.reused,
        "tasks": {"total": report.tasks_total, "run": report.tasks_run, "already_done": report.tasks_reused},
    }
    text = f"array element {index}/{count}: {report.tasks_run} tasks run, {report.tasks_reused} were already done"
    if report.reused:
        text = f"array element {index}/{count}: already published, nothing to do"
    _emit(args, data, text + "\nfinish with the same `dsreg prepare` without --array once every element is done")
    return EXIT_OK


def cmd_prepare(args: argparse.Namespace) -> int:
    from dsreg.preparation import Progress, prepare

    if args.array:
        return cmd_prepare_array(args)
    report = Progress()
    log = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    start = time.monotonic()
    manifest = prepare(
        args.name,
        source=args.source,
        root=args.root,
        workers=args.workers,
        check_counts=not args.no_check_counts,
        progress=wanted(json_output=args.json, quiet=args.quiet),
        lock_timeout=args.lock_timeout,
        storage=args.storage,
        report=report,
        log=log,
    )
    seconds = time.monotonic() - start
    data = {
        "dataset": manifest.full_name,
        "path": str(manifest.directory),
        "reused": report.reused,
        "tasks": {"total": report.tasks_total, "reused": report.tasks_reused, "run": report.tasks_run},
        "splits": {
            s.name: {"rows": s.rows, "bytes": s.bytes, "shards": len(s.shards), "format": s.format}
            for s in manifest.splits.values()
        },
        "seconds": round(seconds, 3),
        "provenance": of_manifest(manifest),
        "note": report.note,
    }
    if report.note and not args.json:
        print(f"dsreg: note: {report.note}", file=sys.stderr)
    text = [f"{manifest.full_name} {'already prepared' if report.reused else 'prepared'} at {manifest.directory}"]
    text.append(f"  provenance: {_provenance(of_manifest(manifest))}")
    for s in manifest.splits.values():
        text.append(f"  {s.name}: {s.rows:,} rows, {len(s.shards)} {s.format} shards, {human_bytes(s.bytes)}")
    if not report.reused:
        text.append(f"  {report.tasks_run} tasks run, {report.tasks_reused} reused, {seconds:.1f} s")
    _emit(args, data, "\n".join(text))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from dsreg.api import export

    data = export(args.name, args.split, args.format, args.out, root=args.root)
    _emit(args, data, f"exported {data['dataset']} {data['split']} ({data['rows']:,} rows) to {data['path']}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from dsreg.api import verify
    from dsreg.manifest import read_manifest

    progress = wanted(json_output=args.json, quiet=args.quiet)
    directory, problems = verify(args.name, deep=args.deep, root=args.root, progress=progress)
    sealed = None if problems else read_manifest(directory).digest is not None
    data = {
        "path": directory,
        "deep": args.deep,
        "ok": not problems,
        "manifest_digest": sealed,
        "problems": [vars(p) for p in problems],
    }
    if problems:
        text = f"FAIL {directory}\n" + "\n".join(f"  {p}" for p in problems)
        text += "\nfix: re-prepare the dataset (move the broken version away first), or restore it from a good copy"
    else:
        checked = (
            "every shard re-hashed and checked against its own schema, features, rows and labels"
            if args.deep
            else "sizes and presence; --deep re-hashes and checks each shard's schema"
        )
        text = f"OK {directory} (manifest {'digest verified' if sealed else 'structure checked'}; {checked})"
        if not sealed:
            text += (
                "\nnote: this manifest carries no digest (written before dsreg sealed its manifests), so a damaged "
                "manifest field could go unnoticed where the shards cannot contradict it; re-prepare to seal it"
            )
    _emit(args, data, text)
    return EXIT_VERIFY_FAILED if problems else EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    from dsreg.registry import list_prepared
    from dsreg.roots import search_roots

    broken: list[DsregError] = []
    manifests = list_prepared(args.path or args.root, broken)
    opened: dict[str, Any] = {}  # full name -> the copy `open` resolves to: the first root holding it
    for m in manifests:
        opened.setdefault(m.full_name, m)
    shadowed = [(m, opened[m.full_name]) for m in manifests if opened[m.full_name] is not m]
    data: list[dict[str, Any]] = [
        {
            "name": m.name,
            "config": m.config,
            "version": m.version,
            "rows": m.rows,
            "bytes": m.bytes,
            "splits": {s.name: s.rows for s in m.splits.values()},
            "prepared_by": f"{m.created.get('user')}@{m.created.get('host')}",
            "created": m.created.get("time"),
            "provenance": of_manifest(m),
            "path": str(m.directory),
            "shadowed_by": None if opened[m.full_name] is m else str(opened[m.full_name].directory),
        }
        for m in manifests
    ]
    rows = [
        [
            f"{m.name}/{m.config}:{m.version}",
            f"{m.rows:,}",
            human_bytes(m.bytes),
            of_manifest(m) or "written",
            f"{m.created.get('user')}@{m.created.get('host')}",
            str(m.created.get("time")),
        ]
        for m in manifests
    ]
    where = ", ".join(map(str, search_roots(args.path or args.root)))
    text = (
        _table(rows, ["DATASET", "ROWS", "SIZE", "PROVENANCE", "PREPARED BY", "WHEN"])
        if rows
        else f"nothing prepared under {where}"
    )
    _emit(args, data + _broken_json(broken), text + _shadowed_text(shadowed) + _broken_text(broken))
    return EXIT_OK


def _shadowed_text(shadowed: list[tuple[Any, Any]]) -> str:
    """One `SHADOWED` line per copy of a version that an earlier root also holds: that earlier copy is what
    every `open`/`load` reads, so say where each is and whether their contents (features and shard digests)
    agree."""

    def content(m: Any) -> Any:
        return m.features.to_json(), [(s.name, [x.to_json() for x in s.shards]) for s in m.splits.values()]

    lines = []
    for hidden, used in shadowed:
        same = content(hidden) == content(used)
        lines.append(
            f"\nSHADOWED {hidden.full_name} at {hidden.directory}: opens as {used.directory} (an earlier root), "
            + ("the same content" if same else "whose content DIFFERS")
        )
    return "".join(lines)


def cmd_rm(args: argparse.Namespace) -> int:
    from dsreg.lifecycle import check_may_remove, locate, remove

    manifest = locate(args.name, args.root)
    assert manifest.directory is not None  # read_manifest attaches it
    check_may_remove(manifest.directory)
    what = (
        f"{manifest.full_name} at {manifest.directory} ({manifest.rows:,} rows, {human_bytes(manifest.bytes)}, "
        f"prepared by {manifest.created.get('user')}@{manifest.created.get('host')} on {manifest.created.get('time')})"
    )
    if not args.yes:
        if args.json or not sys.stdin.isatty():
            raise UsageError(f"refusing to remove {manifest.full_name} without confirmation", fix="pass --yes")
        answer = input(f"remove {what}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed", file=sys.stderr)
            return EXIT_ERROR
    removed = remove(args.name, args.root)
    _emit(args, {"removed": removed.full_name, "path": str(removed.directory)}, f"removed {what}")
    return EXIT_OK


def cmd_gc(args: argparse.Namespace) -> int:
    from dsreg.lifecycle import collect

    removed, notes = collect(args.root, older_than_days=args.older_than, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    data = {
        "dry_run": args.dry_run,
        "removed": [
            {"path": str(g.path), "kind": g.kind, "bytes": g.bytes, "age_days": round(g.age_days, 1)} for g in removed
        ],
        "notes": notes,
    }
    lines = [f"{verb} {g.kind} {g.path} ({human_bytes(g.bytes)}, {g.age_days:.1f} days old)" for g in removed]
    lines.append(f"{verb} {len(removed)} item(s), {human_bytes(sum(g.bytes for g in removed))}")
    lines += [f"note: {n}" for n in notes]
    _emit(args, data, "\n".join(lines))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    if args.corpus == "imagenet":
        from dsreg.demo_imagenet import run_imagenet_demo as run_demo
    else:
        from dsreg.demo import run_demo

    result = run_demo(args.root, rows=args.rows, log=None if args.json else print)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return EXIT_OK if result["verified"] else EXIT_VERIFY_FAILED


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars (they are drawn only when stderr is a terminal)"
    )
    common.add_argument("--root", help="dataset root (default: DSREG_ROOT, a colon-separated search path)")
    parser = argparse.ArgumentParser(prog="dsreg", description="Prepared, versioned, verified datasets.")
    from dsreg.version import __version__

    parser.add_argument("--version", action="version", version=f"dsreg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", parents=[common], help="recipes, and which are prepared where")
    p.add_argument("--readers", action="store_true", help="list the installed readers and their arguments instead")
    p.add_argument("--metrics", action="store_true", help="list the installed metrics and their arguments instead")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("info", parents=[common], help="features, splits, sizes, sources, license, citation")
    p.add_argument("name", help="NAME[/CONFIG][:VERSION]")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("prepare", parents=[common], help="download or take a local copy, verify, shard, publish")
    p.add_argument("name", help="NAME[/CONFIG][:VERSION]")
    p.add_argument(
        "--source", help="a local copy of the raw data: the vendor archive, or a directory holding it unpacked"
    )
    p.add_argument("--workers", type=int, default=1, help="parallel reader tasks (processes)")
    p.add_argument(
        "--no-check-counts", action="store_true", help="publish even if split sizes differ from the recipe's"
    )
    p.add_argument("--lock-timeout", type=float, default=None, help="seconds to wait for another preparer")
    p.add_argument(
        "--storage",
        choices=STORAGE_FORMATS,
        default=None,
        help="shard format, overriding the recipe's `storage` (default: the recipe's, else arrow)",
    )
    p.add_argument(
        "--array",
        metavar="INDEX/COUNT|slurm",
        help="run only this job-array element's share of the reader tasks; publish later without --array",
    )
    p.set_defaults(func=cmd_prepare)
    p = sub.add_parser("verify", parents=[common], help="check shards are present and intact (exit 1 if not)")
    p.add_argument("name", help="NAME[/CONFIG][:VERSION] or a prepared version directory")
    p.add_argument("--deep", action="store_true", help="re-hash every shard against the manifest")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("export", parents=[common], help="write a prepared split as Parquet, HDF5 or zarr")
    p.add_argument("name", help="NAME[/CONFIG][:VERSION] or a prepared version directory")
    p.add_argument("split", help="a split expression, e.g. train or train[:10%%]")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="the file format to write")
    p.add_argument("--out", required=True, type=Path, help="the file (or zarr directory) to create")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("ls", parents=[common], help="browse prepared datasets on the shared filesystem")
    p.add_argument("path", nargs="?", help="a root to browse (default: the search roots)")
    p.set_defaults(func=cmd_ls)
    p = sub.add_parser("rm", parents=[common], help="remove a published version (asks first; --yes to not ask)")
    p.add_argument("name", help="NAME/CONFIG:VERSION, exactly")
    p.add_argument("--yes", "-y", action="store_true", help="remove without asking")
    p.set_defaults(func=cmd_rm)
    p = sub.add_parser("gc", parents=[common], help="remove stale preparation work and unreferenced downloads")
    p.add_argument("--older-than", type=float, default=7.0, metavar="DAYS", help="only what is untouched this long")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.set_defaults(func=cmd_gc)
    p = sub.add_parser(
        "demo", parents=[common], help="prepare, verify and read a generated CIFAR-10 (or ImageNet) with no network"
    )
    p.add_argument("corpus", nargs="?", default="cifar10", choices=["cifar10", "imagenet"], help="what to generate")
    p.add_argument(
        "--rows", type=int, default=None, help="train rows to generate (default: CIFAR-10's 50,000; ImageNet 200)"
    )
    p.set_defaults(func=cmd_demo)
    add_cache_parser(sub, common)
    add_evaluation_parsers(sub, common)
    return parser


def _report(args: argparse.Namespace, err: DsregError) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": err.problem, "path": err.path, "fix": err.fix}), file=sys.stderr)
    else:
        print(f"dsreg: error: {err}", file=sys.stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    argv, command = split_command(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    check_command(parser, args, command)
    if hasattr(signal, "SIGXFSZ"):
        # past `ulimit -f` a write then fails with EFBIG, reported below, instead of killing the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        code: int = args.func(args)
    except UsageError as err:
        parser.error(str(err))
    except DsregError as err:
        return _report(args, err)
    except OSError as err:  # disk full, file too large, permission denied... deep inside a library
        return _report(args, os_error(err, f"dsreg {args.command} failed"))
    except KeyboardInterrupt:
        print("dsreg: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
