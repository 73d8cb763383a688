"""The store on SQLite and PostgreSQL: dedupe held by unique keys, and the alert outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from newswatch import models, store
from newswatch.models import Article, ArticleSource, CleanArticle, Delivery, Feed, Match

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)


def article(fp: str, url: str | None, title: str = "Lammy visits Beijing") -> CleanArticle:
    return CleanArticle(
        fingerprint=fp,
        canonical_url=url,
        story_key="k",
        feed_url="http://127.0.0.1/f",
        source="Harbour Gazette",
        title=title,
        summary="summary",
        body="",
        url=url,
        author=None,
        published_at=NOW,
        fetched_at=NOW,
    )


def setup_feeds_and_rule(engine: Engine) -> tuple[int, int]:
    with store.session_scope(engine) as s:
        store.sync_feeds(s, feeds=[("http://a.test/feed", "A"), ("http://b.test/feed", "B")])
        store.sync_rules(s, rules=[("uk-china-visit", "UK AND China AND visit", "")], now=NOW)
        ids = {f.url: f.id for f in store.list_feeds(s)}
    return ids["http://a.test/feed"] or 0, ids["http://b.test/feed"] or 0


def hit(channels: list[str]) -> list[models.MatchToStore]:
    return [models.MatchToStore("uk-china-visit", ["UK", "China", "visit"], channels)]


def test_an_article_is_stored_once_by_fingerprint_and_by_canonical_url(engine: Engine) -> None:
    feed_a, feed_b = setup_feeds_and_rule(engine)
    with Session(engine) as s:
        first = store.store_articles(
            s, feed_id=feed_a, articles=[(article("fp1", "https://x/a"), hit(["mail"]))], now=NOW
        )
        s.commit()
    with Session(engine) as s:
        again = store.store_articles(
            s, feed_id=feed_a, articles=[(article("fp1", "https://x/a"), hit(["mail"]))], now=NOW
        )
        other_outlet = store.store_articles(
            s, feed_id=feed_b, articles=[(article("fp2", "https://x/a"), hit(["mail"]))], now=NOW
        )
        s.commit()
    assert (first.new_articles, first.matches, first.deliveries) == (1, 1, 1)
    assert (again.new_articles, again.matches) == (0, 0)
    assert (other_outlet.new_articles, other_outlet.matches) == (0, 0)
    with Session(engine) as s:
        assert store.count_rows(s, Article) == 1
        assert store.count_rows(s, Match) == 1
        assert store.count_rows(s, Delivery) == 1
        # Both outlets are remembered for "also reported by".
        assert store.count_rows(s, ArticleSource) == 2


def test_feeds_sync_is_idempotent_and_follows_names(engine: Engine) -> None:
    setup_feeds_and_rule(engine)
    with Session(engine) as s:
        store.sync_feeds(s, feeds=[("http://a.test/feed", "A renamed")])
        feeds = store.list_feeds(s)
    assert [(f.url, f.name) for f in feeds] == [
        ("http://a.test/feed", "A renamed"),
        ("http://b.test/feed", "B"),
    ]


def test_due_feeds_honours_next_poll_time(engine: Engine) -> None:
    feed_a, _ = setup_feeds_and_rule(engine)
    with Session(engine) as s:
        later = models.FeedOutcome(
            status=200, ok=True, health="3 entries", next_poll_at=NOW + timedelta(minutes=10)
        )
        store.record_feed_outcomes(s, outcomes=[(feed_a, later)], now=NOW)
        s.commit()
        due_now = [f.url for f in store.due_feeds(s, now=NOW)]
        due_later = [f.url for f in store.due_feeds(s, now=NOW + timedelta(minutes=11))]
    assert due_now == ["http://b.test/feed"]
    assert due_later == ["http://a.test/feed", "http://b.test/feed"]


def test_a_failed_poll_is_recorded_and_success_resets_it(engine: Engine) -> None:
    feed_a, _ = setup_feeds_and_rule(engine)
    bad = models.FeedOutcome(
        status=500, ok=False, health="HTTP 500", error="HTTP 500", next_poll_at=NOW
    )
    with Session(engine) as s:
        store.record_feed_outcomes(s, outcomes=[(feed_a, bad)], now=NOW)
        store.record_feed_outcomes(s, outcomes=[(feed_a, bad)], now=NOW)
        s.commit()
        feed = s.get(Feed, feed_a)
        assert feed is not None
        assert (feed.consecutive_failures, feed.last_error, feed.last_status) == (
            2,
            "HTTP 500",
            500,
        )
        good = models.FeedOutcome(
            status=200, ok=True, health="2 entries", etag='"v1"', entries=2, next_poll_at=NOW
        )
        store.record_feed_outcomes(s, outcomes=[(feed_a, good)], now=NOW)
        s.commit()
        s.refresh(feed)
        assert (feed.consecutive_failures, feed.last_error, feed.etag) == (0, None, '"v1"')
        assert feed.entries_seen == 2


def test_outbox_claim_send_and_retry(engine: Engine) -> None:
    feed_a, _ = setup_feeds_and_rule(engine)
    with Session(engine) as s:
        store.store_articles(
            s,
            feed_id=feed_a,
            articles=[(article("fp1", "https://x/a"), hit(["mail", "slack"]))],
            now=NOW,
        )
        s.commit()
    with Session(engine) as s:
        claimed = store.claim_due_deliveries(s, now=NOW)
        assert sorted(a.channel for a in claimed) == ["mail", "slack"]
        # A second sender at the same moment gets nothing: the claim holds.
        assert store.claim_due_deliveries(s, now=NOW) == []
        mail = next(a for a in claimed if a.channel == "mail")
        slack = next(a for a in claimed if a.channel == "slack")
        assert mail.article_title == "Lammy visits Beijing"
        assert mail.terms == ["UK", "China", "visit"]
        store.mark_sent(s, delivery_ids=[mail.delivery_id], now=NOW)
        status = store.mark_failed(
            s, delivery_id=slack.delivery_id, error="HTTP 500", now=NOW, max_attempts=3
        )
        s.commit()
    assert status == "pending"
    with Session(engine) as s:
        assert store.claim_due_deliveries(s, now=NOW + timedelta(seconds=30)) == []
        retry = store.claim_due_deliveries(s, now=NOW + timedelta(minutes=2))
        assert [a.channel for a in retry] == ["slack"]
        assert [d.status for d in store.deliveries(s)] == ["sent", "pending"]


def test_a_delivery_dies_after_max_attempts(engine: Engine) -> None:
    feed_a, _ = setup_feeds_and_rule(engine)
    with Session(engine) as s:
        store.store_articles(
            s, feed_id=feed_a, articles=[(article("fp1", "https://x/a"), hit(["mail"]))], now=NOW
        )
        s.commit()
        (delivery,) = store.deliveries(s)
        assert delivery.id is not None
        statuses = [
            store.mark_failed(s, delivery_id=delivery.id, error="down", now=NOW, max_attempts=3)
            for _ in range(3)
        ]
        s.commit()
    assert statuses == ["pending", "pending", "dead"]


def test_a_claim_expires_so_a_crashed_sender_loses_nothing(engine: Engine) -> None:
    feed_a, _ = setup_feeds_and_rule(engine)
    with Session(engine) as s:
        store.store_articles(
            s, feed_id=feed_a, articles=[(article("fp1", "https://x/a"), hit(["mail"]))], now=NOW
        )
        s.commit()
        assert len(store.claim_due_deliveries(s, now=NOW)) == 1
        # The sender dies here without marking anything.
        later = NOW + store.CLAIM_LEASE + timedelta(seconds=1)
        assert len(store.claim_due_deliveries(s, now=later)) == 1


def test_migrate_is_idempotent(database_url: str) -> None:
    engine = store.make_engine(database_url)
    store.migrate(engine)
    store.migrate(engine)
    with Session(engine) as s:
        assert store.count_rows(s, Feed) == 0
    engine.dispose()


def test_the_migrations_build_exactly_the_models_schema(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = store.make_engine(database_url)
    store.migrate(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": store.described_by_models})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_syncing_rules_adds_new_ones_and_follows_an_edited_query(engine: Engine) -> None:
    with store.session_scope(engine) as s:
        store.sync_rules(s, rules=[("a", "UK AND visit", "A"), ("b", "volcano", "")], now=NOW)
    later = NOW + timedelta(minutes=10)
    with store.session_scope(engine) as s:
        store.sync_rules(s, rules=[("a", "UK AND China AND visit", "Visits")], now=later)
    with Session(engine) as s:
        found = s.exec(select(models.Rule)).all()
        rows = {r.id: (r.query, r.name, r.updated_at) for r in found}
    assert rows == {
        "a": ("UK AND China AND visit", "Visits", later),
        "b": ("volcano", "", NOW),  # dropped from the config: kept for its old matches
    }
