"""Parsing what real (and hostile) servers send: fetched from 127.0.0.1, then parsed.

Each test asserts what the user ends up with: the entries, or the one-line reason there are
none, and for the attacks, that nothing leaked and memory stayed small.
"""

from __future__ import annotations

import asyncio
import pickle
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import feedparser.api
import pytest

from connectors.feed import (
    FeedParseError,
    NotAFeed,
    ParsedFeed,
    ParserCrashed,
    ParseTimeout,
    parse_feed,
)
from connectors.http import FeedFetcher, FetchResult, FetchSettings
from tests.support.hostile_server import HostileServer, respond, rss_document

RSS_TYPE = {"Content-Type": "application/rss+xml"}
MiB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


def fetch(url: str) -> FetchResult:
    async def go() -> FetchResult:
        async with FeedFetcher(FetchSettings(total_timeout_s=10.0)) as fetcher:
            return await fetcher.fetch(url)

    result = asyncio.run(go())
    assert result.ok, result.error
    return result


def served(server: HostileServer, body: bytes, headers: dict[str, str] | None = None) -> ParsedFeed:
    """Serve `body`, fetch it like the monitor does, and parse what came back."""
    url = server.route("/feed", respond(200, body, headers if headers is not None else RSS_TYPE))
    result = fetch(url)
    assert result.body is not None
    return parse_feed(result.body, url=result.final_url, headers=result.headers)


def not_a_feed(
    server: HostileServer, body: bytes, headers: dict[str, str] | None = None
) -> NotAFeed:
    with pytest.raises(NotAFeed) as caught:
        served(server, body, headers)
    return caught.value


# --- formats ----------------------------------------------------------------------------------

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>World desk</title><link>https://news.example/</link><ttl>45</ttl>
  <item>
    <title>UK Foreign Secretary visits Beijing</title>
    <link>/2024/10/18/lammy-beijing</link>
    <guid isPermaLink="false">urn:news:1</guid>
    <pubDate>Fri, 18 Oct 2024 11:30:00 +0100</pubDate>
    <dc:creator>Desk</dc:creator>
    <description>Lammy &lt;b&gt;met&lt;/b&gt; Wang Yi.</description>
    <content:encoded><![CDATA[<p>David Lammy met Wang Yi in Beijing.</p>]]></content:encoded>
  </item>
  <item><title>No date</title><guid isPermaLink="false">urn:news:2</guid></item>
</channel>
</rss>"""


def test_rss20(server: HostileServer) -> None:
    parsed = served(server, RSS)
    assert (parsed.title, parsed.version, parsed.ttl_minutes, parsed.warning) == (
        "World desk",
        "rss20",
        45,
        None,
    )
    first, second = parsed.entries
    assert first.title == "UK Foreign Secretary visits Beijing"
    assert first.guid == "urn:news:1"
    assert first.link == server.url("/2024/10/18/lammy-beijing")  # resolved against the feed
    assert first.published == datetime(2024, 10, 18, 10, 30, tzinfo=UTC)
    assert first.author == "Desk"
    assert first.source_title == "World desk"
    assert first.feed_url == server.url("/feed")
    assert first.summary_html == "Lammy <b>met</b> Wang Yi."
    assert first.content_html == "<p>David Lammy met Wang Yi in Beijing.</p>"
    assert second.published is None


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom desk</title><id>urn:feed</id><updated>2024-10-18T12:00:00Z</updated>
  <entry>
    <title type="html">Visit &amp;amp; talks</title>
    <id>urn:uuid:1</id>
    <link rel="alternate" href="https://news.example/a"/>
    <updated>2024-10-18T09:15:00-04:00</updated>
    <author><name>Reporter</name></author>
    <summary>Short</summary>
    <content type="html">&lt;p&gt;Long&lt;/p&gt;</content>
  </entry>
</feed>"""


def test_atom_falls_back_to_updated_for_the_date(server: HostileServer) -> None:
    parsed = served(server, ATOM, {"Content-Type": "application/atom+xml"})
    assert parsed.version == "atom10"
    (entry,) = parsed.entries
    assert entry.title == "Visit &amp; talks"  # an HTML title stays HTML, as RawEntry says
    assert entry.guid == "urn:uuid:1"
    assert entry.link == "https://news.example/a"
    assert entry.published == datetime(2024, 10, 18, 13, 15, tzinfo=UTC)
    assert entry.author == "Reporter"
    assert entry.content_html == "<p>Long</p>"


def test_rss10_rdf(server: HostileServer) -> None:
    rdf = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
  <channel rdf:about="https://news.example/"><title>RDF desk</title></channel>
  <item rdf:about="https://news.example/1"><title>One</title><link>https://news.example/1</link></item>
