"""`page_xml`: one example per text line of PAGE XML pages, its image cut from the page image.

A split's files are PAGE XML documents (`page_format` parses them: any namespace year, reading order kept).
Each page's image is `Page@imageFilename`, looked up by its file name in the folder of the XML, then in the
folders around it (a Transkribus export keeps `page/x.xml` next to `x.jpg`, READ 2016 `page/x.xml` next to
`Images/x.JPG`); an image found nowhere, or in two equally near places, is an error.

A line's image is the page's pixels inside the bounding box of its `Coords` polygon (clipped to the page),
cut exactly — no resampling — and stored as a PNG; with `reader.args.crop: mask` the pixels of the box
outside the polygon are set to `reader.args.fill` (white by default; scaled to 16 bits for 16-bit images).
The image must have the size the XML declares (`imageWidth` × `imageHeight`): another scan or a resized
copy is an error, not lines cut from the wrong places. Pixels are used as stored unless only the image's
EXIF orientation (a quarter turn) makes it the declared size: the coordinates are then the turned image's.
16-bit greyscale pages (TIFF or PNG, either byte order) keep their 16-bit values.

Columns (declare those wanted): `image` (encoded_image, PNG), `text` (the line's own transcription),
`file_name` (the XML's path in the source), `line_id`, `region_id` (text), `polygon` and `baseline`
(sequences of int32 tensors of shape [2], page coordinates), `bbox` (int32 tensor [4]: x0, y0, x1, y1 with
exclusive ends, so a polygon point minus (x0, y0) is in the line image's coordinates). A line without
text is kept with text "" unless `reader.args.empty: skip`. One task per page, in file name order.
"""

from __future__ import annotations

import io
import posixpath
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar

from dsreg.errors import DsregError
from dsreg.features import EncodedImage, Features, Sequence, Tensor, Text
from dsreg.readers import Arg, Output, Reader
from dsreg.readers.layout import FILES, SOURCE, split_files, split_tree
from dsreg.readers.page_format import Line, Page, parse_page
from dsreg.sourcetree import SourceTree

# tree → XML member → its parsed page; a tree is opened afresh for every preparation
_PAGES: weakref.WeakKeyDictionary[SourceTree, dict[str, Page]] = weakref.WeakKeyDictionary()

_POINTS = Sequence(Tensor(shape=(2,), dtype="int32"))
COLUMNS: dict[str, Any] = {
    "image": EncodedImage(format="png"),
    "text": Text(),
    "file_name": Text(),
    "line_id": Text(),
    "region_id": Text(),
    "polygon": _POINTS,
    "baseline": _POINTS,
    "bbox": Tensor(shape=(4,), dtype="int32"),
}


def line_box(polygon: tuple[tuple[int, int], ...], width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), ends exclusive: the polygon's pixel bounding box, clipped to a width × height page."""
    xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
    return max(min(xs), 0), max(min(ys), 0), min(max(xs) + 1, width), min(max(ys) + 1, height)


