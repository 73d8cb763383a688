"""Feed discovery from an HTML page's <link rel="alternate"> elements, served locally."""

from __future__ import annotations

import asyncio

from connectors.discover import find_feed_links
from connectors.http import FeedFetcher
from tests.support.hostile_server import HostileServer, respond

PAGE = b"""<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>News</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.xml">
<link rel="alternate" type="application/atom+xml" href="https://cdn.example/atom.xml">
<LINK REL="Alternate" TYPE="application/feed+json; charset=utf-8" HREF="feed.json">
<link rel="alternate" type="application/rss+xml" href="/feed.xml">
<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
<link rel="alternate" type="application/json" href="/oembed.json">
<link rel="alternate" type="application/json" title="JSON Feed" href="/old-feed.json">
<link rel="alternate" type="application/rss+xml" href="javascript:void(0)">
<link rel="alternate" type="application/rss+xml">
</head><body><p>Hello</p></body></html>"""


def test_finds_feed_links_resolved_in_page_order() -> None:
    assert find_feed_links(PAGE, base_url="https://news.example/section/page.html") == [
        "https://news.example/feed.xml",
        "https://cdn.example/atom.xml",
        "https://news.example/section/feed.json",
        "https://news.example/old-feed.json",
    ]


def test_base_element_changes_resolution() -> None:
    page = (
        b'<html><head><base href="https://static.example/x/">'
        b'<link rel="alternate" type="application/atom+xml" href="atom"/></head></html>'
    )
    assert find_feed_links(page, base_url="https://news.example/") == [
        "https://static.example/x/atom"
    ]


def test_page_without_feeds_and_broken_html() -> None:
    assert (
        find_feed_links(b"<html><head><title>x</title></head></html>", base_url="http://a/") == []
    )
    assert find_feed_links(b"<<<>>> not html \xff\xfe", base_url="http://a/") == []


def test_latin1_page() -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        '<link rel="alternate" type="application/rss+xml" title="Café" href="/café.xml">'
        "</head></html>"
    ).encode("latin-1")
    assert find_feed_links(page, base_url="http://a.example/") == ["http://a.example/café.xml"]


def test_discovery_from_a_served_page() -> None:
    with HostileServer() as server:
        url = server.route("/", respond(200, PAGE, {"Content-Type": "text/html"}))

        async def go() -> list[str]:
            async with FeedFetcher() as fetcher:
                result = await fetcher.fetch(url)
            assert result.body is not None
            return find_feed_links(result.body, base_url=result.final_url)

        assert asyncio.run(go())[0] == server.url("/feed.xml")
