"""Text as its author wrote it (issue 18, item 4): paragraphs kept and boilerplate dropped,
a plain-text headline shown as written, non-breaking spaces kept as spaces, and honest dates.

The end-to-end test serves an Atom feed on 127.0.0.1, runs one plain cycle and reads the
email that a real SMTP server received.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from connectors.feed import parse_feed
from connectors.testing import FeedTransport
from newswatch import store
from newswatch.html_text import html_to_text
from newswatch.models import Article
from newswatch.normalize import normalize_entry
from newswatch.store.db import MIGRATIONS
from tests.support.cycles import cycle
from tests.support.smtp import SmtpServer

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
FEED_URL = "https://hg.example/atom.xml"  # served by FeedTransport

# What a WordPress-style feed puts in content:encoded around the story.
STORY_HTML = """
<nav class="breadcrumbs"><a href="/">Home</a> &gt; <a href="/world">World</a></nav>
<p>UK Foreign Secretary David Lammy arrived in Beijing on Friday for a two-day visit.</p>
<p>He met Wang Yi, China&rsquo;s foreign minister, to talk about trade and climate.</p>
<script>window.dataLayer.push({"event": "article"});</script>
<style>.share a { color: red }</style>
<div class="share-buttons"><a href="https://twitter.com/share?u=x">Share on X</a>
<a href="https://www.facebook.com/sharer/sharer.php?u=x">Share on Facebook</a></div>
<p><a href="https://example.org/intent/tweet?text=x">Tweet this</a></p>
<form action="/subscribe"><input name="email"><button>Sign up</button></form>
<aside>Related: Lammy's first year in office</aside>
<p>The visit is the first by a UK foreign secretary since 2018.</p>
"""


def test_html_keeps_paragraphs_and_drops_scripts_styles_navigation_and_share_buttons() -> None:
    assert html_to_text(STORY_HTML).split("\n") == [
        "UK Foreign Secretary David Lammy arrived in Beijing on Friday for a two-day visit.",
        "He met Wang Yi, China\u2019s foreign minister, to talk about trade and climate.",
        "The visit is the first by a UK foreign secretary since 2018.",
    ]


def test_a_share_word_in_a_story_link_is_kept() -> None:
    html = '<p>Markets: <a href="https://news.example/shares-fall">shares fell</a> 2%.</p>'
    assert html_to_text(html) == "Markets: shares fell 2%."


def test_a_non_breaking_space_is_a_space_in_every_spelling() -> None:
    for nbsp in ("&nbsp;", "&#160;", "&#xA0;", "\u00a0", "\u202f"):
        assert html_to_text(f"<p>a 10{nbsp}km walk</p>") == "a 10 km walk"
        assert html_to_text(f"10{nbsp}km") == "10 km"


def _atom(entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>Harbour Gazette</title>'
        "<id>urn:hg</id><updated>2024-10-18T09:00:00Z</updated>" + entries + "</feed>"
    ).encode()


def test_an_atom_text_title_is_text_so_a_tag_in_it_is_shown_not_dropped() -> None:
    body = _atom(
        '<entry><title type="text">Why &lt;script&gt; tags &amp; UK China visit pages break'
        "</title><id>urn:1</id><link href='https://hg.example/1'/>"
        '<summary type="text">Plain &lt;b&gt; stays</summary></entry>'
    )
    (entry,) = parse_feed(body, url="https://hg.example/feed").entries
    article = normalize_entry(entry, fetched_at=NOW)
    assert article.title == "Why <script> tags & UK China visit pages break"
    assert article.summary == "Plain <b> stays"


def test_no_date_is_unknown_and_a_future_date_is_the_fetch_time() -> None:
    body = _atom(
        "<entry><title>Undated</title><id>urn:1</id><link href='https://hg.example/1'/></entry>"
        "<entry><title>From 2031</title><id>urn:2</id><link href='https://hg.example/2'/>"
        "<updated>2031-01-01T00:00:00Z</updated></entry>"
    )
    undated, future = (
        normalize_entry(e, fetched_at=NOW)
        for e in parse_feed(body, url="https://hg.example/feed").entries
    )
    assert (undated.date_known, undated.published_at) == (False, NOW)
    assert (future.date_known, future.published_at) == (True, NOW)


def test_the_email_shows_the_title_escaped_the_paragraphs_and_date_unknown(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = FeedTransport()
    content = STORY_HTML.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    feeds.set(
        FEED_URL,
        _atom(
            '<entry><title type="text">UK visit to China: &lt;script&gt; in a headline</title>'
            "<id>urn:lammy</id><link href='https://hg.example/lammy'/>"
            f'<content type="html">{content}</content></entry>'
        ),
        content_type="application/atom+xml",
    )
    email = f"mailto://127.0.0.1:{smtp_server.port}?from=nw@example.org&to=desk@example.org"
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        f"feeds:\n  - name: Harbour Gazette\n    url: {FEED_URL}\n"
        "rules:\n  - id: visits\n    query: UK AND China AND visit\n    channels: [desk]\n"
        f"channels:\n  desk:\n    url: '{email}'\n",
        encoding="utf-8",
    )

    report = cycle(engine, config, NOW, transport=feeds)

    assert report.delivery.sent == 1
    (message,) = smtp_server.inbox.messages
    assert message["Subject"] == "[visits] UK visit to China: <script> in a headline"
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    assert html_part is not None
    assert text_part is not None
    html, text = html_part.get_content(), text_part.get_content()
    assert "&lt;script&gt; in a headline" in html
    assert "<script>" not in html
    assert "Published</th><td>date unknown" in html
    assert "Published: date unknown" in text
    assert html.count("<p>") == 3
    assert "Share on" not in html + text
    assert "Sign up" not in html + text
    paragraphs = text.split("date unknown", 1)[1]
    assert "two-day *visit*.\n\nHe met Wang Yi" in paragraphs.replace("\r\n", "\n")
    with Session(engine) as session:
        article = session.exec(select(Article)).one()
    assert article.date_known is False
    assert article.published_at == article.fetched_at == NOW


def test_the_date_known_migration_keeps_stored_articles_dated(database_url: str) -> None:
    """From the revision before, with an article in it: the article stays dated."""
    engine = store.make_engine(database_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    with store.session_scope(engine) as session:
        store.sync_feeds(session, feeds=[("https://hg.example/rss", "HG")])
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO article (fingerprint, story_key, feed_id, source, title, summary,"
                " body, published_at, fetched_at) SELECT 'fp', 'k', id, 'HG', 'Old', '', '',"
                " :when, :when FROM feed"
            ),
            {"when": NOW},
        )
    store.migrate(engine)
    with Session(engine) as session:
        article = session.exec(select(Article)).one()
    engine.dispose()
    assert (article.title, article.date_known) == ("Old", True)
