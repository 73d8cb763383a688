"""Full text for summary-only feeds (issue 18, item 5), against pages served on 127.0.0.1:
a news page with its navigation, cookie banner, share buttons, related links and comments;
a paywall stub; a page that never answers in time; a host whose robots.txt says no.

A feed that carries only the headline cannot match `UK AND China AND visit`; its page can.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from newswatch import run_summary
from newswatch.models import Article, Match
from tests.support.article_pages import BOILERPLATE, PAYWALL_STUB, STORY, article_page
from tests.support.cycles import cycle
from tests.support.feedserver import FeedServer, Route, running_feed_server
from tests.support.webhook import running_receiver

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
HEADLINE_ONLY = "Lammy lands in Beijing"  # none of the rule's words: only the page has them
FEED_SUMMARY = "The foreign secretary met Wang Yi on Friday for talks on trade and climate."


@pytest.fixture
def pages() -> Iterator[FeedServer]:
    """A news site of its own (another origin than the feeds)."""
    with running_feed_server() as server:
        server.routes["/robots.txt"] = Route(
            body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"
        )
        yield server


def _page(body: bytes, *, delay_s: float = 0.0) -> Route:
    return Route(body=body, content_type="text/html; charset=utf-8", delay_s=delay_s)


def _rss(items: list[tuple[str, str, str]]) -> Route:
    """(guid, link, title) items with the same short summary."""
    xml = "".join(
        f"<item><guid>{guid}</guid><link>{link}</link><title>{title}</title>"
        f"<description>{FEED_SUMMARY}</description>"
        "<pubDate>Fri, 18 Oct 2024 09:00:00 GMT</pubDate></item>"
        for guid, link, title in items
    )
    return Route(
        body=f'<rss version="2.0"><channel><title>Wire</title>{xml}</channel></rss>'.encode()
    )


def _config(
    tmp_path: Path,
    feed_url: str,
    *,
    full_text: str = "auto",
    monitor: str = "",
    channel: str = "json://127.0.0.1:9/none",
) -> Path:
    path = tmp_path / "newswatch.yaml"
    path.write_text(
        (f"monitor:\n{monitor}" if monitor else "")
        + f"feeds:\n  - name: Wire\n    url: {feed_url}\n    full_text: {full_text}\n"
        "rules:\n  - id: visits\n    query: UK AND China AND visit\n    channels: [hook]\n"
        f"channels:\n  hook:\n    url: {channel}\n",
        encoding="utf-8",
    )
    return path


def _articles(engine: Engine) -> dict[str, Article]:
    with Session(engine) as session:
        return {a.url or "": a for a in session.exec(select(Article)).all()}


def _matched_urls(engine: Engine) -> set[str]:
    with Session(engine) as session:
        rows = session.exec(select(Article.url).join(Match, Match.article_id == Article.id))
        return {url or "" for url in rows.all()}


def test_a_headline_only_entry_is_matched_on_its_pages_main_text(
    engine: Engine, feed_server: FeedServer, pages: FeedServer, tmp_path: Path
) -> None:
    pages.routes["/world/lammy"] = _page(article_page())
    pages.routes["/world/lammy-2"] = _page(article_page())
    link, link2 = pages.url("/world/lammy"), pages.url("/world/lammy-2?utm_source=rss")
    feed_server.routes["/feed"] = _rss([("1", link, HEADLINE_ONLY), ("2", link2, "Day two")])

    report = cycle(engine, _config(tmp_path, feed_server.url("/feed")), NOW)

    assert report.matches == 2
    article = _articles(engine)[link]
    assert article.body.split("\n")[1:] == STORY
    for what, text in BOILERPLATE.items():
        assert text[:25] not in article.body, what
    assert article.summary == FEED_SUMMARY  # the feed's own text is kept as it was
    (robots,) = pages.hits("/robots.txt")  # read once for the host, not once per page
    (page,) = pages.hits("/world/lammy")
    assert page.headers["user-agent"].startswith("newswatch/")
    assert robots.headers["user-agent"] == page.headers["user-agent"]


def test_never_reads_pages_and_auto_skips_entries_with_enough_words(
    engine: Engine, feed_server: FeedServer, pages: FeedServer, tmp_path: Path
) -> None:
    pages.routes["/world/lammy"] = _page(article_page())
    feed_server.routes["/feed"] = _rss([("1", pages.url("/world/lammy"), HEADLINE_ONLY)])

    report = cycle(engine, _config(tmp_path, feed_server.url("/feed"), full_text="never"), NOW)

    assert report.matches == 0
    assert pages.requests == []


def test_a_paywall_stub_leaves_the_feeds_text(
    engine: Engine, feed_server: FeedServer, pages: FeedServer, tmp_path: Path
) -> None:
    pages.routes["/world/paid"] = _page(PAYWALL_STUB)
    feed_server.routes["/feed"] = _rss([("1", pages.url("/world/paid"), HEADLINE_ONLY)])

    report = cycle(engine, _config(tmp_path, feed_server.url("/feed"), full_text="always"), NOW)

    assert len(pages.hits("/world/paid")) == 1
    assert report.new_articles == 1
    assert report.matches == 0
    (article,) = _articles(engine).values()
    assert "Subscribe" not in article.body
    assert article.summary == FEED_SUMMARY


def test_robots_txt_that_disallows_is_honoured_and_the_article_still_stored(
    engine: Engine, feed_server: FeedServer, pages: FeedServer, tmp_path: Path
) -> None:
    pages.routes["/private/lammy"] = _page(article_page())
    pages.routes["/world/lammy"] = _page(article_page())
    private, public = pages.url("/private/lammy"), pages.url("/world/lammy")
    feed_server.routes["/feed"] = _rss([("1", private, HEADLINE_ONLY), ("2", public, "Day two")])

    report = cycle(engine, _config(tmp_path, feed_server.url("/feed")), NOW)

    assert pages.hits("/private/lammy") == []
    assert report.new_articles == 2
    assert _matched_urls(engine) == {public}
    assert _articles(engine)[private].body == ""


def test_a_page_that_times_out_fails_alone_and_its_article_is_matched_on_the_feed(
    engine: Engine, feed_server: FeedServer, pages: FeedServer, tmp_path: Path
) -> None:
    pages.routes["/world/slow"] = _page(article_page(), delay_s=5)
    pages.routes["/world/lammy"] = _page(article_page())
    slow, fast = pages.url("/world/slow"), pages.url("/world/lammy")
    feed_server.routes["/feed"] = _rss(
        [("1", slow, "UK minister's China visit begins"), ("2", fast, HEADLINE_ONLY)]
    )
    config = _config(tmp_path, feed_server.url("/feed"), monitor="  fetch_timeout_seconds: 1\n")

    report = cycle(engine, config, NOW)

    assert report.new_articles == 2
    assert _matched_urls(engine) == {slow, fast}  # the slow one on its headline
    assert _articles(engine)[slow].body == ""
    assert _articles(engine)[fast].body.split("\n")[1:] == STORY


def test_pages_past_the_budget_wait_for_the_next_cycle(
    engine: Engine, feed_server: FeedServer, pages: FeedServer, tmp_path: Path
) -> None:
    pages.routes["/world/lammy"] = _page(article_page(), delay_s=3)
    link = pages.url("/world/lammy")
    feed_server.routes["/feed"] = _rss([("1", link, HEADLINE_ONLY)])
    config = _config(
        tmp_path, feed_server.url("/feed"), monitor="  full_text_budget_seconds: 0.5\n"
    )

    first = cycle(engine, config, NOW)

    assert (first.new_articles, first.matches) == (0, 0)  # not stored half-read
    pages.routes["/world/lammy"] = _page(article_page())
    second = cycle(engine, config, NOW + timedelta(hours=1))

    assert (second.new_articles, second.matches) == (1, 1)
    assert _articles(engine)[link].body.split("\n")[1:] == STORY


def test_the_alert_for_a_headline_only_entry_shows_the_pages_opening_paragraphs(
    engine: Engine, feed_server: FeedServer, pages: FeedServer, tmp_path: Path
) -> None:
    pages.routes["/world/lammy"] = _page(article_page())
    feed_server.routes["/feed"] = Route(
        body=(
            '<rss version="2.0"><channel><title>Wire</title><item><guid>1</guid>'
            f"<link>{pages.url('/world/lammy')}</link><title>{HEADLINE_ONLY}</title>"
            "</item></channel></rss>"
        ).encode()
    )
    with running_receiver() as receiver:
        config = _config(tmp_path, feed_server.url("/feed"), channel=receiver.json_url())
        report = cycle(engine, config, NOW)
        (received,) = receiver.accepted()

    assert report.delivery.sent == 1
    message = received.payload["message"]
    assert "\n\n*UK* Foreign Secretary David Lammy arrived in Beijing" in message  # marked
    assert "\n\nHe met his Chinese counterpart" in message  # paragraphs kept
    assert "cookies" not in message


def test_an_entry_seen_again_keeps_the_text_read_from_its_page(
    engine: Engine, feed_server: FeedServer, pages: FeedServer, tmp_path: Path
) -> None:
    """The stored text is the page's, longer than the entry's: the entry coming back in a
    changed feed is the same article, not an update that puts the short text back."""
    pages.routes["/world/lammy"] = _page(article_page())
    link = pages.url("/world/lammy")
    feed_server.routes["/feed"] = _rss([("1", link, HEADLINE_ONLY)])
    config = _config(tmp_path, feed_server.url("/feed"))
    first = cycle(engine, config, NOW)
    feed_server.routes["/feed"] = _rss(
        [("2", pages.url("/other"), "Day two"), ("1", link, HEADLINE_ONLY)]
    )

    second = cycle(engine, config, NOW + timedelta(hours=1))

    assert (first.matches, second.matches) == (1, 0)
    assert _articles(engine)[link].body.split("\n")[1:] == STORY


def test_pages_that_cannot_be_read_are_counted_in_the_report_summary_and_artifact(
    engine: Engine, feed_server: FeedServer, pages: FeedServer, tmp_path: Path
) -> None:
    """Issue 25, finding 10: a page that failed was counted nowhere, so full text could be
    off for every article (an extractor that cannot import) while the run looked clean."""
    pages.routes["/world/lammy"] = _page(article_page())
    pages.routes["/world/broken"] = Route(body=b"oops", status=500, content_type="text/html")
    pages.routes["/world/file"] = Route(body=b"%PDF-1.4", content_type="application/pdf")
    good, broken, pdf = (pages.url(p) for p in ("/world/lammy", "/world/broken", "/world/file"))
    feed_server.routes["/feed"] = _rss(
        [("1", good, HEADLINE_ONLY), ("2", broken, "Day two"), ("3", pdf, "Day three")]
    )

    report = cycle(engine, _config(tmp_path, feed_server.url("/feed")), NOW)

    assert report.new_articles == 3  # every article stored, the unread ones on their feed text
    (feed,) = report.feeds
    assert feed.ok  # the feed itself is fine
    assert feed.pages_failed == 2
    assert feed.page_problem.split(": ", 1)[0] in {broken, pdf}
    summary = run_summary.from_cycle(report)
    markdown = run_summary.summary_markdown(summary)
    assert "- article pages not read: 2" in markdown
    assert "## Article pages not read" in markdown
    assert run_summary.summary_json(summary)["pages_failed"] == 2
    (row,) = run_summary.feed_rows(summary)
    assert row["pages_failed"] == 2


def test_an_alert_matched_on_the_page_quotes_the_passage_with_the_words_marked(
    engine: Engine, feed_server: FeedServer, pages: FeedServer, tmp_path: Path
) -> None:
    """Issue 25, finding 11: the alert showed only the feed's one line ("... Read more."),
    so the editor could not see why it alerted."""
    pages.routes["/world/lammy"] = _page(article_page())
    teaser = "Diplomacy round-up for Friday. Read more."
    feed_server.routes["/feed"] = Route(
        body=(
            '<rss version="2.0"><channel><title>Wire</title><item><guid>1</guid>'
            f"<link>{pages.url('/world/lammy')}</link><title>{HEADLINE_ONLY}</title>"
            f"<description>{teaser}</description></item></channel></rss>"
        ).encode()
    )
    with running_receiver() as receiver:
        config = _config(tmp_path, feed_server.url("/feed"), channel=receiver.json_url())
        cycle(engine, config, NOW)
        (received,) = receiver.accepted()

    message = received.payload["message"]
    assert f"\n\n{teaser}\n" in message  # the feed's own line, as before
    quoted = message.split("From the article's page:\n", 1)[1]
    assert "Foreign Secretary David Lammy arrived in Beijing" in quoted
    for word in ("*UK*", "*China*", "*visit"):  # *visits* or *visit*: the rule's own forms
        assert word in quoted
    assert len(quoted) < 450  # a passage, not the page
