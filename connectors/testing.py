"""A test double for the fetcher's network: feeds served from memory, like `httpx.MockTransport`.

Hand it to `FeedFetcher(transport=...)` (or a cycle's `transport=`) when a test needs a feed's
bytes and the HTTP semantics a feed reader relies on, but nothing only a socket shows:
conditional GET (ETag and Last-Modified answered with 304), gzip when the client asks for it,
redirects, error statuses with their headers, an HTML page where a feed was expected. Timeouts,
trickling bodies, caps on the wire and per-host limits need a real server instead.

It is shipped in the package, as httpx ships its MockTransport, so that anything built on the
fetcher can be tested without a network; the requests it received are its record for a test
to assert what was asked.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Final

import httpx

__all__ = ["FeedRoute", "FeedTransport", "SeenRequest"]

RSS: Final = "application/rss+xml; charset=utf-8"
HTML: Final = "text/html; charset=utf-8"
# A fixed default, so that If-Modified-Since answers the same way in every run.
DEFAULT_LAST_MODIFIED: Final = "Fri, 18 Oct 2024 09:00:00 GMT"
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class FeedRoute:
    """What one URL answers; `FeedTransport.set` builds it, `update` replaces parts of it."""

    body: bytes = b""
    status: int = 200
    content_type: str = RSS
    # An ETag derived from the body (so a changed body has a new one), honoured in If-None-Match.
    etag: bool = True
    last_modified: str | None = DEFAULT_LAST_MODIFIED
    # Compress the body when the request's Accept-Encoding allows gzip.
    gzip: bool = False
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Raised instead of answering: an `httpx.TransportError` such as ConnectError.
    error: httpx.TransportError | None = None

    def etag_value(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as the double received it, with the status it answered."""

    method: str
    url: str
    headers: Mapping[str, str]  # names lower-cased
    status: int | None  # None when the route raised a transport error


class FeedTransport(httpx.AsyncBaseTransport):
    """Serves routes (absolute URL -> FeedRoute) from memory; unknown URLs answer 404.

    A URL is looked up as requested, then without its query string. Routes may change between
    cycles (`set`, `update`) to simulate news; `requests` lists every request in order.
    """

    def __init__(self, routes: Mapping[str, bytes | FeedRoute] | None = None) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, FeedRoute] = {}
        self._seen: list[SeenRequest] = []
        for url, route in (routes or {}).items():
            self._routes[url] = route if isinstance(route, FeedRoute) else FeedRoute(body=route)

    # --- what the test sets up ------------------------------------------------------------

    def set(
        self,
        url: str,
        body: bytes = b"",
        *,
        status: int = 200,
        content_type: str = RSS,
        etag: bool = True,
        last_modified: str | None = DEFAULT_LAST_MODIFIED,
        gzip: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> FeedRoute:
        """Serve `body` at `url` (replacing whatever was there)."""
        route = FeedRoute(
            body=body,
            status=status,
            content_type=content_type,
            etag=etag,
            last_modified=last_modified,
            gzip=gzip,
            headers=MappingProxyType(dict(headers or {})),
        )
        with self._lock:
            self._routes[url] = route
        return route

    def update(self, url: str, body: bytes, *, last_modified: str | None = None) -> FeedRoute:
        """New content at an existing URL, everything else kept: the ETag follows the body."""
        with self._lock:
            current = self._routes.get(url)
            if current is None:
                raise KeyError(f"no route for {url}: use set() first")
            route = replace(
                current,
                body=body,
                last_modified=last_modified if last_modified is not None else current.last_modified,
            )
            self._routes[url] = route
        return route

    def html(self, url: str, body: bytes, *, status: int = 200) -> FeedRoute:
        """A web page where a feed was expected."""
        return self.set(url, body, status=status, content_type=HTML)

    def redirect(self, url: str, to: str, *, status: int = 301) -> FeedRoute:
        """`url` answers `status` with `Location: to` (absolute or relative)."""
        if status not in REDIRECT_STATUSES:
            raise ValueError(f"{status} is not a redirect status")
        return self.set(
            url, status=status, etag=False, last_modified=None, headers={"Location": to}
        )

    def fail(self, url: str, error: httpx.TransportError | None = None) -> FeedRoute:
        """`url` raises a transport error instead of answering (default: connection refused)."""
        route = FeedRoute(error=error or httpx.ConnectError("[Errno 111] Connection refused"))
        with self._lock:
            self._routes[url] = route
        return route

    def remove(self, url: str) -> None:
        """`url` answers 404 from now on."""
        with self._lock:
            self._routes.pop(url, None)

    # --- what the test reads ----------------------------------------------------------------

    def route(self, url: str) -> FeedRoute | None:
        """What `url` answers now (None: 404)."""
        with self._lock:
            return self._routes.get(url)

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._seen)

    def hits(self, url: str) -> list[SeenRequest]:
        """The requests for `url` (query string included as requested), in order."""
        return [seen for seen in self.requests if seen.url == url]

    # --- httpx's side -----------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self._lock:
            route = self._routes.get(url) or self._routes.get(url.split("?", 1)[0])
        if route is not None and route.error is not None:
            self._record(SeenRequest(request.method, url, headers, None))
            raise type(route.error)(str(route.error), request=request)
        response = _answer(route, headers, request.method)
        self._record(SeenRequest(request.method, url, headers, response.status_code))
        return response

    def _record(self, seen: SeenRequest) -> None:
        with self._lock:
            self._seen.append(seen)


class _Body(httpx.AsyncByteStream):
    """The body as a stream, in chunks as a socket delivers it: the fetcher reads it raw
    (`aiter_raw`), which `httpx.Response(content=...)` would have consumed already."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._body), CHUNK_BYTES):
            yield self._body[start : start + CHUNK_BYTES]


def _response(status: int, headers: dict[str, str], body: bytes = b"") -> httpx.Response:
    headers["Content-Length"] = str(len(body))
    return httpx.Response(status, headers=headers, stream=_Body(body))


def _answer(
    route: FeedRoute | None, request_headers: Mapping[str, str], method: str
) -> httpx.Response:
    if route is None:
        return _response(404, {"Content-Type": "text/plain"}, b"Not Found")
    headers: dict[str, str] = {"Content-Type": route.content_type}
    if route.etag:
        headers["ETag"] = route.etag_value()
    if route.last_modified:
        headers["Last-Modified"] = route.last_modified
    headers.update(route.headers)
    if route.status == 200 and _not_modified(route, request_headers):
        return _response(304, headers)
    body = b"" if method == "HEAD" else route.body
    if route.gzip and body and _accepts_gzip(request_headers.get("accept-encoding", "")):
        # mtime=0: the same body compresses to the same bytes every time
        body = gzip.compress(body, mtime=0)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    return _response(route.status, headers, body)


def _not_modified(route: FeedRoute, request_headers: Mapping[str, str]) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        if not route.etag:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or route.etag_value() in tags
    since = request_headers.get("if-modified-since")
    if since is None or route.last_modified is None:
        return False
    try:
        return parsedate_to_datetime(route.last_modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