</rdf:RDF>"""
    parsed = served(server, rdf, {"Content-Type": "application/rdf+xml"})
    assert parsed.version == "rss10"
    assert [e.title for e in parsed.entries] == ["One"]


def test_source_title_falls_back_to_the_host(server: HostileServer) -> None:
    parsed = served(
        server, b'<rss version="2.0"><channel><item><title>x</title></item></channel></rss>'
    )
    assert parsed.title == ""
    assert parsed.entries[0].source_title == "127.0.0.1"


JSON_FEED = b"""{
  "version": "https://jsonfeed.org/version/1.1",
  "title": "JSON desk",
  "home_page_url": "https://news.example/",
  "items": [
    {"id": "1", "url": "/2024/visit", "title": "Lammy in Beijing",
     "content_html": "<p>Met Wang Yi</p>", "summary": "Talks & trade",
     "date_published": "2024-10-18T10:00:00+01:00", "authors": [{"name": "Desk"}]},
    {"id": 2, "content_text": "plain <text>", "date_modified": "2024-10-18T08:00:00Z"},
    {"id": "3", "date_published": "not a date"},
    "junk"
  ]
}"""


def test_json_feed(server: HostileServer) -> None:
    parsed = served(server, JSON_FEED, {"Content-Type": "application/feed+json"})
    assert (parsed.title, parsed.version) == ("JSON desk", "json11")
    first, second, third = parsed.entries
    assert first.link == "https://news.example/2024/visit"
    assert first.content_html == "<p>Met Wang Yi</p>"
    assert first.summary_html == "Talks &amp; trade"
    assert first.published == datetime(2024, 10, 18, 9, 0, tzinfo=UTC)
    assert first.author == "Desk"
    assert second.guid == "2"
    assert second.content_html == "plain &lt;text&gt;"
    assert second.published == datetime(2024, 10, 18, 8, 0, tzinfo=UTC)
    assert third.published is None


def test_json_feed_version_1_with_single_author() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1", "title": "Old", '
        b'"items": [{"id": "a", "title": "t", "author": {"name": "Solo"}}]}'
    )
    parsed = parse_feed(body, url="https://news.example/feed.json")
    assert parsed.version == "json1"
    assert parsed.entries[0].author == "Solo"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"title": "x", "items": []}', "not a feed (JSON without a jsonfeed.org version)"),
        (b"{not json", "not a feed (invalid JSON: "),
        (
            b'{"version": "https://jsonfeed.org/version/1.1"}',
            "not a feed (JSON Feed without an items list)",
        ),
    ],
)
def test_json_that_is_not_a_json_feed(body: bytes, message: str) -> None:
    with pytest.raises(NotAFeed, match=r"^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_feed(body, url="https://news.example/x", headers={"content-type": "application/json"})


# --- broken and hostile documents ------------------------------------------------------------


def test_html_page_instead_of_a_feed(server: HostileServer) -> None:
    page = b"""<!DOCTYPE html>
