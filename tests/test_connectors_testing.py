"""The shipped transport double, seen through the fetcher as a cycle sees it.

Each test fetches with `FeedFetcher(transport=FeedTransport(...))` and checks what the fetcher
reports (status, body, validators, errors) and what the double recorded being asked.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from connectors.http import FeedFetcher, FetchResult, FetchSettings
from connectors.testing import DEFAULT_LAST_MODIFIED, FeedTransport

URL = "https://feeds.example/world.xml"
RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>Lammy visits Beijing</title><guid>g1</guid></item></channel></rss>"
)
NEWER = RSS.replace(b"g1", b"g2")
DEFAULTS = FetchSettings()


def fetch(
    transport: FeedTransport,
    url: str = URL,
    settings: FetchSettings = DEFAULTS,
    **validators: str | None,
) -> FetchResult:
    async def go() -> FetchResult:
        async with FeedFetcher(settings, transport=transport) as fetcher:
            return await fetcher.fetch(url, **validators)

    return asyncio.run(go())


def test_a_feed_is_served_with_its_validators_and_304_on_a_matching_etag() -> None:
    feeds = FeedTransport({URL: RSS})

    first = fetch(feeds)
    again = fetch(feeds, etag=first.etag, last_modified=first.last_modified)

    assert (first.status, first.body, first.last_modified) == (200, RSS, DEFAULT_LAST_MODIFIED)
    assert first.etag is not None
    assert first.headers["content-type"].startswith("application/rss+xml")
    assert again.not_modified
    assert again.body is None
    assert feeds.hits(URL)[1].headers["if-none-match"] == first.etag
    assert [seen.status for seen in feeds.hits(URL)] == [200, 304]


def test_a_changed_body_gets_a_new_etag_and_is_served_in_full() -> None:
    feeds = FeedTransport({URL: RSS})
    first = fetch(feeds)

    feeds.update(URL, NEWER)
    second = fetch(feeds, etag=first.etag)

    assert (second.status, second.body) == (200, NEWER)
    assert second.etag != first.etag


def test_last_modified_alone_answers_304_for_a_date_not_older() -> None:
    feeds = FeedTransport()
    feeds.set(URL, RSS, etag=False)

    first = fetch(feeds)
    same = fetch(feeds, last_modified=first.last_modified)
    older = fetch(feeds, last_modified="Thu, 17 Oct 2024 09:00:00 GMT")

    assert first.etag is None
    assert same.status == 304
    assert (older.status, older.body) == (200, RSS)


def test_if_none_match_decides_over_if_modified_since() -> None:
    """RFC 9110: a stale ETag means a full answer even with a current date."""
    feeds = FeedTransport({URL: RSS})

    result = fetch(feeds, etag='"stale"', last_modified=DEFAULT_LAST_MODIFIED)

    assert (result.status, result.body) == (200, RSS)


def test_gzip_only_when_asked_and_the_fetcher_decodes_it() -> None:
    feeds = FeedTransport()
    feeds.set(URL, RSS, gzip=True)

    result = fetch(feeds)

    assert result.headers["content-encoding"] == "gzip"
    assert result.body == RSS

    async def without_gzip() -> httpx.Response:
        async with httpx.AsyncClient(transport=feeds) as client:
            return await client.get(URL, headers={"Accept-Encoding": "identity"})

    plain = asyncio.run(without_gzip())
    assert "content-encoding" not in plain.headers
    assert plain.content == RSS


@pytest.mark.parametrize("status", [301, 308])
def test_a_permanent_redirect_is_followed_and_reported(status: int) -> None:
    moved = "https://feeds.example/new/world.xml"
    feeds = FeedTransport({moved: RSS})
    feeds.redirect(URL, "/new/world.xml", status=status)

    result = fetch(feeds)

    assert (result.status, result.body, result.final_url) == (200, RSS, moved)
    assert result.permanent_redirect
    assert [seen.url for seen in feeds.requests] == [URL, moved]


def test_a_temporary_redirect_is_followed_but_not_permanent() -> None:
    moved = "https://mirror.example/world.xml"
    feeds = FeedTransport({moved: RSS})
    feeds.redirect(URL, moved, status=302)

    result = fetch(feeds)

    assert result.body == RSS
    assert not result.permanent_redirect


def test_a_redirect_loop_is_an_error_not_a_hang() -> None:
    other = "https://feeds.example/other.xml"
    feeds = FeedTransport()
    feeds.redirect(URL, other)
    feeds.redirect(other, URL)

    result = fetch(feeds)

    assert result.error == f"redirect loop ({other} -> {URL})"


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, "HTTP 404 Not Found"), (410, "HTTP 410 Gone"), (500, "HTTP 500 Internal Server Error")],
)
def test_error_statuses_are_one_line_errors(status: int, error: str) -> None:
    feeds = FeedTransport()
    feeds.set(URL, b"oops", status=status)

    result = fetch(feeds)

    assert (result.status, result.error, result.body) == (status, error, None)


def test_an_unknown_url_answers_404() -> None:
    result = fetch(FeedTransport({URL: RSS}), "https://feeds.example/missing.xml")

    assert (result.status, result.error) == (404, "HTTP 404 Not Found")


def test_429_carries_its_retry_after() -> None:
    feeds = FeedTransport()
    feeds.set(URL, status=429, headers={"Retry-After": "120"})

    result = fetch(feeds)

    assert (result.status, result.retry_after_s) == (429, 120.0)
    assert result.error == "HTTP 429 Too Many Requests"


def test_an_html_page_is_served_as_html() -> None:
    feeds = FeedTransport()
    feeds.html(URL, b"<!doctype html><title>Home</title>")

    result = fetch(feeds)

    assert result.ok
    assert result.headers["content-type"].startswith("text/html")


def test_a_refused_connection_is_the_fetchers_one_line_error() -> None:
    feeds = FeedTransport()
    feeds.fail(URL)

    result = fetch(feeds)

    assert result.error == "connection failed: [Errno 111] Connection refused"
    assert feeds.hits(URL)[0].status is None


def test_requests_record_method_url_and_headers() -> None:
    feeds = FeedTransport({URL: RSS})
    settings = FetchSettings(user_agent="desk-monitor/2 (+https://desk.example/contact)")

    fetch(feeds, f"{URL}?edition=uk", settings)

    (seen,) = feeds.requests
    assert (seen.method, seen.url, seen.status) == ("GET", f"{URL}?edition=uk", 200)
    assert seen.headers["user-agent"] == "desk-monitor/2 (+https://desk.example/contact)"
    assert seen.headers["accept-encoding"] == "gzip, deflate"


def test_update_of_an_unknown_url_says_which() -> None:
    with pytest.raises(KeyError, match=r"no route for https://feeds\.example/world\.xml"):
        FeedTransport().update(URL, RSS)


def test_a_removed_feed_answers_404() -> None:
    feeds = FeedTransport({URL: RSS})
    feeds.remove(URL)

    assert fetch(feeds).status == 404


def test_last_modified_moves_with_an_update_when_given() -> None:
    later = datetime(2024, 10, 19, 9, 0, tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    feeds = FeedTransport({URL: RSS})
    first = fetch(feeds)

    feeds.update(URL, NEWER, last_modified=later)
    second = fetch(feeds, last_modified=first.last_modified)

    assert (second.status, second.last_modified, second.body) == (200, later, NEWER)
