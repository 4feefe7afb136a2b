"""The inner-tar walk (ILSVRC train, ImageNet-21k): the files `tarfile` reads, in every tar format, and a clear
error naming the inner tar for everything damaged or hostile, including what `tarfile` let through silently."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import time
from pathlib import Path

import pytest

from dsreg.errors import DsregError
from dsreg.readers import tar_of_tars
from dsreg.readers.tar_of_tars import check_synset_image, iter_inner_tar
from dsreg.sourcetree import SourceTree
from dsreg.testing.imagenet import tar_bytes

RNG = random.Random(7)
FILES = [
    ("n01/n01_1.JPEG", RNG.randbytes(70_000)),
    ("n01/" + "long" * 40 + "_2.JPEG", RNG.randbytes(512)),  # a name past the 100 header bytes
    ("n01/ümlaut_3.JPEG", RNG.randbytes(513)),
    ("n01/empty_4.JPEG", b""),
    ("d" * 120 + "/" + "e" * 90 + "_5.JPEG", RNG.randbytes(3000)),  # a ustar prefix + name
]


def _inner(fmt: int, files: list[tuple[str, bytes]] = FILES) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        folder = tarfile.TarInfo("n01")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _outer(tmp_path: Path, inner: bytes) -> SourceTree:
    path = tmp_path / "train.tar"
    path.write_bytes(tar_bytes([("other.txt", b"x" * 700), ("n01.tar", inner), ("last.txt", b"y")]))
    return SourceTree.open(path)


def _walked(tmp_path: Path, inner: bytes) -> list[tuple[str, bytes]]:
    return list(iter_inner_tar(_outer(tmp_path, inner), "n01.tar"))


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    assert f is not None
    return f.read()


def _header(name: bytes, size: bytes, kind: bytes = b"0", *, checksum: bool = True) -> bytes:
    """One ustar header block with the given raw size field and type, its checksum right (or not)."""
    block = bytearray(512)
    block[: len(name)] = name
    block[100:108] = b"0000644\0"
    block[124:136] = size
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    total = sum(block) + (0 if checksum else 1)
    block[148:156] = b"%06o\0 " % total
    return bytes(block)


def _octal(n: int) -> bytes:
    return b"%011o\0" % n


def _tar_of(*blocks: bytes) -> bytes:
    return b"".join(blocks) + bytes(1024)


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["gnu", "pax"])
@pytest.mark.parametrize("read_size", [700, tar_of_tars.READ_SIZE], ids=["reads-cut-members", "default-reads"])
def test_the_files_tarfile_reads_in_every_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: int, read_size: int
) -> None:
    monkeypatch.setattr(tar_of_tars, "READ_SIZE", read_size)  # small reads: headers and files cut across reads
    inner = _inner(fmt)
    with tarfile.open(fileobj=io.BytesIO(inner)) as tar:
        expected = [(m.name.rsplit("/", 1)[-1], _read(tar, m)) for m in tar if m.isreg()]
    assert _walked(tmp_path, inner) == expected
    assert [name for name, _ in expected] == [name.rsplit("/", 1)[-1] for name, _ in FILES]


def test_ustar_and_old_style_directories(tmp_path: Path) -> None:
    files = [(name, data) for name, data in FILES if "long" not in name]
    assert _walked(tmp_path, _inner(tarfile.USTAR_FORMAT, files)) == [(n.rsplit("/", 1)[-1], d) for n, d in files]
    old_dir = _header(b"folder/", _octal(0), b"\0")  # a v7 directory: a "file" whose name ends with a slash
    assert _walked(tmp_path, _tar_of(old_dir, _header(b"a.JPEG", _octal(3)), b"abc".ljust(512, b"\0"))) == [
        ("a.JPEG", b"abc")
    ]


def test_the_reads_feed_the_digests_of_the_whole_source(tmp_path: Path) -> None:
    tree = _outer(tmp_path, _inner(tarfile.GNU_FORMAT))
    assert tree.hash_reads()
    assert len(list(iter_inner_tar(tree, "n01.tar"))) == len(FILES)
    data = tree.path.read_bytes()
    assert tree.digests() == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}


def test_an_empty_inner_tar_has_no_files(tmp_path: Path) -> None:
    assert _walked(tmp_path, bytes(10240)) == []


def _refused(tmp_path: Path, inner: bytes, match: str) -> DsregError:
    tree = _outer(tmp_path, inner)
    with pytest.raises(DsregError, match=match) as err:
        list(iter_inner_tar(tree, "n01.tar"))
    assert f"{tree.path}::n01.tar" in err.value.problem and err.value.path == str(tree.path)
    assert err.value.fix
    return err.value


def test_a_member_cut_short(tmp_path: Path) -> None:
    inner = _inner(tarfile.GNU_FORMAT)
    _refused(tmp_path, inner[:2000], r"truncated or corrupt: member 'n01/n01_1.JPEG' at byte 512 declares 70000")


def test_an_outer_archive_cut_after_it_was_listed(tmp_path: Path) -> None:
    """Truncated while it is read (the listing saw it whole): the file comes up short, never silently."""
    tree = _outer(tmp_path, _inner(tarfile.GNU_FORMAT))
    assert "n01.tar" in tree.names()
    with open(tree.path, "r+b") as f:
        f.truncate(40_000)
    with pytest.raises(DsregError, match=r"member 'n01/n01_1.JPEG' ends after 36928 of 70000 bytes"):
        list(iter_inner_tar(tree, "n01.tar"))


def test_a_tar_cut_at_a_member_boundary(tmp_path: Path) -> None:
    whole = _tar_of(_header(b"a.JPEG", _octal(3)), b"abc".ljust(512, b"\0"))
    _refused(tmp_path, whole[:1024], "it ends after 1024 bytes without the end-of-archive blocks")
    _refused(tmp_path, whole[:1536], "it ends after 1536 bytes without the end-of-archive blocks")  # one zero block
    _refused(tmp_path, whole[:700], "it ends after 700 bytes without the end-of-archive blocks")  # inside a header
    _refused(tmp_path, b"", "it ends after 0 bytes")


def test_a_bad_header_checksum_in_the_middle_is_an_error_not_the_end(tmp_path: Path) -> None:
    """`tarfile` stopped at such a header as if the archive ended there, dropping the files after it."""
    first = [_header(b"a.JPEG", _octal(3)), b"abc".ljust(512, b"\0")]
    bad = _header(b"b.JPEG", _octal(3), checksum=False)
    _refused(tmp_path, _tar_of(*first, bad, b"def".ljust(512, b"\0")), "the header at byte 1024 has a bad checksum")


def test_signed_checksums_of_old_tars_are_accepted(tmp_path: Path) -> None:
    block = bytearray(_header("é.JPEG".encode(), _octal(3)))
    block[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in block)
    block[148:156] = b"%06o\0 " % signed
    assert _walked(tmp_path, _tar_of(bytes(block), b"abc".ljust(512, b"\0"))) == [("é.JPEG", b"abc")]


@pytest.mark.parametrize(
    "size",
    [_octal((1 << 33) - 1), b"\x80" + (1 << 40).to_bytes(11, "big")],
    ids=["octal", "base-256"],
)
def test_a_size_bomb_is_refused_before_anything_is_read(tmp_path: Path, size: bytes) -> None:
    start = time.thread_time()  # CPU seconds of this thread: a loaded machine stretches wall time, not these
    _refused(tmp_path, _tar_of(_header(b"bomb.JPEG", size), b"x" * 512), "'bomb.JPEG' at byte 0 declares .* only 1536")
    assert time.thread_time() - start < 1


@pytest.mark.parametrize(
    ("size", "problem"),
    [(b"12x4567\0\0\0\0\0", "invalid size field"), (b"\xff" + b"\xff" * 11, "invalid size field")],
    ids=["not-octal", "negative"],
)
def test_a_broken_size_field(tmp_path: Path, size: bytes, problem: str) -> None:
    _refused(tmp_path, _tar_of(_header(b"a.JPEG", size)), problem)


@pytest.mark.parametrize("kind", [b"1", b"2", b"3", b"4", b"6"], ids=["hardlink", "symlink", "char", "block", "fifo"])
def test_links_and_devices_are_refused(tmp_path: Path, kind: bytes) -> None:
    _refused(tmp_path, _tar_of(_header(b"evil.JPEG", _octal(0), kind)), "holds a link or device 'evil.JPEG'")


def test_links_with_long_targets_are_refused(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        link = tarfile.TarInfo("a.JPEG")
        link.type, link.linkname = tarfile.SYMTYPE, "/" + "x" * 200
        tar.addfile(link)
    _refused(tmp_path, out.getvalue(), "holds a link or device 'a.JPEG'")


def test_sparse_members_are_refused(tmp_path: Path) -> None:
    _refused(tmp_path, _tar_of(_header(b"s.JPEG", _octal(0), b"S")), "holds a sparse member 's.JPEG'")
    record = b"GNU.sparse.major=1\n"
    pax = b"%d %s" % (len(record) + 3, record)
    assert len(pax) == len(record) + 3
    inner = _tar_of(_header(b"pax", _octal(len(pax)), b"x"), pax.ljust(512, b"\0"), _header(b"t.JPEG", _octal(0)))
    _refused(tmp_path, inner, "holds a sparse member 't.JPEG'")


def test_pax_records_name_and_size_the_next_member_and_malformed_ones_are_refused(tmp_path: Path) -> None:
    records = b"".join(b"%d %s\n" % (len(r) + 4, r) for r in (b"path=dir/named_by_pax.JPEG", b"size=0000005"))
    inner = _tar_of(
        _header(b"pax", _octal(len(records)), b"x"),
        records.ljust(512, b"\0"),
        _header(b"short.JPEG", _octal(0)),
        b"hello".ljust(512, b"\0"),
    )
    assert _walked(tmp_path, inner) == [("named_by_pax.JPEG", b"hello")]
    for broken in (b"999 path=x\n", b"12 pathx\n\n\n", b"x path=a\n"):
        bad = _tar_of(_header(b"pax", _octal(len(broken)), b"x"), broken.ljust(512, b"\0"), _header(b"a", _octal(0)))
        _refused(tmp_path, bad, "the pax header at byte 0 holds a malformed record")


def test_global_pax_headers_and_other_types_are_passed_over(tmp_path: Path) -> None:
    record = b"comment=made by a test\n"
    glob = b"%d %s" % (len(record) + 3, record)
    inner = _tar_of(
        _header(b"global", _octal(len(glob)), b"g"),
        glob.ljust(512, b"\0"),
        _header(b"label", _octal(600), b"V"),  # a volume label with data: skipped, not a file
        bytes(1024),
        _header(b"dump/", _octal(4), b"D"),  # a GNU directory dump (its entries' names): not a file either
        b"a\0b\0".ljust(512, b"\0"),
        _header(b"a.JPEG", _octal(3)),
        b"abc".ljust(512, b"\0"),
    )
    assert _walked(tmp_path, inner) == [("a.JPEG", b"abc")]


@pytest.mark.parametrize("kind", [b"M", b"N", b"Z", b"9"], ids=["continuation", "gnu-oldnames", "vendor", "digit"])
def test_members_of_other_types_are_refused_not_dropped(tmp_path: Path, kind: bytes) -> None:
    # `tarfile` reads an unknown type's data as a file: it may well be an image, so passing it over would lose it
    inner = _tar_of(_header(b"odd.JPEG", _octal(3), kind), b"abc".ljust(512, b"\0"))
    _refused(tmp_path, inner, f"holds member 'odd.JPEG' of tar type '{kind.decode()}', not a plain file")


def test_a_zeroed_header_in_the_middle_is_an_error_not_the_end(tmp_path: Path) -> None:
    """A block of zeros where a header should be looks like the end of the archive: what follows must be zeros."""
    first = [_header(b"a.JPEG", _octal(3)), b"abc".ljust(512, b"\0")]
    hidden = [bytes(512), b"def".ljust(512, b"\0"), _header(b"c.JPEG", _octal(3)), b"ghi".ljust(512, b"\0")]
    _refused(tmp_path, _tar_of(*first, *hidden), "it ends at byte 1024 .* yet data follows")
    assert _walked(tmp_path, _tar_of(*first) + bytes(8192)) == [("a.JPEG", b"abc")]  # record padding: zeros


@pytest.mark.parametrize("name", ["n01440764_10026.JPEG", "n01440764_0.JPEG"])
def test_a_synset_image_is_named_after_its_synset(name: str) -> None:
    check_synset_image("n01440764", name, "the inner tar t.tar::n01440764.tar", "t.tar")


@pytest.mark.parametrize(
    "name",
    [
        "n01443537_10026.JPEG",  # another synset's image: it would be labelled n01440764
        "n014407640_1.JPEG",
        "n01440764_.JPEG",
        "n01440764_12a.JPEG",
        "n01440764_١٢.JPEG",  # digits, but not ASCII ones
        "n01440764_10026.jpg",
        "n01440764_10026.JPEG.png",
        "n01440764.JPEG",
        "ILSVRC2012_val_00000001.JPEG",
    ],
)
def test_an_image_not_named_after_its_synset_is_refused(name: str) -> None:
    with pytest.raises(DsregError, match="mis-packed") as err:
        check_synset_image("n01440764", name, "the inner tar t.tar::n01440764.tar", "t.tar")
    assert f"the inner tar t.tar::n01440764.tar holds {name!r}" in err.value.problem
    assert err.value.path == "t.tar" and "vendor" in (err.value.fix or "")
