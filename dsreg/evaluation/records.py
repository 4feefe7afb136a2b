"""The shared score table: one immutable JSON file per submission under `<root>/_scores/<dataset>/`.

Many users submit at once over NFS, so a record is never updated in place and two writers never share a
file: each record is written to a private temporary file, flushed, made read-only, then hard-linked to
its final name (a unique id; `link` fails rather than replace, atomically, on NFS too) and the
temporary name removed. Readers see a record completely or not at all, and skip the temporary names.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import getpass
import json
import math
import os
import socket
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsreg.errors import DsregError
from dsreg.roots import STAGING_MARKER, search_roots, writable_root

SCORES_DIR = "_scores"
RECORD_FORMAT = 1
TEMP_PREFIX = ".tmp-"
REQUIRED = ("id", "model", "user", "time", "dataset", "split", "metric", "values")


def scores_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The score tables of the search roots (node-local staging caches hold none)."""
    return [base / SCORES_DIR for base in search_roots(root) if not (base / STAGING_MARKER).is_dir()]


def _shared_dir(path: Path) -> None:
    """Create `path` so that new files inherit its group (setgid) and nobody removes others' records (sticky).

    Whether the group may write is the umask's (or the administrator's `chmod g+w`) decision, as for datasets."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # made by someone else meanwhile: theirs to set
        os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | stat.S_ISGID | stat.S_ISVTX)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_record(**fields: Any) -> dict[str, Any]:
    """A record with its identity filled in: a fresh id, the submitting user and host, the time in UTC."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return {
        "format": RECORD_FORMAT,
        "id": f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex}",
        "user": getpass.getuser(),
        "host": socket.gethostname(),
        "time": now.isoformat(timespec="microseconds"),
        **fields,
    }


def write_record(record: dict[str, Any], root: str | os.PathLike[str] | None = None) -> Path:
    """Publish `record` as `<root>/_scores/<dataset name>/<id>.json`, created atomically and never overwritten;
    a record the table could not rank (a NaN value from a metric) is refused, nothing written."""
    problem = _check(record)
    if problem is not None:
        raise DsregError(f"the score record cannot be submitted: {problem[0]}", fix=problem[1])
    directory = writable_root(root) / SCORES_DIR / record["dataset"]["name"]
    _shared_dir(directory)
    final = directory / f"{record['id']}.json"
    temp = directory / f"{TEMP_PREFIX}{record['id']}-{uuid.uuid4().hex}"
    data = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temp, final)
        except FileExistsError:
            raise DsregError("a score record with this id exists already", path=final, fix="submit again") from None
        except OSError:
            # NFS may report a failed link that did happen (the reply was lost): the link count tells
            if os.stat(temp).st_nlink != 2:
                raise
        _fsync_dir(directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    return final


@dataclass(frozen=True)
class BrokenRecord:
    """A file in a score table that is not a readable record: shown by `dsreg scores`, never silently dropped."""

    path: Path
    problem: str


_BUILD = "build the record with new_record(model=..., dataset=..., split=..., metric=..., values=...)"
_VALUES = "check the metric's values: finite numbers by name, its primary value among them"
_METRIC = "check the metric's definition: a name, higher_is_better (true or false), reference column names"
_TIME = "give the time as an aware datetime's isoformat(), e.g. of datetime.now(timezone.utc), as new_record does"


def _check(record: Any) -> tuple[str, str] | None:
    """Why `record` cannot be ranked and what fixes it (None: it can): every field the table reads, of the type
    it reads."""
    if not isinstance(record, dict):
        return "not a JSON object", _BUILD
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        return f"lacks {', '.join(missing)}", _BUILD
    version = record.get("format", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        return f"record format {version!r} is not an integer", _BUILD
    if version > RECORD_FORMAT:
        return f"record format {version} is newer than this dsreg reads ({RECORD_FORMAT}); upgrade dsreg", (
            "pip install --upgrade dsreg"
        )
    metric, values = record["metric"], record["values"]
    if not isinstance(values, dict) or not all(_is_number(v) for v in values.values()):
        return "its values are not a mapping of names to numbers", _VALUES
    if not all(_finite(v) for v in values.values()):
        return "a value is not finite (NaN or infinite), so it cannot be ranked", _VALUES
    if not isinstance(metric, dict) or metric.get("primary") not in values:
        return "its metric's primary value is not among its values", _VALUES
    if not isinstance(metric.get("name"), str) or not isinstance(metric.get("higher_is_better"), bool):
        return "its metric's name (a string) or higher_is_better (true or false) is missing", _METRIC
    reference = metric.get("reference", [])
    if not isinstance(reference, list) or not all(isinstance(c, str) for c in reference):
        return f"its metric's reference columns {reference!r} are not a list of names", _METRIC
    dataset = record["dataset"]
    if not isinstance(dataset, dict) or not all(isinstance(dataset.get(k), str) for k in ("name", "config", "version")):
        return "its dataset lacks name, config or version (strings)", "take them from the dataset's manifest"
    for key in ("id", "split", "model", "user"):
        if not isinstance(record[key], str):
            return f"its {key} {record[key]!r} is not a string", f"pass the {key} as a string ({_BUILD})"
    try:
        moment = _dt.datetime.fromisoformat(str(record["time"]))
    except ValueError:
        return f"its time {record['time']!r} is not an ISO 8601 time", _TIME
    if moment.tzinfo is None:
        return f"its time {record['time']!r} has no time zone (records are written in UTC, +00:00)", _TIME
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: float) -> bool:
    """A number the table can rank: finite as a float (an integer too large for one is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def iter_records(
    root: str | os.PathLike[str] | None = None, name: str | None = None, broken: list[BrokenRecord] | None = None
) -> Iterator[dict[str, Any]]:
    """Every record in the score tables of the search roots (of dataset `name` only, if given), each once."""
    seen: set[str] = set()
    for base in scores_dirs(root):
        folders = [base / name] if name else sorted(p for p in base.glob("*") if p.is_dir())
        for folder in folders:
            for path in sorted(folder.glob("*.json")):
                if path.name.startswith(TEMP_PREFIX):
                    continue
                try:
                    record = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                    problem: str | None = f"cannot be read ({err})"
                else:
                    checked = _check(record)
                    problem = None if checked is None else checked[0]
                if problem is not None:
                    if broken is not None:
                        broken.append(BrokenRecord(path, problem))
                    continue
                if record["id"] in seen:
                    continue
                seen.add(record["id"])
                yield {**record, "path": str(path)}
