"""The score table as one static HTML page: a table per benchmark, best first, and a models × tasks matrix.

Self-contained (inline CSS, no script, no network), every value escaped, so it can be served from any
web directory or opened from the shared filesystem.
"""

from __future__ import annotations

import datetime
import html
import os
from pathlib import Path

from dsreg.evaluation.table import Entry, when

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.stale td { color: #888; }
caption { text-align: left; font-weight: bold; padding: 0.4em 0; }
.signature { font-family: monospace; font-size: 0.85em; color: #555; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def _benchmark_table(benchmark: str, group: list[Entry]) -> str:
    metric = group[0].record["metric"]
    names = list(dict.fromkeys(k for e in group for k in e.record["values"]))
    direction = "higher is better" if metric["higher_is_better"] else "lower is better"
    signatures = sorted({str(e.record["metric"].get("signature", "")) for e in group})
    head = "".join(f"<th>{_e(h)}</th>" for h in ["rank", "model", *names, "dataset version", "user", "time", "notes"])
    rows = []
    for e in group:
        r = e.record
        values = "".join(
            f'<td class="num">{_e(_num(r["values"][k]))}</td>' if k in r["values"] else "<td>-</td>" for k in names
        )
        stale_class = ' class="stale"' if e.stale else ""
        version = _e(r["dataset"]["version"]) + (f' <span title="{_e(e.stale)}">*</span>' if e.stale else "")
        rows.append(
            f'<tr data-record="{_e(r["id"])}"{stale_class}>'
            f'<td class="num">{e.rank}</td><td>{_e(r["model"])}</td>{values}<td>{version}</td>'
            f"<td>{_e(r['user'])}</td><td>{_e(when(r))}</td><td>{_e(r.get('notes') or '')}</td></tr>"
        )
    notes = "".join(f"<li>{_e(e.record['model'])}: {_e(e.stale)}</li>" for e in group if e.stale)
    return (
        f'<section class="benchmark" data-benchmark="{_e(benchmark)}">'
        f"<h2>{_e(benchmark)}</h2>"
        f'<p>ranked by {_e(metric["primary"])}, {direction}; signature <span class="signature">'
        f"{_e(' | '.join(signatures))}</span></p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + (f"<p>* computed on another dataset than the latest prepared:</p><ul>{notes}</ul>" if notes else "")
        + "</section>"
    )


def _matrix(entries: list[Entry]) -> str:
    """Models × benchmarks: each cell the model's best primary value there (ties in rank: the first)."""
    benchmarks = list(dict.fromkeys(e.benchmark for e in entries))
    models = sorted({str(e.record["model"]) for e in entries})
    best: dict[tuple[str, str], Entry] = {}
    for e in entries:  # ranked best first, so the first entry of a (model, benchmark) is its best
        best.setdefault((str(e.record["model"]), e.benchmark), e)
    head = "<th>model</th>" + "".join(
        f"<th>{_e(b)}<br><small>{_e(next(e for e in entries if e.benchmark == b).record['metric']['primary'])}"
        "</small></th>"
        for b in benchmarks
    )
    rows = []
    for model in models:
        cells = "".join(
            f'<td class="num">{_e(_num(best[(model, b)].primary_value))}</td>' if (model, b) in best else "<td></td>"
            for b in benchmarks
        )
        rows.append(f'<tr data-model="{_e(model)}"><th>{_e(model)}</th>{cells}</tr>')
    return (
        '<table id="matrix"><caption>Models × tasks (best score of each model)</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render(entries: list[Entry]) -> str:
    """The page's HTML for ranked `entries` (as `dsreg.evaluation.table.ranked` returns them)."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    benchmarks = list(dict.fromkeys(e.benchmark for e in entries))
    body = (
        _matrix(entries) + "".join(_benchmark_table(b, [e for e in entries if e.benchmark == b]) for b in benchmarks)
        if entries
        else "<p>No scores recorded.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>dsreg scores</title>'
        f"<style>{STYLE}</style></head><body><h1>Scores</h1>"
        f"<p>{len(entries)} submissions on {len(benchmarks)} benchmarks, generated {_e(now)} by "
        "<code>dsreg scores --html</code>.</p>"
        f"{body}</body></html>\n"
    )


def write_page(entries: list[Entry], directory: str | os.PathLike[str]) -> Path:
    """Write `<directory>/index.html` atomically (a reader of the old page never sees half of the new one)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "index.html"
    temp = folder / f".index.html.{os.getpid()}.tmp"
    temp.write_text(render(entries), encoding="utf-8")
    os.replace(temp, page)
    return page
