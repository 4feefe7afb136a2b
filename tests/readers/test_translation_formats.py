"""The parallel-text formats read adversarially: SGML markup split or misplaced, TSV with a tab in a sentence,
TMX native codes. Each case once read wrong (a pair lost or shifted, markup stored as text) without an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsreg.errors import DsregError
from dsreg.readers.translation_formats import sgml_pairs, sgml_segments, tmx, tsv
from dsreg.sourcetree import SourceTree


def _tree(tmp_path: Path, files: dict[str, bytes]) -> SourceTree:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return SourceTree.open(tmp_path)


def _sgml(*segments: str, head: str = '<doc docid="d" genre="news" origlang="de">') -> bytes:
    return ("<srcset>\n" + head + "\n" + "".join(s + "\n" for s in segments) + "</doc>\n</srcset>\n").encode()


def test_a_segment_split_over_lines_in_both_files_is_an_error_not_a_lost_pair(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        {
            "s.de": _sgml('<seg id="1">eins</seg>', '<seg id="2">zwei', "drei</seg>", '<seg id="3">vier</seg>'),
            "r.en": _sgml('<seg id="1">one</seg>', '<seg id="2">two', "three</seg>", '<seg id="3">four</seg>'),
        },
    )
    with pytest.raises(DsregError, match="line 4: a <seg> that does not pair") as err:
        list(sgml_pairs(tree, {"de": "s.de", "en": "r.en"}))
    assert "s.de" in str(err.value)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('<seg id="1">a <seg id="2">b</seg>', "inside another"),
        ('a</seg> <seg id="2">b</seg>', "does not pair"),
    ],
)
def test_nested_or_stray_segment_markup_is_an_error(tmp_path: Path, line: str, problem: str) -> None:
    tree = _tree(tmp_path, {"a.sgm": _sgml('<seg id="1">x</seg>', line)})
    with pytest.raises(DsregError, match=problem):
        sgml_segments(tree, "a.sgm")


def test_a_segment_after_its_document_closed_is_an_error_not_the_last_documents(tmp_path: Path) -> None:
    data = _sgml('<seg id="1">x</seg>') + b'<seg id="2">y</seg>\n'
    tree = _tree(tmp_path, {"a.sgm": data})
    with pytest.raises(DsregError, match="line 6: a <seg> outside any <doc>"):
        sgml_segments(tree, "a.sgm")


def test_documents_and_segments_on_one_line_are_read_in_order(tmp_path: Path) -> None:
    line = '<doc docid="a"><seg id="1">x</seg></doc><doc docid="b" genre="g"><seg id="1">y</seg></doc>\n'
    tree = _tree(tmp_path, {"a.sgm": line.encode()})
    assert sgml_segments(tree, "a.sgm") == [("a", "1", "x", "", ""), ("b", "1", "y", "g", "")]


def test_segment_ids_are_read_whatever_the_attribute_order_and_quoting(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        {"a.sgm": _sgml('<seg foo-id="9" id="7">x</seg>', "<seg lang='de' id=8>y</seg>", "<SEG ID='9'>z</SEG>")},
    )
    assert [(s[1], s[2]) for s in sgml_segments(tree, "a.sgm")] == [("7", "x"), ("8", "y"), ("9", "z")]


def test_text_is_kept_as_written_crlf_bom_line_separators_entities_and_empty_segments(tmp_path: Path) -> None:
    data = (
        b'\xef\xbb\xbf<doc docid="d">\r\n'
        b'<seg id="1">R&amp;D & more \xe2\x80\xa8 next\xc2\x85line</seg>\r\n'
        b'<seg id="2"></seg>\r\n'
        b'<seg id="3">  padded  </seg>\r\n'
        b"</doc>\r\n"
    )
    tree = _tree(tmp_path, {"a.sgm": data})
    assert [s[2] for s in sgml_segments(tree, "a.sgm")] == ["R&amp;D & more \u2028 next\x85line", "", "padded"]


def test_a_tab_inside_a_tsv_sentence_is_an_error_not_a_shifted_pair(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"c.tsv": b"1\t0.9\tHello\tHallo\n2\t0.9\tHello\tworld\tHallo Welt\n"})
    with pytest.raises(DsregError, match="line 2 has 5 tab-separated fields where line 1 has 4"):
        list(tsv(tree, "c.tsv", {"en": 2, "de": 3}))


def test_tmx_native_codes_are_not_text_and_the_first_variant_of_a_language_is_read(tmp_path: Path) -> None:
    unit = (
        '<tu><tuv xml:lang="en-GB"><seg>colour <ph x="1">&lt;br/&gt;</ph>red</seg></tuv>'
        '<tuv xml:lang="en-US"><seg>color red</seg></tuv>'
        '<tuv xml:lang="DE"><seg>Farbe <bpt i="1">&lt;b&gt;</bpt><hi>rot</hi><ept i="1">&lt;/b&gt;</ept>!'
        '<it pos="begin">{\\i}</it><ut>{\\b0}</ut></seg></tuv></tu>'
    )
    data = f'<?xml version="1.0"?><tmx version="1.4"><header/><body>{unit}</body></tmx>'.encode()
    tree = _tree(tmp_path, {"a.tmx": data})
    assert list(tmx(tree, "a.tmx", ["en", "de"])) == [{"en": "colour red", "de": "Farbe rot!"}]


def test_a_truncated_gzip_side_is_an_error_naming_it_and_a_missing_final_newline_is_not(tmp_path: Path) -> None:
    import gzip

    from dsreg.readers.translation_formats import aligned_text

    whole = gzip.compress(b"".join(b"line %d\n" % i for i in range(2000)))
    tree = _tree(tmp_path, {"c.en.gz": whole[: len(whole) // 2], "c.de.gz": whole, "d.en": b"a\nb", "d.de": b"x\ny\n"})
    with pytest.raises(DsregError, match="gzip data is truncated") as err:
        list(aligned_text(tree, {"en": "c.en.gz", "de": "c.de.gz"}))
    assert "c.en.gz" in str(err.value)
    assert list(aligned_text(tree, {"en": "d.en", "de": "d.de"})) == [{"en": "a", "de": "x"}, {"en": "b", "de": "y"}]
