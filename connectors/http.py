"""The polite fetcher: one shared httpx client, bounded in every dimension.

Why it is written this way (httpx 0.28): its read timeout is per chunk, so a trickling
server needs a total deadline; it has no body-size limit and its decoders expand each chunk
whole, so bodies are read raw and decompressed here with a hard cap; more requests than its
pool allows raise PoolTimeout, so concurrency is bounded by semaphores, globally and per
origin. `fetch` never raises for network or server faults: it returns a `FetchResult`
whose `error` is one line a user can read.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from types import MappingProxyType
from typing import Final
from urllib.parse import urljoin, urlsplit

import httpx

__all__ = [
    "FeedFetcher",
    "FetchResult",
    "FetchSettings",
    "format_size",
    "origin_key",
    "parse_max_age",
    "parse_retry_after",
]

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS: Final = frozenset({301, 308})
# Only what we can decompress with a bound ourselves: no br/zstd (no bounded decoder installed).
ACCEPT_ENCODING: Final = "gzip, deflate"
ACCEPT: Final = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, text/html;q=0.5, */*;q=0.1"
)
_EMPTY_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})
_MAX_AGE_RE: Final = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Every bound the fetcher enforces; the monitor sets them from its config (`monitor:`)."""

    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0
    # The whole fetch (all redirect hops and the body): a trickling server never trips the
    # per-chunk read timeout, so this is what stops it.
    total_timeout_s: float = 60.0
    max_body_bytes: int = 15 * 1024 * 1024  # applies to the decompressed size too
    max_redirects: int = 5
    max_concurrency: int = 50
    per_host_limit: int = 2


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch produced; `error` is None only when the server answered sensibly."""

    url: str
    final_url: str
    status: int | None
    body: bytes | None
    headers: Mapping[str, str]
    etag: str | None
    last_modified: str | None
    body_sha256: str | None
    permanent_redirect: bool
    retry_after_s: float | None
    max_age_s: float | None
    error: str | None
    elapsed_s: float  # wall time of the call, waiting for a free host slot included

    @property
    def not_modified(self) -> bool:
        """The server confirmed our validators: nothing to parse."""
        return self.status == 304

    @property
    def ok(self) -> bool:
        """A 2xx with a body (possibly empty: the parser says why that is useless)."""
        return (
            self.status is not None
            and 200 <= self.status < 300
            and self.body is not None
            and self.error is None
        )


class _FetchFailed(Exception):
    """Internal: a fault with a one-line message, turned into `FetchResult.error`."""


def format_size(n: int) -> str:
    """Human sizes for error text: '15 MiB', '512 KiB', '100 bytes'."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def _fmt_s(seconds: float) -> str:
    return f"{seconds:g}s"


