"""`iam_lines`: the IAM Handwriting Database's text lines, from `lines.tgz` and the `lines.txt` of `ascii.tgz`.

`lines.txt` has `#` comment lines, then one line per text line:
`a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell|from` — the line id, the word
segmentation result (`ok`, or `err` when the line's word segmentation has errors: the line's image and
transcription are still right, so it is kept and flagged in `segmentation_ok`), the grey level, the number of
components, the bounding box, and the transcription with words separated by `|`. The text is the words
joined by single spaces (a `|` inside the transcription field is only ever a separator), with the XML
character references IAM writes for `"` and `&` (`&quot;`, `&amp;`, and `&lt;`, `&gt;`, `&apos;`) decoded.
`forms.txt`, when present, gives each form's writer (`writer_id`).

A split is a list file naming line ids (`a01-000u-00`) or form ids (`a01-000u`, meaning every line of the
form), one per line, as IAM's task files and the Aachen split lists do; rows come in list order (a form's
lines in `lines.txt` order). An id the list names that `lines.txt` lacks, a line whose image is not in
`lines.tgz`, or an id listed twice is an error naming both files. Images are stored as their original PNG bytes.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import Features
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.icdar2015 import CHECK, CHUNK, named_source
from dsreg.readers.icdar_gt import gt_lines
from dsreg.readers.image_folder import _checked_image
from dsreg.sourcetree import SourceTree

COLUMNS = ("image", "text", "line_id", "form_id", "writer_id", "segmentation_ok")
_LINE_ID = re.compile(r"[a-z0-9]+-[a-z0-9]+-\d+")
_FORM_ID = re.compile(r"[a-z0-9]+-[a-z0-9]+")
_ENTITIES = {"&quot;": '"', "&amp;": "&", "&lt;": "<", "&gt;": ">", "&apos;": "'"}
_ENTITY = re.compile("|".join(_ENTITIES))
_FIX = "use the IAM database's original files (ascii.tgz, lines.tgz) and the split lists as distributed"


@dataclass(frozen=True)
class IamLine:
    """One entry of lines.txt."""

    id: str
    ok: bool
    text: str


def parse_lines_txt(data: bytes, where: str) -> dict[str, IamLine]:
    """lines.txt's entries by line id, in file order; a malformed entry is an error naming its line."""
    out: dict[str, IamLine] = {}
    for number, line in gt_lines(data, where):
        if line.startswith("#"):
            continue
        fields = line.split(" ", 8)
        if len(fields) != 9 or not _LINE_ID.fullmatch(fields[0]) or fields[1] not in ("ok", "err"):
            raise DsregError(
                f"line {number} is not `<id> ok|err <grey> <components> <x> <y> <w> <h> <words|…>`: {line[:80]!r}",
                path=where,
                fix=_FIX,
            )
        if fields[0] in out:
            raise DsregError(f"line {number} repeats the line id {fields[0]!r}", path=where, fix=_FIX)
        text = _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], " ".join(fields[8].split("|")))
        out[fields[0]] = IamLine(fields[0], fields[1] == "ok", text)
    return out


def parse_forms_txt(data: bytes, where: str) -> dict[str, str]:
    """forms.txt: form id → writer id."""
    out: dict[str, str] = {}
    for number, line in gt_lines(data, where):
        if line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 2 or not _FORM_ID.fullmatch(fields[0]):
            raise DsregError(f"line {number} is not `<form id> <writer id> …`: {line[:80]!r}", path=where, fix=_FIX)
        out[fields[0]] = fields[1]
    return out


def _form(line_id: str) -> str:
    return line_id.rsplit("-", 1)[0]


# lines tree → (split, arguments) → the split's rows; a tree is opened afresh for every preparation
_CACHE: weakref.WeakKeyDictionary[SourceTree, dict[str, list[tuple[IamLine, str, str]]]] = weakref.WeakKeyDictionary()


