"""Tests for dsreg.sources: fetching through fsspec from a local HTTP server, verifying, resolving local copies."""

from __future__ import annotations

import hashlib
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dsreg import sources as sources_module
from dsreg.download_limits import DownloadLimits
from dsreg.errors import DsregError
from dsreg.recipe import SourceSpec
from dsreg.sources import (
    ResolvedSource,
    SourceMissingError,
    confirm_read,
    fetch,
    file_digests,
    resolve_sources,
    verify_file,
)
from dsreg.sourcetree import SourceTree
from dsreg.testing.http_server import LocalHTTPServer

NAME = "corpus-v1.tar.gz"


@pytest.fixture
def data() -> bytes:
    """The bytes of the vendor's archive."""
    return random.Random(300).randbytes(300_000)


@pytest.fixture
def served(tmp_path: Path, data: bytes) -> Path:
    """A directory holding the archive, as a mirror would."""
    directory = tmp_path / "mirror"
    directory.mkdir()
    (directory / NAME).write_bytes(data)
    return directory


@pytest.fixture
def server(served: Path) -> Iterator[LocalHTTPServer]:
    """A running mirror serving the archive."""
    with LocalHTTPServer(served) as srv:
        yield srv


def make_spec(
    data: bytes, *urls: str, sha256: bool = True, md5: bool = False, size: int | None = None, optional: bool = False
) -> SourceSpec:
    """A SourceSpec for `data` at `urls`, with the checksums asked for and its true size unless given."""
    return SourceSpec(
        name="train",
        urls=urls,
        size=len(data) if size is None else size,
        sha256=hashlib.sha256(data).hexdigest() if sha256 else None,
        md5=hashlib.md5(data).hexdigest() if md5 else None,
        optional=optional,
    )


def quick_fetch(spec: SourceSpec, cache: Path, *, timeout: float = 60.0, progress: bool = False) -> Path:
    """fetch() with two retries and a tiny back-off, to keep the tests fast."""
    return fetch(spec, cache, retries=2, backoff=0.01, timeout=timeout, progress=progress)


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL on a local port where nothing listens: the port stays bound (not listening, so a connection is
    refused) for the whole test, so no other process can take it and answer meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/{NAME}"


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], bool]:
    """`received(offset)`: whether the downloader has read the body up to byte `offset` off its connection, for a
    server's `cut_until`: a cut connection then drops only once the client holds the bytes before it (an HTTP
    client discards the bytes it buffered but was not yet asked for once it sees the connection drop)."""
    furthest = [0]
    open_at = sources_module._open_at

    class Counted:
        def __init__(self, stream: Any, start: int) -> None:
            self.stream, self.position = stream, start

        def read(self, size: int) -> bytes:
            block: bytes = self.stream.read(size)
            self.position += len(block)
            furthest[0] = max(furthest[0], self.position)
            return block

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *exc: object) -> None:
            self.stream.close()

    def counted_open_at(*args: Any, **kwargs: Any) -> tuple[Any, int, int | None] | None:
        opened = open_at(*args, **kwargs)
        return None if opened is None else (Counted(opened[0], opened[1]), opened[1], opened[2])

    monkeypatch.setattr(sources_module, "_open_at", counted_open_at)
    return lambda offset: furthest[0] >= offset


def test_fetch_by_sha256_lands_at_content_address_and_second_fetch_needs_no_network(
    tmp_path: Path, data: bytes, server: LocalHTTPServer
) -> None:
    spec = make_spec(data, server.url(NAME))
    cache = tmp_path / "cache"
    path = quick_fetch(spec, cache)
    assert path == cache / "sha256" / hashlib.sha256(data).hexdigest() / NAME
    assert path.read_bytes() == data
    assert not path.with_name(NAME + ".partial").exists()
    server.stop()
    assert fetch(spec, cache, retries=0) == path
    assert len(server.gets(NAME)) == 1


def test_fetch_md5_only_source_is_addressed_by_md5(tmp_path: Path, data: bytes, server: LocalHTTPServer) -> None:
    spec = make_spec(data, server.url(NAME), sha256=False, md5=True)
    path = quick_fetch(spec, tmp_path / "cache")
    assert path == tmp_path / "cache" / "md5" / hashlib.md5(data).hexdigest() / NAME
    assert path.read_bytes() == data


