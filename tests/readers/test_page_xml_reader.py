"""The `page_xml` reader and the `read2016` recipe: line crops equal to crops computed here, reading order kept."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import yaml
from generic_fakes import damaged_copy, rows
from PIL import Image

from dsreg.errors import DsregError
from dsreg.preparation import prepare
from dsreg.registry import recipe_dirs
from dsreg.testing import Damaged, ReaderContract, page_xml

TRAINVAL, TEST = "Train-And-Val-ICFHR-2016.tgz", "Test-ICFHR-2016.tgz"


def _shipped() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((recipe_dirs()[-1] / "read2016.yaml").read_text(encoding="utf-8"))
    return data


def _retar(path: Path, replace: dict[str, bytes | None]) -> None:
    """Rewrite a tar.gz with members replaced (bytes) or removed (None)."""
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    for name, data in replace.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


class TestRead2016Contract(ReaderContract):
    """The reader contract on the shipped read2016 recipe over generated READ 2016 archives."""

    reader = "page_xml"
    recipe = "read2016"
    sources: ClassVar[dict[str, Any]] = _shipped()["sources"]
    rows: ClassVar[dict[str, int]] = {"train": 8, "validation": 4, "test": 4}  # 4 lines with text a page
    disjoint_splits = True

    def make_source(self, dest: Path) -> Path:
        page_xml.make_read2016(dest)
        return dest

    def damaged_sources(self, source: Path, dest: Path) -> Iterator[Damaged]:
        bad = damaged_copy(source, dest, "no image")
        _retar(bad / TEST, {"Test-ICFHR-2016/Seite0004.png": None})
        yield Damaged("a page whose image is missing", bad, "the page image 'Seite0004.png' (Page@imageFilename)")
        bad = damaged_copy(source, dest, "cut xml")
        xml = "PublicData/Validation/page/Seite0003.xml"
        _retar(bad / TRAINVAL, {xml: b'<?xml version="1.0"?><PcGts><Page imageFilename="x.png">'})
        yield Damaged("a truncated XML file", bad, f"{xml}: not well-formed XML")
        bad = damaged_copy(source, dest, "entities")
        bomb = b'<?xml version="1.0"?><!DOCTYPE PcGts [<!ENTITY a "aaaa">]><PcGts>&a;</PcGts>'
        _retar(bad / TEST, {"Test-ICFHR-2016/page/Seite0004.xml": bomb})
        yield Damaged("a DOCTYPE with entities", bad, "declares a DOCTYPE or entities")


def _recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **args: Any) -> str:
    """read2016 with every column and the given reader arguments, counts left to the data."""
    data = _shipped()
    data["name"] = "read-lines"
    data["reader"]["args"].update(args)
    data["features"]["region_id"] = {"type": "text"}
    for spec in data["splits"].values():
        spec.pop("rows", None)
    recipes = tmp_path / "recipes"
    recipes.mkdir(exist_ok=True)
    (recipes / "read-lines.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("DSREG_RECIPES", str(recipes))
    return "read-lines"


def _page(source: Path, member: str) -> np.ndarray:
    archive = TEST if member.startswith("Test-") else TRAINVAL
    with tarfile.open(source / archive) as tar:
        data = tar.extractfile(member).read()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _pixels(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def test_line_crops_equal_the_bounding_box_cut_here(tmp_path: Path, monkeypatch, root) -> None:
    want = page_xml.make_read2016(tmp_path / "raw")
    name = _recipe(tmp_path, monkeypatch, empty="keep")
    prepare(name, source=tmp_path / "raw")
    for split, lines in want.items():
        got = rows(name, split)
        assert [r["line_id"] for r in got] == [w["line_id"] for w in lines]  # reading order
        for row, line in zip(got, lines, strict=True):
            page = _page(tmp_path / "raw", line["image_member"])
            xs, ys = [x for x, _ in line["polygon"]], [y for _, y in line["polygon"]]
            x0, y0 = max(min(xs), 0), max(min(ys), 0)
            x1, y1 = min(max(xs) + 1, page.shape[1]), min(max(ys) + 1, page.shape[0])
            assert np.array_equal(_pixels(row["image"]), page[y0:y1, x0:x1]), (split, line["line_id"])
            assert row["bbox"] == [x0, y0, x1, y1]
            assert row["text"] == (line["text"] or "")
            assert row["polygon"] == [list(p) for p in line["polygon"]]
            assert row["baseline"] == [list(p) for p in line["baseline"]]
            assert (row["file_name"], row["region_id"]) == (line["file_name"], line["region_id"])
    first = rows(name, "train")
    # ReadingOrder reads region r2 first; in it, Transkribus' custom index puts l5 before l4
    assert [r["line_id"] for r in first[:5]] == ["p1l5", "p1l4", "p1l1", "p1l2", "p1l3"]
    assert first[2]["text"] == "Ratsprotokoll 1 & <Bozen>"  # the line's own text, not its words'
    assert first[0]["text"] == "Item"
    assert {w["year"] for lines in want.values() for w in lines} == {2010, 2013, 2019}


def _inside(x: float, y: float, polygon: list[tuple[int, int]]) -> bool:
    """Ray casting: whether (x, y) is inside the polygon."""
    inside = False
    for (ax, ay), (bx, by) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


def _near_edge(x: float, y: float, polygon: list[tuple[int, int]]) -> bool:
    for (ax, ay), (bx, by) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / float(dx * dx + dy * dy or 1)))
        if (x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 <= 1.5**2:
            return True
    return False


def test_masked_crops_keep_the_polygon_and_fill_the_rest(tmp_path: Path, monkeypatch, root) -> None:
    want = page_xml.make_read2016(tmp_path / "raw", pages=(1, 1, 1))
    name = _recipe(tmp_path, monkeypatch, crop="mask", fill=7)
    prepare(name, source=tmp_path / "raw")
    got = {r["line_id"]: r for r in rows(name, "train")}
    assert "p1l3" not in got  # no text: skipped, as the recipe says
    triangle = next(w for w in want["train"] if w["line_id"] == "p1l2")
    page = _page(tmp_path / "raw", triangle["image_member"])
    x0, y0, x1, y1 = got["p1l2"]["bbox"]
    crop = _pixels(got["p1l2"]["image"])
    checked = {True: 0, False: 0}
    for y in range(y0, y1):
        for x in range(x0, x1):
            if _near_edge(x, y, triangle["polygon"]):
                continue  # the rasteriser's edge rule is its own
            inside = _inside(x, y, triangle["polygon"])
            expected = page[y, x] if inside else np.array([7, 7, 7], dtype=np.uint8)
            assert np.array_equal(crop[y - y0, x - x0], expected), (x, y, inside)
            checked[inside] += 1
    assert checked[True] > 10 and checked[False] > 10


def test_features_the_reader_cannot_fill_are_refused(tmp_path: Path, monkeypatch, root) -> None:
    page_xml.make_read2016(tmp_path / "raw", pages=(1, 1, 1))
    data = _shipped()
    data["features"]["polygon"] = {"type": "sequence", "dtype": "int32"}
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "bad.yaml").write_text(yaml.safe_dump({**data, "name": "bad"}), encoding="utf-8")
    monkeypatch.setenv("DSREG_RECIPES", str(tmp_path / "recipes"))
    with pytest.raises(DsregError, match="cannot fill the feature 'polygon'"):
        prepare("bad", source=tmp_path / "raw", check_counts=False)


def test_a_line_outside_its_page_is_an_error(tmp_path: Path, monkeypatch, root) -> None:
    page_xml.make_read2016(tmp_path / "raw", pages=(1, 1, 1))
    with tarfile.open(tmp_path / "raw" / TEST) as tar:
        member = "Test-ICFHR-2016/page/Seite0003.xml"
        xml = tar.extractfile(member).read().decode()
    xml = xml.replace('points="35,2 45,2 45,9"', 'points="100,100 120,100 120,110"')
    _retar(tmp_path / "raw" / TEST, {member: xml.encode()})
    name = _recipe(tmp_path, monkeypatch)
    with pytest.raises(DsregError, match=r"TextLine 'p3l5' lies outside the 48×36 page image"):
        prepare(name, source=tmp_path / "raw")


def test_the_page_image_is_found_next_to_above_or_beside_the_xml(tmp_path: Path) -> None:
    from dsreg.readers.page_xml import find_image
    from dsreg.sourcetree import SourceTree

    for name in ("set/page/p.xml", "set/p.JPG", "set/Images/p.JPG", "set/Images/q.JPG", "other/q.jpg", "set/r.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    tree = SourceTree.open(tmp_path)
    assert find_image(tree, "set/page/p.xml", "p.JPG") == "set/p.JPG"  # the folder above before its subfolders
    assert find_image(tree, "set/page/p.xml", "C:\\scans\\q.JPG") == "set/Images/q.JPG"  # never outside set/
    assert find_image(tree, "set/page/p.xml", "R.PNG") == "set/r.png"  # case only when nothing matches exactly
    (tmp_path / "set" / "Scans").mkdir()
    (tmp_path / "set" / "Scans" / "q.JPG").write_bytes(b"x")
    with pytest.raises(DsregError, match=r"is ambiguous: 'set/Images/q\.JPG' and 'set/Scans/q\.JPG'"):
        find_image(SourceTree.open(tmp_path), "set/page/p.xml", "q.JPG")
    with pytest.raises(DsregError, match=r"the page image 'z.jpg' \(Page@imageFilename\) is not in the source"):
        find_image(tree, "set/page/p.xml", "z.jpg")


TEST_PAGE = "Test-ICFHR-2016/Seite0003.JPG"  # the test page of make_read2016(pages=(1, 1, 1)), 48×36


def _with_test_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, image: bytes, **args: Any) -> str:
    """One page a split, the test page's image replaced by `image` (its XML unchanged); the recipe's name."""
    page_xml.make_read2016(tmp_path / "raw", pages=(1, 1, 1))
    _retar(tmp_path / "raw" / TEST, {TEST_PAGE: image})
    return _recipe(tmp_path, monkeypatch, **args)


def _box(line: dict[str, Any], width: int, height: int) -> tuple[int, int, int, int]:
    xs, ys = [x for x, _ in line["polygon"]], [y for _, y in line["polygon"]]
    return max(min(xs), 0), max(min(ys), 0), min(max(xs) + 1, width), min(max(ys) + 1, height)


def test_a_page_image_of_another_size_than_the_xml_declares_is_an_error(tmp_path: Path, monkeypatch, root) -> None:
    # a downscaled copy: its lines would be cut from the wrong places (clipped at the smaller edge), silently
    smaller = page_xml.encode(page_xml.page_pixels(3, (40, 30)), "PNG")
    name = _with_test_image(tmp_path, monkeypatch, smaller)
    with pytest.raises(DsregError, match=r"describes a 48×36 page image, but 'Test-ICFHR-2016/Seite0003.JPG' is 40×30"):
        prepare(name, source=tmp_path / "raw")


def test_an_image_turned_by_its_exif_orientation_is_cut_as_displayed(tmp_path: Path, monkeypatch, root) -> None:
    # stored a quarter turn counter-clockwise with EXIF orientation 6 ("turn clockwise to display"): the XML's
    # 48×36 coordinates are the displayed image's
    shown = page_xml.page_pixels(3, (48, 36))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.rot90(shown, k=1))).save(out, format="PNG", exif=exif.tobytes())
    name = _with_test_image(tmp_path, monkeypatch, out.getvalue(), empty="keep")
    want = page_xml.make_read2016(tmp_path / "other", pages=(1, 1, 1))["test"]
    prepare(name, source=tmp_path / "raw")
    got = rows(name, "test")
    assert [r["line_id"] for r in got] == [w["line_id"] for w in want]
    for row, line in zip(got, want, strict=True):
        x0, y0, x1, y1 = _box(line, 48, 36)
        assert np.array_equal(_pixels(row["image"]), shown[y0:y1, x0:x1]), line["line_id"]


def _tiff16(values: np.ndarray, byte_order: str) -> bytes:
    """A 16-bit greyscale TIFF written in the given byte order ('<' little-endian II, '>' big-endian MM)."""
    mode = "I;16B" if byte_order == ">" else "I;16"
    image = Image.frombytes(mode, (values.shape[1], values.shape[0]), values.astype(f"{byte_order}u2").tobytes())
    out = io.BytesIO()
    image.save(out, format="TIFF")
    return out.getvalue()


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_16_bit_page_images_keep_their_values_in_either_byte_order(
    tmp_path: Path, monkeypatch, root, byte_order: str
) -> None:
    # Pillow's own conversion of a big-endian I;16B page clipped every value above 255: a white line image
    values = np.random.default_rng(5).integers(0, 65536, size=(36, 48), dtype=np.uint16)
    name = _with_test_image(tmp_path, monkeypatch, _tiff16(values, byte_order), empty="keep")
    want = page_xml.make_read2016(tmp_path / "other", pages=(1, 1, 1))["test"]
    prepare(name, source=tmp_path / "raw")
    for row, line in zip(rows(name, "test"), want, strict=True):
        x0, y0, x1, y1 = _box(line, 48, 36)
        crop = Image.open(io.BytesIO(row["image"]))
        assert crop.mode == "I;16"
        assert np.array_equal(np.asarray(crop).astype(np.uint16), values[y0:y1, x0:x1]), line["line_id"]


def test_a_masked_16_bit_line_is_filled_with_the_16_bit_grey_level(tmp_path: Path, monkeypatch, root) -> None:
    values = np.full((36, 48), 1000, dtype=np.uint16)
    name = _with_test_image(tmp_path, monkeypatch, _tiff16(values, ">"), crop="mask")
    prepare(name, source=tmp_path / "raw")
    triangle = next(r for r in rows(name, "test") if r["line_id"] == "p3l5")  # (35,2) (45,2) (45,9)
    crop = np.asarray(Image.open(io.BytesIO(triangle["image"]))).astype(np.uint16)
    assert crop[0, -1] == 1000 and crop[-1, 0] == 255 * 257  # inside; outside, white as in 8 bits


def test_a_32_bit_page_image_beyond_16_bits_is_refused(tmp_path: Path, monkeypatch, root) -> None:
    out = io.BytesIO()
    Image.fromarray(np.full((36, 48), 70000, dtype=np.int32)).save(out, format="TIFF")
    name = _with_test_image(tmp_path, monkeypatch, out.getvalue())
    with pytest.raises(DsregError, match=r"is I with values 70000\.\.70000"):
        prepare(name, source=tmp_path / "raw")
