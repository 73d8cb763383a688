"""Per-feed scheduling and politeness, through whole cycles.

Each test runs `cycle.run_cycle` (no Prefect) at chosen moments and reads the feed's row:
when it will be polled next, what its health says, which URL it lives at now. The feeds'
HTTP answers come from the fetcher's transport double (connectors.testing); limits that only
a socket shows (per host in flight, bytes on the wire) use a real server.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from connectors import parser_pool
from connectors.testing import FeedTransport
from newswatch import cycle as orchestrator
from newswatch import store
from newswatch.config import Config, parse_config
from newswatch.models import Article, Feed
from tests.support.hostile_server import HostileServer, respond, rss_document

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
BASE = timedelta(minutes=10)
PLAIN = BASE - timedelta(minutes=1)  # a plain interval ends early: the next tick finds it due
DAY = timedelta(hours=24)
CONTACT = "https://desk.example/contact"


def rss(*, ttl: int | None = None, items: int = 3, tag: str = "a") -> bytes:
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl is not None else ""
    entries = "".join(
        f"<item><title>Story {tag}{i}</title><link>https://news.example/{tag}/{i}</link>"
        f"<guid isPermaLink='false'>{tag}-{i}</guid></item>"
        for i in range(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>{ttl_tag}'
        f"{entries}</channel></rss>"
    ).encode()


def config(urls: list[str], **monitor: Any) -> Config:
    text = yaml.safe_dump(
        {
            "monitor": {"contact_url": CONTACT, "poll_interval_minutes": 10, **monitor},
            "feeds": [{"name": f"Feed {i}", "url": url} for i, url in enumerate(urls)],
        }
    )
    return parse_config(text, name="newswatch.yaml", environ={})


@pytest.fixture
def transport() -> FeedTransport:
    """The feeds' bytes, served from memory to the fetcher."""
    return FeedTransport()


def url_of(path: str) -> str:
    return "https://feeds.example" + path


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = store.make_engine(f"sqlite:///{tmp_path / 'newswatch.db'}")
    store.migrate(engine)
    return engine


def cycle(
    engine: Engine,
    cfg: Config,
    at: datetime,
    *,
    due_only: bool = True,
    transport: FeedTransport | None = None,
) -> list[str]:
    """One cycle at `at`; the health line of each feed it polled."""
    report = orchestrator.run_cycle(
        engine, cfg, environ={}, now=at, due_only=due_only, transport=transport
    )
    return [f.health for f in report.feeds]


def feeds(engine: Engine) -> list[Feed]:
    with Session(engine) as session:
        return list(session.exec(select(Feed).order_by(col(Feed.id))).all())


def only_feed(engine: Engine) -> Feed:
    (feed,) = feeds(engine)
    return feed


def next_poll(engine: Engine) -> datetime:
    value = only_feed(engine).next_poll_at
    assert value is not None
    return value


# --- the feed's own pace ------------------------------------------------------------------------


def test_rss_ttl_slows_polling_and_still_holds_while_the_feed_answers_304(
    engine: Engine, transport: FeedTransport
) -> None:
    transport.set(url_of("/f"), body=rss(ttl=60))
    cfg = config([url_of("/f")])

    cycle(engine, cfg, NOW, transport=transport)
    assert next_poll(engine) == NOW + timedelta(minutes=60)
    # not due yet: not polled
    assert cycle(engine, cfg, NOW + timedelta(minutes=30), transport=transport) == []

    later = NOW + timedelta(minutes=60)
    assert cycle(engine, cfg, later, transport=transport) == ["304 not modified"]
    assert next_poll(engine) == later + timedelta(minutes=60)  # the ttl survived the 304
    assert len(transport.hits(url_of("/f"))) == 2


def test_a_ttl_shorter_than_the_interval_never_speeds_polling_up(
    engine: Engine, transport: FeedTransport
) -> None:
    transport.set(url_of("/f"), body=rss(ttl=1))
    cycle(engine, config([url_of("/f")]), NOW, transport=transport)
    assert next_poll(engine) == NOW + PLAIN


