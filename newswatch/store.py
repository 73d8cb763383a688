"""Every query newswatch makes: keyword-only functions that take a Session.

Dedupe and the alert outbox rest on the database's unique keys (see models.py), so
two workers or a crash between steps cannot store an article, a match or a delivery twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, bindparam, case, event, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, create_engine, select

from newswatch.models import (
    Article,
    ArticleSource,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Feed,
    Match,
    Rule,
)
from newswatch.normalize import CleanArticle

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine with the settings each backend needs (SQLite: WAL, a busy timeout, FKs)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


@contextmanager
def engine_at(url: str) -> Iterator[Engine]:
    """An engine for one piece of work (a flow step, a task), its connections closed after:
    a worker runs many flows, and pooled connections left open would pile up."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _insert(session: Session, table: Any) -> Any:
    """A dialect INSERT that supports ON CONFLICT DO NOTHING and RETURNING."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


# --- feeds ---------------------------------------------------------------


def sync_feeds(session: Session, *, feeds: Iterable[tuple[str, str]]) -> None:
    """Make sure each (config URL, name) from the config has a row; names follow the config.

    A row is found by the config URL it came from (its polled `url` may have moved on after
    a 301/308). Failing that, a row whose polled URL is the config URL is adopted: the user
    updated the config to where the feed moved, or the row predates config URLs. A row still
    claimed by another entry of the config is never taken from it.
    """
    wanted = dict(feeds)
    rows = list(session.exec(select(Feed)).all())
    by_config = {r.config_url: r for r in rows if r.config_url}
    by_url = {r.url: r for r in rows}
    missing: list[dict[str, str]] = []
    for url, name in wanted.items():
        row = by_config.get(url)
        if row is None:
            row = by_url.get(url)
            if row is not None and row.config_url in wanted:
                continue  # the entry it moved from is still listed: both share that row
        if row is None:
            missing.append({"url": url, "config_url": url, "name": name, "health": "never polled"})
            continue
        if row.config_url != url or row.name != name:
            row.config_url, row.name = url, name
            session.add(row)
    session.flush()
    if missing:
        # DO NOTHING on any unique key: another process may sync the same config right now.
        session.execute(_insert(session, Feed).values(missing).on_conflict_do_nothing())
    session.commit()


def due_feeds(
    session: Session,
    *,
    now: datetime,
    urls: Sequence[str] | None = None,
    due_only: bool = True,
) -> list[Feed]:
    """Feeds whose next poll time has come (all of them when not `due_only`);
    `urls` limits to the config's current feeds (by the config URL a row came from)."""
    stmt = select(Feed)
    if due_only:
        stmt = stmt.where(or_(col(Feed.next_poll_at).is_(None), col(Feed.next_poll_at) <= now))
    if urls is not None:
        stmt = stmt.where(col(Feed.config_url).in_(list(urls)))
    return list(session.exec(stmt.order_by(col(Feed.id))).all())


def feeds_by_url(session: Session, *, urls: Sequence[str]) -> list[Feed]:
    return list(session.exec(select(Feed).where(col(Feed.url).in_(list(urls)))).all())


def list_feeds(session: Session) -> list[Feed]:
    return list(session.exec(select(Feed).order_by(col(Feed.id))).all())


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What one poll of one feed did, for the feed's health row."""

    status: int | None
    ok: bool
    health: str
    error: str | None = None
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    entries: int = 0
    next_poll_at: datetime | None = None
    new_url: str | None = None
    gone: bool = False
    ttl_minutes: int | None = None  # RSS <ttl>; kept only when a new body was parsed


def record_feed_outcome(
    session: Session, *, feed_id: int, outcome: FeedOutcome, now: datetime
) -> None:
    """Write a poll's result; callers commit (with the articles, when there are any)."""
    feed = session.get(Feed, feed_id)
    if feed is None:
        return
    feed.last_polled_at = now
    feed.last_status = outcome.status
    feed.health = outcome.health
    feed.next_poll_at = outcome.next_poll_at
    feed.gone = outcome.gone
    if outcome.ok:
        feed.consecutive_failures = 0
        feed.last_success_at = now
        feed.last_error = None
        feed.entries_seen += outcome.entries
        if outcome.title:
            feed.title = outcome.title
        # A 304 carries no validators of its own: keep what we had.
        if outcome.etag is not None or outcome.last_modified is not None:
            feed.etag = outcome.etag
            feed.last_modified = outcome.last_modified
        if outcome.body_hash is not None:
            # A new body was parsed: its <ttl> (or none) replaces the old one.
            feed.body_hash = outcome.body_hash
            feed.ttl_minutes = outcome.ttl_minutes
    else:
        feed.consecutive_failures += 1
        feed.last_error = outcome.error
    if outcome.new_url and outcome.new_url != feed.url:
        taken = session.exec(select(Feed.id).where(Feed.url == outcome.new_url)).first()
        if taken is None:
            feed.url = outcome.new_url
    session.add(feed)


