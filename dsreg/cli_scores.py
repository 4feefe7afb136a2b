"""The `dsreg evaluate` and `dsreg scores` verbs: score predictions, submit them, and show the shared table."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dsreg.errors import EXIT_OK


def _fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def _shown(text: object) -> str:
    """Free text of a record as one table cell: characters that are not printable (newlines, tabs, terminal escapes,
    bidirectional overrides) written as escapes, so no model name or note can break a row or forge another."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dsreg.cli import UsageError
    from dsreg.evaluation.run import evaluate

    if args.submit and not (args.model and args.model.strip()):
        raise UsageError("--submit needs --model NAME", fix="name the model the predictions come from")
    result = evaluate(
        args.name,
        args.split,
        args.predictions,
        model=args.model,
        submit=args.submit,
        notes=args.notes or "",
        reference=args.reference.split(",") if args.reference else None,
        root=args.root,
    )
    if result.score.details.get("warning"):
        print(f"dsreg: warning: {result.score.details['warning']}", file=sys.stderr)
    d = result.dataset
    lines = [f"{d['name']}/{d['config']}:{d['version']} {result.split}: {result.rows:,} rows, metric {result.metric}"]
    lines += [f"  {k}: {_fmt(v)}" for k, v in result.values.items()]
    lines.append(f"  signature: {result.score.signature}")
    lines.append(f"  against: {', '.join(result.record['metric']['reference'])}")
    if result.score.details.get("text"):
        lines.append(f"  {result.score.details['text']}")
    lines.append(f"  submitted: {result.path}" if result.path else "  not submitted (add --submit --model NAME)")
    data = {**result.record, "submitted": str(result.path) if result.path else None}
    print(json.dumps(data, indent=2) if args.json else "\n".join(lines))
    return EXIT_OK


def _scores_text(entries: list[Any]) -> str:
    from dsreg.cli import _table
    from dsreg.evaluation.table import when

    out: list[str] = []
    for benchmark in dict.fromkeys(e.benchmark for e in entries):
        group = [e for e in entries if e.benchmark == benchmark]
        first = group[0].record["metric"]
        arrow = "higher is better" if first["higher_is_better"] else "lower is better"
        names = list(dict.fromkeys(k for e in group for k in e.record["values"]))
        signatures = sorted({e.record["metric"].get("signature", "") for e in group})
        out.append(_shown(f"{benchmark} ({first['primary']}, {arrow}; signature {' | '.join(signatures)})"))
        rows = [
            [
                str(e.rank),
                _shown(e.record["model"]),
                *(_fmt(e.record["values"][k]) if k in e.record["values"] else "-" for k in names),
                _shown(e.record["dataset"]["version"]) + (" *" if e.stale else ""),
                _shown(e.record["user"]),
                when(e.record),
                _shown(e.record.get("notes") or ""),
            ]
            for e in group
        ]
        header = ["RANK", "MODEL", *(_shown(n.upper()) for n in names), "VERSION", "USER", "WHEN", "NOTES"]
        out.append(_table(rows, header))
        out += [_shown(f"  * {e.record['model']}: {e.stale}") for e in group if e.stale]
        out.append("")
    return "\n".join(out).rstrip()


def cmd_scores(args: argparse.Namespace) -> int:
    from dsreg.evaluation.records import BrokenRecord
    from dsreg.evaluation.table import ranked

    broken: list[BrokenRecord] = []
    entries = ranked(args.name, split=args.split, root=args.root, broken=broken)
    if args.html:
        from dsreg.evaluation.html import write_page

        page = write_page(entries, args.html)
        print(f"wrote {page} ({len(entries)} scores)", file=sys.stderr)
    if args.json:
        data: Any = {
            "scores": [
                {
                    **e.record,
                    "benchmark": e.benchmark,
                    "rank": e.rank,
                    "stale": e.stale is not None,
                    "stale_reason": e.stale,
                }
                for e in entries
            ],
            "broken": [{"path": str(b.path), "problem": b.problem} for b in broken],
        }
        print(json.dumps(data, indent=2))
    elif not args.html:
        text = _scores_text(entries) if entries else "no scores recorded" + (f" for {args.name}" if args.name else "")
        print(text)
    for b in broken:
        print(f"dsreg: warning: {b.path}: {b.problem}; left out", file=sys.stderr)
    return EXIT_OK


def add_evaluation_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `evaluate` and `scores` to the `dsreg` command's subparsers."""
    p = sub.add_parser(
        "evaluate", parents=[common], help="score predictions with the dataset's metric; --submit records it"
    )
    p.add_argument("name", help="NAME[/CONFIG][:VERSION]")
    p.add_argument("--split", required=True, help="the split the predictions are for (e.g. test)")
    p.add_argument(
        "--predictions",
        required=True,
        metavar="FILE",
        help="JSON Lines or CSV (id, prediction), .npy of labels/scores, or the metric's native format",
    )
    p.add_argument("--model", help="the model's name, recorded with the score (needed with --submit)")
    p.add_argument("--submit", action="store_true", help="record the score in the shared table")
    p.add_argument("--notes", help="free-form notes recorded with the score")
    p.add_argument(
        "--reference",
        metavar="COLUMN[,COLUMN]",
        help="score against these columns instead of the recipe's (e.g. cs for English→Czech on wmt14/cs-en)",
    )
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("scores", parents=[common], help="the shared score table, best first; --html DIR writes a page")
    p.add_argument("name", nargs="?", help="only this NAME[/CONFIG][:VERSION]")
    p.add_argument("--split", help="only this split")
    p.add_argument("--html", metavar="DIR", help="write a static page (index.html) into DIR")
    p.set_defaults(func=cmd_scores)