def origin_key(url: str) -> str:
    """The per-host limit's key: scheme, host and port, as browsers count connections."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme.lower()}://{host}:{port}"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def parse_max_age(cache_control: str | None) -> float | None:
    """`Cache-Control: max-age=N` in seconds, else None."""
    if not cache_control:
        return None
    match = _MAX_AGE_RE.search(cache_control)
    return float(match.group(1)) if match else None


def _reason(status: int, reason_phrase: str) -> str:
    if reason_phrase:
        return reason_phrase
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _lower_headers(headers: httpx.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


class _CappedDecoder:
    """Decompresses gzip/deflate chunk by chunk, never producing more than `cap` bytes.

    `zlib.decompressobj().decompress(data, max_length)` is the bound: a 2 MB bomb cannot
    expand beyond cap + 1 bytes before we notice.
    """

    def __init__(self, encoding: str, cap: int) -> None:
        self._encoding = encoding
        self._cap = cap
        self._total = 0
        self._parts: list[bytes] = []
        self._first = True
        self._raw_deflate = False
        self._obj = self._new()

    def _new(self) -> zlib._Decompress:
        if self._encoding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" is meant to be zlib-wrapped, but many servers send raw deflate.
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def feed(self, chunk: bytes) -> None:
        data = chunk
        while data:
            try:
                out = self._obj.decompress(data, self._cap - self._total + 1)
            except zlib.error:
                if self._encoding == "deflate" and self._first and not self._raw_deflate:
                    self._raw_deflate = True
                    self._obj = self._new()
                    continue
                raise
            self._first = False
            self._total += len(out)
            if self._total > self._cap:
                raise _FetchFailed(
                    f"body over {format_size(self._cap)} cap (after {self._encoding} decompression)"
                )
            self._parts.append(out)
            if self._obj.eof:
                # Concatenated gzip members are legal; anything after is the next member.
                data = self._obj.unused_data
                if data and self._encoding == "gzip":
                    self._obj = self._new()
                    continue
                return
            data = self._obj.unconsumed_tail

    def finish(self) -> bytes:
        if self._encoding == "gzip" and not self._obj.eof:
            # A gzip stream ends with a trailer; without it the transfer was cut short.
            raise _FetchFailed("corrupt gzip body: truncated stream")
        tail = self._obj.flush()
        self._total += len(tail)
        if self._total > self._cap:
            raise _FetchFailed(
                f"body over {format_size(self._cap)} cap (after {self._encoding} decompression)"
            )
        self._parts.append(tail)
        return b"".join(self._parts)


class FeedFetcher:
    """Async context manager owning ONE shared httpx.AsyncClient and the concurrency gates.

    A global semaphore bounds requests in flight (so httpx's pool never times out on us) and
    one semaphore per origin bounds how hard any one publisher is hit.
    """

    def __init__(
        self,
        settings: FetchSettings = FetchSettings(),  # frozen: safe as a shared default
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport` replaces the network (httpx's seam): tests hand it
        `connectors.testing.FeedTransport` to serve a feed's bytes without a server."""
        self.settings = settings
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._global: asyncio.Semaphore | None = None
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> FeedFetcher:
        s = self.settings
        timeout = httpx.Timeout(
            connect=s.connect_timeout_s,
            read=s.read_timeout_s,
            write=s.read_timeout_s,
            pool=s.total_timeout_s,
        )
        limits = httpx.Limits(
            max_connections=s.max_concurrency,
            max_keepalive_connections=s.max_concurrency,
        )
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=limits,
            follow_redirects=False,  # followed in `fetch`, hop by hop, with loop detection
            transport=self._transport,
            headers={
                "User-Agent": s.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            # HTTPS_PROXY / NO_PROXY / SSL_CERT_FILE from the environment: monitors run behind
            # corporate proxies.
            trust_env=True,
        )
        self._global = asyncio.Semaphore(s.max_concurrency)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _host_slots(self, url: str) -> asyncio.Semaphore:
        key = origin_key(url)
        slots = self._hosts.get(key)
        if slots is None:
            slots = self._hosts[key] = asyncio.Semaphore(self.settings.per_host_limit)
        return slots

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Conditional GET of `url`, following redirects; returns faults as `error`."""
        if self._client is None or self._global is None:
            raise RuntimeError("use FeedFetcher as 'async with FeedFetcher() as fetcher'")
        started = time.monotonic()
        state = _FetchState(
            url=url,
            etag=etag,
            last_modified=last_modified,
            request_etag=etag,
            request_last_modified=last_modified,
        )
        try:
            await self._run(state)
        except _FetchFailed as exc:
            state.error = str(exc)
        except TimeoutError:
            state.error = (
                f"timed out after {_fmt_s(self.settings.total_timeout_s)} (total deadline)"
            )
            state.body = None
        except httpx.HTTPError as exc:
            state.error = self._describe_httpx(exc)
            state.body = None
        except (OSError, ValueError, zlib.error) as exc:
            state.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            state.body = None
        return state.result(time.monotonic() - started)

    def _describe_httpx(self, exc: httpx.HTTPError) -> str:
        s = self.settings
        if isinstance(exc, httpx.ConnectTimeout):
            return f"connect timed out after {_fmt_s(s.connect_timeout_s)}"
        if isinstance(exc, httpx.ReadTimeout):
            return f"read timed out after {_fmt_s(s.read_timeout_s)} without data"
        if isinstance(exc, httpx.WriteTimeout):
            return f"write timed out after {_fmt_s(s.read_timeout_s)}"
        if isinstance(exc, httpx.PoolTimeout):
            return "no free connection in the pool (too many concurrent fetches)"
        if isinstance(exc, httpx.ConnectError):
            return f"connection failed: {exc or 'refused'}".splitlines()[0]
        if isinstance(exc, httpx.RemoteProtocolError):
            return f"protocol error: {exc or 'server closed the connection'}".splitlines()[0]
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return f"unsupported URL: {exc}".splitlines()[0]
        text = str(exc) or type(exc).__name__
        return f"{type(exc).__name__}: {text}".splitlines()[0]

    async def _run(self, state: _FetchState) -> None:
        s = self.settings
        global_slots = self._global
        if global_slots is None:
            raise RuntimeError("FeedFetcher used outside 'async with'")
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        current = state.url
        seen = {current}
        hops: list[int] = []
        while True:
            # Host first, then the global slot: a fetch queued behind a busy host must not
            # hold one of the global slots other hosts could use meanwhile.
            async with self._host_slots(current), global_slots:
                if deadline is None:
                    # The deadline starts once we may talk to the server, not while queued.
                    deadline = loop.time() + s.total_timeout_s
                async with asyncio.timeout_at(deadline):
                    location = await self._one_hop(state, current)
            if location is None:
                state.permanent_redirect = bool(hops) and all(
                    h in PERMANENT_REDIRECTS for h in hops
                )
                return
            hops.append(state.status or 0)
            if len(hops) > s.max_redirects:
                raise _FetchFailed(f"too many redirects (more than {s.max_redirects})")
            if location in seen:
                raise _FetchFailed(f"redirect loop ({current} -> {location})")
            seen.add(location)
            current = location

    async def _one_hop(self, state: _FetchState, url: str) -> str | None:
        """One request; returns the next URL for a redirect, else None (state filled in)."""
        client = self._client
        if client is None:
            raise RuntimeError("FeedFetcher used outside 'async with'")
        headers: dict[str, str] = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        request = client.build_request("GET", url, headers=headers)
        response = await client.send(request, stream=True)
        try:
            state.final_url = str(response.url)
            state.status = response.status_code
            state.headers = _lower_headers(response.headers)
            state.retry_after_s = parse_retry_after(state.headers.get("retry-after"))
            state.max_age_s = parse_max_age(state.headers.get("cache-control"))
            status = response.status_code
            if status in REDIRECT_STATUSES:
                location = state.headers.get("location", "").strip()
                if not location:
                    raise _FetchFailed(f"HTTP {status} redirect without a Location header")
                target = urljoin(state.final_url, location)
                if urlsplit(target).scheme.lower() not in ("http", "https"):
                    raise _FetchFailed(f"redirect to an unsupported URL: {target}")
                return target
            if status == 304:
                state.etag = state.headers.get("etag", state.etag)
                state.last_modified = state.headers.get("last-modified", state.last_modified)
                return None
            state.etag = state.headers.get("etag")
            state.last_modified = state.headers.get("last-modified")
            if not 200 <= status < 300:
                raise _FetchFailed(
                    f"HTTP {status} {_reason(status, response.reason_phrase)}".rstrip()
                )
            state.body = await self._read_body(response)
            state.body_sha256 = hashlib.sha256(state.body).hexdigest()
            return None
        finally:
            await response.aclose()

    async def _read_body(self, response: httpx.Response) -> bytes:
        cap = self.settings.max_body_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > cap:
            raise _FetchFailed(
                f"body over {format_size(cap)} cap (Content-Length {format_size(int(declared))})"
            )
        encoding = response.headers.get("content-encoding", "").strip().lower()
        # Several codings are applied in order; we support one gzip/deflate layer.
        codings = [c.strip() for c in encoding.split(",") if c.strip() not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise _FetchFailed(f"unsupported Content-Encoding: {encoding}")
        decoder: _CappedDecoder | None = None
        if codings:
            decoder = _CappedDecoder("deflate" if codings[0] == "deflate" else "gzip", cap)
        parts: list[bytes] = []
        raw_total = 0
        async for chunk in response.aiter_raw():
            raw_total += len(chunk)
            if raw_total > cap:
                # The compressed stream alone already exceeds what we keep.
                raise _FetchFailed(f"body over {format_size(cap)} cap")
            if decoder is None:
                parts.append(chunk)
            else:
                try:
                    decoder.feed(chunk)
                except zlib.error as exc:
                    raise _FetchFailed(f"corrupt {encoding} body: {exc}") from exc
        if decoder is None:
            return b"".join(parts)
        try:
            return decoder.finish()
        except zlib.error as exc:
            raise _FetchFailed(f"corrupt {encoding} body: {exc}") from exc


@dataclass(slots=True)
class _FetchState:
    """Mutable scratch for one fetch, frozen into a FetchResult at the end."""

    url: str
    etag: str | None
    last_modified: str | None
    request_etag: str | None = None
    request_last_modified: str | None = None
    final_url: str = ""
    status: int | None = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY_HEADERS)
    body_sha256: str | None = None
    permanent_redirect: bool = False
    retry_after_s: float | None = None
    max_age_s: float | None = None
    error: str | None = None

    def result(self, elapsed_s: float) -> FetchResult:
        failed = self.error is not None
        body = None if failed else self.body
        return FetchResult(
            url=self.url,
            final_url=self.final_url or self.url,
            status=self.status,
            body=body,
            headers=MappingProxyType(dict(self.headers)),
            # A failed fetch proves nothing about the feed: hand back the validators we had.
            etag=self.request_etag if failed else self.etag,
            last_modified=self.request_last_modified if failed else self.last_modified,
            body_sha256=self.body_sha256 if body is not None else None,
            permanent_redirect=self.permanent_redirect and self.error is None,
            retry_after_s=self.retry_after_s,
            max_age_s=self.max_age_s,
            error=self.error,
            elapsed_s=elapsed_s,
        )
