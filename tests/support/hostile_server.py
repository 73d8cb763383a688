"""A real HTTP server on 127.0.0.1 that misbehaves on purpose, for connector tests.

It speaks raw HTTP/1.1 over asyncio streams in a background thread, so a handler can do what
no framework allows: trickle bytes forever, accept and never answer, stream a gigabyte lazily,
send a gzip bomb. Every loop is bounded and every handler is cancelled on `stop()`, so a test
that fails never leaves a server spinning.

    with HostileServer() as server:
        server.route("/feed", respond(200, b"<rss ...>"))
        url = server.url("/feed")
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType

__all__ = [
    "HostileServer",
    "Request",
    "conditional",
    "gzip_bomb",
    "lazy_body",
    "never_answer",
    "redirect",
    "respond",
    "rss_document",
    "stream",
    "trickle",
]


def rss_document(entries: int, *, title: str = "Big feed") -> bytes:
    """An RSS 2.0 document with `entries` items, each with a unique guid and a short body."""
    items = "".join(
        f"<item><title>Story {i}</title><link>https://news.example/s/{i}</link>"
        f"<guid isPermaLink='false'>story-{i}</guid>"
        "<pubDate>Fri, 18 Oct 2024 10:00:00 GMT</pubDate>"
        f"<description>&lt;p&gt;Body of story {i}&lt;/p&gt;</description></item>"
        for i in range(entries)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title>{items}</channel></rss>"
    ).encode()


@dataclass(slots=True)
class Request:
    """What the client sent: method, path and lower-cased headers."""

    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


def _head(status: int, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Whatever"
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines = [f"HTTP/1.1 {status} {phrase}", *(f"{k}: {v}" for k, v in items)]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    status: int = 200,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    delay_s: float = 0.0,
) -> Handler:
    """A well-behaved answer (optionally after a delay), with Content-Length."""

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        all_headers = {"Content-Length": str(len(body)), **(headers or {})}
        writer.write(_head(status, all_headers) + body)
        await writer.drain()

    return handler


def redirect(status: int, location: str) -> Handler:
    """A redirect to `location` (relative or absolute)."""
    return respond(status, b"", {"Location": location})


def conditional(
    body: bytes,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    content_type: str = "application/rss+xml",
) -> Handler:
    """A polite server: 304 when the client's validators match, else the body with them."""

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        sent_etag = request.headers.get("if-none-match")
        sent_since = request.headers.get("if-modified-since")
        validators: dict[str, str] = {}
        if etag is not None:
            validators["ETag"] = etag
        if last_modified is not None:
            validators["Last-Modified"] = last_modified
        matched = (etag is not None and sent_etag == etag) or (
            etag is None and last_modified is not None and sent_since == last_modified
        )
        if matched:
            await respond(304, b"", validators)(request, writer)
        else:
            await respond(200, body, {"Content-Type": content_type, **validators})(request, writer)

    return handler


def never_answer(*, max_wait_s: float = 120.0) -> Handler:
    """Accept the connection, read the request, then say nothing (until stopped)."""

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(max_wait_s)

    return handler


def trickle(
    *, interval_s: float = 0.05, max_bytes: int = 100_000, headers_first: bool = True
) -> Handler:
    """One byte every `interval_s` forever (bounded): never trips a per-read timeout.

    With `headers_first` the head is complete and the body trickles; without, the head does.
    """

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if headers_first:
            writer.write(_head(200, {"Content-Type": "application/rss+xml"}))
            writer.write(b"<?xml version='1.0'?><rss version='2.0'><channel>")
        else:  # the head itself never ends: an endless header value
            writer.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        await writer.drain()
        for _ in range(max_bytes):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(interval_s)

    return handler


async def _write_all(writer: asyncio.StreamWriter, chunks: AsyncIterator[bytes]) -> None:
    with contextlib.suppress(ConnectionError):
        async for chunk in chunks:
            writer.write(chunk)
            await writer.drain()


def stream(
    status: int,
    headers: Mapping[str, str],
    chunks: Callable[[], AsyncIterator[bytes]],
) -> Handler:
    """Send the head, then whatever `chunks()` yields, generated lazily as the client reads."""

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(_head(status, headers))
        await _write_all(writer, chunks())

    return handler


def lazy_body(
    total_bytes: int, *, chunk_bytes: int = 64 * 1024
) -> Callable[[], AsyncIterator[bytes]]:
    """`total_bytes` of feed-looking filler, produced a chunk at a time (never allocated whole)."""

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        block = b"<!-- filler -->" * (chunk_bytes // 15 + 1)
        yield b"<?xml version='1.0'?><rss version='2.0'><channel><title>huge</title>"
        while sent < total_bytes:
            piece = block[: min(chunk_bytes, total_bytes - sent)]
            sent += len(piece)
            yield piece

    return chunks


def gzip_bomb(expanded_bytes: int) -> Callable[[], AsyncIterator[bytes]]:
    """A gzip stream that expands to `expanded_bytes` of zeros (about 1000:1), made lazily."""

    async def chunks() -> AsyncIterator[bytes]:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        block = bytes(1024 * 1024)
        produced = 0
        while produced < expanded_bytes:
            piece = block[: min(len(block), expanded_bytes - produced)]
            produced += len(piece)
            yield compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
            await asyncio.sleep(0)
        yield compressor.flush()

    return chunks


@dataclass(slots=True)
class _Stats:
    in_flight: int = 0
    max_in_flight: int = 0
    requests: list[Request] = field(default_factory=list)


class HostileServer:
    """An HTTP server in a thread on 127.0.0.1 with a free port; use as a context manager."""

    def __init__(self) -> None:
        self._routes: dict[str, Handler] = {}
        self._stats = _Stats()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    # -- configuration, from the test thread ---------------------------------------------------

    def route(self, path: str, handler: Handler) -> str:
        """Serve `handler` at `path`; returns the absolute URL."""
        self._routes[path] = handler
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, in order."""
        return list(self._stats.requests)

    @property
    def max_in_flight(self) -> int:
        """The most requests this server was handling at the same time."""
        return self._stats.max_in_flight

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> HostileServer:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        started.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        stopped = asyncio.run_coroutine_threadsafe(self._stop(), self._loop)
        with contextlib.suppress(Exception):
            stopped.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the connection handler -----------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # type: ignore[arg-type]  # the handler task returns None
        stats = self._stats
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            request = await self._read_request(reader)
            if request is None:
                return
            stats.requests.append(request)
            handler = self._routes.get(request.path)
            if handler is None:
                await respond(404, b"not found")(request, writer)
            else:
                await handler(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            stats.in_flight -= 1
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)  # type: ignore[arg-type]  # see add above

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> Request | None:
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) < 2:
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return Request(method=parts[0], path=parts[1], headers=headers)
