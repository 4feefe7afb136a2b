"""A tiny threaded HTTP file server on 127.0.0.1 with Range support and fault injection, for tests and demos.

It stands in for a vendor's mirror: it serves the files of one directory, can resume transfers with
``Range`` (or pretend it cannot), and can misbehave on purpose — answer an error status, stall, cut
the connection part-way through a body, trickle the body a few bytes at a time, send an endless
body of unknown length, or redirect elsewhere (to itself: a redirect loop) — so that download code can
be tested without a network::

    with LocalHTTPServer(directory) as server:
        server.inject("cifar.tar.gz", cut_after=1000)   # the first GET breaks after 1000 bytes
        fetch_from(server.url("cifar.tar.gz"))
        assert server.requests[1].range == "bytes=1000-"
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote, unquote, urlsplit

_RANGE = re.compile(r"bytes=(?:(\d+)-(\d*)|-(\d+))")
_BLOCK = 64 << 10
_CUT_WAIT = 60.0  # the longest a cut connection waits for `cut_until`


@dataclass(frozen=True)
class Request:
    """One request the server received: method, file name (URL-decoded) and its Range header, if any."""

    method: str
    path: str
    range: str | None


@dataclass
class _Fault:
    """Misbehaviour for the next `remaining` requests of one path (None: all of them)."""

    status: int | None
    cut_after: int | None
    stall: float
    remaining: int | None
    trickle: tuple[int, float] | None = None
    endless: bool = False
    redirect: str | None = None
    cut_until: Callable[[int], bool] | None = None


class LocalHTTPServer:
    """Serve the files of `directory` over HTTP on an ephemeral 127.0.0.1 port, from a background thread.

    ``ranges=False`` makes the server ignore ``Range`` headers (always 200 with the whole file, no
    ``Accept-Ranges``), like the many vendor servers that cannot resume. ``cut_linger`` is how long a
    cut connection stays open after its last byte, so that the client has drained those bytes before
    it sees the connection drop (a client may discard buffered bytes once an error is pending); a test that
    must know the client kept every byte sent before a cut says when it has them with ``inject(cut_until=...)``.
    Connections are not kept alive, so after :meth:`stop` nothing is served at all.
    """

    def __init__(self, directory: str | os.PathLike[str], *, ranges: bool = True, cut_linger: float = 0.25) -> None:
        self.directory = Path(directory).resolve()
        self.ranges = ranges
        self.cut_linger = cut_linger
        self.requests: list[Request] = []
        self._faults: dict[str, _Fault] = {}
        self._lock = threading.Lock()
        self._httpd = _Server(self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._httpd.server_address[1])

    def url(self, name: str) -> str:
        """The URL of `name`, a path relative to the served directory."""
        return f"http://127.0.0.1:{self.port}/{quote(name)}"

    def inject(
        self,
        name: str,
        *,
        status: int | None = None,
        cut_after: int | None = None,
        stall: float = 0.0,
        times: int | None = 1,
        trickle: tuple[int, float] | None = None,
        endless: bool = False,
        redirect: str | None = None,
        cut_until: Callable[[int], bool] | None = None,
    ) -> None:
        """Misbehave on the next `times` requests (GET or HEAD) of `name`; ``times=None`` means forever.

        Each such request first sleeps `stall` seconds, then answers `status` (e.g. 404, 500) if one is
        given, else sends its headers and only `cut_after` bytes of the body before dropping the connection.
        `trickle=(n, seconds)` sends the body `n` bytes at a time with a pause between; `endless` answers
        200 without a Content-Length and sends zeros until the client hangs up; `redirect` answers 302 to
        that name (`name` itself: a loop).
        `cut_until(offset)`, called with the file offset a cut body stopped at, says whether the client has
        taken in the bytes before it: the cut connection stays open until it does (polled, at most
        `_CUT_WAIT` seconds) instead of `cut_linger` seconds, however late a loaded machine runs the client.
        A new injection for the same name replaces the previous one.
        """
        with self._lock:
            self._faults[name] = _Fault(status, cut_after, stall, times, trickle, endless, redirect, cut_until)

    def gets(self, name: str) -> list[Request]:
        """The GET requests received so far for `name`, in order."""
        with self._lock:
            return [r for r in self.requests if r.method == "GET" and r.path == name]

    def start(self) -> LocalHTTPServer:
        """Start serving in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="LocalHTTPServer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; later connections are refused."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> LocalHTTPServer:
        """Start serving."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop serving."""
        self.stop()

    def _receive(self, request: Request) -> _Fault | None:
        """Record `request` and take one use of the fault injected for its path, if any."""
        with self._lock:
            self.requests.append(request)
            fault = self._faults.get(request.path)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[request.path]
            return fault

    def _file(self, name: str) -> Path | None:
        """The served file called `name`, or None when it is missing or would leave the directory."""
        path = (self.directory / name).resolve()
        if not path.is_relative_to(self.directory) or not path.is_file():
            return None
        return path


