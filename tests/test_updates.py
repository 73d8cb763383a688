"""An entry that comes back under the same guid with new text is the same article, updated
and matched again: it alerts only for rules it had not matched before. A new title alone
is the same article too. Whole cycles: the feed served from memory (FeedTransport), the alerts
to a local SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from connectors.testing import FeedTransport
from newswatch.models import Article, Match
from tests.support.cycles import cycle
from tests.support.smtp import SmtpServer

NOW = datetime(2024, 10, 18, 9, 30, tzinfo=UTC)
FEED_URL = "https://harbourgazette.example/hg.xml"  # served by FeedTransport
FIRST = (
    "UK Foreign Secretary David Lammy will visit China on Friday, the Foreign Office said, "
    "the first such trip in more than six years."
)
UPDATED = (
    FIRST + " In Beijing he met Foreign Minister Wang Yi, who said relations stood at a new "
    "starting point."
)


def feed(title: str, summary: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Gazette</title>'
        f"<item><title>{title}</title>"
        "<link>https://harbourgazette.example/world/lammy-china</link>"
        "<guid isPermaLink='false'>hg-lammy-live</guid>"
        "<pubDate>Fri, 18 Oct 2024 09:00:00 +0000</pubDate>"
        f"<description>{summary}</description></item></channel></rss>"
    ).encode()


def write_config(tmp_path: Path, channel_url: str) -> Path:
    path = tmp_path / "newswatch.yaml"
    path.write_text(
        "feeds:\n"
        "  - name: Harbour Gazette\n"
        f"    url: {FEED_URL}\n"
        "rules:\n"
        "  - id: uk-china-visit\n"
        "    query: UK AND China AND visit\n"
        "    channels: [desk]\n"
        "  - id: wang-yi\n"
        "    query: '\"Wang Yi\"'\n"
        "    channels: [desk]\n"
        "channels:\n"
        "  desk:\n"
        f"    url: '{channel_url}'\n",
        encoding="utf-8",
    )
    return path


def stored(engine: Engine) -> tuple[list[Article], list[str]]:
    with Session(engine) as session:
        articles = list(session.exec(select(Article)).all())
        rules = sorted(m.rule_id for m in session.exec(select(Match)).all())
    return articles, rules


def test_new_text_under_the_same_guid_updates_the_article_and_alerts_only_new_rules(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = FeedTransport()
    title = "Lammy to visit China"
    feeds.set(FEED_URL, feed(title, FIRST))
    config = write_config(tmp_path, smtp_server.channel_url())
    cycle(engine, config, NOW, transport=feeds)
    assert len(smtp_server.inbox.messages) == 1  # uk-china-visit only: no Wang Yi yet

    feeds.set(FEED_URL, feed(title, UPDATED))
    report = cycle(engine, config, NOW + timedelta(hours=1), transport=feeds)

    (article,), rules = stored(engine)
    assert article.summary == UPDATED  # the stored article is the updated one, still one row
    assert rules == ["uk-china-visit", "wang-yi"]
    assert (report.new_articles, report.matches) == (0, 1)
    assert len(smtp_server.inbox.messages) == 2  # the new rule alerted, the old one did not
    assert "Wang Yi" in smtp_server.inbox.messages[1].get_content()


def test_a_changed_title_alone_is_the_same_article_and_sends_nothing(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = FeedTransport()
    feeds.set(FEED_URL, feed("Lammy to visit China", FIRST))
    config = write_config(tmp_path, smtp_server.channel_url())
    cycle(engine, config, NOW, transport=feeds)

    retitled = "Foreign secretary Lammy heads to China for first visit in six years"
    feeds.set(FEED_URL, feed(retitled, FIRST))
    report = cycle(engine, config, NOW + timedelta(hours=1), transport=feeds)

    (article,), rules = stored(engine)
    assert article.title == retitled
    assert rules == ["uk-china-visit"]
    assert (report.new_articles, report.matches, report.delivery.sent) == (0, 0, 0)
    assert len(smtp_server.inbox.messages) == 1