def record_feed_outcomes(
    session: Session, *, outcomes: Sequence[tuple[int, FeedOutcome]], now: datetime
) -> None:
    """Many polls' results at once (a cycle's 304s and failures): one UPDATE run for all
    the rows, with the same effect as record_feed_outcome on each (which handles moves).

    Row by row through the ORM, a thousand 304s cost half a second of a cycle's CPU.
    """
    table = Feed.metadata.tables["feed"]
    c = table.c

    def bound(name: str, column: Any) -> Any:
        return bindparam(f"b_{name}", type_=column.type)

    ok = bindparam("b_ok", type_=c.gone.type)
    set_validators = bindparam("b_set_validators", type_=c.gone.type)
    body_hash = bound("body_hash", c.body_hash)
    stmt = (
        update(table)
        .where(c.id == bindparam("b_id", type_=c.id.type))
        .values(
            last_polled_at=now,
            last_status=bound("last_status", c.last_status),
            health=bound("health", c.health),
            next_poll_at=bound("next_poll_at", c.next_poll_at),
            gone=bound("gone", c.gone),
            consecutive_failures=case((ok, 0), else_=c.consecutive_failures + 1),
            last_success_at=case((ok, now), else_=c.last_success_at),
            last_error=case((ok, None), else_=bound("last_error", c.last_error)),
            entries_seen=c.entries_seen + bound("entries", c.entries_seen),
            title=func.coalesce(bound("title", c.title), c.title),
            # A 304 carries no validators of its own: keep what we had.
            etag=case((set_validators, bound("etag", c.etag)), else_=c.etag),
            last_modified=case(
                (set_validators, bound("last_modified", c.last_modified)), else_=c.last_modified
            ),
            body_hash=func.coalesce(body_hash, c.body_hash),
            ttl_minutes=case(
                (body_hash.is_not(None), bound("ttl_minutes", c.ttl_minutes)),
                else_=c.ttl_minutes,
            ),
        )
    )
    rows: list[dict[str, Any]] = []
    for feed_id, outcome in outcomes:
        if outcome.new_url:  # rare, and it needs to look for the new URL first
            record_feed_outcome(session, feed_id=feed_id, outcome=outcome, now=now)
            continue
        good = outcome.ok
        rows.append(
            {
                "b_id": feed_id,
                "b_ok": good,
                "b_last_status": outcome.status,
                "b_health": outcome.health,
                "b_next_poll_at": outcome.next_poll_at,
                "b_gone": outcome.gone,
                "b_last_error": outcome.error,
                "b_entries": outcome.entries if good else 0,
                "b_title": outcome.title if good and outcome.title else None,
                "b_set_validators": good
                and (outcome.etag is not None or outcome.last_modified is not None),
                "b_etag": outcome.etag,
                "b_last_modified": outcome.last_modified,
                "b_body_hash": outcome.body_hash if good else None,
                "b_ttl_minutes": outcome.ttl_minutes,
            }
        )
    if rows:
        session.connection().execute(stmt, rows)


# --- rules ---------------------------------------------------------------


def sync_rules(session: Session, *, rules: Iterable[tuple[str, str, str]], now: datetime) -> None:
    """Upsert (id, query, name) rows so matches keep pointing at a known rule."""
    for rule_id, query, name in rules:
        stmt = _insert(session, Rule).values(id=rule_id, query=query, name=name, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"], set_={"query": query, "name": name, "updated_at": now}
        )
        session.execute(stmt)
    session.commit()


# --- articles and matches -------------------------------------------------


