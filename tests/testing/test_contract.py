"""Each check of ReaderContract fails for the defect it exists for, and a sound reader passes them all.

The lab reader (dsreg.testing.lab_reader) is installed as its own package and given one deliberate defect
per contract class; a pytest run of those classes in a subprocess reports which checks failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from dsreg.testing import lab_reader
from dsreg.testing.plugins import write_reader_package

TESTS = """
from pathlib import Path
from dsreg.testing import Damaged, ReaderContract


class _Lab(ReaderContract):
    reader = "lab_lines"
    features = {"x": {"type": "scalar", "dtype": "int64"}}
    splits = {"train": {"args": {"file": "train.txt"}}, "test": {"args": {"file": "test.txt"}}}
    rows = {"train": 3, "test": 2}
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        dest.mkdir(parents=True)
        (dest / "train.txt").write_text("1\\n2\\n3\\n")
        (dest / "test.txt").write_text("6\\n7\\n")
        return dest

    def damaged_sources(self, source, dest):
        bad = dest / "not-a-number"
        bad.mkdir(parents=True)
        (bad / "train.txt").write_text("1\\n2\\nthree\\n")
        (bad / "test.txt").write_text("6\\n7\\n")
        yield Damaged("a line that is not a number", bad, "train.txt")

"""
BUGS = {  # the defect → the checks that must fail (None: every check errors, the preparation itself fails)
    "none": set(),
    "nondeterministic": {"test_output_is_deterministic", "test_tasks_are_independent_and_order_stable"},
    "running_id": {"test_tasks_are_independent_and_order_stable", "test_splits_do_not_overlap"},
    "drop_row": {"test_split_counts_are_exact"},
    "overlap": {"test_splits_do_not_overlap", "test_split_counts_are_exact"},
    "lenient": {"test_hostile_input_is_refused_and_nothing_published"},
    "unpicklable": {"test_tasks_are_independent_and_order_stable"},
    "extra_column": None,
}
CHECKS = {
    "test_output_is_deterministic",
    "test_tasks_are_independent_and_order_stable",
    "test_schema_equals_the_features",
    "test_split_counts_are_exact",
    "test_splits_do_not_overlap",
    "test_hostile_input_is_refused_and_nothing_published",
}


def test_every_check_catches_its_defect(tmp_path: Path) -> None:
    site = write_reader_package(
        tmp_path / "site",
        "lab-readers",
        {"lab_lines": "labreaders:LabLines"},
        {"labreaders": Path(lab_reader.__file__).read_text(encoding="utf-8")},
    )
    classes = "".join(f"class Test_{bug}(_Lab):\n    reader_args = {{'bug': {bug!r}}}\n\n\n" for bug in BUGS)
    (tmp_path / "test_lab_contract.py").write_text(TESTS + classes, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    report = tmp_path / "report.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            "test_lab_contract.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
    )
    outcome: dict[str, dict[str, str]] = {bug: {} for bug in BUGS}
    for case in ET.parse(report).iter("testcase"):
        bug = case.attrib["classname"].rsplit(".Test_", 1)[1]
        result = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                result = tag
        outcome[bug][case.attrib["name"]] = result
    for bug, failing in BUGS.items():
        assert set(outcome[bug]) == CHECKS, bug
        if failing is None:
            assert set(outcome[bug].values()) == {"error"}, (bug, outcome[bug])
        else:
            assert {c for c, r in outcome[bug].items() if r != "passed"} == failing, (bug, outcome[bug])
