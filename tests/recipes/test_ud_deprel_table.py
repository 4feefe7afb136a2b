"""The rule that derives the UD recipe's DEPREL vocabulary from the validator's table (ud_deprel_table.py): on a
made-up wheel always, on the real udtools 0.1.3 wheel when DSREG_UDTOOLS_WHEEL names a downloaded copy."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from ud_deprel_table import REFERENCE, derive, main

from dsreg.readers.conllu import UNIVERSAL_RELATIONS

WHEEL = os.environ.get("DSREG_UDTOOLS_WHEEL", "")


def _wheel(path: Path, table: dict[str, dict[str, dict]], universal: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("udtools-9.9.9.dist-info/METADATA", "Metadata-Version: 2.4\nName: udtools\nVersion: 9.9.9\n")
        archive.writestr("udtools/data/deprels.json", json.dumps({"WARNING": "x", "deprels": table}))
        archive.writestr("udtools/data/udeprels.json", json.dumps({"udeprels": universal}))
    return path


def _entry(permitted: int, changed: str | None = None) -> dict:
    entry = {"type": "local", "doc": "local", "permitted": permitted, "errors": []}
    return entry | ({"lastchanged": changed, "lastchanger": "someone"} if changed else {})


def test_the_rule_keeps_permitted_and_later_disallowed_subtypes_only(tmp_path: Path) -> None:
    table = {
        "aa": {
            "nsubj": _entry(1),
            "nsubj:pass": _entry(1),  # permitted, undated (before the change log)
            "obj:lo": _entry(0, "2025-07-01-10-00-00"),  # disallowed after the release: kept
            "obj:old": _entry(0, "2024-01-01-10-00-00"),  # disallowed before it: dropped
            "obl:new": _entry(1, "2025-09-09-09-09-09"),  # first permitted after it: kept, and listed
            "auxpass": _entry(0),  # UD v1, not <universal>:<subtype>
            "compund:lvc": _entry(1),  # a typo of a base relation
            "acl:Relcl": _entry(1),  # not lowercase
            "_template-dep": _entry(0),
        },
        "bb": {"nsubj:pass": _entry(0, "2025-01-01-00-00-00"), "obl:new": _entry(0, "2025-01-01-00-00-00")},
    }
    derived = derive(_wheel(tmp_path / "udtools-9.9.9-py3-none-any.whl", table, ["nsubj", "obj", "obl"]))
    assert derived["labels"] == ["nsubj", "nsubj:pass", "obj", "obj:lo", "obl", "obl:new"]
    assert derived["count"] == 6 and derived["version"] == "9.9.9" and derived["languages"] == 2
    assert derived["permitted_only_after_release"] == ["obl:new"]
    assert derived["disallowed_after_release"] == ["obj:lo"]
    assert derived["newest_lastchanged"] == "2025-09-09-09-09-09"
    assert len(derived["file_sha256"]) == len(derived["wheel_sha256"]) == 64


def test_the_check_fails_when_the_reference_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel = _wheel(tmp_path / "udtools-9.9.9-py3-none-any.whl", {"aa": {"nsubj:pass": _entry(1)}}, ["nsubj"])
    assert main([str(wheel)]) == 1
    assert "differs from udtools-9.9.9-py3-none-any.whl" in capsys.readouterr().err


@pytest.mark.skipif(
    not Path(WHEEL).is_file(),
    reason="DSREG_UDTOOLS_WHEEL does not name a downloaded udtools 0.1.3 wheel "
    "(pip download --no-deps udtools==0.1.3 -d DIR); nothing is fetched by the tests",
)
def test_the_reference_is_what_the_udtools_wheel_gives() -> None:
    derived = derive(Path(WHEEL))
    assert derived == json.loads(REFERENCE.read_text(encoding="utf-8"))["deprel_vocabulary"]


def test_the_readers_universal_relations_are_the_validators() -> None:
    """The 37 relations the reader requires are the validator's, in the installed udtools (the dev extra's)."""
    pytest.importorskip("udtools", reason="udtools (the dev extra) is not installed")
    from importlib import resources

    data = json.loads((resources.files("udtools") / "data" / "udeprels.json").read_text(encoding="utf-8"))
    assert sorted(data["udeprels"]) == sorted(UNIVERSAL_RELATIONS) and len(UNIVERSAL_RELATIONS) == 37