def known_articles(
    session: Session, *, fingerprints: Sequence[str], canonical_urls: Sequence[str]
) -> dict[str, int]:
    """Map each already-stored fingerprint or canonical URL to its article id."""
    found: dict[str, int] = {}
    if fingerprints:
        rows = session.exec(
            select(Article.id, Article.fingerprint).where(
                col(Article.fingerprint).in_(list(fingerprints))
            )
        ).all()
        found.update({fp: aid for aid, fp in rows if aid is not None})
    urls = [u for u in canonical_urls if u]
    if urls:
        rows_u = session.exec(
            select(Article.id, Article.canonical_url).where(col(Article.canonical_url).in_(urls))
        ).all()
        found.update({u: aid for aid, u in rows_u if aid is not None and u})
    return found


@dataclass(frozen=True, slots=True)
class MatchToStore:
    rule_id: str
    terms: list[str]
    channels: list[str]
    digest_channels: frozenset[str] = frozenset()  # of `channels`, those that get digests
    highlights: dict[str, list[list[int]]] = field(default_factory=dict)


@dataclass(slots=True)
class StoreCounts:
    new_articles: int = 0
    matches: int = 0
    deliveries: int = 0


def store_articles(
    session: Session,
    *,
    feed_id: int,
    articles: Sequence[tuple[CleanArticle, Sequence[MatchToStore]]],
    now: datetime,
) -> StoreCounts:
    """Insert new articles with their matches and outbox rows, skipping ones already stored.

    The caller commits once per feed, so an article never exists without its matches and
    deliveries: a crash either keeps all of them or none.
    """
    counts = StoreCounts()
    # One statement, bound per article: building an ORM INSERT per row cost more than running
    # it (about 1 ms an article on SQLite, the bulk of a first poll of a thousand feeds).
    table = Article.metadata.tables["article"]
    insert_article = _insert(session, table).on_conflict_do_nothing().returning(table.c.id)
    connection = session.connection()
    for article, matches in articles:
        article_id = connection.execute(
            insert_article,
            {
                "fingerprint": article.fingerprint,
                "canonical_url": article.canonical_url,
                "story_key": article.story_key,
                "feed_id": feed_id,
                "source": article.source,
                "title": article.title,
                "summary": article.summary,
                "body": article.body,
                "url": article.url,
                "author": article.author,
                "published_at": article.published_at,
                "fetched_at": article.fetched_at,
            },
        ).scalar()
        if article_id is None:
            # Already stored (another feed carried it): remember this outlet too.
            existing = known_articles(
                session,
                fingerprints=[article.fingerprint],
                canonical_urls=[article.canonical_url] if article.canonical_url else [],
            )
            for key in (article.fingerprint, article.canonical_url):
                if key and key in existing:
                    _add_source(session, article_id=existing[key], feed_id=feed_id, now=now)
                    break
            continue
        counts.new_articles += 1
        _add_source(session, article_id=article_id, feed_id=feed_id, now=now)
        added = store_matches(session, article_id=article_id, matches=matches, now=now)
        counts.matches += added.matches
        counts.deliveries += added.deliveries
    return counts


def store_matches(
    session: Session, *, article_id: int, matches: Sequence[MatchToStore], now: datetime
) -> StoreCounts:
    """Matches of one stored article and one outbox row per (match, channel); a match that
    exists already (same article and rule) is left alone, so nothing is alerted twice."""
    counts = StoreCounts()
    for m in matches:
        match_id = session.execute(
            _insert(session, Match)
            .values(
                article_id=article_id,
                rule_id=m.rule_id,
                terms=m.terms,
                highlights=m.highlights,
                matched_at=now,
            )
            .on_conflict_do_nothing()
            .returning(Match.id)
        ).scalar()
        if match_id is None:
            continue
        counts.matches += 1
        for channel in m.channels:
            session.execute(
                _insert(session, Delivery)
                .values(
                    match_id=match_id,
                    channel=channel,
                    kind=(
                        DeliveryKind.DIGEST.value
                        if channel in m.digest_channels
                        else DeliveryKind.INSTANT.value
                    ),
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                )
                .on_conflict_do_nothing()
            )
            counts.deliveries += 1
    return counts


