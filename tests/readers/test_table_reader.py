"""The `table` reader: CSV, TSV, JSON Lines and Parquet, plain or gzip; typed values; errors name file and line."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from generic_fakes import (
    damaged_copy,
    example,
    example_splits,
    fails_and_publishes_nothing,
    rows,
    use_recipes,
    write_recipe,
)

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.preparation import prepare
from dsreg.readers import get_reader
from dsreg.sourcetree import SourceTree
from dsreg.testing import Damaged, ReaderContract, table

FEATURES = {
    "text": {"type": "text"},
    "label": {"type": "class_label", "names": ["negative", "positive"]},
    "stars": {"type": "scalar", "dtype": "float32"},
    "tokens": {"type": "sequence", "dtype": "int32"},
}
READER = {"name": "table", "args": {"columns": {"review": "text", "sentiment": "label"}}}


def _recipe(tmp_path: Path, monkeypatch, splits: dict, features: dict | None = None, reader: dict | None = None):
    write_recipe(tmp_path / "recipes", "tab", reader or READER, features or FEATURES, splits)
    use_recipes(monkeypatch, tmp_path / "recipes")


def _close(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g["text"] == w["text"] and g["label"] == w["label"] and g["tokens"] == w["tokens"]
        assert g["stars"] == pytest.approx(w["stars"])


@pytest.mark.parametrize(
    ("file", "write"),
    [
        ("part.csv", lambda p, r: table.write_delimited(p, r)),
        ("part.tsv", lambda p, r: table.write_delimited(p, r, "\t")),
        ("part.csv.gz", lambda p, r: table.write_delimited(p, r, compress=True)),
        ("part.tsv.gz", lambda p, r: table.write_delimited(p, r, "\t", compress=True)),
        ("part.jsonl", lambda p, r: table.write_jsonl(p, r)),
        ("part.jsonl.gz", lambda p, r: table.write_jsonl(p, r, compress=True)),
        ("part.parquet", lambda p, r: table.write_parquet(p, r)),
    ],
)
def test_every_format_round_trips_exactly(tmp_path: Path, monkeypatch, root: Path, file: str, write) -> None:
    source = tmp_path / "src"
    source_rows = table.review_rows(7, np.random.default_rng(1))
    write(source / file, source_rows)
    _recipe(tmp_path, monkeypatch, {"train": {"files": "part.*", "rows": 7}})
    manifest = prepare("tab", source=source)
    assert manifest.splits["train"].rows == 7
    _close(rows("tab", "train"), [table.as_features(r) for r in source_rows])


def test_files_are_tasks_in_sorted_order_and_rows_in_file_order(tmp_path: Path) -> None:
    source = tmp_path / "src"
    rng = np.random.default_rng(2)
    parts = {name: table.review_rows(3, rng) for name in ("b.jsonl", "a.jsonl", "c.jsonl")}
    for name, part in parts.items():
        table.write_jsonl(source / "train" / name, part)
    reader = get_reader("table")(READER["args"], Features.from_json(FEATURES))
    sources = {"data": SourceTree.open(source)}
    args = {"files": ["train/a.jsonl", "train/b.jsonl", "train/c.jsonl"]}
    assert reader.tasks(sources, "train", args) == args["files"]
    first = list(reader.read(sources, "train", args, "train/b.jsonl"))
    assert [r["text"] for r in first] == [r["review"] for r in parts["b.jsonl"]]  # the file's own order
    assert list(reader.read(sources, "train", args, "train/b.jsonl")) == first  # and the same every time


def test_integer_labels_and_names_both_work_when_names_are_not_numbers(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "t.csv").write_text("sentiment,review,stars,tokens\n1,a,1,\npositive,b,2.5,1 2\n0,c,-3,7\n")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "t.csv"}})
    prepare("tab", source=source)
    got = rows("tab", "train")
    assert [r["label"] for r in got] == [1, 1, 0]
    assert [r["tokens"] for r in got] == [[], [1, 2], [7]]
    assert [r["stars"] for r in got] == [1.0, 2.5, -3.0]


def test_a_jsonl_line_that_is_not_json_names_file_and_line(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    table.write_jsonl(source / "train" / "a.jsonl", table.review_rows(2, np.random.default_rng(0)))
    good = table.review_rows(3, np.random.default_rng(1))
    table.write_jsonl(source / "train" / "b.jsonl", good)
    with (source / "train" / "b.jsonl").open("a") as f:
        f.write("\n{'review': 'single quotes are not JSON'}\n")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "train/*.jsonl"}})
    fails_and_publishes_nothing("tab", source, str(source / "train" / "b.jsonl"), "line 5 is not JSON")


def test_a_jsonl_line_that_is_not_an_object_or_lacks_a_column(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.jsonl").write_text("[1, 2]\n")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "a.jsonl"}})
    fails_and_publishes_nothing("tab", source, "a.jsonl", "line 1 is a JSON list, not an object")
    (source / "a.jsonl").write_text(
        '{"review": "x", "sentiment": "negative", "stars": 1, "tokens": []}\n{"review": "y"}\n'
    )
    fails_and_publishes_nothing("tab", source, "a.jsonl", "line 2 has no column 'sentiment'")


def test_a_csv_row_with_a_missing_column_names_file_and_line(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "t.csv").write_text('review,sentiment,stars,tokens\n"a, quoted",positive,1,1 2\nb,negative,2\n')
    _recipe(tmp_path, monkeypatch, {"train": {"files": "t.csv"}})
    fails_and_publishes_nothing("tab", source, str(source / "t.csv"), "line 3 has 3 fields, the header has 4")


def test_a_gzip_csv_row_with_an_extra_field_names_the_line(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "t.tsv.gz").write_bytes(gzip.compress(b"review\tsentiment\tstars\ttokens\na\tpositive\t1\t1\tEXTRA\n"))
    _recipe(tmp_path, monkeypatch, {"train": {"files": "t.tsv.gz"}})
    fails_and_publishes_nothing("tab", source, "t.tsv.gz", "line 2 has 5 fields, the header has 4")


@pytest.mark.parametrize(
    ("cells", "needle"),
    [
        ("a,neutral,1,", "line 2, column 'sentiment': 'neutral' is not one of the 2 class names"),
        ("a,2,1,", "line 2, column 'sentiment': class index 2 is outside 0..1"),
        ("a,positive,many,", "line 2, column 'stars': 'many' is not a number"),
        ("a,positive,1,1 2.5", "line 2, column 'tokens': element 1: '2.5' is not an integer"),
        ("a,positive,1,1 99999999999", "line 2, column 'tokens': element 1: 99999999999 is outside the range of int32"),
    ],
)
def test_values_that_do_not_fit_the_features_name_file_line_and_column(
    tmp_path: Path, monkeypatch, root, cells: str, needle: str
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "t.csv").write_text(f"review,sentiment,stars,tokens\n{cells}\n")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "t.csv"}})
    fails_and_publishes_nothing("tab", source, str(source / "t.csv"), needle)


def test_json_values_of_the_wrong_type_are_refused(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.jsonl").write_text('{"review": 5, "sentiment": "negative", "stars": 1, "tokens": []}\n')
    _recipe(tmp_path, monkeypatch, {"train": {"files": "a.jsonl"}})
    fails_and_publishes_nothing("tab", source, "line 1, column 'review': 5 is a int, not a string")
    (source / "a.jsonl").write_text('{"review": "a", "sentiment": true, "stars": 1, "tokens": []}\n')
    fails_and_publishes_nothing("tab", source, "column 'sentiment': True is a boolean")
    (source / "a.jsonl").write_text('{"review": "a", "sentiment": "negative", "stars": 1, "tokens": [1.5]}\n')
    fails_and_publishes_nothing("tab", source, "column 'tokens': element 0: 1.5 is not an integer")


def test_text_that_is_not_utf8_names_file_and_line(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "t.csv").write_bytes(b"review,sentiment,stars,tokens\na,positive,1,\nna\xefve,positive,1,\n")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "t.csv"}})
    fails_and_publishes_nothing("tab", source, str(source / "t.csv"), "line 3 is not valid UTF-8")


def test_a_truncated_gzip_and_a_broken_parquet_are_errors(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    table.write_jsonl(source / "a.jsonl.gz", table.review_rows(50, np.random.default_rng(0)), compress=True)
    data = (source / "a.jsonl.gz").read_bytes()
    (source / "a.jsonl.gz").write_bytes(data[: len(data) // 2])
    _recipe(tmp_path, monkeypatch, {"train": {"files": "a.jsonl.gz"}})
    fails_and_publishes_nothing("tab", source, "a.jsonl.gz", "gzip data is truncated or corrupt")
    (source / "a.jsonl.gz").unlink()
    (source / "t.parquet").write_bytes(b"PAR1 not really parquet")
    _recipe(tmp_path, monkeypatch, {"train": {"files": "t.parquet"}})
    fails_and_publishes_nothing("tab", source, "t.parquet", "not readable Parquet")


def test_wrong_declarations_are_refused_before_anything_is_read(tmp_path: Path, monkeypatch) -> None:
    _recipe(tmp_path, monkeypatch, {"train": {"files": "*.csv"}}, reader={"name": "table", "args": {"format": "xls"}})
    with pytest.raises(DsregError, match=r"reader\.args\.format is 'xls'"):
        prepare("tab", source=tmp_path)
    features = {**FEATURES, "image": {"type": "encoded_image"}}
    _recipe(tmp_path, monkeypatch, {"train": {"files": "*.csv"}}, features=features)
    with pytest.raises(DsregError, match="encoded_image feature, which a table cell cannot hold"):
        prepare("tab", source=tmp_path)


_REVIEWS = example("reviews")


class TestTableContract(ReaderContract):
    """The reader contract on the documented example (docs/examples/reviews.yaml)."""

    reader = "table"
    reader_args: ClassVar[dict[str, Any]] = _REVIEWS["reader"]["args"]
    features: ClassVar[dict[str, Any]] = _REVIEWS["features"]
    splits: ClassVar[dict[str, dict[str, Any]]] = example_splits(_REVIEWS)
    rows: ClassVar[dict[str, int]] = {"train": 9, "validation": 6, "test": 3}
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        table.make_reviews(dest / "reviews")
        return dest / "reviews"

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        bad = damaged_copy(source, dest, "not json")
        with (bad / "train" / "part-00000.jsonl").open("a") as f:
            f.write("{not json}\n")
        yield Damaged("a JSON Lines line that is not JSON", bad, "part-00000.jsonl: line 6 is not JSON")
        bad = damaged_copy(source, dest, "short row")
        with (bad / "validation.csv").open("a") as f:
            f.write("only a review,positive\n")
        yield Damaged("a CSV row with missing columns", bad, "validation.csv: line 8 has 2 fields")
        bad = damaged_copy(source, dest, "no test")
        (bad / "test.parquet").unlink()
        yield Damaged("a split's file missing", bad, "the file pattern 'test.parquet' matches none")


NESTED = {
    "words": {"type": "sequence", "feature": {"type": "text"}},
    "spans": {
        "type": "sequence",
        "feature": {
            "type": "struct",
            "fields": {
                "start": {"type": "scalar", "dtype": "int32"},
                "tag": {"type": "class_label", "names": ["PER", "LOC"]},
            },
        },
    },
    "refs": {"type": "sequence", "feature": {"type": "sequence", "dtype": "int64"}},
}


def test_nested_sequences_and_structs_from_json_lines(tmp_path: Path, monkeypatch, root) -> None:
    source = tmp_path / "src"
    source.mkdir()
    spans = '[{"start": 0, "tag": "PER"}, {"start": 2, "tag": 1}]'
    lines = [
        f'{{"words": ["Ada", "in", "Paris"], "spans": {spans}, "refs": [[1], [2, 3]]}}',
        '{"words": [], "spans": [], "refs": []}',
    ]
    (source / "n.jsonl").write_text("\n".join(lines) + "\n")
    _recipe(
        tmp_path, monkeypatch, {"train": {"files": "n.jsonl", "rows": 2}}, features=NESTED, reader={"name": "table"}
    )
    prepare("tab", source=source)
    got = rows("tab", "train")
    assert list(got[0]["words"]) == ["Ada", "in", "Paris"]
    spans = got[0]["spans"]  # a sequence of structs reads back as a struct of arrays
    assert spans["start"].tolist() == [0, 2] and spans["tag"].tolist() == [0, 1]
    assert [list(r) for r in got[0]["refs"]] == [[1], [2, 3]]
    assert len(got[1]["words"]) == len(got[1]["spans"]["start"]) == len(got[1]["refs"]) == 0
    monkeypatch.setenv("DSREG_ROOT", str(tmp_path / "fresh-root"))  # the version above is published there
    bad = '{"words": ["x"], "spans": [{"start": 0, "tag": "ORG"}], "refs": []}'
    (source / "n.jsonl").write_text(bad + "\n")
    fails_and_publishes_nothing("tab", source, "line 1, column 'spans': element 0: field 'tag': 'ORG' is not one of")
    (source / "n.jsonl").write_text('{"words": ["x"], "spans": [{"start": 0}], "refs": []}\n')
    fails_and_publishes_nothing("tab", source, "element 0: the object has the keys ['start'], the struct the fields")