<html><head><title>News</title>
<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head>
<body><p>Welcome</p></body></html>"""
    failure = not_a_feed(server, page, {"Content-Type": "text/html"})
    feed = server.url("/feed.xml")
    assert (failure.html, failure.links) == (True, (feed,))
    assert str(failure) == f"not a feed (an HTML page); it links to a feed at {feed}"


def test_html_page_without_feed_links(server: HostileServer) -> None:
    failure = not_a_feed(server, b"<!doctype html><html><body>Hi</body></html>")
    assert (failure.html, failure.links) == (True, ())
    assert str(failure) == "not a feed (an HTML page)"


@pytest.mark.parametrize("body", [b"", b"   \r\n\t ", b"\xef\xbb\xbf"])
def test_empty_200(server: HostileServer, body: bytes) -> None:
    failure = not_a_feed(server, body)
    assert (str(failure), failure.html, failure.links) == ("empty document", False, ())


def test_plain_text_is_not_a_feed(server: HostileServer) -> None:
    failure = not_a_feed(server, b"hello, world", {"Content-Type": "text/plain"})
    assert str(failure).startswith("no entries and no feed version: ")
    assert not failure.html


@pytest.mark.parametrize(
    "failure",
    [
        FeedParseError("parser failed: TypeError: odd input"),
        NotAFeed("not a feed (an HTML page)", html=True, links=("https://a.example/rss",)),
        NotAFeed("empty document"),
        ParseTimeout(0.5),
        ParserCrashed(),
    ],
    ids=repr,
)
def test_parse_failures_survive_pickling(failure: FeedParseError) -> None:
    """They cross the process pool: type, message and fields must arrive intact."""
    copy = pickle.loads(pickle.dumps(failure))  # noqa: S301 - our own object
    assert type(copy) is type(failure)
    assert str(copy) == str(failure)
    assert vars(copy) == vars(failure)


CAFE = "Café “Lammy” visit – Beijing"


def test_windows_1252_feed(server: HostileServer) -> None:
    body = (
        '<?xml version="1.0" encoding="windows-1252"?><rss version="2.0"><channel>'
        f"<title>{CAFE}</title><item><title>{CAFE}</title><guid>1</guid></item>"
        "</channel></rss>"
    ).encode("cp1252")
    parsed = served(server, body)
    assert parsed.title == CAFE
    assert parsed.entries[0].title == CAFE
    assert parsed.warning is None


def test_wrong_declared_charset_is_recovered_with_a_warning(server: HostileServer) -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{CAFE}</title><item><title>{CAFE}</title><guid>1</guid></item>"
        "</channel></rss>"
    ).encode("cp1252")  # says UTF-8 (in the header too), is windows-1252
    parsed = served(server, body, {"Content-Type": "application/rss+xml; charset=utf-8"})
    assert parsed.entries[0].title == CAFE
    assert parsed.warning == "document declared as utf-8, but parsed as windows-1252"


def test_malformed_xml_keeps_entries_and_the_warning(server: HostileServer) -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>M & S</title>'
        b"<item><title>Trade & talks</title><link>https://news.example/1</link></item>"
        b"<item><title>Second</title><link>https://news.example/2</link></item>"
        b"</channel>"  # and no </rss>
    )
    parsed = served(server, body)
    # a RawEntry's text is HTML: the plain-text title comes escaped
    assert [e.title for e in parsed.entries] == ["Trade &amp; talks", "Second"]
    assert parsed.warning == "line 1, column 76: not well-formed (invalid token)"


def _lol_entities(levels: int, *, one_line: bool) -> str:
    sep = "" if one_line else "\n"
    decls = ['<!ENTITY lol0 "lol">']
    decls += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)]
    return sep.join(decls)


@pytest.mark.parametrize("one_line", [True, False], ids=["one-line", "multi-line"])
def test_billion_laughs_is_not_expanded(server: HostileServer, one_line: bool) -> None:
    sep = "" if one_line else "\n"
    body = (
        f'<?xml version="1.0"?>{sep}<!DOCTYPE rss [{sep}{_lol_entities(9, one_line=one_line)}'
        f"{sep}]>{sep}"
        '<rss version="2.0"><channel><title>Bomb</title>'
        "<item><title>&lol9;</title><guid isPermaLink='false'>b1</guid></item>"
        "<item><title>after</title><guid isPermaLink='false'>b2</guid></item></channel></rss>"
        # padding raises expat's amplification allowance: it must not matter
        + "<!-- "
        + "x" * 200_000
        + " -->"
    ).encode()
    tracemalloc.start()
    try:
        parsed = served(server, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [e.guid for e in parsed.entries] == ["b1", "b2"]
    assert all(len(e.title) < 100 for e in parsed.entries)
    assert parsed.warning is not None
    assert "undefined entity" in parsed.warning
    assert peak < 16 * MiB  # unprotected, expat expands to its limit: 50+ MB for this


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{path}">]>',
        '<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "file://{path}">\n]>',
        '<!DOCTYPE rss [<!ENTITY % p SYSTEM "file://{path}"> %p;]>',
        '<!DOCTYPE rss SYSTEM "file://{path}">',
        '<!DOCTYPE rss [<!ENTITY xxe PUBLIC "-//x//y" "file://{path}">]>',
    ],
    ids=["general-one-line", "general-multi-line", "parameter", "external-dtd", "public"],
)
def test_external_entities_never_read_files(
    server: HostileServer, tmp_path: Path, doctype: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("NEWSWATCH-SECRET-MARKER-7f3a")
    body = (
        f'<?xml version="1.0"?>\n{doctype.format(path=secret)}\n'
        '<rss version="2.0"><channel><title>X &xxe;</title>'
        "<item><title>T &xxe;</title><description>&xxe;</description>"
        "<guid isPermaLink='false'>x1</guid></item>"
        "</channel></rss>"
    ).encode()
    parsed = served(server, body)
    assert [e.guid for e in parsed.entries] == ["x1"]
    assert "NEWSWATCH-SECRET-MARKER" not in repr(parsed)


def test_harmless_declared_entities_still_work() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nbsp "&#160;"><!ENTITY co "ACME">]>'
        b'<rss version="2.0"><channel><title>A&nbsp;B &co;</title>'
        b"<item><title>t</title></item></channel></rss>"
    )
    parsed = parse_feed(body, url="https://news.example/")
    assert parsed.title == "A B ACME"  # titles are one line: the no-break space folds
    assert parsed.warning is None


def test_the_doctype_guard_is_installed() -> None:
    assert feedparser.api.replace_doctype.__module__ == "connectors.xml_safety"


def test_ten_thousand_entries(server: HostileServer) -> None:
    parsed = served(server, rss_document(10_000))
    assert len(parsed.entries) == 10_000
    assert len({e.guid for e in parsed.entries}) == 10_000
    assert parsed.entries[0].title == "Story 0"
    assert parsed.entries[-1].link == "https://news.example/s/9999"