def articles_between(
    session: Session, *, since: datetime, until: datetime, batch: int = 500
) -> Iterator[Article]:
    """Stored articles published in [since, until), in the order stored, read in batches."""
    last_id = 0
    while True:
        rows = session.exec(
            select(Article)
            .where(col(Article.published_at) >= since)
            .where(col(Article.published_at) < until)
            .where(col(Article.id) > last_id)
            .order_by(col(Article.id))
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id or last_id


def recent_articles(session: Session, *, limit: int) -> list[Article]:
    """The articles stored last, newest first."""
    query = select(Article).order_by(col(Article.id).desc()).limit(limit)
    return list(session.exec(query).all())


def add_sources(
    session: Session, *, article_ids: Sequence[int], feed_id: int, now: datetime
) -> None:
    """Note that a feed carried articles already stored, in one statement per 500."""
    table = ArticleSource.metadata.tables["article_source"]
    unique = list(dict.fromkeys(article_ids))
    for start in range(0, len(unique), 500):
        rows = [
            {"article_id": a, "feed_id": feed_id, "seen_at": now}
            for a in unique[start : start + 500]
        ]
        session.execute(_insert(session, table).values(rows).on_conflict_do_nothing())


def _add_source(session: Session, *, article_id: int, feed_id: int, now: datetime) -> None:
    table = ArticleSource.metadata.tables["article_source"]
    session.connection().execute(
        _insert(session, table).on_conflict_do_nothing(),
        {"article_id": article_id, "feed_id": feed_id, "seen_at": now},
    )


def count_rows(session: Session, model: Any) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


# --- the alert outbox ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """Everything needed to render and send one delivery, read in one query."""

    delivery_id: int
    channel: str
    attempts: int
    rule_id: str
    rule_name: str
    terms: list[str]
    article_title: str
    article_summary: str
    article_url: str | None
    source: str
    published_at: datetime
    also_reported_by: list[str]
    highlights: dict[str, list[list[int]]]
    created_at: datetime


CLAIM_LEASE = timedelta(minutes=5)


def claim_due_deliveries(
    session: Session,
    *,
    now: datetime,
    limit: int = 100,
    channels: Sequence[str] | None = None,
    kind: DeliveryKind = DeliveryKind.INSTANT,
    lease: timedelta = CLAIM_LEASE,
) -> list[PendingAlert]:
    """Take pending deliveries whose time has come, oldest first, and commit the claim.

    A claim pushes `next_attempt_at` one lease ahead with a conditional UPDATE, which is
    atomic on both backends: two senders never take the same row, and a sender that dies
    mid-send leaves the row to be retried when the lease runs out (nothing is lost).
    On PostgreSQL the candidates are read with SKIP LOCKED so senders do not queue.
    """
    stmt = (
        select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.PENDING.value)
        .where(Delivery.kind == kind.value)
        .where(col(Delivery.next_attempt_at) <= now)
        .order_by(col(Delivery.created_at), col(Delivery.id))
        .limit(limit)
    )
    if channels is not None:
        stmt = stmt.where(col(Delivery.channel).in_(list(channels)))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    claimed: list[int] = []
    for delivery_id in session.exec(stmt).all():
        result = session.execute(
            update(Delivery)
            .where(col(Delivery.id) == delivery_id)
            .where(col(Delivery.status) == DeliveryStatus.PENDING.value)
            .where(col(Delivery.next_attempt_at) <= now)
            .values(next_attempt_at=now + lease)
        )
        if getattr(result, "rowcount", 0) == 1 and delivery_id is not None:
            claimed.append(delivery_id)
    session.commit()
    return [alert for d in claimed if (alert := pending_alert(session, delivery_id=d))]


def pending_alert(session: Session, *, delivery_id: int) -> PendingAlert | None:
    """One delivery with its match, article and rule, ready to render."""
    row = session.exec(
        select(Delivery, Match, Article, Rule)
        .join(Match, col(Match.id) == col(Delivery.match_id))
        .join(Article, col(Article.id) == col(Match.article_id))
        .join(Rule, col(Rule.id) == col(Match.rule_id))
        .where(Delivery.id == delivery_id)
    ).first()
    if row is None:
        return None
    delivery, match, article, rule = row
    assert article.id is not None
    return PendingAlert(
        delivery_id=delivery_id,
        channel=delivery.channel,
        attempts=delivery.attempts,
        rule_id=rule.id,
        rule_name=rule.name or rule.id,
        terms=list(match.terms),
        article_title=article.title,
        article_summary=article.summary,
        article_url=article.url,
        source=article.source,
        published_at=as_utc(article.published_at) or article.fetched_at,
        also_reported_by=_other_sources(
            session, article_id=article.id, first_feed_id=article.feed_id
        ),
        highlights=dict(match.highlights or {}),
        created_at=as_utc(delivery.created_at) or delivery.created_at,
    )


