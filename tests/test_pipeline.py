"""One monitor cycle end to end with real local peers: SMTP server, database; the feeds'
bytes come from the fetcher's transport double (connectors.testing.FeedTransport).

These run the plain cycle (newswatch.cycle) (no Prefect); tests/test_flow.py runs the same
through Prefect.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from newswatch import cycle as orchestrator
from newswatch import matching, models, store
from newswatch.config import load_config
from newswatch.models import Article, Delivery, Feed
from tests.support.cycles import cycle
from tests.support.examples import FEEDS, example_feeds, feed_url, write_config
from tests.support.smtp import SmtpServer, free_port, running_smtp_server

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)


def test_worked_example_is_alerted_once_and_near_misses_are_not(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = example_feeds()
    config = write_config(tmp_path, feeds, smtp_server.channel_url())

    report = cycle(engine, config, NOW, transport=feeds)

    assert [f.ok for f in report.feeds] == [True, True, True]
    assert report.new_articles == 28  # 30 entries, the Lammy story three times
    assert report.matches == 1
    assert report.delivery.sent == 1
    (message,) = smtp_server.inbox.messages
    assert message["Subject"] == (
        "[UK-China visits] Lammy visits Beijing as UK and China seek a reset"
    )
    body = message.get_content()
    assert "Outlet: Harbour Gazette" in body
    assert "Link: https://harbourgazette.example/world/2024/10/18/lammy-beijing-visit" in body
    assert "Rule: UK-China visits (uk-china-visit)" in body
    assert "Published: 2024-10-18 09:00 UTC" in body
    assert "Also reported by: Northern Ledger, Continental Wire" in body
    for term in ("UK", "China", "visit"):
        assert term in body.split("Matched:", 1)[1].splitlines()[0]
    for near_miss in ("ukulele", "Indochina", "Japan"):
        assert near_miss not in body


def test_second_cycle_sends_nothing_and_uses_conditional_get(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = example_feeds()
    config = write_config(tmp_path, feeds, smtp_server.channel_url())
    cycle(engine, config, NOW, transport=feeds)

    second = cycle(engine, config, NOW + timedelta(hours=1), transport=feeds)

    assert len(smtp_server.inbox.messages) == 1
    assert (second.new_articles, second.matches, second.delivery.sent) == (0, 0, 0)
    assert [f.health for f in second.feeds] == ["304 not modified"] * 3
    for path in FEEDS:
        url = feed_url(feeds, path)
        last = feeds.hits(url)[-1]
        route = feeds.route(url)
        assert route is not None
        assert last.status == 304
        assert last.headers["if-none-match"] == route.etag_value()


def test_the_rule_index_is_filed_by_the_newest_stored_articles(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    assert matching.index_sample(engine) == []  # a new store: the index guesses from the rules
    feeds = example_feeds()
    cycle(engine, write_config(tmp_path, feeds, smtp_server.channel_url()), NOW, transport=feeds)
    with Session(engine) as session:
        stored = session.exec(select(Article)).all()

    sample = matching.index_sample(engine, limit=5)

    newest = sorted(stored, key=lambda a: a.id or 0, reverse=True)[:5]
    assert [doc.title for doc in sample] == [a.title for a in newest]
    assert [doc.body for doc in sample] == [a.body for a in newest]
    for doc, article in zip(sample, newest, strict=True):
        assert doc.source.startswith(article.source)
        assert doc.source.endswith(".example")  # the outlet's domain, as matching sees it
    assert len(matching.index_sample(engine)) == len(stored) == 28


def test_a_feed_not_yet_due_is_not_polled(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = example_feeds()
    config = write_config(tmp_path, feeds, smtp_server.channel_url())
    cycle(engine, config, NOW, transport=feeds)
    polls = len(feeds.requests)

    soon = cycle(engine, config, NOW + timedelta(minutes=1), transport=feeds)

    assert soon.feeds == []
    assert len(feeds.requests) == polls


def test_new_entries_in_a_later_poll_are_matched(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = example_feeds()
    config = write_config(tmp_path, feeds, smtp_server.channel_url())
    cycle(engine, config, NOW, transport=feeds)
    url = feed_url(feeds, "/continental-wire.xml")
    route = feeds.route(url)
    assert route is not None
    feeds.update(
        url,
        route.body.replace(
            b"<item>",
            b"<item><title>UK envoy to visit China again in spring</title>"
            b"<link>https://continentalwire.example/world/2024/10/19/envoy</link>"
            b"<guid>cw-envoy</guid><description>Plans for a return trip.</description>"
            b"</item>\n<item>",
            1,
        ),
    )

    later = cycle(engine, config, NOW + timedelta(hours=1), transport=feeds)

    assert (later.new_articles, later.matches, later.delivery.sent) == (1, 1, 1)
    assert smtp_server.inbox.subjects()[-1] == (
        "[UK-China visits] UK envoy to visit China again in spring"
    )


def test_a_broken_feed_is_recorded_and_the_others_go_on(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = example_feeds()
    feeds.set(feed_url(feeds, "/down.xml"), b"oops", status=500)
    feeds.html(
        feed_url(feeds, "/page.html"),
        b"<!doctype html><html><head><title>Home</title></head><body>Hi</body></html>",
    )
    config = write_config(
        tmp_path,
        feeds,
        smtp_server.channel_url(),
        extra_feeds={"/down.xml": "Down Daily", "/page.html": "Not A Feed", "/gone": "Missing"},
    )

    report = cycle(engine, config, NOW, transport=feeds)

    by_name = {f.name: f for f in report.feeds}
    assert [by_name[n].ok for n in ("Down Daily", "Not A Feed", "Missing")] == [False] * 3
    assert "500" in by_name["Down Daily"].health
    assert "404" in by_name["Missing"].health
    assert by_name["Not A Feed"].health  # says why in one line
    assert "\n" not in by_name["Not A Feed"].health
    assert report.new_articles == 28
    assert len(smtp_server.inbox.messages) == 1
    with Session(engine) as s:
        down = next(f for f in store.list_feeds(s) if f.name == "Down Daily")
        assert down.consecutive_failures == 1
        assert down.last_status == 500
        assert down.last_error is not None
        assert "500" in down.last_error
        assert down.next_poll_at is not None


def test_a_failed_alert_stays_pending_and_is_sent_on_the_next_cycle(
    engine: Engine, tmp_path: Path
) -> None:
    feeds = example_feeds()
    port = free_port()  # nothing listens here yet: the SMTP server is "down"
    url = f"mailto://127.0.0.1:{port}?from=newswatch@example.org&to=desk@example.org&format=text"
    config = write_config(tmp_path, feeds, url)

    first = cycle(engine, config, NOW, transport=feeds)

    assert (first.matches, first.delivery.sent, first.delivery.failed) == (1, 0, 1)
    with Session(engine) as s:
        (delivery,) = store.deliveries(s)
        assert delivery.status == "pending"
        assert delivery.attempts == 1
        assert delivery.last_error

    with running_smtp_server(port) as smtp:
        second = cycle(engine, config, NOW + timedelta(minutes=10), transport=feeds)
        third = cycle(engine, config, NOW + timedelta(minutes=30), transport=feeds)
        assert (second.delivery.sent, third.delivery.sent) == (1, 0)
        assert len(smtp.inbox.messages) == 1
    with Session(engine) as s:
        assert [d.status for d in store.deliveries(s)] == ["sent"]


def test_channel_secrets_never_reach_the_database_or_logs(
    engine: Engine,
    smtp_server: SmtpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feeds = example_feeds()
    secret = "s3cr3t-Pa55word-xyz"  # noqa: S105  (a fake secret the test hunts for)
    # aiosmtpd here offers no AUTH, so a login with this password fails the send.
    url = (
        f"mailto://alerts:${{SMTP_PASSWORD}}@127.0.0.1:{smtp_server.port}"
        "?from=newswatch@example.org&to=desk@example.org"
    )
    config = write_config(tmp_path, feeds, url)
    caplog.set_level(logging.DEBUG)

    report = cycle(engine, config, NOW, env={"SMTP_PASSWORD": secret}, transport=feeds)

    assert report.delivery.failed == 1
    assert secret not in " ".join(report.delivery.errors)
    assert secret not in caplog.text
    with Session(engine) as s:
        for d in s.exec(select(Delivery)).all():
            assert secret not in (d.last_error or "")
    assert secret not in (tmp_path / "newswatch.yaml").read_text()


def test_dry_run_matches_but_stores_and_sends_nothing(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = example_feeds()
    config_path = write_config(tmp_path, feeds, smtp_server.channel_url())
    config = load_config(config_path, environ={})

    report = orchestrator.run_cycle(
        engine, config, environ={}, now=NOW, dry_run=True, transport=feeds
    )

    hits = [(m.article.title, [h.rule_id for h in m.hits]) for f in report.feeds for m in f.matched]
    # The story three outlets carry is one article even when nothing is stored.
    assert hits == [("Lammy visits Beijing as UK and China seek a reset", ["uk-china-visit"])]
    assert report.matches == 1
    assert smtp_server.inbox.messages == []
    with Session(engine) as s:
        assert store.count_rows(s, Article) == 0
        assert all(f.etag is None for f in s.exec(select(Feed)).all())


def test_batches_never_split_one_servers_feeds() -> None:
    targets = [
        models.FeedTarget(
            id=i,
            url=f"http://{host}.example/{i}.xml",
            name=str(i),
            etag=None,
            last_modified=None,
            body_hash=None,
            consecutive_failures=0,
        )
        for i, host in enumerate(["a", "b", "a", "c", "b", "a", "d", "d", "d", "d"])
    ]

    got = [
        [t.url.split("//")[1].split(".")[0] for t in b] for b in orchestrator.batches(targets, 4)
    ]

    assert sorted(h for b in got for h in b) == sorted("abacbadddd")
    hosts_per_batch = [set(b) for b in got]
    for i, first in enumerate(hosts_per_batch):
        for second in hosts_per_batch[i + 1 :]:
            assert not first & second
    assert got[0] == ["a", "a", "a"]
