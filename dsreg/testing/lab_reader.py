"""A reader as a lab's own package would ship it, for tests of plugin discovery and of `ReaderContract`.

Tests copy this module into a separate installed distribution (`dsreg.testing.plugins`), so dsreg finds
it only through its entry point. It reads integers, one per line, from one text file per split, two
lines per task. `reader.args.bug` switches on one deliberate defect, so the contract's tests can show
that each of its checks catches the defect it exists for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.readers import Arg, Output, Reader
from dsreg.sourcetree import SourceTree
from dsreg.vendorlines import vendor_lines

BUGS = ("none", "nondeterministic", "running_id", "drop_row", "overlap", "lenient", "unpicklable", "extra_column")
_next_id: dict[str, int] = {}  # split → the next running id, for the "running_id" defect
_reads = [0]  # rows read so far by this process, for the "nondeterministic" defect


class LabLines(Reader):
    """Integers, one per line, one text file per split; two lines per task."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("bug", "str", "a deliberate defect, for tests of the reader contract", default="none", choices=BUGS),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (Arg("file", "str", "the split's file", required=True),)

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        self.bug: str = self.args["bug"]
        self.hook: Callable[[int], int] | None = (lambda v: v) if self.bug == "unpicklable" else None

    def _lines(
        self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]
    ) -> tuple[list[str], str]:
        (tree,) = sources.values()
        name = "train.txt" if self.bug == "overlap" and split == "test" else split_args["file"]
        member = tree.find(name)
        return vendor_lines(tree.read_bytes(member).decode("utf-8")), tree.location(member)

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        lines, _ = self._lines(sources, split, split_args)
        _next_id[split] = 0
        return [str(start) for start in range(0, len(lines), 2)]

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        lines, where = self._lines(sources, split, split_args)
        start = int(task)
        for number, line in enumerate(lines[start : start + 2], start + 1):
            if not line.strip().lstrip("-").isdigit():
                if self.bug == "lenient":
                    continue
                raise DsregError(
                    f"line {number} is not an integer: {line!r}", path=where, fix="write one integer a line"
                )
            if self.bug == "drop_row" and number == 1:
                continue
            value = int(line)
            if self.bug == "nondeterministic":
                _reads[0] += 1
                value += _reads[0]
            elif self.bug == "running_id":
                value, _next_id[split] = _next_id[split], _next_id[split] + 1
            yield {"x": value, "y": 0} if self.bug == "extra_column" else {"x": value}