def _other_sources(session: Session, *, article_id: int, first_feed_id: int) -> list[str]:
    rows = session.exec(
        select(Feed.name, Feed.title, Feed.url)
        .join(ArticleSource, col(ArticleSource.feed_id) == col(Feed.id))
        .where(ArticleSource.article_id == article_id)
        .where(col(Feed.id) != first_feed_id)
        .order_by(col(ArticleSource.seen_at))
    ).all()
    return [name or title or url for name, title, url in rows]


def mark_sent(session: Session, *, delivery_id: int, now: datetime) -> None:
    session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id)
        .values(status=DeliveryStatus.SENT.value, sent_at=now, last_error=None)
    )


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff for a failed delivery: 1, 2, 4 … minutes, at most 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def mark_failed(
    session: Session,
    *,
    delivery_id: int,
    error: str,
    now: datetime,
    max_attempts: int,
) -> str:
    """Record a failed send; the row stays pending (or is dead after max_attempts)."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return DeliveryStatus.DEAD.value
    delivery.attempts += 1
    delivery.last_error = error
    if delivery.attempts >= max_attempts:
        delivery.status = DeliveryStatus.DEAD.value
    else:
        delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    session.add(delivery)
    return delivery.status


def hold_channel(session: Session, *, channel: str, until: datetime) -> None:
    """Hold every pending instant delivery of a channel until `until`, untried.

    Used when the channel fails or reaches its rate limit: the queue keeps its order.
    """
    session.execute(
        update(Delivery)
        .where(col(Delivery.channel) == channel)
        .where(col(Delivery.kind) == DeliveryKind.INSTANT.value)
        .where(col(Delivery.status) == DeliveryStatus.PENDING.value)
        .values(next_attempt_at=until)
    )


def sent_since(session: Session, *, channel: str, since: datetime) -> int:
    """Messages a channel was sent since a moment, for its rate limit."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.channel == channel)
            .where(Delivery.status == DeliveryStatus.SENT.value)
            .where(col(Delivery.sent_at) > since)
        ).one()
    )


def last_sent_at(
    session: Session, *, channel: str, kind: DeliveryKind | None = None
) -> datetime | None:
    stmt = select(func.max(Delivery.sent_at)).where(Delivery.channel == channel)
    if kind is not None:
        stmt = stmt.where(Delivery.kind == kind.value)
    return as_utc(session.exec(stmt).one())


def oldest_pending_at(session: Session, *, channel: str, kind: DeliveryKind) -> datetime | None:
    value = session.exec(
        select(func.min(Delivery.created_at))
        .where(Delivery.channel == channel)
        .where(Delivery.kind == kind.value)
        .where(Delivery.status == DeliveryStatus.PENDING.value)
    ).one()
    return as_utc(value)


def dead_alerts(session: Session) -> list[tuple[Delivery, PendingAlert]]:
    """Deliveries that gave up, with what they were about, oldest first."""
    rows = session.exec(
        select(Delivery)
        .where(Delivery.status == DeliveryStatus.DEAD.value)
        .order_by(col(Delivery.created_at), col(Delivery.id))
    ).all()
    found = []
    for delivery in rows:
        assert delivery.id is not None
        alert = pending_alert(session, delivery_id=delivery.id)
        if alert is not None:
            found.append((delivery, alert))
    return found


def requeue_dead(session: Session, *, now: datetime, channel: str | None = None) -> int:
    """Queue dead deliveries again with a fresh attempt count."""
    stmt = (
        update(Delivery)
        .where(col(Delivery.status) == DeliveryStatus.DEAD.value)
        .values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now)
    )
    if channel is not None:
        stmt = stmt.where(col(Delivery.channel) == channel)
    result = session.execute(stmt)
    session.commit()
    return int(getattr(result, "rowcount", 0))


