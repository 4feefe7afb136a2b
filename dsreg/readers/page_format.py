"""PAGE XML (PRImA's page content format, every namespace year 2009–2019): text lines in reading order.

A document is `PcGts/Page@imageFilename` with `TextRegion`s (also nested in any region type: captions in an
ImageRegion, cells in a TableRegion) and Transkribus `TableCell`s holding `TextLine`s, each with a `Coords`
polygon (`points="x,y x,y …"`, or `Point` children in the 2009/2010 schemas), an optional `Baseline` and
`TextEquiv/Unicode`. Elements are matched by local name, so any namespace (2013, 2019, http or https) reads
the same. A line's text is its own `TextEquiv` (the lowest `index` when there are several), never its
words' concatenation; a line without one has no text (None).

Reading order: the regions as `ReadingOrder` lists them (ordered groups by `index`, nested groups in
place, unordered groups in document order), each followed by the regions nested in it that the order does
not list itself (a table's cells, an image's caption), then any region it leaves out, in document order;
with no `ReadingOrder`, document order. Lines keep document order within their region unless every line of
the region carries a Transkribus `custom="readingOrder {index:N;}"`, which then orders them. Documents
with a DOCTYPE are refused (PAGE has none, and entity expansion is an attack); parsing is defusedxml's.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

from dsreg.errors import DsregError

Point = tuple[int, int]
_CUSTOM_ORDER = re.compile(r"readingOrder\s*\{[^}]*\bindex:\s*(-?\d+)")
_FIX = "restore the original PAGE XML file (it differs from the PAGE schema)"


@dataclass(frozen=True)
class Line:
    """One text line: ids, polygon and baseline in page pixels, and its own text (None when it has none)."""

    id: str
    region_id: str
    polygon: tuple[Point, ...]
    baseline: tuple[Point, ...]
    text: str | None


@dataclass(frozen=True)
class Page:
    """A PAGE document: the image it describes and its lines in reading order."""

    image_filename: str
    width: int | None
    height: int | None
    lines: tuple[Line, ...]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _points(element: ET.Element, where: str, what: str) -> tuple[Point, ...]:
    """The points of a Coords/Baseline element: its `points` attribute, or its `Point` children (2009/2010)."""
    text = element.get("points")
    try:
        if text is not None:
            pairs = [p.split(",") for p in text.split()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError(text)
            return tuple((round(float(x)), round(float(y))) for x, y in pairs)
        return tuple((round(float(p.get("x", ""))), round(float(p.get("y", "")))) for p in _children(element, "Point"))
    except ValueError:
        raise DsregError(
            f"{what} has points that are not `x,y x,y …` numbers: {text!r}", path=where, fix=_FIX
        ) from None


def _index(element: ET.Element, where: str) -> int:
    """An element's integer `index` attribute (0 when absent)."""
    value = element.get("index", "0") or "0"
    try:
        return int(value)
    except ValueError:
        raise DsregError(
            f"<{_local(element.tag)}> has the index {value!r}, not an integer", path=where, fix=_FIX
        ) from None


def _text(element: ET.Element, where: str) -> str | None:
    """The element's own TextEquiv/Unicode text (the lowest-indexed TextEquiv), or None."""
    equivs = _children(element, "TextEquiv")
    if not equivs:
        return None
    first = min(enumerate(equivs), key=lambda pair: (_index(pair[1], where), pair[0]))[1]
    unicode = _children(first, "Unicode")
    if not unicode:
        return None
    return unicode[0].text or ""


def _custom_index(element: ET.Element) -> int | None:
    match = _CUSTOM_ORDER.search(element.get("custom", ""))
    return int(match.group(1)) if match else None


# what holds TextLines: PAGE's TextRegion, and the TableCell of Transkribus' tables (inside a TableRegion)
_LINE_HOLDERS = ("TextRegion", "TableCell")


def _is_region(element: ET.Element) -> bool:
    return _local(element.tag).endswith("Region") or _local(element.tag) == "TableCell"


def _regions(element: ET.Element, holders: bool = True) -> Iterator[ET.Element]:
    """Every region under `element` (only those holding lines when `holders`), nested ones after their parent,
    in document order. Any region type may hold regions (PAGE 2019's RegionType): a caption's TextRegion
    inside an ImageRegion, a table's cells inside a TableRegion, text inside a CustomRegion are all read."""
    for child in element:
        if _is_region(child):
            if not holders or _local(child.tag) in _LINE_HOLDERS:
                yield child
            yield from _regions(child, holders)