def test_file_url_mirror(tmp_path: Path, data: bytes, served: Path) -> None:
    spec = make_spec(data, (served / NAME).as_uri())
    assert quick_fetch(spec, tmp_path / "cache").read_bytes() == data


def test_checksum_mismatch_names_url_and_digests_and_keeps_nothing(
    tmp_path: Path, data: bytes, server: LocalHTTPServer
) -> None:
    wrong = "0" * 64
    spec = SourceSpec(name="train", urls=(server.url(NAME),), size=len(data), sha256=wrong)
    with pytest.raises(DsregError) as info:
        quick_fetch(spec, tmp_path / "cache")
    assert not isinstance(info.value, SourceMissingError)
    message = str(info.value)
    assert server.url(NAME) in message
    assert wrong in message and hashlib.sha256(data).hexdigest() in message
    assert "recipe" in (info.value.fix or "")
    entry = tmp_path / "cache" / "sha256" / wrong / NAME
    assert not entry.exists()
    assert not entry.with_name(NAME + ".partial").exists()
    assert len(server.gets(NAME)) == 1  # wrong bytes are not retried from the same mirror


def test_server_sending_more_than_expected_size_is_stopped(
    tmp_path: Path, data: bytes, server: LocalHTTPServer
) -> None:
    spec = make_spec(data, server.url(NAME), size=1000)
    with pytest.raises(DsregError, match="more than the 1000 bytes"):
        quick_fetch(spec, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob(f"{NAME}.partial"))


def test_interrupted_transfer_resumes_with_range(
    tmp_path: Path, data: bytes, server: LocalHTTPServer, received: Callable[[int], bool]
) -> None:
    server.inject(NAME, cut_after=100_000, cut_until=received)
    path = quick_fetch(make_spec(data, server.url(NAME)), tmp_path / "cache")
    assert [r.range for r in server.gets(NAME)] == [None, "bytes=100000-"]
    assert path.read_bytes() == data


def test_server_without_range_support_restarts_from_zero(
    tmp_path: Path, data: bytes, served: Path, received: Callable[[int], bool]
) -> None:
    with LocalHTTPServer(served, ranges=False) as srv:
        srv.inject(NAME, cut_after=100_000, cut_until=received)
        path = quick_fetch(make_spec(data, srv.url(NAME)), tmp_path / "cache")
        assert len(srv.gets(NAME)) == 2
    assert path.read_bytes() == data


def test_attempts_that_make_progress_do_not_use_up_retries(
    tmp_path: Path, data: bytes, server: LocalHTTPServer, received: Callable[[int], bool]
) -> None:
    server.inject(NAME, cut_after=50_000, times=4, cut_until=received)
    path = fetch(make_spec(data, server.url(NAME)), tmp_path / "cache", retries=1, backoff=0.01)
    assert [r.range for r in server.gets(NAME)][-1] == "bytes=200000-"
    assert path.read_bytes() == data


def test_server_errors_are_retried(tmp_path: Path, data: bytes, server: LocalHTTPServer) -> None:
    server.inject(NAME, status=500, times=2)
    path = fetch(make_spec(data, server.url(NAME)), tmp_path / "cache", retries=2, backoff=0.01)
    assert len(server.gets(NAME)) == 3
    assert path.read_bytes() == data


def test_stalled_read_times_out_and_is_retried(tmp_path: Path, data: bytes, server: LocalHTTPServer) -> None:
    # silence for 2 s is a stall; the stall lasts 30 s, so even a client run late sees it as one, and the
    # second attempt's bytes never pause for 2 s however loaded the machine
    server.inject(NAME, stall=30)
    path = quick_fetch(make_spec(data, server.url(NAME)), tmp_path / "cache", timeout=2)
    assert len(server.gets(NAME)) == 2
    assert path.read_bytes() == data


def test_dead_mirrors_fall_through_to_a_live_one(
    tmp_path: Path, data: bytes, served: Path, server: LocalHTTPServer, refused_url: str
) -> None:
    with LocalHTTPServer(served) as empty:
        empty.inject(NAME, status=404, times=None)
        spec = make_spec(data, refused_url, empty.url(NAME), server.url(NAME))
        path = quick_fetch(spec, tmp_path / "cache")
        assert len(empty.gets(NAME)) == 1  # a 404 is final: no retries
    assert path.read_bytes() == data


