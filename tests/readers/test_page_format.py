"""PAGE XML parsing: every namespace year reads the same, reading order, the line's own text, clear errors."""

from __future__ import annotations

import pytest

from dsreg.errors import DsregError
from dsreg.readers.page_format import parse_page
from dsreg.testing.page_xml import NAMESPACES, page_document, sample_regions


@pytest.mark.parametrize("year", sorted(NAMESPACES))
def test_every_schema_year_reads_the_same(year: int) -> None:
    regions, order = sample_regions(1, (48, 36))
    page = parse_page(page_document("Seite.JPG", (48, 36), regions, order, year), "x.xml")
    reference = parse_page(page_document("Seite.JPG", (48, 36), regions, order, 2013), "x.xml")
    assert page == reference
    assert (page.image_filename, page.width, page.height) == ("Seite.JPG", 48, 36)
    assert [ln.id for ln in page.lines] == ["p1l5", "p1l4", "p1l1", "p1l2", "p1l3"]
    assert [ln.text for ln in page.lines] == [
        "Item",
        "über den Rand",
        "Ratsprotokoll 1 & <Bozen>",
        "ſchöne Grüße",
        None,
    ]
    assert page.lines[2].baseline == ((3, 11), (30, 10)) and page.lines[0].baseline == ()
    assert page.lines[3].polygon == ((4, 15), (20, 15), (12, 27))


def test_without_reading_order_document_order() -> None:
    regions, _ = sample_regions(2, (48, 36))
    page = parse_page(page_document("a.png", (48, 36), regions, None, 2019), "x.xml")
    assert [ln.region_id for ln in page.lines] == ["p2r1"] * 3 + ["p2r2"] * 2


NS = NAMESPACES[2013]


def _doc(body: str, order: str = "") -> bytes:
    return (
        f'<PcGts xmlns="{NS}"><Page imageFilename="p.png" imageWidth="9" imageHeight="9">{order}{body}</Page></PcGts>'
    ).encode()


def _region(rid: str, text: str = "t") -> str:
    return (
        f'<TextRegion id="{rid}"><TextLine id="{rid}l"><Coords points="0,0 1,1"/>'
        f'<TextEquiv index="2"><Unicode>second</Unicode></TextEquiv>'
        f'<TextEquiv index="1"><Unicode>{text}</Unicode></TextEquiv></TextLine></TextRegion>'
    )


def test_nested_and_unordered_groups_and_regions_left_out() -> None:
    order = (
        '<ReadingOrder><OrderedGroup id="g"><OrderedGroupIndexed id="g2" index="1">'
        '<RegionRefIndexed index="1" regionRef="d"/><RegionRefIndexed index="0" regionRef="c"/></OrderedGroupIndexed>'
        '<UnorderedGroupIndexed id="g3" index="0"><RegionRef regionRef="b"/><RegionRef regionRef="a"/>'
        "</UnorderedGroupIndexed></OrderedGroup></ReadingOrder>"
    )
    page = parse_page(_doc("".join(_region(r, r.upper()) for r in "abcde"), order), "x.xml")
    assert [ln.region_id for ln in page.lines] == ["b", "a", "c", "d", "e"]
    assert [ln.text for ln in page.lines] == ["B", "A", "C", "D", "E"]  # the lowest-indexed TextEquiv


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<Page/>", "the root element is <Page>, not a PAGE <PcGts>"),
        (f'<PcGts xmlns="{NS}"><Page/></PcGts>'.encode(), "no single <Page imageFilename"),
        (_doc('<TextRegion id="r"><TextLine id="l"/></TextRegion>'), "TextLine 'l' has no Coords polygon"),
        (_doc('<TextRegion id="r"><TextLine id="l"><Coords points="1,2 x"/></TextLine></TextRegion>'), "not `x,y"),
        (_doc(_region("r") + _region("r")), "two text lines have the id 'rl'"),
        (b"<PcGts", "not well-formed XML"),
    ],
)
def test_malformed_documents_name_the_file(data: bytes, message: str) -> None:
    with pytest.raises(DsregError, match=r"x\.xml") as caught:
        parse_page(data, "x.xml")
    assert message in str(caught.value)