def test_cache_control_max_age_is_honoured_on_200_and_304(
    engine: Engine, transport: FeedTransport
) -> None:
    transport.set(url_of("/f"), body=rss(), headers={"Cache-Control": "public, max-age=3600"})
    cfg = config([url_of("/f")])

    cycle(engine, cfg, NOW, transport=transport)
    assert next_poll(engine) == NOW + timedelta(hours=1)
    cycle(engine, cfg, NOW + timedelta(hours=1), transport=transport)
    assert only_feed(engine).health == "304 not modified"
    assert next_poll(engine) == NOW + timedelta(hours=2)


def test_an_unchanged_body_without_validators_is_not_parsed_again(
    engine: Engine, transport: FeedTransport
) -> None:
    transport.set(url_of("/f"), body=rss(ttl=30), etag=False, last_modified=None)
    cfg = config([url_of("/f")])
    cycle(engine, cfg, NOW, transport=transport)

    (health,) = cycle(engine, cfg, NOW + timedelta(minutes=30), transport=transport)

    assert health.endswith(", unchanged since the last poll")
    assert next_poll(engine) == NOW + timedelta(minutes=60)  # ttl kept here too
    assert only_feed(engine).entries_seen == 3  # counted once


# --- servers that ask us to wait -------------------------------------------------------------


def test_503_with_retry_after_as_an_http_date(engine: Engine, transport: FeedTransport) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    when = format_datetime(now + timedelta(hours=3), usegmt=True)
    transport.set(url_of("/f"), body=b"", status=503, headers={"Retry-After": when})

    (health,) = cycle(engine, config([url_of("/f")]), now, transport=transport)

    assert health.startswith("HTTP 503 Service Unavailable (server asks to wait ")
    feed = only_feed(engine)
    assert (feed.last_status, feed.consecutive_failures) == (503, 1)
    # Retry-After is read against the clock when the answer came, a moment after `now`.
    assert now + timedelta(hours=3) - timedelta(minutes=1) <= next_poll(engine)
    assert next_poll(engine) <= now + timedelta(hours=3)


def test_429_retry_after_seconds_is_a_floor_on_the_backoff(
    engine: Engine, transport: FeedTransport
) -> None:
    transport.set(url_of("/f"), body=b"", status=429, headers={"Retry-After": "5400"})
    (health,) = cycle(engine, config([url_of("/f")]), NOW, transport=transport)
    assert health == "HTTP 429 Too Many Requests (server asks to wait 5400s)"
    assert next_poll(engine) == NOW + timedelta(seconds=5400)


# --- failures: back off, never give up --------------------------------------------------------


def test_failures_back_off_exponentially_up_to_a_day_and_the_feed_is_never_dropped(
    engine: Engine, transport: FeedTransport
) -> None:
    transport.set(url_of("/f"), body=b"oops", status=500)
    cfg = config([url_of("/f")])
    at = NOW
    delays: list[timedelta] = []
    for failures in range(1, 13):
        health = cycle(engine, cfg, at, transport=transport)
        assert health == ["HTTP 500 Internal Server Error"]  # due: polled
        feed = only_feed(engine)
        assert feed.consecutive_failures == failures
        due = next_poll(engine)
        delays.append(due - at)
        backoff = min(BASE * 2 ** (failures - 1), DAY)
        assert max(backoff * 0.75, BASE) <= due - at <= backoff  # jitter: the last quarter
        at = due
    assert delays[-1] > timedelta(hours=18)  # at the ceiling...
    assert max(delays) <= DAY  # ...and never past it

    transport.set(url_of("/f"), body=rss())
    (health,) = cycle(engine, cfg, at, transport=transport)
    assert health == f"200 OK, {len(rss())} bytes, 3 entries (3 new)"
    feed = only_feed(engine)
    assert (feed.consecutive_failures, feed.last_error, feed.last_status) == (0, None, 200)
    assert next_poll(engine) == at + PLAIN