class IamLines(Reader):
    """IAM Handwriting Database text lines (lines.tgz + ascii.tgz's lines.txt) in split-list order, `err` flagged."""

    arguments: ClassVar[tuple[Arg, ...]] = (CHECK, CHUNK)
    split_arguments: ClassVar[tuple[Arg, ...]] = (
        Arg("images", "str", "the source holding the line images (lines.tgz or its folder)", required=True),
        Arg("ascii", "str", "the source holding lines.txt (and forms.txt): ascii.tgz or its folder", required=True),
        Arg("list", "str", "the source holding the split's list of line or form ids", required=True),
        Arg("list_file", "str", "the list's file name in that source (found in any folder)", required=True),
    )

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        unknown = [n for n in features.names() if n not in COLUMNS]
        if unknown or "image" not in features.names() or "text" not in features.names():
            raise DsregError(
                f"the iam_lines reader fills image, text and optionally {list(COLUMNS[2:])}; "
                f"the features are {features.names()}",
                fix="declare image (encoded_image), text, and any of line_id, form_id, writer_id (text), "
                "segmentation_ok (scalar bool)",
            )
        if self.args["chunk"] < 1:
            raise DsregError(f"reader.args.chunk is {self.args['chunk']}", fix="give a positive number of rows")

    def _index(
        self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]
    ) -> list[tuple[IamLine, str, str]]:
        images = named_source(sources, split_args["images"], split, "images")
        key = repr((split, sorted(split_args.items())))
        cached = _CACHE.setdefault(images, {})
        if key not in cached:
            cached[key] = self._rows(sources, images, split, split_args)
        return cached[key]

    def _rows(
        self, sources: Mapping[str, SourceTree], images: SourceTree, split: str, split_args: Mapping[str, Any]
    ) -> list[tuple[IamLine, str, str]]:
        """(line, image member, writer id) per row of the split, in list order."""
        ascii_tree = named_source(sources, split_args["ascii"], split, "ascii")
        lines_name = ascii_tree.find("lines.txt")
        lines_where = ascii_tree.location(lines_name)
        entries = parse_lines_txt(ascii_tree.read_bytes(lines_name), lines_where)
        writers: dict[str, str] = {}
        if any(n.rsplit("/", 1)[-1] == "forms.txt" for n in ascii_tree.names()):
            forms = ascii_tree.find("forms.txt")
            writers = parse_forms_txt(ascii_tree.read_bytes(forms), ascii_tree.location(forms))
        by_form: dict[str, list[IamLine]] = {}
        for entry in entries.values():
            by_form.setdefault(_form(entry.id), []).append(entry)
        list_tree = named_source(sources, split_args["list"], split, "list")
        list_name = list_tree.find(split_args["list_file"])
        list_where = list_tree.location(list_name)
        chosen: list[IamLine] = []
        for number, text in gt_lines(list_tree.read_bytes(list_name), list_where):
            item = text.strip()
            found = [entries[item]] if item in entries else by_form.get(item, [])
            if not found:
                raise DsregError(
                    f"line {number} of {list_where} names {item!r}, "
                    f"which is neither a line nor a form of {lines_where}",
                    fix=_FIX,
                )
            chosen.extend(found)
        seen: set[str] = set()
        for entry in chosen:
            if entry.id in seen:
                raise DsregError(f"{list_where} names the line {entry.id!r} twice", fix=_FIX)
            seen.add(entry.id)
        pngs: dict[str, str] = {}
        for name in images.names():
            base = name.rsplit("/", 1)[-1]
            if base.endswith(".png"):
                pngs[base[:-4]] = name
        missing = [e.id for e in chosen if e.id not in pngs]
        if missing:
            raise DsregError(
                f"{len(missing)} line(s) of {lines_where} in split {split!r} have no image in {images.path} "
                f"(first: {missing[0]}.png)",
                fix=_FIX,
            )
        return [(e, pngs[e.id], writers.get(_form(e.id), "")) for e in chosen]

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        count = len(self._index(sources, split, split_args))
        return [f"{start:06d}" for start in range(0, count, self.args["chunk"])]

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        images = named_source(sources, split_args["images"], split, "images")
        start = int(task)
        chunk = self._index(sources, split, split_args)[start : start + self.args["chunk"]]
        # read in the archive's own order (a compressed tar seeks back by decompressing again), yield in list order
        wanted = {member for _, member, _ in chunk}
        stored = {name: f.read() for name, f in images.iter_members(lambda n: n in wanted)}
        for entry, member, writer in chunk:
            data, _, _ = _checked_image(stored[member], images.location(member), self.args["check"])
            row = {
                "image": data,
                "text": entry.text,
                "line_id": entry.id,
                "form_id": _form(entry.id),
                "writer_id": writer,
                "segmentation_ok": entry.ok,
            }
            yield {name: row[name] for name in self.features.names()}
