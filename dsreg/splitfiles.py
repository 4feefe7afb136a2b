"""A split declared by file patterns: glob patterns resolved against a source tree, sorted.

`*` and `?` match within one folder, `**/` any number of folders (`train/**/*.jsonl`), `[abc]` one
character of a set. The result is the tree's member names in sorted order (code point order, so the same
on every machine) and is what the reader receives as the split's `args.files` (with `args.source` when
the split names its source).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from dsreg.errors import DsregError
from dsreg.recipe import SplitSpec
from dsreg.sourcetree import SourceTree


@lru_cache(maxsize=256)
def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression a glob pattern stands for, over whole posix member names."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            body = "\\" + body if body.startswith("^") else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def match_files(tree: SourceTree, patterns: tuple[str, ...]) -> list[str]:
    """The sorted member names any pattern matches; a pattern that matches nothing is an error."""
    names = tree.names()
    found: set[str] = set()
    for pattern in patterns:
        regex = pattern_regex(pattern.strip("/"))
        hits = [n for n in names if regex.fullmatch(n)]
        if not hits:
            sample = ", ".join(sorted(names)[:5]) + (", …" if len(names) > 5 else "")
            raise DsregError(
                f"the file pattern {pattern!r} matches none of the source's {len(names)} files"
                + (f" ({sample})" if names else ""),
                path=tree.path,
                fix="check the pattern against the source's layout (patterns are relative to its top, "
                "`*` stays within one folder, `**/` crosses folders)",
            )
        found.update(hits)
    return sorted(found)


def split_reader_args(spec: SplitSpec, trees: Mapping[str, SourceTree]) -> dict[str, Any]:
    """The reader arguments of a split: its `args`, plus `files` (and `source`, when named) for patterns."""
    if not spec.files:
        return dict(spec.args)
    source = spec.source or next(iter(trees))
    if source not in trees:
        raise DsregError(
            f"splits.{spec.name}.files names the source {source!r}, which is not available",
            fix="make the optional source available, or drop the split",
        )
    args = {**spec.args, "files": match_files(trees[source], spec.files)}
    return {**args, "source": source} if spec.source is not None else args
