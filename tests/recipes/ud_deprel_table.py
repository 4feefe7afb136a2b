"""The UD recipe's DEPREL vocabulary, derived from the official validator's per-language relation table.

The table ships in the `udtools` wheel (PyPI; UD's validator and scorer) as `udtools/data/deprels.json`:
`{"deprels": {lang: {label: {"permitted": 0|1, "lastchanged": "YYYY-MM-DD-hh-mm-ss", ...}}}}`, with the 37
universal relations in `udtools/data/udeprels.json`. The rule (`RULE`) keeps every universal relation and
every well-formed `relation:subtype` permitted for at least one language, plus those disallowed only after
the release (a treebank of the release may still use them). Run as a script on a downloaded wheel to check
manifests/reference/ud.json (`--write` rewrites its `deprel_vocabulary`); nothing is fetched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).resolve().parents[2] / "manifests" / "reference" / "ud.json"
TABLE = "udtools/data/deprels.json"
UNIVERSAL = "udtools/data/udeprels.json"
RELEASE_DATE = "2025-05-15"  # UD 2.16
RULE = (
    "the universal relations of udeprels.json, plus every label of deprels.json of the form "
    "<universal relation>:<lowercase ASCII letters> that is permitted (1) for at least one language, plus "
    "every such label marked 0 whose entry was last changed after the release date (it may have been "
    "permitted in the release); sorted by code point"
)
_SUBTYPED = re.compile(r"[a-z]+:[a-z]+")


def derive(wheel: Path, release_date: str = RELEASE_DATE) -> dict[str, Any]:
    """The vocabulary and its provenance from a udtools wheel, by `RULE` with the release dated `release_date`."""
    with zipfile.ZipFile(wheel) as archive:
        table_bytes, universal_bytes = archive.read(TABLE), archive.read(UNIVERSAL)
        version = next(
            line.split(":", 1)[1].strip()
            for line in archive.read(_metadata_name(archive)).decode("utf-8").splitlines()
            if line.startswith("Version:")
        )
    table = json.loads(table_bytes)["deprels"]
    universal = json.loads(universal_bytes)["udeprels"]
    permitted: set[str] = set()
    dated_permits: dict[str, bool] = {}  # label -> some permission predates the release
    disallowed_later: set[str] = set()
    newest = ""
    for entries in table.values():
        for label, entry in entries.items():
            changed = entry.get("lastchanged", "")
            newest = max(newest, changed)
            if not (_SUBTYPED.fullmatch(label) and label.split(":")[0] in universal):
                continue
            after = changed[:10] > release_date
            if entry["permitted"]:
                permitted.add(label)
                dated_permits[label] = dated_permits.get(label, False) or not after
            elif after:
                disallowed_later.add(label)
    labels = sorted(set(universal) | permitted | disallowed_later)
    return {
        "package": "udtools",
        "version": version,
        "wheel": wheel.name,
        "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "file": TABLE,
        "file_sha256": hashlib.sha256(table_bytes).hexdigest(),
        "universal_file": UNIVERSAL,
        "universal_file_sha256": hashlib.sha256(universal_bytes).hexdigest(),
        "languages": len(table),
        "newest_lastchanged": newest,
        "release_date": release_date,
        "rule": RULE,
        "count": len(labels),
        "permitted_only_after_release": sorted(label for label, before in dated_permits.items() if not before),
        "disallowed_after_release": sorted(disallowed_later - permitted),
        "labels": labels,
    }


def _metadata_name(archive: zipfile.ZipFile) -> str:
    return next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))


def main(argv: list[str] | None = None) -> int:
    """Compare (or with --write, replace) ud.json's deprel_vocabulary with the one derived from WHEEL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="a downloaded udtools wheel (pip download --no-deps udtools==V)")
    parser.add_argument("--write", action="store_true", help="rewrite manifests/reference/ud.json")
    args = parser.parse_args(argv)
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    derived = derive(args.wheel)
    if args.write:
        reference["deprel_vocabulary"] = derived
        REFERENCE.write_text(json.dumps(reference, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {derived['count']} labels from {args.wheel.name} to {REFERENCE}")
        return 0
    if reference.get("deprel_vocabulary") != derived:
        print(f"{REFERENCE} differs from {args.wheel.name}; rerun with --write to replace it", file=sys.stderr)
        return 1
    print(f"{derived['count']} labels, as in {REFERENCE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