class PageXmlReader(Reader):
    """Text lines of PAGE XML pages (any schema year 2009–2019) in reading order, cut from the page images."""

    arguments: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "crop",
            "str",
            "bbox: the polygon's bounding box; mask: the same box with pixels outside the polygon set to `fill`",
            default="bbox",
            choices=("bbox", "mask"),
        ),
        Arg("fill", "int", "the grey level (0–255) of masked pixels, in every channel", default=255),
        Arg(
            "empty",
            "str",
            'a line without text: keep it (text "") or skip it',
            default="keep",
            choices=("keep", "skip"),
        ),
    )
    split_arguments: ClassVar[tuple[Arg, ...]] = (FILES, SOURCE)

    def __init__(self, args: Mapping[str, Any], features: Features):
        super().__init__(args, features)
        for name, feature in features.items():
            if name not in COLUMNS or COLUMNS[name].to_json() != feature.to_json():
                known = ", ".join(f"{n} ({f.to_json()})" for n, f in COLUMNS.items())
                raise DsregError(
                    f"the page_xml reader cannot fill the feature {name!r} ({feature.to_json()})",
                    fix=f"declare features among: {known}",
                )
        if not 0 <= self.args["fill"] <= 255:
            raise DsregError(f"reader.args.fill is {self.args['fill']}", fix="give a grey level from 0 to 255")

    def tasks(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any]) -> list[str]:
        tree = split_tree(sources, split, split_args, "page_xml")
        return sorted(split_files(tree, split, split_args))

    def _page(self, tree: SourceTree, split: str, split_args: Mapping[str, Any], task: str) -> Page:
        """A task's parsed page. The split's XML files are read in one streaming pass on first use and kept
        for this open tree, so a compressed tar is not decompressed again for every page's seek back."""
        pages = _PAGES.setdefault(tree, {})
        if task not in pages:
            wanted = set(split_files(tree, split, split_args))
            for name, f in tree.iter_members(lambda n: n in wanted and n not in pages):
                pages[name] = parse_page(f.read(), tree.location(name))
        return pages[task]

    def read(self, sources: Mapping[str, SourceTree], split: str, split_args: Mapping[str, Any], task: str) -> Output:
        tree = split_tree(sources, split, split_args, "page_xml")
        page = self._page(tree, split, split_args, task)
        lines = [ln for ln in page.lines if ln.text or self.args["empty"] == "keep"]
        if not lines:
            return
        image_name = find_image(tree, task, page.image_filename)
        pixels, orientation = _decode(tree.read_bytes(image_name), tree.location(image_name))
        pixels = _as_declared(pixels, orientation, page, tree.location(task), image_name)
        for line in lines:
            box = line_box(line.polygon, pixels.width, pixels.height)
            if box[0] >= box[2] or box[1] >= box[3]:
                raise DsregError(
                    f"TextLine {line.id!r} lies outside the {pixels.width}×{pixels.height} page image {image_name!r}",
                    path=tree.location(task),
                    fix="check that the XML describes this image (its coordinates are in its pixels)",
                )
            row = {
                "image": self._crop(pixels, line, box),
                "text": line.text or "",
                "file_name": task,
                "line_id": line.id,
                "region_id": line.region_id,
                "polygon": [list(p) for p in line.polygon],
                "baseline": [list(p) for p in line.baseline],
                "bbox": list(box),
            }
            yield {name: row[name] for name in self.features.names()}

    def _crop(self, pixels: Any, line: Line, box: tuple[int, int, int, int]) -> bytes:
        import numpy as np
        from PIL import Image, ImageDraw

        crop = pixels.crop(box)
        if self.args["crop"] == "mask":
            mask = Image.new("L", crop.size, 0)
            ImageDraw.Draw(mask).polygon([(x - box[0], y - box[1]) for x, y in line.polygon], fill=255, outline=255)
            # in numpy: Pillow's Image.composite garbles 16-bit (I;16) pixels
            values = np.array(crop)
            values[np.asarray(mask) == 0] = self.args["fill"] * (257 if crop.mode == "I;16" else 1)  # white is white
            crop = Image.fromarray(values)  # the mode follows from the array: L, RGB, RGBA or I;16
        out = io.BytesIO()
        crop.save(out, format="PNG")
        return out.getvalue()


