"""ICDAR ground-truth lines: BOM, CRLF, quoted labels with commas and escaped quotes, quadrilaterals, `###`."""

from __future__ import annotations

import pytest

from dsreg.errors import DsregError
from dsreg.readers.icdar_gt import Quad, gt_lines, quad, word_label


def test_bom_crlf_and_blank_lines() -> None:
    data = b'\xef\xbb\xbfword_1.png, "JOINT"\r\n\r\nword_2.png, "a\xe2\x80\xa8b"\nword_3.png, "\xef\xbb\xbfx"\r\n'
    assert list(gt_lines(data, "gt.txt")) == [
        (1, 'word_1.png, "JOINT"'),
        (3, 'word_2.png, "a\u2028b"'),  # a Unicode line separator inside a label does not end the line
        (4, 'word_3.png, "\ufeffx"'),  # only the file's first BOM is dropped
    ]


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ('word_1.png, "Genaxis Theatre"', ("word_1.png", "Genaxis Theatre")),
        ('word_2.png, "36,000,000"', ("word_2.png", "36,000,000")),
        ('word_3.png, "\\"Hi\\""', ("word_3.png", '"Hi"')),
        ('word_4.png, "C:\\"', ("word_4.png", "C:\\")),
        ('word_5.png, "a, b"', ("word_5.png", "a, b")),
        ('word_6.png, " x "', ("word_6.png", " x ")),
        ('word_7.png, ""', ("word_7.png", "")),
    ],
)
def test_word_labels_exactly(line: str, want: tuple[str, str]) -> None:
    assert word_label(line, 1, "gt.txt") == want


@pytest.mark.parametrize(
    "line", ["word_1.png,JOINT", 'word_1.png, "JOINT', "word_1.png, JOINT", ', "x"', 'word_1.png, "']
)
def test_malformed_word_lines_name_file_and_line(line: str) -> None:
    with pytest.raises(DsregError, match=r"gt\.txt: line 7 is not") as caught:
        word_label(line, 7, "gt.txt")
    assert "Fix:" in str(caught.value)


def test_invalid_utf8_names_the_line() -> None:
    with pytest.raises(DsregError, match=r"gt\.txt: line 2 is not valid UTF-8 \(byte 14"):
        list(gt_lines(b'word_1.png, "a"\r\nword_2.png, "\xe9"\r\n', "gt.txt"))


def test_quadrilaterals_and_dont_care() -> None:
    assert quad("377,117,463,117,465,130,378,130,Genaxis Theatre", 1, "g") == Quad(
        ((377, 117), (463, 117), (465, 130), (378, 130)), "Genaxis Theatre", False
    )
    assert quad("-2,10,40,8,41,30,0,31,1,000,000", 1, "g").text == "1,000,000"
    assert quad("1,2,3,4,5,6,7,8,###", 1, "g") == Quad(((1, 2), (3, 4), (5, 6), (7, 8)), "", True)
    assert quad("1,2,3,4,5,6,7,8,####", 1, "g") == Quad(((1, 2), (3, 4), (5, 6), (7, 8)), "####", False)
    with pytest.raises(DsregError, match="line 4: the coordinates"):
        quad("1,2,3,4,5,6,7,8.5,x", 4, "g")
    with pytest.raises(DsregError, match="line 5 has 7 commas"):
        quad("1,2,3,4,5,6,7,x", 5, "g")