def _ordered_refs(group: ET.Element, where: str) -> Iterator[str]:
    """Region ids of a reading-order group, in its order (indexed children by `index`, others as written)."""
    if group.get("regionRef"):
        yield str(group.get("regionRef"))
    children = [c for c in group if _local(c.tag) not in ("Labels", "UserDefined")]
    if _local(group.tag).startswith("OrderedGroup"):
        children.sort(key=lambda c: _index(c, where))
    for child in children:
        if _local(child.tag).startswith(("RegionRef",)):
            ref = child.get("regionRef")
            if ref:
                yield ref
        else:
            yield from _ordered_refs(child, where)


def parse_page(data: bytes, where: str) -> Page:
    """The page a PAGE XML document describes; a malformed document is a DsregError naming `where`."""
    try:
        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import fromstring
    except ImportError:
        raise DsregError("reading PAGE XML needs defusedxml", fix="pip install 'dsreg[documents]'") from None
    try:
        root = fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise DsregError(
            "the document declares a DOCTYPE or entities; PAGE XML has none", path=where, fix=_FIX
        ) from None
    except ET.ParseError as err:
        raise DsregError(f"not well-formed XML: {err}", path=where, fix=_FIX) from None
    if _local(root.tag) != "PcGts":
        raise DsregError(f"the root element is <{_local(root.tag)}>, not a PAGE <PcGts>", path=where, fix=_FIX)
    pages = _children(root, "Page")
    if len(pages) != 1 or not pages[0].get("imageFilename"):
        raise DsregError("the document has no single <Page imageFilename=…>", path=where, fix=_FIX)
    page = pages[0]
    lines = [line for region in _reading_order(page, where) for line in _region_lines(region, where)]
    seen: set[str] = set()
    for line in lines:
        if line.id in seen:
            raise DsregError(f"two text lines have the id {line.id!r}", path=where, fix=_FIX)
        seen.add(line.id)

    def size(name: str) -> int | None:
        value = page.get(name)
        return int(value) if value and value.isdigit() else None

    return Page(str(page.get("imageFilename")), size("imageWidth"), size("imageHeight"), tuple(lines))


def _reading_order(page: ET.Element, where: str) -> list[ET.Element]:
    """The page's line-holding regions in reading order. A region the ReadingOrder names comes with the
    regions nested in it that it does not name itself (a TableRegion with its cells, an ImageRegion with its
    caption); regions it leaves out follow in document order."""
    every = {r.get("id"): r for r in _regions(page, holders=False) if r.get("id")}
    refs = [
        ref for reading in _children(page, "ReadingOrder") for group in reading for ref in _ordered_refs(group, where)
    ]
    named = {id(every[ref]) for ref in refs if ref in every}
    order: list[ET.Element] = []
    placed: set[int] = set()

    def place(region: ET.Element) -> None:
        if id(region) not in placed and _local(region.tag) in _LINE_HOLDERS:
            placed.add(id(region))
            order.append(region)

    for ref in refs:
        if ref in every:
            place(every[ref])
            for inner in _regions(every[ref]):
                if id(inner) not in named:
                    place(inner)
    for region in _regions(page):
        place(region)
    return order


def _region_lines(region: ET.Element, where: str) -> list[Line]:
    elements = _children(region, "TextLine")
    indexes = [_custom_index(e) for e in elements]
    if elements and all(i is not None for i in indexes):
        elements = [e for _, _, e in sorted(zip(indexes, range(len(elements)), elements, strict=True))]
    region_id = region.get("id", "")
    lines = []
    for number, element in enumerate(elements, 1):
        line_id = element.get("id") or f"{region_id}:{number}"
        what = f"TextLine {line_id!r}"
        coords = _children(element, "Coords")
        polygon = _points(coords[0], where, what) if coords else ()
        if not polygon:
            raise DsregError(f"{what} has no Coords polygon", path=where, fix=_FIX)
        baselines = _children(element, "Baseline")
        baseline = _points(baselines[0], where, f"{what}'s Baseline") if baselines else ()
        lines.append(Line(line_id, region_id, polygon, baseline, _text(element, where)))
    return lines
