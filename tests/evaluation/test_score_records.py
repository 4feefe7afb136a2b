"""The score table's records: one immutable file each, created atomically, never lost or overwritten by
concurrent submitters, unreadable files reported rather than dropped or fatal."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

import dsreg
from dsreg.errors import DsregError
from dsreg.evaluation import records as records_module
from dsreg.evaluation.records import BrokenRecord, iter_records, new_record, write_record

SUBMITTERS = 20


def _submit(root: str, number: int, start: Any) -> None:
    os.environ["DSREG_ROOT"] = root
    start.wait(30)
    dsreg.evaluate("toy", "test", [0] * 10, model=f"model-{number}", submit=True, notes=str(number))


def test_twenty_concurrent_submitters_leave_twenty_readable_records(toy, root: Path, record_files) -> None:
    toy()
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [context.Process(target=_submit, args=(str(root), n, start)) for n in range(SUBMITTERS)]
    for w in workers:
        w.start()
    start.set()  # all at once, into a score table that does not exist yet
    deadline = time.monotonic() + 240  # twenty processes on two loaded cores: the bound only tells a hang
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))
    assert [w.exitcode for w in workers] == [0] * SUBMITTERS
    files = record_files()
    assert len(files) == SUBMITTERS and all(f.suffix == ".json" for f in files)  # no temporary file left
    read = [json.loads(f.read_text()) for f in files]
    assert sorted(r["model"] for r in read) == sorted(f"model-{n}" for n in range(SUBMITTERS))
    assert len({r["id"] for r in read}) == SUBMITTERS
    broken: list[BrokenRecord] = []
    assert len(list(iter_records(broken=broken))) == SUBMITTERS and broken == []


def _record(**overrides) -> dict:
    fields = {
        "model": "m",
        "dataset": {"name": "toy", "config": "default", "version": "1.0.0", "manifest_sha256": "0" * 64},
        "split": "test",
        "metric": {"name": "accuracy", "version": "1", "signature": "s", "primary": "top1", "higher_is_better": True},
        "values": {"top1": 0.5},
        "notes": "",
    }
    return new_record(**{**fields, **overrides})


def test_records_are_read_only_and_never_overwritten(root: Path) -> None:
    record = _record()
    path = write_record(record)
    assert path == root / "_scores" / "toy" / f"{record['id']}.json"
    assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0
    assert stat.S_IMODE(path.parent.stat().st_mode) & (stat.S_ISVTX | stat.S_ISGID) == stat.S_ISVTX | stat.S_ISGID
    with pytest.raises(DsregError, match="a score record with this id exists already"):
        write_record({**record, "values": {"top1": 0.9}})
    assert json.loads(path.read_text())["values"] == {"top1": 0.5}
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_link_reported_failed_by_nfs_but_made_counts_as_made(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_link = os.link

    def lost_reply(src, dst):
        real_link(src, dst)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(records_module.os, "link", lost_reply)
    path = write_record(_record())
    assert json.loads(path.read_text())["model"] == "m"
    assert [p.name for p in path.parent.iterdir()] == [path.name]

    def failed(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(records_module.os, "link", failed)
    with pytest.raises(OSError, match="Input/output error"):
        write_record(_record(model="other"))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # the temporary file is gone too


def test_unreadable_files_are_reported_and_temporary_files_skipped(root: Path) -> None:
    good = write_record(_record())
    folder = good.parent
    (folder / "garbage.json").write_text("{not json")
    (folder / "partial.json").write_text(json.dumps({"id": "x", "model": "m"}))
    (folder / "future.json").write_text(json.dumps({**_record(), "format": 99}))
    (folder / "wrong-primary.json").write_text(json.dumps(_record(values={"bleu": 1.0})))
    (folder / "bad-time.json").write_text(json.dumps({**_record(), "time": "yesterday"}))
    (folder / "bad-value.json").write_text(json.dumps(_record(values={"top1": "high"})))
    (folder / ".tmp-half-written").write_text("{")
    broken: list[BrokenRecord] = []
    found = list(iter_records(broken=broken))
    assert [r["path"] for r in found] == [str(good)]
    problems = {b.path.name: b.problem for b in broken}
    assert set(problems) == {
        "garbage.json",
        "partial.json",
        "future.json",
        "wrong-primary.json",
        "bad-time.json",
        "bad-value.json",
    }
    assert "not an ISO 8601 time" in problems["bad-time.json"] and "not a mapping" in problems["bad-value.json"]
    assert problems["partial.json"].startswith("lacks user, time, dataset")
    assert "newer than this dsreg reads" in problems["future.json"]
    assert "primary value" in problems["wrong-primary.json"]


def test_records_are_found_in_every_root_once_and_written_to_the_first_writable(tmp_path: Path, monkeypatch) -> None:
    shared, scratch = tmp_path / "shared", tmp_path / "scratch"
    (scratch / ".staging").mkdir(parents=True)
    monkeypatch.setenv("DSREG_ROOT", f"{scratch}:{shared}")
    path = write_record(_record())
    assert path.is_relative_to(shared / "_scores")  # a node-local staging cache never receives scores
    other = tmp_path / "other"
    monkeypatch.setenv("DSREG_ROOT", f"{shared}:{other}")
    write_record(_record(model="elsewhere"), root=other)
    assert sorted(r["model"] for r in iter_records()) == ["elsewhere", "m"]
    assert [r["model"] for r in iter_records(name="nothing")] == []


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"metric": {"name": "accuracy", "version": "1", "primary": "top1"}}, "higher_is_better"),
        ({"metric": {"version": "1", "primary": "top1", "higher_is_better": True}}, "metric's name"),
        ({"format": "1"}, "record format '1'"),
        ({"values": {"top1": float("nan")}}, "not finite"),
        ({"values": {"top1": float("inf")}}, "not finite"),
        ({"values": {"top1": 10**400}}, "not finite"),
        ({"time": "2026-01-01T00:00:00"}, "no time zone"),
        ({"split": 3}, "its split"),
        ({"model": ["m"]}, "its model"),
        ({"id": ["x"]}, "its id"),
        ({"dataset": {"name": 1, "config": "default", "version": "1.0.0"}}, "dataset lacks name"),
        ({"metric": {**_record()["metric"], "reference": "ab", "reference_chosen": True}}, "reference columns"),
    ],
)
def test_a_record_the_table_cannot_rank_is_reported_and_the_rest_still_ranked(
    root: Path, override: dict[str, Any], problem: str
) -> None:
    from dsreg.evaluation.html import render
    from dsreg.evaluation.table import ranked

    good = write_record(_record(values={"top1": 0.7}))
    bad = good.parent / "bad.json"
    bad.write_text(json.dumps({**_record(), **override}))  # json writes NaN/Infinity, as Python's json reads them
    broken: list[BrokenRecord] = []
    entries = ranked(broken=broken)
    assert [e.record["path"] for e in entries] == [str(good)] and "<td>m</td>" in render(entries)
    assert [b.path for b in broken] == [bad] and problem in broken[0].problem


def test_a_record_the_table_could_not_rank_is_never_written(root: Path) -> None:
    """A metric (a lab's plug-in) that returns NaN: the record was written, then reported broken by every reader."""
    with pytest.raises(DsregError, match="cannot be submitted: a value is not finite"):
        write_record(_record(values={"top1": float("nan")}))
    assert not (root / "_scores").exists()


@pytest.mark.parametrize(
    ("override", "fix"),
    [
        ({"model": 3}, "pass the model as a string"),
        ({"user": None}, "pass the user as a string"),
        ({"time": "2026-01-01T00:00:00"}, "an aware datetime's isoformat()"),
        ({"values": {"top1": float("nan")}}, "check the metric's values"),
        ({"metric": {"version": "1", "primary": "top1", "higher_is_better": True}}, "check the metric's definition"),
    ],
)
def test_a_refused_record_names_the_fix_for_its_problem(root: Path, override: dict[str, Any], fix: str) -> None:
    # every refusal said "check the metric's values", even for a model that is not a string or a naive time
    with pytest.raises(DsregError, match="cannot be submitted") as err:
        write_record({**_record(), **override})
    assert err.value.fix is not None and fix in err.value.fix
    assert fix == "check the metric's values" or "check the metric's values" not in err.value.fix
    assert not (root / "_scores").exists()