def find_image(tree: SourceTree, xml_name: str, image_filename: str) -> str:
    """The member holding a page's image: its file name nearest the XML (its folder, then the folder above
    and that folder's subfolders; ignoring case only when no name matches exactly); two equally near
    candidates are ambiguous."""
    base = image_filename.replace("\\", "/").rsplit("/", 1)[-1]
    folder = posixpath.dirname(xml_name)
    above = posixpath.dirname(folder) if folder else ""
    prefix = f"{above}/" if above else ""
    nearby = [n for n in tree.names() if n.startswith(prefix)]
    candidates = [n for n in nearby if n.rsplit("/", 1)[-1] == base]
    if not candidates:  # written `x.jpg` in the XML, stored as `x.JPG`
        candidates = [n for n in nearby if n.rsplit("/", 1)[-1].casefold() == base.casefold()]

    def distance(name: str) -> int:
        here = posixpath.dirname(name)
        return 0 if here == folder else 1 if here == above else 2 + here.count("/")

    if not candidates:
        raise DsregError(
            f"the page image {image_filename!r} (Page@imageFilename) is not in the source near {xml_name!r}",
            path=tree.path,
            fix="keep the page images with the XML files, as the vendor ships them",
        )
    candidates.sort(key=lambda n: (distance(n), n))
    if len(candidates) > 1 and distance(candidates[0]) == distance(candidates[1]):
        raise DsregError(
            f"the page image {image_filename!r} of {xml_name!r} is ambiguous: {candidates[0]!r} and {candidates[1]!r}",
            path=tree.path,
            fix="keep one copy of each page image",
        )
    return candidates[0]


def _decode(data: bytes, where: str) -> tuple[Any, int]:
    """The decoded page image (Pillow) and its EXIF orientation (1 when none), its values kept: 1-bit becomes
    greyscale, palette and other 8-bit modes RGB, every 16/32-bit integer mode `I;16` (Pillow's own conversion
    of big-endian `I;16B`, as TIFFs from big-endian writers open, clips each value to 255: a white page)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DsregError("the page_xml reader needs Pillow", fix="pip install 'dsreg[image]' (or pillow)") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            orientation = int(image.getexif().get(_ORIENTATION, 1))
            if image.mode == "1":
                return image.convert("L"), orientation
            if image.mode.startswith("I") or image.mode == "F":
                return _grey16(image, where), orientation
            if image.mode not in ("L", "RGB", "RGBA"):
                return image.convert("RGB"), orientation
            return image.copy(), orientation
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DsregError(
            f"the page image does not decode: {err}", path=where, fix="replace it with a readable copy"
        ) from None


_ORIENTATION = 0x0112  # the EXIF tag


def _as_declared(pixels: Any, orientation: int, page: Page, xml_where: str, image_name: str) -> Any:
    """The page image in the pixels the XML's coordinates refer to: as stored when it has the declared size
    (or none is declared), turned by its EXIF orientation when only that gives the declared size (5–8 are the
    quarter turns, as Pillow's ImageOps.exif_transpose maps them); any other size is an error."""
    from PIL import Image

    declared = (page.width, page.height)
    if None in declared or pixels.size == declared:
        return pixels
    turns = {
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }
    if orientation in turns and pixels.size[::-1] == declared:
        return pixels.transpose(turns[orientation])
    raise DsregError(
        f"the XML describes a {page.width}×{page.height} page image, but {image_name!r} is "
        f"{pixels.width}×{pixels.height}" + (f" (EXIF orientation {orientation})" if orientation != 1 else ""),
        path=xml_where,
        fix="use the page image the XML was made for (its coordinates are in that image's pixels)",
    )


def _grey16(image: Any, where: str) -> Any:
    """A 16/32-bit integer or float greyscale image as 16-bit `I;16`, values unchanged; values that do not fit
    16 bits (or are not whole numbers) are an error rather than clipped."""
    import numpy as np
    from PIL import Image

    values = np.asarray(image)
    if values.size and (values.min() < 0 or values.max() > 65535 or not np.array_equal(values, np.round(values))):
        raise DsregError(
            f"the page image is {image.mode} with values {values.min()}..{values.max()}, which 16-bit PNG line "
            "images cannot hold unchanged",
            path=where,
            fix="convert the page image to 8- or 16-bit greyscale or RGB",
        )
    return Image.fromarray(values.astype("<u2"))