def test_text_regions_nested_in_any_region_type_are_read() -> None:
    # PAGE 2019 lets every region type hold regions; a caption inside an ImageRegion was dropped silently
    body = (
        _region("a", "A")
        + f'<ImageRegion id="img"><Coords points="0,0 8,8"/>{_region("b", "B")}</ImageRegion>'
        + f'<CustomRegion id="c"><GraphicRegion id="g">{_region("d", "D")}</GraphicRegion></CustomRegion>'
        + f'<TableRegion id="t">{_region("e", "E")}</TableRegion>'
    )
    page = parse_page(_doc(body), "x.xml")
    assert [(ln.region_id, ln.text) for ln in page.lines] == [("a", "A"), ("b", "B"), ("d", "D"), ("e", "E")]
    order = (
        '<ReadingOrder><OrderedGroup id="g0"><RegionRefIndexed index="0" regionRef="d"/></OrderedGroup></ReadingOrder>'
    )
    assert [ln.region_id for ln in parse_page(_doc(body, order), "x.xml").lines] == ["d", "a", "b", "e"]


@pytest.mark.parametrize(
    "body",
    [
        '<TextRegion id="r"><TextLine id="l"><Coords points="0,0 1,1"/>'
        '<TextEquiv index="first"><Unicode>x</Unicode></TextEquiv></TextLine></TextRegion>',
        '<ReadingOrder><OrderedGroup id="g"><RegionRefIndexed index="1.5" regionRef="r"/>'
        "</OrderedGroup></ReadingOrder>",
    ],
)
def test_a_non_integer_index_is_an_error_naming_the_file(body: str) -> None:
    with pytest.raises(DsregError, match=r"x\.xml.*not an integer"):
        parse_page(_doc(body), "x.xml")


def _cell(cid: str, row: int, text: str) -> str:
    """A Transkribus table cell: TextLines straight in the cell, no TextRegion."""
    return (
        f'<TableCell id="{cid}" row="{row}" col="0"><Coords points="0,0 8,8"/>'
        f'<TextLine id="{cid}l"><Coords points="0,0 1,1"/><TextEquiv><Unicode>{text}</Unicode></TextEquiv>'
        "</TextLine><CornerPts>0 1 2 3</CornerPts></TableCell>"
    )


def test_lines_of_transkribus_table_cells_are_read_where_the_table_is_read() -> None:
    # a Transkribus table's cells hold their TextLines directly; they were dropped silently
    body = _region("a", "A") + f'<TableRegion id="t">{_cell("c1", 0, "C1")}{_cell("c2", 1, "C2")}</TableRegion>'
    page = parse_page(_doc(body + _region("b", "B")), "x.xml")
    assert [(ln.region_id, ln.text) for ln in page.lines] == [("a", "A"), ("c1", "C1"), ("c2", "C2"), ("b", "B")]
    order = (
        '<ReadingOrder><OrderedGroup id="g"><RegionRefIndexed index="0" regionRef="b"/>'
        '<RegionRefIndexed index="1" regionRef="t"/><RegionRefIndexed index="2" regionRef="a"/>'
        "</OrderedGroup></ReadingOrder>"
    )
    assert [ln.text for ln in parse_page(_doc(body + _region("b", "B"), order), "x.xml").lines] == [
        "B",
        "C1",
        "C2",
        "A",
    ]


def test_a_region_named_in_the_reading_order_brings_the_regions_nested_in_it() -> None:
    # the caption of an image read second is read second, not after every region the order names
    body = (
        _region("a", "A")
        + f'<ImageRegion id="img"><Coords points="0,0 8,8"/>{_region("cap", "caption")}</ImageRegion>'
        + '<TextRegion id="p"><TextLine id="pl"><Coords points="0,0 1,1"/><TextEquiv><Unicode>P</Unicode>'
        + f"</TextEquiv></TextLine>{_region('q', 'Q')}{_region('r', 'R')}</TextRegion>"
    )
    order = (
        '<ReadingOrder><OrderedGroup id="g"><RegionRefIndexed index="0" regionRef="p"/>'
        '<RegionRefIndexed index="1" regionRef="img"/><RegionRefIndexed index="2" regionRef="a"/>'
        '<RegionRefIndexed index="3" regionRef="q"/></OrderedGroup></ReadingOrder>'
    )
    page = parse_page(_doc(body, order), "x.xml")
    # r (unnamed) follows its parent p; q is named itself, so it keeps its own place
    assert [ln.text for ln in page.lines] == ["P", "R", "caption", "A", "Q"]