class _Server(ThreadingHTTPServer):
    """The stdlib threaded server, bound to 127.0.0.1, knowing its owner and silent about client hang-ups."""

    daemon_threads = True

    def __init__(self, owner: LocalHTTPServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients that hang up and connections cut on purpose are expected here."""


class _Handler(BaseHTTPRequestHandler):
    """Answers HEAD and GET for files, honouring single byte ranges and the owner's injected faults."""

    def do_HEAD(self) -> None:
        """Send the headers a GET would send."""
        self._answer(body=False)

    def do_GET(self) -> None:
        """Send a file, the requested range of it, or the injected misbehaviour."""
        self._answer(body=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def _endless(self, body: bool) -> None:
        """200 with no Content-Length, then zeros until the client disconnects."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.close_connection = True
        block = bytes(_BLOCK)
        while body:
            try:
                self.wfile.write(block)
            except OSError:
                return

    def _answer(self, *, body: bool) -> None:
        """Answer the current request, with or without the body."""
        owner = cast(_Server, self.server).owner
        name = unquote(urlsplit(self.path).path).lstrip("/")
        range_header = self.headers.get("Range")
        fault = owner._receive(Request(self.command, name, range_header))
        if fault is not None and fault.stall:
            time.sleep(fault.stall)
        if fault is not None and fault.status is not None:
            self.send_error(fault.status)
            return
        if fault is not None and fault.redirect is not None:
            self.send_response(302)
            self.send_header("Location", f"/{quote(fault.redirect)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault is not None and fault.endless:
            self._endless(body)
            return
        path = owner._file(name)
        if path is None:
            self.send_error(404)
            return
        size = path.stat().st_size
        start, end, status = 0, size, 200
        match = _RANGE.fullmatch(range_header.strip()) if owner.ranges and range_header else None
        if match:
            first, last, suffix = match.groups()
            if suffix is not None:
                start = max(0, size - int(suffix))
            else:
                start, end = int(first), min(size, int(last) + 1) if last else size
            if start >= end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        if owner.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if not body:
            return
        cut_after = None if fault is None else fault.cut_after
        trickle = None if fault is None else fault.trickle
        remaining = end - start if cut_after is None else min(end - start, cut_after)
        with open(path, "rb") as f:
            f.seek(start)
            while remaining > 0 and (block := f.read(min(trickle[0] if trickle else _BLOCK, remaining))):
                self.wfile.write(block)
                remaining -= len(block)
                if trickle:
                    self.wfile.flush()
                    time.sleep(trickle[1])
            stopped_at = f.tell()
        if cut_after is not None:
            until = None if fault is None else fault.cut_until
            if until is None:
                time.sleep(owner.cut_linger)
            else:
                deadline = time.monotonic() + _CUT_WAIT
                while not until(stopped_at) and time.monotonic() < deadline:
                    time.sleep(0.005)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