def test_410_marks_the_feed_gone_and_asks_again_daily(
    engine: Engine, transport: FeedTransport
) -> None:
    transport.set(url_of("/f"), body=b"", status=410)
    cfg = config([url_of("/f")])

    (health,) = cycle(engine, cfg, NOW, transport=transport)

    assert health == "HTTP 410 Gone: the feed is gone; checking again once a day"
    feed = only_feed(engine)
    assert (feed.gone, feed.last_status, feed.last_error) == (True, 410, "HTTP 410 Gone")
    assert next_poll(engine) == NOW + DAY
    assert cycle(engine, cfg, NOW + timedelta(hours=23), transport=transport) == []

    transport.set(url_of("/f"), body=rss())  # it came back
    cycle(engine, cfg, NOW + DAY, transport=transport)
    feed = only_feed(engine)
    assert (feed.gone, feed.consecutive_failures) == (False, 0)


# --- moved feeds ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 308])
def test_a_permanent_redirect_moves_the_row_and_the_config_url_keeps_working(
    engine: Engine, transport: FeedTransport, status: int
) -> None:
    transport.redirect(url_of("/old"), "/new", status=status)
    transport.set(url_of("/new"), body=rss())
    old, new = url_of("/old"), url_of("/new")
    cfg = config([old])

    (health,) = cycle(engine, cfg, NOW, transport=transport)

    assert health == f"200 OK, {len(rss())} bytes, moved permanently to {new}, 3 entries (3 new)"
    feed = only_feed(engine)
    assert (feed.url, feed.config_url) == (new, old)

    # The config still names the old URL: the same row, polled at its new address.
    assert cycle(engine, cfg, NOW + BASE, transport=transport) == ["304 not modified"]
    assert len(transport.hits(url_of("/old"))) == 1
    assert only_feed(engine).url == new

    # The user updates the config: the row is adopted, nothing is new, no second row.
    report = orchestrator.run_cycle(
        engine, config([new]), environ={}, now=NOW + 2 * BASE, transport=transport
    )
    assert [f.health for f in report.feeds] == ["304 not modified"]
    assert report.new_articles == 0
    feed = only_feed(engine)
    assert (feed.url, feed.config_url) == (new, new)
    with Session(engine) as session:
        assert store.count_rows(session, Article) == 3


def test_a_moved_feed_keeps_its_entries_known_even_without_links(
    engine: Engine, transport: FeedTransport
) -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>Only a guid</title><guid isPermaLink='false'>g1</guid></item>"
        b"</channel></rss>"
    )
    transport.set(url_of("/f"), body=body, etag=False, last_modified=None)
    cfg = config([url_of("/f")])
    cycle(engine, cfg, NOW, transport=transport)

    transport.redirect(url_of("/f"), "/moved")
    transport.set(url_of("/moved"), body=body + b" ", etag=False, last_modified=None)
    report = orchestrator.run_cycle(engine, cfg, environ={}, now=NOW + BASE, transport=transport)

    assert report.feeds[0].health.endswith("1 entry (0 new)")
    assert report.new_articles == 0


def test_a_move_onto_a_feed_already_listed_keeps_one_row_each(
    engine: Engine, transport: FeedTransport
) -> None:
    transport.redirect(url_of("/old"), "/new")
    transport.set(url_of("/new"), body=rss())
    cfg = config([url_of("/old"), url_of("/new")])

    for at in (NOW, NOW + BASE):
        report = orchestrator.run_cycle(engine, cfg, environ={}, now=at, transport=transport)
        assert all(f.ok for f in report.feeds)

    assert sorted(f.url for f in feeds(engine)) == [
        url_of("/new"),
        url_of("/old"),
    ]


# --- politeness ---------------------------------------------------------------------------------


def test_the_user_agent_names_newswatch_and_the_contact_url(
    engine: Engine, transport: FeedTransport
) -> None:
    transport.set(url_of("/f"), body=rss())
    cycle(engine, config([url_of("/f")]), NOW, transport=transport)
    agent = transport.hits(url_of("/f"))[0].headers["user-agent"]
    assert agent.startswith("newswatch/")
    assert agent.endswith(f"(+{CONTACT})")


