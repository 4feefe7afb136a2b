"""The score table ranked: records grouped by benchmark (dataset/config, split, metric), best first, and
flagged when computed on another dataset version (or another preparation of it) than the latest prepared.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsreg.errors import DsregError
from dsreg.evaluation.records import BrokenRecord, iter_records
from dsreg.metrics import get_metric
from dsreg.registry import Ref, find_prepared, parse_ref, prepared_versions

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Entry:
    """One ranked record: its benchmark, rank within it (1 = best) and why it is stale (None: on the latest)."""

    record: dict[str, Any]
    benchmark: str
    rank: int
    stale: str | None

    @property
    def primary_value(self) -> float:
        return float(self.record["values"][self.record["metric"]["primary"]])


def when(record: dict[str, Any]) -> str:
    """A record's time as tables show it: to the second, in UTC."""
    moment = datetime.datetime.fromisoformat(str(record["time"])).astimezone(datetime.timezone.utc)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def benchmark_of(record: dict[str, Any]) -> str:
    """`cifar10/python test accuracy`: what a score is comparable within; a score against other reference
    columns than the recipe's (the other direction of a parallel corpus) is a benchmark of its own,
    `wmt14/cs-en test bleu against cs`."""
    d, m = record["dataset"], record["metric"]
    against = f" against {','.join(m['reference'])}" if m.get("reference_chosen") else ""
    return f"{d['name']}/{d['config']} {record['split']} {m['name']}{against}"


class _Latest:
    """What a record is compared with: the latest prepared version of each name/config and its manifest digest,
    and the installed version of each metric, each looked up once."""

    def __init__(self, root: str | os.PathLike[str] | None):
        self.root = root
        self.cache: dict[tuple[str, str], tuple[str, str] | None] = {}
        self.metrics: dict[str, str | None] = {}

    def get(self, name: str, config: str) -> tuple[str, str] | None:
        from dsreg.evaluation.run import manifest_sha256

        key = (name, config)
        if key not in self.cache:
            versions = prepared_versions(name, config, self.root)
            if not versions:
                self.cache[key] = None
            else:
                try:
                    manifest = find_prepared(Ref(name, config, versions[-1]), self.root)
                    self.cache[key] = (versions[-1], manifest_sha256(manifest))
                except DsregError:
                    self.cache[key] = (versions[-1], "")
        return self.cache[key]

    def metric_version(self, name: str) -> str | None:
        """The installed version of metric `name` (None when it is not installed here)."""
        if name not in self.metrics:
            try:
                self.metrics[name] = get_metric(name).version
            except DsregError:
                self.metrics[name] = None
        return self.metrics[name]

    def stale(self, record: dict[str, Any]) -> str | None:
        metric = record["metric"]
        installed = self.metric_version(metric["name"])
        if installed is not None and str(metric.get("version")) != installed:
            return f"computed with {metric['name']} v{metric.get('version')}; the installed metric is v{installed}"
        d = record["dataset"]
        latest = self.get(d["name"], d["config"])
        if latest is None:
            return f"{d['name']}/{d['config']} is no longer prepared"
        version, digest = latest
        if d["version"] != version:
            return f"computed on {d['version']}; latest prepared is {version}"
        if digest and d.get("manifest_sha256") != digest:
            return f"computed on another preparation of {version} (manifest digest differs)"
        return None


def _by_ranking_value(groups: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Each benchmark whose records rank by different values (a recipe that ranks word accuracy case-insensitive
    from one version on) split into one benchmark per value, `... by word_accuracy_ci`: their values do not compare."""
    out: dict[str, list[dict[str, Any]]] = {}
    for benchmark, group in groups.items():
        ways = {(r["metric"]["primary"], r["metric"]["higher_is_better"]) for r in group}
        for record in group:
            metric = record["metric"]
            if len(ways) == 1:
                key = benchmark
            elif len({primary for primary, _ in ways}) == len(ways):
                key = f"{benchmark} by {metric['primary']}"
            else:  # one value ranked both ways
                direction = "higher" if metric["higher_is_better"] else "lower"
                key = f"{benchmark} by {metric['primary']} ({direction} is better)"
            out.setdefault(key, []).append(record)
    return out


def ranked(
    name: str | None = None,
    *,
    split: str | None = None,
    root: str | os.PathLike[str] | None = None,
    broken: list[BrokenRecord] | None = None,
) -> list[Entry]:
    """Records (of `name`: NAME, NAME/CONFIG or NAME/CONFIG:VERSION; of `split`) ranked best first per benchmark."""
    ref = parse_ref(name) if name else None
    records = [
        r
        for r in iter_records(root, ref.name if ref else None, broken)
        if (split is None or r["split"] == split)
        and (ref is None or ref.config is None or r["dataset"]["config"] == ref.config)
        and (ref is None or ref.version is None or r["dataset"]["version"] == ref.version)
    ]
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(benchmark_of(record), []).append(record)
    groups = _by_ranking_value(groups)
    latest = _Latest(root)
    entries: list[Entry] = []
    for benchmark in sorted(groups):
        # equal scores: the earlier submission first
        group = sorted(groups[benchmark], key=lambda r: datetime.datetime.fromisoformat(r["time"]))
        group.sort(
            key=lambda r: float(r["values"][r["metric"]["primary"]]), reverse=group[0]["metric"]["higher_is_better"]
        )
        entries += [Entry(r, benchmark, i, latest.stale(r)) for i, r in enumerate(group, 1)]
    return entries


def frame(entries: list[Entry]) -> pd.DataFrame:
    """One row per record, best first within each benchmark; each metric value is a column of its own."""
    try:
        import pandas as pd
    except ImportError:
        raise DsregError("dsreg.scores needs pandas", fix="pip install 'dsreg[eval]'") from None

    fixed = [
        "benchmark",
        "rank",
        "model",
        "dataset",
        "config",
        "version",
        "manifest_sha256",
        "split",
        "metric",
        "metric_version",
        "signature",
        "primary",
        "score",
        "user",
        "host",
        "time",
        "notes",
        "stale",
        "stale_reason",
        "id",
        "path",
    ]
    rows = []
    for e in entries:
        r, d, m = e.record, e.record["dataset"], e.record["metric"]
        row = dict(
            zip(
                fixed,
                [
                    e.benchmark,
                    e.rank,
                    r["model"],
                    d["name"],
                    d["config"],
                    d["version"],
                    d.get("manifest_sha256"),
                    r["split"],
                    m["name"],
                    m.get("version"),
                    m.get("signature"),
                    m["primary"],
                    e.primary_value,
                    r["user"],
                    r.get("host"),
                    pd.Timestamp(r["time"]),
                    r.get("notes", ""),
                    e.stale is not None,
                    e.stale,
                    r["id"],
                    r["path"],
                ],
                strict=True,
            )
        )
        row.update({(k if k not in fixed else f"value_{k}"): v for k, v in r["values"].items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else fixed)


def scores(
    name: str | None = None, *, split: str | None = None, root: str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """The shared score table as a pandas DataFrame (of `name` and `split` if given), best first per benchmark."""
    return frame(ranked(name, split=split, root=root))
