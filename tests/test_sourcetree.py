"""SourceTree: every kind of source lists, finds, reads and streams the same members; hostile ones are refused."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import lzma
import os
import pickle
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsreg.errors import DsregError
from dsreg.sourcetree import DirectoryTree, FileTree, SourceTree, TarTree, ZipTree
from dsreg.testing import hostile
from dsreg.testing.mutations import Edit, allocation_peak, mutate

FILES = {
    "top/a.txt": b"alpha\n",
    "top/sub/b.bin": bytes(range(256)) * 40,
    "top/sub/C.TXT": b"charlie\n",
}


def _write_tar(path: Path, mode: str) -> Path:
    with tarfile.open(path, mode) as tar:
        folder = tarfile.TarInfo("top")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in FILES.items():
            info = tarfile.TarInfo(f"./{name}" if name.endswith("b.bin") else name)  # "./" prefixes are normalized
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _write_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("top/", b"")
        for name, data in FILES.items():
            zf.writestr(name, data)
    return path


def _write_dir(path: Path) -> Path:
    for name, data in FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


MAKERS = {
    "dir": (DirectoryTree, lambda d: _write_dir(d / "tree")),
    "tar": (TarTree, lambda d: _write_tar(d / "a.tar", "w")),
    "tar.gz": (TarTree, lambda d: _write_tar(d / "a.tar.gz", "w:gz")),
    "tar.bz2": (TarTree, lambda d: _write_tar(d / "a.tar.bz2", "w:bz2")),
    "tar.xz": (TarTree, lambda d: _write_tar(d / "a.tar.xz", "w:xz")),
    "gz-misnamed": (TarTree, lambda d: _write_tar(d / "download.bin", "w:gz")),
    "zip": (ZipTree, lambda d: _write_zip(d / "a.zip")),
}


@pytest.fixture(params=sorted(MAKERS))
def tree(request: pytest.FixtureRequest, tmp_path: Path) -> SourceTree:
    cls, make = MAKERS[request.param]
    tree = SourceTree.open(make(tmp_path))
    assert type(tree) is cls
    return tree


def _sorted_for(tree: SourceTree) -> list[str]:
    # directories are walked in sorted order; archives keep their storage order
    return sorted(FILES) if isinstance(tree, DirectoryTree) else list(FILES)


def test_lists_only_regular_files_with_clean_names(tree: SourceTree) -> None:
    assert tree.names() == _sorted_for(tree)


def test_reads_every_member(tree: SourceTree) -> None:
    for name, data in FILES.items():
        assert tree.read_bytes(name) == data
        with tree.open_member(name) as f:
            assert f.read(3) == data[:3]
            assert f.read() == data[3:]


def test_find_works_with_or_without_the_top_folder(tree: SourceTree) -> None:
    assert tree.find("a.txt") == "top/a.txt"
    assert tree.find("top/a.txt") == "top/a.txt"
    assert tree.find("sub/b.bin") == "top/sub/b.bin"
    assert tree.find("sub/c.txt", case_insensitive=True) == "top/sub/C.TXT"
    with pytest.raises(DsregError, match=r"no file matches 'c\.txt'"):
        tree.find("c.txt")


def test_find_reports_missing_and_ambiguous_names(tmp_path: Path) -> None:
    tree = SourceTree.open(_write_dir(tmp_path))
    with pytest.raises(DsregError) as err:
        tree.find("missing.txt")
    assert "no file matches 'missing.txt'" in str(err.value) and "top/a.txt" in str(err.value)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.txt").write_bytes(b"x")
    with pytest.raises(DsregError) as err:
        SourceTree.open(tmp_path).find("a.txt")
    assert "2 files match 'a.txt'" in str(err.value) and "other/a.txt" in str(err.value)
    assert "more of its path" in str(err.value)


def test_iter_members_streams_in_order_with_a_predicate(tree: SourceTree) -> None:
    seen = {name: f.read() for name, f in tree.iter_members()}
    assert list(seen) == _sorted_for(tree) and seen == FILES
    assert [name for name, _ in tree.iter_members(lambda n: n.endswith(".bin"))] == ["top/sub/b.bin"]


def test_pickles_as_its_path_only_and_reopens(tree: SourceTree) -> None:
    tree.names()  # builds the index and opens the archive
    blob = pickle.dumps(tree)
    assert len(blob) < 300
    clone = pickle.loads(blob)
    assert clone.path == tree.path and clone.read_bytes("top/a.txt") == FILES["top/a.txt"]
    tree.close()
    assert tree.read_bytes("top/a.txt") == FILES["top/a.txt"]  # reopens after close


def test_a_single_file_is_a_tree_of_one(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes(b"cat\ndog\n")
    tree = SourceTree.open(path)
    assert isinstance(tree, FileTree) and tree.names() == ["labels.txt"]
    assert tree.read_bytes(tree.find("labels.txt")) == b"cat\ndog\n"
    assert [n for n, _ in tree.iter_members()] == ["labels.txt"]


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DsregError, match="cannot read the source") as err:
        SourceTree.open(tmp_path / "absent.tar.gz")
    assert "absent.tar.gz" in str(err.value)


# ------------------------------------------------------------------------------------------- hostile

HOSTILE_TARS = {
    "traversal": (hostile.tar_with_traversal, "data/../../evil", "'..'"),
    "absolute": (hostile.tar_with_absolute_member, "/etc/cron.d/dsreg-evil", "absolute path"),
    "symlink-abs": (hostile.tar_with_symlink_out, "data/link", "'/etc/passwd'"),
    "symlink-rel": (lambda d: hostile.tar_with_symlink_out(d, "../../x"), "data/link", "'../../x'"),
    "hardlink": (hostile.tar_with_hardlink_out, "data/hard", "outside the tree"),
    "device": (hostile.tar_with_device, "data/zero", "device"),
    "zip-traversal": (hostile.zip_with_traversal, "../evil", "'..'"),
    "zip-symlink": (hostile.zip_with_symlink_out, "data/link", "'/etc/passwd'"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_TARS))
def test_hostile_archives_are_refused_when_listed_and_streamed(tmp_path: Path, kind: str) -> None:
    make, member, reason = HOSTILE_TARS[kind]
    archive = make(tmp_path / "in")
    for use in (SourceTree.names, lambda t: list(SourceTree.open(t.path).iter_members())):
        with pytest.raises(DsregError) as err:
            use(SourceTree.open(archive))
        message = str(err.value)
        assert str(archive) in message and repr(member) in message and reason in message
        assert "unsafe and must not be used" in message and "download it again" in message
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["in", archive.name])  # nothing was extracted


def test_links_that_stay_inside_an_archive_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.tar"
    with tarfile.open(path, "w") as tar:
        data = tarfile.TarInfo("d/real.txt")
        data.size = 2
        tar.addfile(data, io.BytesIO(b"hi"))
        link = tarfile.TarInfo("d/sub/link")
        link.type, link.linkname = tarfile.SYMTYPE, "../real.txt"
        tar.addfile(link)
    assert SourceTree.open(path).names() == ["d/real.txt"]


def test_directory_symlinks_may_not_leave_the_directory(tmp_path: Path) -> None:
    root = _write_dir(tmp_path / "tree")
    (tmp_path / "secret").write_bytes(b"s")
    os.symlink("a.txt", root / "top" / "inside-link")
    assert "top/inside-link" in SourceTree.open(root).names()
    os.symlink(tmp_path / "secret", root / "top" / "outside-link")
    with pytest.raises(DsregError, match=r"unsafe member 'top/outside-link'.*outside the directory") as err:
        SourceTree.open(root).names()
    assert "directory is unsafe" in str(err.value)
    with pytest.raises(DsregError, match="outside the directory"):
        SourceTree.open(root).read_bytes("top/outside-link")


def test_directory_fifos_are_refused(tmp_path: Path) -> None:
    root = _write_dir(tmp_path / "tree")
    os.mkfifo(root / "top" / "pipe")
    with pytest.raises(DsregError, match=r"unsafe member 'top/pipe'.*fifo"):
        SourceTree.open(root).names()


@pytest.mark.parametrize("suffix", ["tar", "tar.gz", "tar.bz2", "tar.xz", "zip"])
def test_truncated_archives_are_reported_as_such(tmp_path: Path, suffix: str) -> None:
    _, make = MAKERS[suffix]
    cut = hostile.truncated_copy(make(tmp_path), tmp_path / "cut")
    with pytest.raises(DsregError) as err:
        tree = SourceTree.open(cut)
        for name in tree.names():
            tree.read_bytes(name)
    assert str(cut) in str(err.value) and "truncated or corrupt" in str(err.value)
    assert "download it again" in str(err.value)
    if suffix != "zip":
        with pytest.raises(DsregError, match="truncated or corrupt"):
            [f.read() for _, f in SourceTree.open(cut).iter_members()]


def test_a_zip_crc_error_surfaces_while_reading_the_member(tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("data.bin", b"A" * 1000)
    blob = bytearray(path.read_bytes())
    blob[blob.index(b"A" * 1000) + 500] = ord("B")
    path.write_bytes(bytes(blob))
    with pytest.raises(DsregError, match=r"truncated or corrupt \(while reading member 'data.bin'\)"):
        SourceTree.open(path).read_bytes("data.bin")


def test_bad_lookup_names_are_not_blamed_on_the_source(tree: SourceTree) -> None:
    for name in ("nope.txt", "../top/a.txt", "/etc/passwd", "top/./a.txt"):
        with pytest.raises(DsregError, match="no file named"):
            tree.read_bytes(name)


def test_digests_are_those_of_the_file_and_a_compressed_tar_listing_computes_them(tmp_path: Path) -> None:
    for kind in ("tar", "tar.gz", "tar.bz2", "tar.xz", "zip"):
        path = MAKERS[kind][1](tmp_path)
        data = path.read_bytes()
        expected = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
        with SourceTree.open(path) as tree:
            tree.names()
            if kind.startswith("tar."):
                assert tree._digests == expected  # from the listing pass itself, no second read
            if kind == "tar":
                assert tree._digests is None  # a plain tar is listed from its headers alone
            assert tree.digests() == expected
    assert SourceTree.open(MAKERS["dir"][1](tmp_path)).digests() is None


def test_a_corrupt_gzip_crc_is_caught_by_the_listing(tmp_path: Path) -> None:
    path = MAKERS["tar.gz"][1](tmp_path)
    data = bytearray(path.read_bytes())
    data[-8] ^= 1  # the gzip trailer's CRC32: every member decompresses, only the CRC check tells
    path.write_bytes(bytes(data))
    with pytest.raises(DsregError, match="CRC check failed"), SourceTree.open(path) as tree:
        tree.names()


def test_a_member_over_the_bound_is_refused_before_it_is_read(tmp_path: Path) -> None:
    for kind in ("dir", "tar", "tar.gz", "zip"):
        (tmp_path / kind).mkdir()
        path = MAKERS[kind][1](tmp_path / kind)
        with SourceTree.open(path) as tree:
            small = tree.find("a.txt")  # listed without a bound
            with tree.bounded(1000, "a test bound"):
                assert tree.read_bytes(small) == b"alpha\n"
                with pytest.raises(DsregError, match=r"b.bin' declares 10240 bytes, .*\(a test bound\)"):
                    tree.read_bytes(tree.find("b.bin"))
        if kind != "dir":  # an archive refuses it while listing, before decompressing past it
            with (
                SourceTree.open(path) as tree,
                tree.bounded(1000, "a test bound"),
                pytest.raises(DsregError, match=r"b.bin' declares 10240 bytes"),
            ):
                tree.names()


FUZZ_EDITS = st.lists(
    st.builds(
        Edit,
        kind=st.sampled_from(["flip", "set", "insert", "delete", "truncate", "append"]),
        where=st.floats(0, 1),
        value=st.integers(0, 255),
        data=st.binary(max_size=16),
        count=st.integers(1, 512),
    ),
    min_size=1,
    max_size=3,
)


@cache
def _archive(kind: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return MAKERS[kind][1](Path(tmp)).read_bytes()


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "tar.bz2", "zip"])
@settings(max_examples=120, deadline=timedelta(seconds=60), suppress_health_check=[HealthCheck.too_slow])
@given(edits=FUZZ_EDITS)
def test_fuzz_mutated_archives_read_or_raise_dsreg_error(kind: str, edits: list[Edit]) -> None:
    data = mutate(_archive(kind), edits)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "source")
        path.write_bytes(data)
        with (
            allocation_peak() as peak,
            contextlib.suppress(DsregError),  # any other exception fails the test
            SourceTree.open(path) as tree,
            tree.bounded(1 << 20, "fuzz"),
        ):
            for name in tree.names():
                assert len(tree.read_bytes(name)) == tree.member_size(name) <= 1 << 20
            for _ in tree.iter_members():
                pass
            digests = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
            assert tree.digests() == digests
    assert peak.bytes < 64 * len(data) + (4 << 20)


# ------------------------------------------------------------------- a plain tar is read once, hashing included


class _CountingFile(io.FileIO):
    """A raw file that records every byte range the operating system delivers to it."""

    reads: ClassVar[list[tuple[int, int]]] = []

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        start = self.tell()
        n = super().readinto(buffer)
        _CountingFile.reads.append((start, start + (n or 0)))
        return n or 0


def _counting_open(path, mode="r", buffering=-1, **kwargs):  # type: ignore[no-untyped-def]
    assert mode == "rb", mode
    raw = _CountingFile(path, "rb")
    return raw if buffering == 0 else io.BufferedReader(raw)


def _big_tar(path: Path, sizes: list[int]) -> list[tuple[str, bytes]]:
    rng = __import__("random").Random(7)
    members = [(f"m{i:03d}.bin", rng.randbytes(size)) for i, size in enumerate(sizes)]
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return members


def test_a_plain_tar_read_in_order_is_read_once_and_hashed_by_those_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.tar"
    members = _big_tar(path, [300_000 + 4097 * i for i in range(12)])
    data = path.read_bytes()
    monkeypatch.setattr("dsreg.sourcetree.open", _counting_open, raising=False)
    _CountingFile.reads = []
    with SourceTree.open(path) as tree:
        assert tree.reads_by_range()
        _CountingFile.reads = []  # the first bytes, read to tell the kind of file
        names = tree.names()
        listed = sum(b - a for a, b in _CountingFile.reads)
        assert listed <= 512 * (len(members) + 3)  # headers only, not the data between them
        tree.hash_reads()
        for name, content in members:
            assert tree.read_bytes(name) == content
        assert tree.high_water == data.index(members[-1][1]) + len(members[-1][1])
        digests = tree.digests()
    assert names == [name for name, _ in members]
    assert digests == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
    times = bytearray(len(data))
    for a, b in _CountingFile.reads:
        for i in range(a, b):
            times[i] = min(times[i] + 1, 255)
    for name, content in members:  # every byte of every member came from the disk exactly once
        start = data.index(content)
        assert set(times[start : start + len(content)]) == {1}, name
    assert sum(b - a for a, b in _CountingFile.reads) - listed <= len(data) + 8192


def test_a_plain_tar_read_out_of_order_or_partly_still_hashes_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "big.tar"
    members = _big_tar(path, [70_000] * 6)
    data = path.read_bytes()
    expected = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
    for order in ([5, 0, 3], [], [1, 1, 0]):
        with SourceTree.open(path) as tree:
            tree.hash_reads()
            for i in order:
                assert tree.read_bytes(members[i][0]) == members[i][1]
            assert tree.digests() == expected
    with SourceTree.open(path) as tree:  # not hashing its reads: digests() reads the file itself
        tree.read_bytes(members[2][0])
        assert tree.digests() == expected


def test_a_plain_tar_member_is_a_seekable_file_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "big.tar"
    members = _big_tar(path, [1000, 2000])
    with SourceTree.open(path) as tree, tree.open_member("m001.bin") as f, tree.open_member("m000.bin") as g:
        assert f.read(10) == members[1][1][:10] and g.read(5) == members[0][1][:5]
        f.seek(-3, io.SEEK_END)
        assert f.read() == members[1][1][-3:] and f.read() == b""
        assert g.read() == members[0][1][5:]


def test_closing_a_tree_ends_the_threads_hashing_its_reads(tmp_path: Path) -> None:
    import threading

    def hashing() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("dsreg-hash-")]

    path = tmp_path / "big.tar"
    members = _big_tar(path, [600_000] * 4)
    tree = SourceTree.open(path)
    tree.hash_reads()
    for name, content in members[:3]:
        assert tree.read_bytes(name) == content  # more than the 1 MiB handed to the hashing threads at once
    assert sorted(t.name for t in hashing()) == ["dsreg-hash-md5", "dsreg-hash-sha256"]
    tree.close()  # a failed pass: the digests are abandoned
    for thread in hashing():
        thread.join(5)
    assert not any(t.is_alive() for t in hashing())


# ------------------------------------------------- a tar's listing ends at its end blocks, not at damage


COMPRESS = {
    "tar": lambda data: data,
    "tar.gz": lambda data: gzip.compress(data, mtime=0),
    "tar.bz2": bz2.compress,
    "tar.xz": lzma.compress,
}
MIDDLE = [(f"m/{n}.bin", bytes([n]) * 700) for n in range(3)]  # headers at 0, 1536, 3072; end blocks at 4608


def _tar_bytes(members: list[tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT, **extra: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, pax_headers=extra) as tar:  # record size 10240
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _both_ways(path: Path) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """The members through the listing (by range for a plain tar) and through the streaming pass."""
    with SourceTree.open(path) as tree:
        listed = [(name, tree.read_bytes(name)) for name in tree.names()]
    with SourceTree.open(path) as tree:
        streamed = [(name, f.read()) for name, f in tree.iter_members()]
    return listed, streamed


def _refused_both_ways(path: Path, match: str) -> None:
    for use in (SourceTree.names, lambda tree: [f.read() for _, f in tree.iter_members()]):
        with pytest.raises(DsregError, match=match) as err, SourceTree.open(path) as tree:
            use(tree)
        assert err.value.path == str(path) and "download it again" in (err.value.fix or "")


def _damaged(blob: bytes, at: int, block: bytes) -> bytes:
    return blob[:at] + block + blob[at + 512 :]


@pytest.mark.parametrize("kind", sorted(COMPRESS))
@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda header: bytes(512), r"it ends at byte 1536 \(a damaged header\?\) yet data follows"),
        (lambda header: header[:100] + b"\xff" * 412, r"the header at byte 1536 is damaged \(bad checksum\)"),
        (lambda header: header.replace(b"m/1.bin", b"m/X.bin"), r"the header at byte 1536 is damaged \(bad checksum\)"),
    ],
    ids=["zeroed", "garbled", "one-byte"],
)
def test_a_damaged_header_in_the_middle_is_an_error_not_the_end(
    tmp_path: Path, kind: str, damage: Callable[[bytes], bytes], problem: str
) -> None:
    """`tarfile` stops at such a header as if the archive ended there, dropping every member after it."""
    blob = _tar_bytes(MIDDLE)
    path = tmp_path / f"a.{kind}"
    path.write_bytes(COMPRESS[kind](_damaged(blob, 1536, damage(blob[1536:2048]))))
    _refused_both_ways(path, problem)


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_a_tar_cut_at_a_member_boundary_or_inside_a_header_is_truncated(tmp_path: Path, kind: str) -> None:
    blob = _tar_bytes(MIDDLE)
    for size, problem in [(3072, 3072), (3300, 3300), (4608, 4608), (5120, 5120)]:  # 5120: one zero block
        path = tmp_path / f"cut{size}.{kind}"
        path.write_bytes(COMPRESS[kind](blob[:size]))
        _refused_both_ways(path, rf"truncated or corrupt: it ends after {problem} bytes without the end-of-archive")


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_a_malformed_pax_record_in_the_middle_is_an_error_not_the_end(tmp_path: Path, kind: str) -> None:
    blob = _tar_bytes([*MIDDLE[:1], ("m/" + "long" * 40, b"x"), *MIDDLE[1:]], tarfile.PAX_FORMAT)
    at = blob.index(b" path=m/long")
    bad = blob[: at - 3] + b"000" + blob[at:]  # the record's length, 172, made 0
    assert blob[at - 3 : at] == b"172"
    path = tmp_path / f"a.{kind}"
    path.write_bytes(COMPRESS[kind](bad))
    _refused_both_ways(path, r"the header at byte 1536 is damaged \(invalid header\)")


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_end_padding_and_gnu_and_pax_extensions_still_read(tmp_path: Path, kind: str) -> None:
    members = [*MIDDLE, ("deep/" + "long-name/" * 20 + "x.bin", b"long"), ("é/ü.bin", b"utf8")]
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        blob = _tar_bytes(members, fmt, comment="a global pax header")
        assert len(blob) % 10240 == 0
        end = len(blob.rstrip(b"\0")) + 511 & ~511
        for tail in (blob, blob[: end + 1024], blob + bytes(30_000)):  # record padding, none, more than a record
            path = tmp_path / f"ok.{kind}"
            path.write_bytes(COMPRESS[kind](tail))
            assert _both_ways(path) == (members, members)


def test_an_empty_tar_reads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.tar"
    path.write_bytes(_tar_bytes([]))
    assert _both_ways(path) == ([], [])
    path.write_bytes(bytes(512))  # one zero block: not an archive that ended where it should
    _refused_both_ways(path, "it ends after 512 bytes without the end-of-archive blocks")