@pytest.mark.parametrize("limit", [1, 2])
def test_the_per_host_limit_holds_across_a_whole_cycle(engine: Engine, limit: int) -> None:
    with HostileServer() as server:
        urls = [
            server.route(f"/f{i}", respond(200, rss(tag=f"f{i}"), delay_s=0.05)) for i in range(12)
        ]
        report = orchestrator.run_cycle(
            engine, config(urls, per_host_limit=limit), environ={}, now=NOW
        )
        assert all(f.ok for f in report.feeds)
        assert server.max_in_flight == limit
        assert len(server.requests) == 12


def test_the_body_cap_comes_from_the_config(engine: Engine) -> None:
    with HostileServer() as server:
        url = server.route("/big", respond(200, rss_document(5_000)))
        (health,) = cycle(engine, config([url], max_feed_size_mib=0.5), NOW)
    assert health.startswith("body over 512 KiB cap")


# --- the schema change behind config URLs ------------------------------------------------------


def test_upgrading_a_database_with_feeds_and_articles_keeps_them(
    database_url: str, transport: FeedTransport
) -> None:
    """0003 adds the config URL to `feed`, which articles reference: nothing may be lost."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import text

    from newswatch.store.db import MIGRATIONS

    transport.set(url_of("/f"), body=rss())
    url = url_of("/f")
    old = store.make_engine(database_url)
    alembic = AlembicConfig()
    alembic.set_main_option("script_location", str(MIGRATIONS))
    with old.begin() as conn:
        alembic.attributes["connection"] = conn
        command.upgrade(alembic, "0002")
        conn.execute(
            text(
                "INSERT INTO feed (url, name, title, health, consecutive_failures,"
                " entries_seen, gone) VALUES (:url, 'Feed 0', '', 'never polled', 0, 0, false)"
            ),
            {"url": url},
        )
        conn.execute(
            text(
                "INSERT INTO article (fingerprint, story_key, feed_id, source, title, summary,"
                " body, published_at, fetched_at) SELECT 'fp', '', id, '', 'Old', '', '',"
                " :now, :now FROM feed"
            ),
            {"now": NOW},
        )
    old.dispose()

    engine = store.make_engine(database_url)
    # migrates first
    report = orchestrator.run_cycle(engine, config([url]), environ={}, now=NOW, transport=transport)

    assert [f.ok for f in report.feeds] == [True]
    feed = only_feed(engine)
    assert (feed.url, feed.config_url) == (url, url)
    with Session(engine) as session:
        assert store.count_rows(session, Article) == 4  # the old one and three new
    engine.dispose()


def test_recording_outcomes_keeps_validators_counts_and_ttl_as_each_poll_means(
    database_url: str,
) -> None:
    """One UPDATE for a whole batch of polls: a 304 keeps validators, a parsed body replaces
    hash and <ttl>, counters add up over polls, a failure keeps the last success."""
    from newswatch.models import FeedOutcome

    later = NOW + BASE
    outcomes = [
        FeedOutcome(status=304, ok=True, health="304 not modified", next_poll_at=later),
        FeedOutcome(
            status=200,
            ok=True,
            health="200 OK, 3 entries",
            title="New title",
            etag='"e2"',
            last_modified=None,
            body_hash="h2",
            entries=3,
            ttl_minutes=30,
            next_poll_at=later,
        ),
        FeedOutcome(
            status=200, ok=True, health="unchanged", last_modified="lm2", next_poll_at=later
        ),
        FeedOutcome(
            status=200, ok=True, health="no ttl now", body_hash="h3", entries=1, next_poll_at=later
        ),
        FeedOutcome(status=500, ok=False, health="HTTP 500", error="HTTP 500", next_poll_at=later),
        FeedOutcome(
            status=410,
            ok=False,
            health="gone",
            error="HTTP 410 Gone",
            gone=True,
            next_poll_at=NOW + DAY,
        ),
        FeedOutcome(
            status=None, ok=False, health="timed out", error="timed out", next_poll_at=later
        ),
    ]
    engine = store.make_engine(database_url)
    store.migrate(engine)
    urls = [f"http://bulk.test/{i}" for i in range(len(outcomes))]
    with Session(engine) as session:
        store.sync_feeds(session, feeds=[(u, "F") for u in urls])
        for feed in session.exec(select(Feed)).all():
            feed.etag, feed.last_modified, feed.body_hash = '"e1"', "lm1", "h1"
            feed.title, feed.ttl_minutes, feed.entries_seen = "Old title", 60, 10
            feed.consecutive_failures, feed.last_error = 2, "earlier"
            feed.last_success_at = NOW - DAY
            session.add(feed)
        session.commit()
    for round_ in range(2):  # twice: counters must add up the same way
        when = NOW + round_ * BASE
        with Session(engine) as session:
            ids = {f.url: f.id or 0 for f in session.exec(select(Feed)).all()}
            store.record_feed_outcomes(
                session,
                outcomes=[(ids[u], o) for u, o in zip(urls, outcomes, strict=True)],
                now=when,
            )
            session.commit()

    def state(url: str) -> dict[str, Any]:
        with Session(engine) as session:
            feed = session.exec(select(Feed).where(Feed.url == url)).one()
            return feed.model_dump(exclude={"id", "url", "config_url"})

    not_modified, parsed, unchanged, no_ttl, failed, gone, _ = map(state, urls)
    assert (not_modified["etag"], not_modified["consecutive_failures"]) == ('"e1"', 0)
    assert (parsed["title"], parsed["etag"], parsed["last_modified"]) == ("New title", '"e2"', None)
    assert (parsed["ttl_minutes"], parsed["entries_seen"]) == (30, 16)
    assert (unchanged["etag"], unchanged["last_modified"], unchanged["ttl_minutes"]) == (
        None,
        "lm2",
        60,
    )
    assert (no_ttl["body_hash"], no_ttl["ttl_minutes"]) == ("h3", None)
    assert (failed["consecutive_failures"], failed["last_error"]) == (4, "HTTP 500")
    assert failed["last_success_at"] == NOW - DAY
    assert (gone["gone"], gone["last_status"]) == (True, 410)
    engine.dispose()


def test_every_scheduled_run_polls_each_feed_once_its_interval_has_passed(
    engine: Engine, transport: FeedTransport
) -> None:
    """Issue 25, finding 1: with a 10-minute schedule and a 10-minute interval, each feed was
    polled every 20 minutes: a run starts a few seconds after its tick, never at the same
    offset, so the next poll time landed just after the next tick half of the time."""
    urls = [url_of(f"/f{i}") for i in range(5)]
    for url in urls:
        transport.set(url, body=rss(tag=url[-2:]))
    cfg = config(urls)
    offsets = random.Random(7)
    ticks = 6
    for tick in range(ticks):
        start = NOW + tick * BASE + timedelta(seconds=offsets.uniform(0, 45))
        assert len(cycle(engine, cfg, start, transport=transport)) == len(urls), tick
    assert [len(transport.hits(url)) for url in urls] == [ticks] * len(urls)


# --- the digest workers start with the first body ---------------------------------------------


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the cycle started, in order: "forkserver" and "workers" (each still runs)."""
    calls: list[str] = []

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        parser_pool, "start_forkserver", counted("forkserver", parser_pool.start_forkserver)
    )
    monkeypatch.setattr(
        parser_pool.ParserPool, "start", counted("workers", parser_pool.ParserPool.start)
    )
    return calls


def test_an_idle_cycle_starts_no_digest_worker_and_a_busy_one_starts_them_once(
    engine: Engine, transport: FeedTransport, started: list[str]
) -> None:
    """Every feed answering 304 leaves nothing to parse: no forkserver, no worker."""
    urls = [url_of("/a"), url_of("/b")]
    for tag, url in zip("ab", urls, strict=True):
        transport.set(url, body=rss(tag=tag))
    cfg = config(urls)

    first = orchestrator.run_cycle(engine, cfg, environ={}, now=NOW, transport=transport)
    assert first.new_articles == 6
    assert started.count("workers") == 1  # two bodies, one start

    started.clear()
    later = NOW + timedelta(hours=1)
    assert cycle(engine, cfg, later, transport=transport) == ["304 not modified"] * 2
    assert started == []