def test_all_mirrors_dead_lists_every_mirror(
    tmp_path: Path, data: bytes, server: LocalHTTPServer, refused_url: str
) -> None:
    dead = refused_url
    missing = server.url("no-such-file.tar.gz")
    with pytest.raises(SourceMissingError) as info:
        quick_fetch(make_spec(data, dead, missing), tmp_path / "cache")
    message = str(info.value)
    assert f"{dead}: " in message and f"{missing}: not found" in message
    assert "--source PATH" in message


def test_concurrent_fetches_download_once(tmp_path: Path, data: bytes, server: LocalHTTPServer) -> None:
    server.inject(NAME, stall=0.3)
    spec = make_spec(data, server.url(NAME))
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(quick_fetch(spec, tmp_path / "cache"))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    assert len(server.gets(NAME)) == 1
    assert results[0].read_bytes() == data


def test_progress_bar_goes_to_stderr(
    tmp_path: Path, data: bytes, server: LocalHTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    quick_fetch(make_spec(data, server.url(NAME)), tmp_path / "cache", progress=True)
    captured = capsys.readouterr()
    assert NAME in captured.err and captured.out == ""


MANUAL = """Register at https://example.org/imagenet and accept the terms.
Then download:
    ILSVRC2012_img_train.tar   (138 GB)

and keep the file name."""


def test_manual_source_missing_quotes_instructions_verbatim(tmp_path: Path) -> None:
    spec = SourceSpec(name="train", filename="ILSVRC2012_img_train.tar", manual=MANUAL)
    with pytest.raises(SourceMissingError) as info:
        fetch(spec, tmp_path / "cache")
    message = str(info.value)
    assert MANUAL in message
    assert "--source PATH" in message
    assert str(tmp_path / "cache" / "manual" / "ILSVRC2012_img_train.tar") in message


def test_file_digests_and_verify_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / NAME
    path.write_bytes(data)
    expected = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
    assert file_digests(path) == expected
    assert verify_file(make_spec(data, "http://x/" + NAME, md5=True), path) == expected
    with pytest.raises(DsregError, match=r"md5: expected 0{32}") as info:
        verify_file(SourceSpec(name="train", urls=("http://x/" + NAME,), md5="0" * 32), path)
    assert str(path) in str(info.value)


def test_resolve_local_archive_file(tmp_path: Path, data: bytes, served: Path) -> None:
    spec = make_spec(data, "http://127.0.0.1:9/" + NAME)
    resolved = resolve_sources({"train": spec}, tmp_path / "cache", served / NAME)
    source = resolved["train"]
    assert (source.path, source.origin) == (served / NAME, "local-file")
    assert source.to_json() == {
        "name": "train",
        "urls": list(spec.urls),
        "filename": NAME,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
        "origin": "local-file",
    }


def test_resolve_local_archive_with_wrong_checksum(tmp_path: Path, data: bytes, served: Path) -> None:
    spec = SourceSpec(name="train", urls=("http://127.0.0.1:9/" + NAME,), md5="f" * 32)
    with pytest.raises(DsregError, match="differs from the vendor's file") as info:
        resolve_sources({"train": spec}, tmp_path / "cache", served / NAME)
    message = str(info.value)
    assert str(served / NAME) in message
    assert "f" * 32 in message and hashlib.md5(data).hexdigest() in message


def test_resolve_local_file_must_match_a_source_name(tmp_path: Path, data: bytes, served: Path) -> None:
    specs = {
        "train": make_spec(data, "http://127.0.0.1:9/train.tar"),
        "test": make_spec(data, "http://127.0.0.1:9/test.tar"),
    }
    with pytest.raises(DsregError, match="none of this recipe's sources") as info:
        resolve_sources(specs, tmp_path / "cache", served / NAME)
    assert "train.tar, test.tar" in str(info.value)


def test_resolve_local_directory_with_archive_and_download_for_the_rest(
    tmp_path: Path, data: bytes, server: LocalHTTPServer
) -> None:
    local = tmp_path / "raw"
    local.mkdir()
    other = random.Random(1000).randbytes(1000)
    (local / "TEST.TAR").write_bytes(other)
    specs = {
        "test": SourceSpec(
            name="test", urls=("http://127.0.0.1:9/test.tar",), sha256=hashlib.sha256(other).hexdigest()
        ),
        "train": make_spec(data, server.url(NAME)),
    }
    resolved = resolve_sources(specs, tmp_path / "cache", local)
    assert (resolved["test"].path, resolved["test"].origin) == (local / "TEST.TAR", "local-file")
    assert resolved["train"].origin == "download"
    assert resolved["train"].md5 == hashlib.md5(data).hexdigest()


def test_resolve_unpacked_directory_serves_every_source(tmp_path: Path, data: bytes) -> None:
    local = tmp_path / "unpacked"
    (local / "images").mkdir(parents=True)
    specs = {
        "train": make_spec(data, "http://127.0.0.1:9/train.tar"),
        "test": SourceSpec(name="test", filename="test.tar", manual="ask the vendor", optional=True),
    }
    resolved = resolve_sources(specs, tmp_path / "cache", local)
    assert resolved == {
        "train": ResolvedSource(specs["train"], local, "local-directory"),
        "test": ResolvedSource(specs["test"], local, "local-directory"),
    }
    assert resolved["train"].to_json()["size"] is None


def test_resolve_folders_named_like_archives_next_to_vendor_files(tmp_path: Path, data: bytes) -> None:
    local = tmp_path / "raw"
    (local / "words_test").mkdir(parents=True)
    (local / "GT.txt").write_bytes(data)
    specs = {
        "images": SourceSpec(name="images", filename="words_test.zip", manual="register first"),
        "gt": SourceSpec(name="gt", filename="GT.txt", manual="register first"),
        "train": SourceSpec(name="train", filename="words_train.zip", manual="register first"),
    }
    with pytest.raises(SourceMissingError, match=r"words_train\.zip"):
        resolve_sources(specs, tmp_path / "cache", local)  # no archive and no folder for the training images
    (local / "words_train.zip").mkdir()  # a folder with the archive's full name is not its unpacked content
    with pytest.raises(SourceMissingError, match=r"words_train\.zip"):
        resolve_sources(specs, tmp_path / "cache", local)
    (local / "words_train.zip").rmdir()
    (local / "words_train").mkdir()
    resolved = resolve_sources(specs, tmp_path / "cache", local)
    assert (resolved["images"].path, resolved["images"].origin) == (local / "words_test", "local-directory")
    assert (resolved["train"].path, resolved["train"].origin) == (local / "words_train", "local-directory")
    assert (resolved["gt"].path, resolved["gt"].origin) == (local / "GT.txt", "local-file")


def test_resolve_missing_local_path(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(DsregError, match="does not exist"):
        resolve_sources({"train": make_spec(data, "http://127.0.0.1:9/x")}, tmp_path / "cache", tmp_path / "nope")


def test_resolve_omits_unavailable_optional_sources(tmp_path: Path, data: bytes, server: LocalHTTPServer) -> None:
    specs = {
        "train": make_spec(data, server.url(NAME)),
        "extra": SourceSpec(name="extra", filename="extra.zip", manual="Email the vendor.", optional=True),
        "gone": make_spec(data, server.url("gone.tar"), optional=True),
    }
    assert set(resolve_sources(specs, tmp_path / "cache")) == {"train"}


def test_resolve_optional_source_with_wrong_checksum_still_fails(
    tmp_path: Path, data: bytes, server: LocalHTTPServer
) -> None:
    spec = SourceSpec(name="extra", urls=(server.url(NAME),), sha256="1" * 64, optional=True)
    with pytest.raises(DsregError, match="differs from the recipe"):
        resolve_sources({"extra": spec}, tmp_path / "cache")


def test_resolve_manual_source_from_cache_dir(tmp_path: Path, data: bytes) -> None:
    manual = tmp_path / "cache" / "manual"
    manual.mkdir(parents=True)
    (manual / "Train.TAR").write_bytes(data)
    spec = SourceSpec(name="train", filename="train.tar", manual=MANUAL, sha256=hashlib.sha256(data).hexdigest())
    source = resolve_sources({"train": spec}, tmp_path / "cache")["train"]
    assert (source.path, source.origin) == (manual / "Train.TAR", "cache")


def test_resolve_manual_source_missing_names_local_dir(tmp_path: Path) -> None:
    local = tmp_path / "raw"
    local.mkdir()
    (local / "other.tar").write_bytes(b"x")
    specs = {
        "other": SourceSpec(name="other", filename="other.tar", manual="n/a"),
        "train": SourceSpec(name="train", filename="train.tar", manual=MANUAL),
    }
    with pytest.raises(SourceMissingError) as info:
        resolve_sources(specs, tmp_path / "cache", local)
    assert MANUAL in str(info.value) and str(local / "train.tar") in str(info.value)


def test_a_cache_hit_is_confirmed_by_the_digests_of_its_read(
    tmp_path: Path, data: bytes, server: LocalHTTPServer
) -> None:
    spec = make_spec(data, server.url(NAME), md5=True)
    first = resolve_sources({"train": spec}, tmp_path / "cache")["train"]
    assert first.verified and first.sha256 == spec.sha256
    server.stop()
    again = resolve_sources({"train": spec}, tmp_path / "cache")["train"]
    assert (first.origin, again.origin) == ("download", "cache")
    assert not again.verified and again.sha256 is None  # nothing recorded beside the file is trusted
    with SourceTree.open(again.path) as tree:
        confirmed = confirm_read(again, tree.digests())
    assert confirmed.verified and (confirmed.sha256, confirmed.md5) == (first.sha256, first.md5)


@pytest.mark.parametrize("bit", [0, 8 * 150_000 + 3, 8 * 300_000 - 1])
def test_a_bit_flipped_in_a_cached_file_is_refused(
    tmp_path: Path, data: bytes, server: LocalHTTPServer, bit: int
) -> None:
    spec = make_spec(data, server.url(NAME))
    path = quick_fetch(spec, tmp_path / "cache")
    flip_bit(path, bit)
    cached = resolve_sources({"train": spec}, tmp_path / "cache")["train"]
    with SourceTree.open(cached.path) as tree, pytest.raises(DsregError, match="cached copy") as info:
        confirm_read(cached, tree.digests())
    assert str(path) in str(info.value) and "delete" in info.value.fix
    assert hashlib.sha256(path.read_bytes()).hexdigest() in str(info.value)  # the digest actually computed


def flip_bit(path: Path, bit: int) -> None:
    """Invert one bit of a file in place, as a failing disk or a bad copy would."""
    with open(path, "r+b") as f:
        f.seek(bit // 8)
        byte = f.read(1)[0]
        f.seek(bit // 8)
        f.write(bytes([byte ^ (1 << (bit % 8))]))


def test_damaged_cache_entry_is_reported(tmp_path: Path, data: bytes, server: LocalHTTPServer) -> None:
    spec = make_spec(data, server.url(NAME))
    path = quick_fetch(spec, tmp_path / "cache")
    with open(path, "r+b") as f:
        f.truncate(10)
    with pytest.raises(DsregError, match="is 10 bytes") as info:
        quick_fetch(spec, tmp_path / "cache")
    assert str(path) in str(info.value)


def _unsized(url: str) -> SourceSpec:
    """A source whose recipe declares no size (only a checksum)."""
    return SourceSpec(name="train", urls=(url,), sha256="0" * 64)


def test_an_endless_body_without_declared_size_is_capped(tmp_path: Path, server: LocalHTTPServer) -> None:
    server.inject(NAME, endless=True, times=None)
    limits = DownloadLimits(max_bytes=2 << 20)
    start = time.monotonic()
    with pytest.raises(DsregError, match=r"more than 2097152 bytes for a source whose size the recipe does not") as e:
        fetch(_unsized(server.url(NAME)), tmp_path / "cache", limits=limits, retries=0)
    assert time.monotonic() - start < 60  # stopped at the cap (an endless body never ends by itself)
    assert "DSREG_DOWNLOAD_MAX_BYTES" in str(e.value)
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and not p.name.endswith(".lock")] == []


def test_a_trickling_body_fails_on_the_minimum_rate(tmp_path: Path, data: bytes, server: LocalHTTPServer) -> None:
    server.inject(NAME, trickle=(200, 0.05), times=None)  # ~4 KB/s, each byte well within any read timeout
    # a 2 s window: the first bytes arrive well within it however loaded the machine, so some are kept
    limits = DownloadLimits(min_rate=50_000, rate_window=2, timeout=5)
    start = time.monotonic()
    with pytest.raises(SourceMissingError, match=r"bytes/s over the last [\d.]+ s, below the minimum 50000") as e:
        fetch(make_spec(data, server.url(NAME)), tmp_path / "cache", limits=limits, retries=0)
    assert time.monotonic() - start < 60  # stopped by the rate (the whole body would take 75 s at 4 KB/s)
    assert server.url(NAME) in str(e.value)
    (partial,) = (tmp_path / "cache").rglob("*.partial")
    assert 0 < partial.stat().st_size < len(data)  # the right bytes received so far are kept for a resume
    assert data.startswith(partial.read_bytes())


def test_the_overall_deadline_stops_a_slow_but_steady_download(
    tmp_path: Path, data: bytes, server: LocalHTTPServer
) -> None:
    server.inject(NAME, trickle=(2000, 0.02), times=None)  # ~100 KB/s: above the minimum rate, 3 s in all
    limits = DownloadLimits(deadline=0.8, min_rate=1000, rate_window=0.3)
    start = time.monotonic()
    with pytest.raises(DsregError, match="did not finish in time") as e:
        fetch(make_spec(data, server.url(NAME)), tmp_path / "cache", limits=limits)
    assert 0.8 <= time.monotonic() - start < 60  # the error says it stopped at the deadline; this tells a hang
    assert "DSREG_DOWNLOAD_DEADLINE" in str(e.value)


def test_a_stalled_server_fails_fast_with_a_message(tmp_path: Path, data: bytes, server: LocalHTTPServer) -> None:
    server.inject(NAME, stall=60, times=None)
    start = time.monotonic()
    with pytest.raises(SourceMissingError, match=r"stalled: it sent nothing for 0.5 s, twice in a row") as e:
        quick_fetch(make_spec(data, server.url(NAME)), tmp_path / "cache", timeout=0.5)
    assert time.monotonic() - start < 30  # two silent attempts, not `retries` more, nor the server's 60 s
    assert server.url(NAME) in str(e.value) and len(server.gets(NAME)) == 2


def test_download_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSREG_DOWNLOAD_MAX_BYTES", "1e6")
    monkeypatch.setenv("DSREG_DOWNLOAD_TIMEOUT", "7")
    limits = DownloadLimits.from_env(timeout=3)
    assert (limits.max_bytes, limits.timeout, limits.min_rate) == (1_000_000, 3, DownloadLimits().min_rate)
    monkeypatch.setenv("DSREG_DOWNLOAD_MIN_RATE", "fast")
    with pytest.raises(DsregError, match="DSREG_DOWNLOAD_MIN_RATE='fast' is not a number"):
        DownloadLimits.from_env()
    monkeypatch.setenv("DSREG_DOWNLOAD_MIN_RATE", "0")
    with pytest.raises(DsregError, match="min_rate must be positive"):
        DownloadLimits.from_env()


@pytest.mark.parametrize("variable", ["DSREG_DOWNLOAD_MAX_BYTES", "DSREG_DOWNLOAD_TIMEOUT"])
@pytest.mark.parametrize("value", ["inf", "1e400"])
def test_an_infinite_size_or_silence_limit_is_refused_by_name(monkeypatch, variable: str, value: str) -> None:
    """inf, meant as 'no limit', was a bare OverflowError (the size) or failed every download with an
    OverflowError blamed on the network (the timeout)."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(DsregError, match=f"{variable}.*finite") as err:
        DownloadLimits.from_env()
    assert err.value.fix is not None and variable in err.value.fix
    monkeypatch.delenv(variable)
    field = "max_bytes" if variable.endswith("MAX_BYTES") else "timeout"
    with pytest.raises(DsregError, match="finite"):
        DownloadLimits.from_env(**{field: float(value)})
    assert DownloadLimits.from_env(deadline=float(value)).deadline == float("inf")  # no deadline: that works


def test_a_redirect_loop_is_named_and_not_retried(tmp_path: Path, data: bytes, server: LocalHTTPServer) -> None:
    server.inject(NAME, redirect=NAME, times=None)
    with pytest.raises(SourceMissingError) as info:
        quick_fetch(make_spec(data, server.url(NAME)), tmp_path / "cache")
    assert f"{server.url(NAME)}: redirected" in str(info.value) and "loop" in str(info.value)
    assert len(server.gets(NAME)) <= 11  # one attempt's redirects, not one per retry
    server.inject(NAME, redirect=NAME, times=3)  # a loop the server leaves: an ordinary download after it
    assert quick_fetch(make_spec(data, server.url(NAME)), tmp_path / "cache").read_bytes() == data
