"""What the generic readers share: which source a split reads and which of its files.

A split names its files either as patterns (`splits.<split>.files`, resolved by dsreg into `args.files`
and `args.source`) or as exact member names in `args.files`. Either way the reader gets a list of member
names of one source tree, each checked to exist.
"""

from __future__ import annotations

import codecs
import gzip
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

from dsreg.errors import DsregError
from dsreg.readers import Arg
from dsreg.sourcetree import SourceTree

GZIP_MAGIC = b"\x1f\x8b"

FILES = Arg(
    "files",
    "str | list[str]",
    "the split's files by their path in the source; set by dsreg from splits.<split>.files patterns",
)
SOURCE = Arg("source", "str", "the source the split's files are in, when the recipe has several")
FORMAT = Arg(
    "format",
    "str",
    "the table format; default: each file's extension (.csv, .tsv/.tab, .jsonl/.ndjson, .parquet, optionally .gz)",
    choices=("csv", "tsv", "jsonl", "parquet"),
)
COLUMNS = Arg(
    "columns",
    "dict",
    "source column → feature, for columns named otherwise than their feature (others are read by name)",
    default={},
)


def split_tree(sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], reader: str) -> SourceTree:
    """The source tree a split reads: `args.source`, or the recipe's only source."""
    name = split_args.get("source")
    if name is None:
        if len(sources) != 1:
            raise DsregError(
                f"the {reader} reader does not know which of the sources {sorted(sources)} split {split!r} reads",
                fix=f"add splits.{split}.source (with splits.{split}.files) or splits.{split}.args.source",
            )
        return next(iter(sources.values()))
    if name not in sources:
        raise DsregError(
            f"splits.{split} reads the source {name!r}, which is not one of {sorted(sources)}",
            fix="name one of the recipe's sources",
        )
    return sources[name]


def split_files(tree: SourceTree, split: str, split_args: Mapping[str, Any], *, required: bool = True) -> list[str]:
    """The split's member names from `args.files` (a name or a list), each checked to exist in `tree`."""
    files = split_args.get("files")
    if files is None and not required:
        return []
    names = [files] if isinstance(files, str) else files
    if not isinstance(names, Sequence) or not names or not all(isinstance(f, str) and f for f in names):
        raise DsregError(
            f"split {split!r} has no files: got {files!r}",
            fix=f"give splits.{split}.files as patterns (e.g. 'train/*.jsonl') or splits.{split}.args.files as names",
        )
    members = set(tree.names())
    for name in names:
        if name not in members:
            raise DsregError(
                f"split {split!r} lists the file {name!r}, which is not in the source",
                path=tree.path,
                fix="name files by their path from the top of the source, or use patterns in splits.<split>.files",
            )
    if len(set(names)) != len(names):
        raise DsregError(f"split {split!r} lists a file twice: {list(names)}", fix="list each file once")
    return list(names)


def read_member(tree: SourceTree, name: str) -> bytes:
    """A member's bytes, gunzipped when they are gzip (recognised by content, whatever the name)."""
    data = tree.read_bytes(name)
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as err:
        raise _corrupt_gzip(tree, name, err) from None


def text_lines(tree: SourceTree, name: str) -> Iterator[tuple[int, str]]:
    """Stream a member's lines as (1-based number, text with its line end), gunzipping gzip content.

    Lines end at `\n` only (not at the other Unicode line separators); a leading UTF-8 byte order mark is
    dropped; a line that is not UTF-8 is an error naming the file and line.
    """
    where = tree.location(name)
    with tree.open_member(name) as raw:
        stream: IO[bytes] | gzip.GzipFile = raw if raw.seekable() else io.BytesIO(raw.read())
        head = stream.read(2)
        stream.seek(0)
        if head == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=stream)
        number = 0
        try:
            for number, line in enumerate(stream, 1):
                if number == 1 and line.startswith(codecs.BOM_UTF8):
                    line = line[len(codecs.BOM_UTF8) :]
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise DsregError(
                        f"line {number} is not valid UTF-8 (byte {err.start + 1} of the line: {err.reason})",
                        path=where,
                        fix="convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)",
                    ) from None
                yield number, text
        except (OSError, EOFError) as err:
            raise _corrupt_gzip(tree, name, err, after=number) from None


def _corrupt_gzip(tree: SourceTree, name: str, err: BaseException, after: int | None = None) -> DsregError:
    where = f" after line {after}" if after else ""
    return DsregError(
        f"the gzip data is truncated or corrupt{where}: {err}",
        path=tree.location(name),
        fix="replace the file with a complete copy",
    )


def base_name(name: str) -> str:
    """The member's file name without folders and without a `.gz` suffix."""
    base = name.rsplit("/", 1)[-1]
    return base[:-3] if base.lower().endswith(".gz") else base
