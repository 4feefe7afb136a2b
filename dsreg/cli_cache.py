"""`dsreg cache stage|run|usage|gc`: the command line of node-local staging (the library is dsreg.staging).

Registered by `dsreg.cli` like every other verb, so it shares `--json`, error printing and exit codes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from dsreg.errors import EXIT_OK, DsregError
from dsreg.sizes import human_bytes


def add_cache_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `cache` and its own verbs to the `dsreg` sub-command table `sub`."""
    cache = sub.add_parser("cache", help="node-local staging: `dsreg cache stage|run|usage|gc …`")
    verbs = cache.add_subparsers(dest="cache_command", required=True, metavar="CACHE_COMMAND")
    cache_help = "node-local cache directory (default: $DSREG_CACHE, else $SLURM_TMPDIR/dsreg)"
    budget_help = "most bytes the cache may hold, e.g. 200GB or 0 (default: $DSREG_CACHE_BUDGET, else no limit)"
    budget_default = os.environ.get("DSREG_CACHE_BUDGET") or None
    for name, text in (
        ("stage", "copy datasets into the cache; prints each copy's directory"),
        (
            "run",
            "stage datasets, then run COMMAND (after --) with DSREG_ROOT preferring the cache and the "
            "copies held in use until it exits",
        ),
    ):
        p = verbs.add_parser(name, parents=[common], help=text, description=text)
        p.add_argument("datasets", nargs="+", help="references (name[/config][:version]) or version directories")
        p.add_argument("--cache", type=Path, help=cache_help)
        p.add_argument("--budget", default=budget_default, help=budget_help)
        p.add_argument("--no-verify", dest="verify", action="store_false", help="skip sha256 checks (sizes only)")
        p.set_defaults(func=cmd_cache_stage)
    verbs.choices["stage"].add_argument(
        "--export", action="store_true", help="print `export DSREG_ROOT=...` instead of the copies' directories"
    )
    p = verbs.add_parser("usage", parents=[common], help="list the staged versions, least recently used first")
    p.add_argument("--cache", type=Path, help=cache_help)
    p.set_defaults(func=cmd_cache_usage)
    p = verbs.add_parser("gc", parents=[common], help="remove abandoned partial copies and evict down to the budget")
    p.add_argument("--cache", type=Path, help=cache_help)
    p.add_argument("--budget", default=budget_default, help=budget_help)
    p.set_defaults(func=cmd_cache_gc)


def cmd_cache_stage(args: argparse.Namespace) -> int:
    """`stage` and `run`: copy each dataset, holding every copy in use until this process (or COMMAND) ends."""
    from dsreg.staging import budget, default_cache_dir, stage_held, staged_root

    command: list[str] = args.command_after or []
    cache = args.cache or default_cache_dir()
    limit = None if args.budget is None else budget(args.budget)
    fds: list[int] = []  # each copy stays held so staging the next one cannot evict it
    try:
        staged: list[dict[str, Any]] = []
        for dataset in args.datasets:
            start = time.monotonic()
            path, fd, copied = stage_held(dataset, cache, limit, args.verify, args.root)
            fds.append(fd)
            seconds = time.monotonic() - start
            staged.append({"dataset": dataset, "path": str(path), "copied": copied, "seconds": round(seconds, 3)})
            how = f"copied in {seconds:.1f}s" if copied else "already staged"
            print(f"dsreg: {dataset} -> {path} ({how})", file=sys.stderr)
        dsreg_root = staged_root(cache, args.root)
        if command:
            _exec(command, fds, dsreg_root)
        if args.json:
            print(json.dumps({"staged": staged, "dsreg_root": dsreg_root}, indent=2))
        else:
            print(f"export DSREG_ROOT={dsreg_root}" if args.export else "\n".join(s["path"] for s in staged))
    finally:
        for fd in fds:
            os.close(fd)
    return EXIT_OK


def cmd_cache_usage(args: argparse.Namespace) -> int:
    from dsreg.staging import cache_usage, default_cache_dir

    cache = args.cache or default_cache_dir()
    rows = cache_usage(cache)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row["last_used"]))
        flag = "  in use" if row["in_use"] else ""
        print(f"{row['name']}/{row['config']}:{row['version']}  {human_bytes(row['bytes'])}  last used {when}{flag}")
    print(f"total {human_bytes(sum(r['bytes'] for r in rows))} in {len(rows)} version(s) under {cache}")
    return EXIT_OK


def cmd_cache_gc(args: argparse.Namespace) -> int:
    from dsreg.staging import budget, default_cache_dir, gc

    removed = gc(args.cache or default_cache_dir(), None if args.budget is None else budget(args.budget))
    print(
        json.dumps({"removed": [str(p) for p in removed]}, indent=2)
        if args.json
        else "\n".join(f"removed {p}" for p in removed) or "nothing to remove"
    )
    return EXIT_OK


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """`dsreg cache run … -- COMMAND…` → (the dsreg arguments, COMMAND); COMMAND is empty without `--`."""
    if argv[:1] == ["cache"] and "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


def check_command(parser: argparse.ArgumentParser, args: argparse.Namespace, command: list[str]) -> None:
    """Only `cache run` takes a command after `--`, and it needs one (a usage error, exit 2, otherwise)."""
    if (getattr(args, "cache_command", None) == "run") != bool(command):
        parser.error("`dsreg cache run DATASET… -- COMMAND…` needs a command after `--`, and only `run` takes one")
    args.command_after = command


def _exec(command: list[str], fds: list[int], dsreg_root: str) -> None:
    """Replace this process by `command`; it inherits the in-use locks, so the copies stay held until it exits."""
    for fd in fds:
        os.set_inheritable(fd, True)
    os.environ["DSREG_ROOT"] = dsreg_root
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)  # noqa: S606 - the user's own command, as typed
    except OSError as err:
        raise DsregError(f"cannot run {command[0]!r}: {err.strerror}", fix="check the command after `--`") from None
