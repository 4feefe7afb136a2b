"""Fake PAGE XML pages with their images, in the READ 2016 (ICFHR 2016 HTR competition) archive layout.

`make_read2016` writes `Train-And-Val-ICFHR-2016.tgz` (`PublicData/Training/` and `PublicData/Validation/`,
each with `page/*.xml` and `Images/*.JPG`) and `Test-ICFHR-2016.tgz` (`Test-ICFHR-2016/page/*.xml` next to
the images). `page_document` writes one document in a given schema year: 2013 and 2019 use `points`
attributes, 2010 `Point` children. The pages exercise the traps: a `ReadingOrder` that differs from
document order, Transkribus `custom` line order, word-level TextEquivs beside the line's own, a line without
text, a polygon leaving the page, escaped XML characters and non-ASCII text. Returns split → expected lines.
"""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

NAMESPACES = {
    2010: "http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19",
    2013: "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15",
    2019: "https://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15",
}
Point = tuple[int, int]


@dataclass
class FakeLine:
    """A line as written into a page, and what the reader must give for it."""

    id: str
    region_id: str
    polygon: list[Point]
    text: str | None
    baseline: list[Point] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # word-level transcriptions (not the line's text)
    custom_index: int | None = None


@dataclass
class FakeRegion:
    id: str
    lines: list[FakeLine]


def _points(points: list[Point], year: int, tag: str) -> str:
    if year == 2010:
        inner = "".join(f'<Point x="{x}" y="{y}"/>' for x, y in points)
        return f"<{tag}>{inner}</{tag}>"
    return f'<{tag} points="{" ".join(f"{x},{y}" for x, y in points)}"/>'


def page_document(
    image: str, size: tuple[int, int], regions: list[FakeRegion], order: list[str] | None, year: int
) -> bytes:
    """A PAGE document for `image` (width, height) with `regions` in document order and `order` as its
    ReadingOrder (region ids; None: no ReadingOrder)."""
    out = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<PcGts xmlns="{NAMESPACES[year]}">',
        "<Metadata><Creator>dsreg.testing</Creator></Metadata>",
        f'<Page imageFilename={quoteattr(image)} imageWidth="{size[0]}" imageHeight="{size[1]}">',
    ]
    if order is not None:
        refs = "".join(f'<RegionRefIndexed index="{i}" regionRef="{r}"/>' for i, r in reversed(list(enumerate(order))))
        out.append(f'<ReadingOrder><OrderedGroup id="ro1" caption="Regions">{refs}</OrderedGroup></ReadingOrder>')
    for region in regions:
        out.append(f'<TextRegion id="{region.id}" type="paragraph">')
        out.append(_points([(0, 0), (size[0] - 1, 0), (size[0] - 1, size[1] - 1), (0, size[1] - 1)], year, "Coords"))
        for line in region.lines:
            custom = f' custom="readingOrder {{index:{line.custom_index};}}"' if line.custom_index is not None else ""
            out.append(f'<TextLine id="{line.id}"{custom}>')
            out.append(_points(line.polygon, year, "Coords"))
            if line.baseline:
                out.append(_points(line.baseline, year, "Baseline"))
            for n, word in enumerate(line.words):
                out.append(
                    f'<Word id="{line.id}_w{n}">{_points(line.polygon, year, "Coords")}'
                    f"<TextEquiv><Unicode>{escape(word)}</Unicode></TextEquiv></Word>"
                )
            if line.text is not None:
                out.append(f"<TextEquiv><Unicode>{escape(line.text)}</Unicode></TextEquiv>")
            out.append("</TextLine>")
        out.append("<TextEquiv><Unicode>the region's text, not a line's</Unicode></TextEquiv></TextRegion>")
    out.append("</Page></PcGts>\n")
    return "\n".join(out).encode("utf-8")


