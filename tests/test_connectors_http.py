"""The polite fetcher against real misbehaving servers on 127.0.0.1.

Each test states what a user would see: the one-line error, the status, the body. Bounds are
shrunk through FetchSettings so the hostile cases finish in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import pytest

from connectors.http import (
    FeedFetcher,
    FetchResult,
    FetchSettings,
    format_size,
    origin_key,
    parse_max_age,
    parse_retry_after,
)
from tests.support.hostile_server import (
    HostileServer,
    conditional,
    gzip_bomb,
    lazy_body,
    never_answer,
    redirect,
    respond,
    stream,
    trickle,
)

T = TypeVar("T")
MiB = 1024 * 1024
GiB = 1024 * MiB
RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>Lammy visits Beijing</title><guid>g1</guid></item></channel></rss>"
)
FAST = FetchSettings(
    connect_timeout_s=2.0,
    read_timeout_s=2.0,
    total_timeout_s=3.0,
    max_body_bytes=1 * MiB,
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def fetch_one(url: str, settings: FetchSettings = FAST, **kwargs: str | None) -> FetchResult:
    async with FeedFetcher(settings) as fetcher:
        return await fetcher.fetch(url, **kwargs)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


# --- the ordinary path ------------------------------------------------------------------------


def test_200_then_304_with_etag(server: HostileServer) -> None:
    url = server.route("/feed", conditional(RSS, etag='"v1"'))
    first = run(fetch_one(url))
    assert first.ok
    assert first.status == 200
    assert first.error is None
    assert first.body == RSS
    assert first.etag == '"v1"'
    assert first.body_sha256 is not None
    assert len(first.body_sha256) == 64
    second = run(fetch_one(url, etag=first.etag))
    assert second.not_modified
    assert not second.ok
    assert second.body is None
    assert second.error is None
    assert second.etag == '"v1"'
    assert server.requests[1].headers["if-none-match"] == '"v1"'


def test_last_modified_only_server(server: HostileServer) -> None:
    stamp = "Fri, 18 Oct 2024 10:00:00 GMT"
    url = server.route("/feed", conditional(RSS, last_modified=stamp))
    first = run(fetch_one(url))
    assert first.last_modified == stamp
    assert first.etag is None
    second = run(fetch_one(url, last_modified=first.last_modified))
    assert second.not_modified
    assert second.last_modified == stamp
    assert server.requests[1].headers["if-modified-since"] == stamp


def test_sends_user_agent_and_only_bounded_encodings(server: HostileServer) -> None:
    url = server.route("/feed", respond(200, RSS))
    run(fetch_one(url, FetchSettings(user_agent="newswatch/9 (+https://example.org/contact)")))
    headers = server.requests[0].headers
    assert headers["user-agent"] == "newswatch/9 (+https://example.org/contact)"
    assert headers["accept-encoding"] == "gzip, deflate"


def test_same_body_same_hash_for_servers_without_validators(server: HostileServer) -> None:
    url = server.route("/feed", respond(200, RSS))
    first, second = run(fetch_one(url)), run(fetch_one(url))
    assert first.body_sha256 == second.body_sha256 is not None


def test_cache_control_max_age(server: HostileServer) -> None:
    url = server.route("/feed", respond(200, RSS, {"Cache-Control": "public, max-age=900"}))
    assert run(fetch_one(url)).max_age_s == 900.0


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_compressed_bodies_are_decoded(server: HostileServer, encoding: str) -> None:
    if encoding == "gzip":
        data, header = gzip.compress(RSS), "gzip"
    elif encoding == "deflate":
        data, header = zlib.compress(RSS), "deflate"
    else:
        co = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data, header = co.compress(RSS) + co.flush(), "deflate"
    url = server.route("/feed", respond(200, data, {"Content-Encoding": header}))
    result = run(fetch_one(url))
    assert result.error is None
    assert result.body == RSS


def test_empty_200_is_fetched_as_an_empty_body(server: HostileServer) -> None:
    url = server.route("/empty", respond(200, b""))
    result = run(fetch_one(url))
    assert result.ok
    assert result.body == b""


# --- hostile servers --------------------------------------------------------------------------


def test_trickle_forever_hits_the_total_deadline(server: HostileServer) -> None:
    url = server.route("/trickle", trickle(interval_s=0.02))
    settings = FetchSettings(read_timeout_s=0.5, total_timeout_s=1.0)
    result = run(fetch_one(url, settings))
    assert result.error == "timed out after 1s (total deadline)"
    assert result.body is None
    assert not result.ok
    assert result.status == 200  # the head arrived; the body never finished


def test_trickled_headers_hit_the_total_deadline(server: HostileServer) -> None:
    url = server.route("/slowhead", trickle(interval_s=0.02, headers_first=False))
    result = run(fetch_one(url, FetchSettings(read_timeout_s=0.5, total_timeout_s=1.0)))
    assert result.error == "timed out after 1s (total deadline)"
    assert result.status is None


def test_accept_and_never_answer_times_out_reading(server: HostileServer) -> None:
    url = server.route("/silent", never_answer())
    result = run(fetch_one(url, FetchSettings(read_timeout_s=0.3, total_timeout_s=5.0)))
    assert result.status is None
    assert result.body is None
    assert result.error == "read timed out after 0.3s without data"


def test_never_answer_total_deadline_shorter_than_read_timeout(server: HostileServer) -> None:
    url = server.route("/silent", never_answer())
    result = run(fetch_one(url, FetchSettings(read_timeout_s=30, total_timeout_s=0.4)))
    assert result.error == "timed out after 0.4s (total deadline)"


def test_one_gigabyte_declared_is_refused_before_reading(server: HostileServer) -> None:
    url = server.route(
        "/huge",
        stream(200, {"Content-Length": str(GiB)}, lazy_body(GiB)),
    )
    result = run(fetch_one(url))
    assert result.error == "body over 1 MiB cap (Content-Length 1 GiB)"
    assert result.status == 200
    assert result.body is None


def test_one_gigabyte_streamed_without_length_is_cut_at_the_default_cap(
    server: HostileServer,
) -> None:
    url = server.route("/huge", stream(200, {"Content-Type": "text/xml"}, lazy_body(GiB)))
    settings = FetchSettings(total_timeout_s=20.0)  # the default 15 MiB cap
    tracemalloc.start()
    try:
        result = run(fetch_one(url, settings))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error == "body over 15 MiB cap"
    assert result.body is None
    assert peak < 64 * MiB  # a little over the cap, nowhere near the gigabyte


def test_gzip_bomb_is_capped_while_streaming(server: HostileServer) -> None:
    url = server.route(
        "/bomb",
        stream(200, {"Content-Encoding": "gzip"}, gzip_bomb(GiB)),
    )
    tracemalloc.start()
    try:
        result = run(fetch_one(url))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error == "body over 1 MiB cap (after gzip decompression)"
    assert result.body is None
    assert peak < 16 * MiB


def test_corrupt_gzip_is_reported(server: HostileServer) -> None:
    url = server.route(
        "/bad", respond(200, b"\x1f\x8b\x08\x00garbage!", {"Content-Encoding": "gzip"})
    )
    result = run(fetch_one(url))
    assert result.error == "corrupt gzip body: truncated stream"


def test_unsupported_content_encoding_is_reported(server: HostileServer) -> None:
    url = server.route("/br", respond(200, b"\x00\x01", {"Content-Encoding": "br"}))
    assert run(fetch_one(url)).error == "unsupported Content-Encoding: br"


def test_redirect_loop(server: HostileServer) -> None:
    a = server.route("/a", redirect(302, "/b"))
    b = server.route("/b", redirect(302, "/a"))
    result = run(fetch_one(a))
    assert result.error == f"redirect loop ({b} -> {a})"
    assert result.body is None
    assert not result.permanent_redirect


def test_too_many_redirects(server: HostileServer) -> None:
    for i in range(10):
        server.route(f"/r{i}", redirect(307, f"/r{i + 1}"))
    result = run(fetch_one(server.url("/r0"), FetchSettings(max_redirects=3)))
    assert result.error == "too many redirects (more than 3)"
    assert len(server.requests) == 4


def test_redirect_without_location(server: HostileServer) -> None:
    url = server.route("/r", respond(302, b""))
    assert run(fetch_one(url)).error == "HTTP 302 redirect without a Location header"


@pytest.mark.parametrize("statuses", [(301,), (308,), (301, 308)])
def test_permanent_redirects_report_the_new_url(
    server: HostileServer, statuses: tuple[int, ...]
) -> None:
    for i, status in enumerate(statuses):
        server.route(f"/old{i}", redirect(status, f"/old{i + 1}"))
    final = server.route(f"/old{len(statuses)}", respond(200, RSS))
    result = run(fetch_one(server.url("/old0")))
    assert result.ok
    assert result.permanent_redirect
    assert result.final_url == final
    assert result.url == server.url("/old0")


def test_a_temporary_hop_makes_the_redirect_temporary(server: HostileServer) -> None:
    server.route("/old", redirect(301, "/temporary"))
    server.route("/temporary", redirect(302, "/new"))
    server.route("/new", respond(200, RSS))
    result = run(fetch_one(server.url("/old")))
    assert result.ok
    assert not result.permanent_redirect


def test_429_with_retry_after_seconds(server: HostileServer) -> None:
    url = server.route("/busy", respond(429, b"slow down", {"Retry-After": "120"}))
    result = run(fetch_one(url))
    assert result.status == 429
    assert result.body is None
    assert result.error == "HTTP 429 Too Many Requests"
    assert result.retry_after_s == 120.0


def test_503_with_retry_after_http_date(server: HostileServer) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    url = server.route("/down", respond(503, b"", {"Retry-After": when}))
    result = run(fetch_one(url))
    assert result.error == "HTTP 503 Service Unavailable"
    assert result.retry_after_s is not None
    assert 3500 <= result.retry_after_s <= 3600


def test_500(server: HostileServer) -> None:
    url = server.route("/boom", respond(500, b"<h1>oops</h1>"))
    result = run(fetch_one(url))
    assert (result.status, result.body, result.error) == (
        500,
        None,
        "HTTP 500 Internal Server Error",
    )


def test_410_gone_keeps_its_status(server: HostileServer) -> None:
    url = server.route("/gone", respond(410, b""))
    result = run(fetch_one(url))
    assert result.status == 410
    assert result.error == "HTTP 410 Gone"


def test_failed_fetch_hands_back_the_validators_it_was_given(server: HostileServer) -> None:
    url = server.route("/boom", respond(500, b"", {"ETag": '"other"'}))
    result = run(fetch_one(url, etag='"mine"', last_modified="yesterday"))
    assert (result.etag, result.last_modified) == ('"mine"', "yesterday")


def test_connection_refused_never_raises() -> None:
    with HostileServer() as srv:
        url = srv.url("/feed")
    result = run(fetch_one(url))  # the server is gone: nothing listens on that port
    assert result.status is None
    assert result.body is None
    assert result.error is not None
    assert result.error.startswith("connection failed")


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "not a url", "http://"])
def test_bad_urls_never_raise(url: str) -> None:
    result = run(fetch_one(url))
    assert result.error is not None
    assert result.status is None


# --- politeness: concurrency ------------------------------------------------------------------


async def _many(fetcher: FeedFetcher, urls: list[str]) -> list[FetchResult]:
    return await asyncio.gather(*(fetcher.fetch(u) for u in urls))


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_per_host_limit_is_never_exceeded(server: HostileServer, limit: int) -> None:
    urls = [server.route(f"/f{i}", respond(200, RSS, delay_s=0.05)) for i in range(12)]

    async def go() -> list[FetchResult]:
        async with FeedFetcher(FetchSettings(per_host_limit=limit)) as fetcher:
            return await _many(fetcher, urls)

    assert all(r.ok for r in run(go()))
    assert server.max_in_flight == limit  # as the publisher saw it: reached, never exceeded


def test_per_host_limit_does_not_serialise_other_hosts() -> None:
    with HostileServer() as one, HostileServer() as two:
        urls = [one.route(f"/f{i}", respond(200, RSS, delay_s=0.05)) for i in range(6)]
        urls += [two.route(f"/f{i}", respond(200, RSS, delay_s=0.05)) for i in range(6)]

        async def go() -> list[FetchResult]:
            async with FeedFetcher(FetchSettings(per_host_limit=2, max_concurrency=50)) as f:
                return await _many(f, urls)

        results = run(go())
        assert all(r.ok for r in results)
        assert one.max_in_flight == 2
        assert two.max_in_flight == 2


def test_global_limit_bounds_everything() -> None:
    with HostileServer() as one, HostileServer() as two:
        urls = [one.route(f"/f{i}", respond(200, RSS, delay_s=0.05)) for i in range(4)]
        urls += [two.route(f"/f{i}", respond(200, RSS, delay_s=0.05)) for i in range(4)]

        async def go() -> list[FetchResult]:
            async with FeedFetcher(FetchSettings(per_host_limit=2, max_concurrency=1)) as f:
                return await _many(f, urls)

        assert all(r.ok for r in run(go()))
        assert one.max_in_flight + two.max_in_flight <= 2  # at most one at a time on each


def test_a_busy_host_does_not_starve_other_hosts() -> None:
    with HostileServer() as busy, HostileServer() as quiet:
        urls = [busy.route(f"/f{i}", respond(200, RSS, delay_s=0.03)) for i in range(8)]
        urls.append(quiet.route("/only", respond(200, RSS)))
        finished: list[str] = []

        async def go() -> None:
            settings = FetchSettings(per_host_limit=1, max_concurrency=2)
            async with FeedFetcher(settings) as fetcher:

                async def one(url: str) -> None:
                    await fetcher.fetch(url)
                    finished.append(url)

                await asyncio.gather(*(one(u) for u in urls))

        run(go())
        # Queued behind the busy host, it would finish last; it gets the free global slot.
        assert finished.index(quiet.url("/only")) <= 1


def test_one_hostile_feed_does_not_stop_the_others(server: HostileServer) -> None:
    good = [server.route(f"/ok{i}", respond(200, RSS)) for i in range(3)]
    bad = [
        server.route("/trickle", trickle(interval_s=0.02)),
        server.route("/bomb", stream(200, {"Content-Encoding": "gzip"}, gzip_bomb(GiB))),
        server.route("/boom", respond(500)),
    ]

    async def go() -> list[FetchResult]:
        settings = FetchSettings(total_timeout_s=1.0, max_body_bytes=MiB, per_host_limit=6)
        async with FeedFetcher(settings) as fetcher:
            return await _many(fetcher, bad + good)

    results = run(go())
    assert [r.error is None for r in results] == [False, False, False, True, True, True]
    assert all(r.body == RSS for r in results[3:])


def test_fetch_outside_context_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        run(FeedFetcher().fetch("http://127.0.0.1:1/"))


# --- helpers ----------------------------------------------------------------------------------


def test_retry_after_parsing() -> None:
    now = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30.0
    assert parse_retry_after("Fri, 18 Oct 2024 12:05:00 GMT", now=now) == 300.0
    assert parse_retry_after("Fri, 18 Oct 2024 11:00:00 GMT", now=now) == 0.0  # past: now
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None) is None


def test_max_age_parsing() -> None:
    assert parse_max_age("max-age=60, public") == 60.0
    assert parse_max_age('public, s-maxage=5, max-age="30"') == 30.0
    assert parse_max_age("no-cache") is None
    assert parse_max_age(None) is None


def test_origin_key_and_sizes() -> None:
    assert origin_key("http://Example.org/a") == origin_key("http://example.org:80/b")
    assert origin_key("https://example.org/") != origin_key("http://example.org/")
    assert format_size(15 * MiB) == "15 MiB"
    assert format_size(GiB) == "1 GiB"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(10) == "10 bytes"