def mark_many_sent(session: Session, *, delivery_ids: Sequence[int], now: datetime) -> None:
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(list(delivery_ids)))
            .values(status=DeliveryStatus.SENT.value, sent_at=now, last_error=None)
        )


def deliveries(session: Session, *, status: str | None = None) -> list[Delivery]:
    stmt = select(Delivery).order_by(col(Delivery.id))
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    return list(session.exec(stmt).all())


@dataclass(frozen=True, slots=True)
class MatchRow:
    matched_at: datetime
    rule_id: str
    title: str
    url: str | None
    terms: list[str]


def recent_matches(session: Session, *, limit: int = 20) -> list[MatchRow]:
    rows = session.exec(
        select(Match, Article)
        .join(Article, col(Article.id) == col(Match.article_id))
        .order_by(col(Match.matched_at).desc(), col(Match.id).desc())
        .limit(limit)
    ).all()
    return [
        MatchRow(
            matched_at=as_utc(m.matched_at) or m.matched_at,
            rule_id=m.rule_id,
            title=a.title,
            url=a.url,
            terms=list(m.terms),
        )
        for m, a in rows
    ]


# --- run history (a fanned-out cycle, read back by the run that started it) ------------


@dataclass(frozen=True, slots=True)
class CycleFeed:
    """A feed polled since a cycle began, with what that poll stored."""

    id: int
    name: str
    url: str
    config_url: str
    health: str
    ok: bool
    new_articles: int
    matches: int


@dataclass(frozen=True, slots=True)
class CycleMatch:
    rule_id: str
    title: str
    outlet: str
    url: str | None
    published_at: datetime
    matched_at: datetime


def cycle_feeds(
    session: Session, *, since: datetime, config_urls: Sequence[str] | None = None
) -> list[CycleFeed]:
    """Feeds polled at or after `since` (of `config_urls`, when given), with the articles
    and matches first stored from each since then; failed feeds are those whose last poll
    failed."""
    stmt = select(Feed).where(col(Feed.last_polled_at) >= since)
    if config_urls is not None:
        stmt = stmt.where(col(Feed.config_url).in_(list(config_urls)))
    feeds = list(session.exec(stmt.order_by(col(Feed.id))).all())
    ids = [f.id for f in feeds if f.id is not None]
    new_by_feed: dict[int, int] = {}
    matches_by_feed: dict[int, int] = {}
    if ids:
        new_by_feed = {
            feed_id: count
            for feed_id, count in session.exec(
                select(Article.feed_id, func.count())
                .where(col(Article.feed_id).in_(ids), col(Article.fetched_at) >= since)
                .group_by(col(Article.feed_id))
            ).all()
        }
        matches_by_feed = {
            feed_id: count
            for feed_id, count in session.exec(
                select(Article.feed_id, func.count())
                .join(Match, col(Match.article_id) == col(Article.id))
                .where(col(Article.feed_id).in_(ids), col(Match.matched_at) >= since)
                .group_by(col(Article.feed_id))
            ).all()
        }
    return [
        CycleFeed(
            id=f.id or 0,
            name=f.name or f.title or f.url,
            url=f.url,
            config_url=f.config_url or f.url,
            health=f.health,
            ok=f.consecutive_failures == 0,
            new_articles=new_by_feed.get(f.id or 0, 0),
            matches=matches_by_feed.get(f.id or 0, 0),
        )
        for f in feeds
    ]


def cycle_matches(
    session: Session, *, since: datetime, feed_ids: Sequence[int] | None = None
) -> list[CycleMatch]:
    """Matches stored at or after `since` (of articles first stored by `feed_ids`, when
    given), oldest first."""
    stmt = (
        select(Match, Article)
        .join(Article, col(Article.id) == col(Match.article_id))
        .where(col(Match.matched_at) >= since)
    )
    if feed_ids is not None:
        stmt = stmt.where(col(Article.feed_id).in_(list(feed_ids)))
    rows = session.exec(stmt.order_by(col(Match.matched_at), col(Match.id))).all()
    return [
        CycleMatch(
            rule_id=m.rule_id,
            title=a.title,
            outlet=a.source,
            url=a.url,
            published_at=as_utc(a.published_at) or a.published_at,
            matched_at=as_utc(m.matched_at) or m.matched_at,
        )
        for m, a in rows
    ]