def page_pixels(seed: int, size: tuple[int, int]) -> np.ndarray:
    """Noise pixels (height × width × 3 uint8), so any misplaced crop differs."""
    return np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def sample_regions(page: int, size: tuple[int, int]) -> tuple[list[FakeRegion], list[str]]:
    """Regions in document order and their reading order (the second region is read first)."""
    w, h = size
    first = FakeRegion(
        f"p{page}r1",
        [
            FakeLine(
                f"p{page}l1",
                f"p{page}r1",
                [(2, 3), (30, 2), (31, 12), (3, 13)],
                f"Ratsprotokoll {page} & <Bozen>",
                baseline=[(3, 11), (30, 10)],
                words=["Ratsprotokoll", str(page)],
            ),
            FakeLine(
                f"p{page}l2", f"p{page}r1", [(4, 15), (20, 15), (12, 27)], "ſchöne Grüße", baseline=[(4, 25), (20, 25)]
            ),
            FakeLine(f"p{page}l3", f"p{page}r1", [(1, 28), (10, 28), (10, 33), (1, 33)], None),
        ],
    )
    second = FakeRegion(
        f"p{page}r2",
        [  # Transkribus line order: l5 is read before l4
            FakeLine(
                f"p{page}l4",
                f"p{page}r2",
                [(33, 30), (w + 5, 31), (w + 5, h + 4), (34, h - 2)],
                "über den Rand",
                custom_index=1,
            ),
            FakeLine(
                f"p{page}l5", f"p{page}r2", [(35, 2), (45, 2), (45, 9)], "Item", words=["It", "em"], custom_index=0
            ),
        ],
    )
    return [first, second], [second.id, first.id]


def make_read2016(
    dest: str | os.PathLike[str], pages: tuple[int, int, int] = (2, 1, 1)
) -> dict[str, list[dict[str, Any]]]:
    """Write the two READ 2016 archives under `dest` with `pages` pages for train, validation and test;
    return split → expected lines ({file_name, image_member, line_id, region_id, text, polygon, baseline}),
    in reading order, lines without text included (text None)."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    size = (48, 36)
    layout = {
        "train": ("Train-And-Val-ICFHR-2016.tgz", "PublicData/Training", "Images/"),
        "validation": ("Train-And-Val-ICFHR-2016.tgz", "PublicData/Validation", "Images/"),
        "test": ("Test-ICFHR-2016.tgz", "Test-ICFHR-2016", ""),
    }
    members: dict[str, dict[str, bytes]] = {}
    out: dict[str, list[dict[str, Any]]] = {}
    number = 0
    for (split, (archive, folder, images)), count in zip(layout.items(), pages, strict=True):
        out[split] = []
        for _ in range(count):
            number += 1
            stem = f"Seite{number:04d}"
            year = (2013, 2019, 2010)[number % 3]
            regions, order = sample_regions(number, size)
            fmt = "JPEG" if number % 2 else "PNG"
            image = f"{stem}.{'JPG' if fmt == 'JPEG' else 'png'}"
            xml = f"{folder}/page/{stem}.xml"
            members.setdefault(archive, {})[xml] = page_document(image, size, regions, order, year)
            members[archive][f"{folder}/{images}{image}"] = encode(page_pixels(number, size), fmt)
            by_id = {r.id: r for r in regions}
            for region in (by_id[r] for r in order):
                lines = sorted(region.lines, key=lambda ln: ln.custom_index if ln.custom_index is not None else 0)
                for line in lines:
                    out[split].append(
                        {
                            "file_name": xml,
                            "image_member": f"{folder}/{images}{image}",
                            "line_id": line.id,
                            "region_id": line.region_id,
                            "text": line.text,
                            "polygon": line.polygon,
                            "baseline": line.baseline,
                            "year": year,
                        }
                    )
    for archive, files in members.items():
        with tarfile.open(root / archive, "w:gz") as tar:
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 1_460_000_000
                tar.addfile(info, io.BytesIO(data))
    return out
