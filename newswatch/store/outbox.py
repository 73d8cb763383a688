"""The alert outbox: one Delivery row per (match, channel), claimed, then marked sent or
failed. Claims are leases, so a sender that dies mid-send loses nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from newswatch.models import (
    Article,
    ArticleSource,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Feed,
    Match,
    PendingAlert,
    Rule,
)

# How long a claim keeps other senders off a delivery. It covers one send, renewed before
# each (`renew_claims`): Apprise's slowest default is SMTP's 15 s socket timeout per
# command, about 90 s for a server that stalls at every step, plus a margin. A sender that
# dies mid-send frees its deliveries this long after, in time for the next monitor run.
CLAIM_LEASE = timedelta(minutes=2)
# How long deliveries claimed together stay claimed before their own send renews them: a
# sender that dies while sending one article's alert leaves the others (another channel's
# among them) to the next run this soon, not after the whole lease.
QUEUED_LEASE = timedelta(seconds=20)
# A retry time lands a little early (a quarter of the delay, at most a minute), so the run
# that comes one delay later finds it due whatever its offset from the failed send.
RETRY_SLACK = 0.25
MAX_RETRY_SLACK = timedelta(minutes=1)


def claim_due_deliveries(
    session: Session,
    *,
    now: datetime,
    limit: int = 100,
    channels: Sequence[str] | None = None,
    kind: DeliveryKind = DeliveryKind.INSTANT,
    lease: timedelta = CLAIM_LEASE,
) -> list[PendingAlert]:
    """Take pending deliveries whose time has come, oldest first, as one set.

    One UPDATE picks the candidates and pushes their `next_attempt_at` one lease ahead, so
    the claim is atomic on both backends (SQLite takes its write lock before it reads): two
    senders never take the same row, and a sender that dies mid-send leaves its rows to be
    retried when the lease runs out. The caller commits the claim before sending. On
    PostgreSQL the candidates are locked with SKIP LOCKED so senders do not queue.

    A channel's queue keeps its order: a delivery waits while an older one of its channel
    waits for a retry after a failure, so after an outage the backlog goes first and a new
    alert after it.
    """
    older = aliased(Delivery)
    behind_a_retry = exists().where(
        col(older.channel) == col(Delivery.channel),
        col(older.kind) == col(Delivery.kind),
        col(older.status) == DeliveryStatus.PENDING.value,
        col(older.attempts) > 0,
        col(older.next_attempt_at) > now,
        or_(
            col(older.created_at) < col(Delivery.created_at),
            and_(
                col(older.created_at) == col(Delivery.created_at),
                col(older.id) < col(Delivery.id),
            ),
        ),
    )
    due = (
        select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.PENDING.value)
        .where(Delivery.kind == kind.value)
        .where(col(Delivery.next_attempt_at) <= now)
        .where(~behind_a_retry)
        .order_by(col(Delivery.created_at), col(Delivery.id))
        .limit(limit)
    )
    if channels is not None:
        due = due.where(col(Delivery.channel).in_(list(channels)))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(due.scalar_subquery()))
        .values(next_attempt_at=now + lease)
        .returning(col(Delivery.id), col(Delivery.created_at))
    ).all()
    ordered = sorted(claimed, key=lambda row: (row[1], row[0]))
    return pending_alerts(session, delivery_ids=[row[0] for row in ordered])


def renew_claims(
    session: Session,
    *,
    delivery_ids: Sequence[int],
    claimed_until: datetime,
    until: datetime,
) -> set[int]:
    """Extend this sender's claim on deliveries it is about to send; the ones returned are
    still its own.

    A row whose lease no longer reads `claimed_until` was held back (its channel failed or
    hit its rate limit) or, its lease lapsed, taken by another sender: it is left alone.
    """
    if not delivery_ids:
        return set()
    renewed = session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(list(delivery_ids)))
        .where(col(Delivery.status) == DeliveryStatus.PENDING.value)
        .where(col(Delivery.next_attempt_at) == claimed_until)
        .values(next_attempt_at=until)
        .returning(col(Delivery.id))
    ).all()
    return {row[0] for row in renewed}


def pending_alerts(session: Session, *, delivery_ids: Sequence[int]) -> list[PendingAlert]:
    """Deliveries with their match, article, rule and other outlets, in the order given."""
    if not delivery_ids:
        return []
    rows = session.exec(
        select(Delivery, Match, Article, Rule)
        .join(Match, col(Match.id) == col(Delivery.match_id))
        .join(Article, col(Article.id) == col(Match.article_id))
        .join(Rule, col(Rule.id) == col(Match.rule_id))
        .where(col(Delivery.id).in_(list(delivery_ids)))
    ).all()
    others = _other_sources(session, articles={a.id: a.feed_id for _, _, a, _ in rows if a.id})
    by_id: dict[int, PendingAlert] = {}
    for delivery, match, article, rule in rows:
        assert delivery.id is not None
        assert article.id is not None
        by_id[delivery.id] = PendingAlert(
            delivery_id=delivery.id,
            channel=delivery.channel,
            attempts=delivery.attempts,
            article_id=article.id,
            rule_id=rule.id,
            rule_name=rule.name or rule.id,
            terms=list(match.terms),
            article_title=article.title,
            # a headline-only entry: the opening of its page's text, which it matched on
            article_summary=article.summary or article.body,
            article_url=article.url,
            source=article.source,
            published_at=article.published_at or article.fetched_at,
            also_reported_by=others.get(article.id, []),
            highlights=dict(match.highlights or {}),
            created_at=delivery.created_at,
            words=dict(match.words or {}),
            lang=article.lang,
            date_known=article.date_known,
            article_body=article.body,
        )
    return [by_id[d] for d in delivery_ids if d in by_id]


def _other_sources(session: Session, *, articles: dict[int, int]) -> dict[int, list[str]]:
    """For each article id, the other outlets that carried it or another copy of its story,
    in the order they were seen ("also reported by")."""
    if not articles:
        return {}
    keys = dict(
        session.exec(
            select(Article.id, Article.story_key).where(col(Article.id).in_(list(articles)))
        ).all()
    )
    stories = {key for key in keys.values() if key}
    members: dict[int, str] = {a: keys.get(a) or f"article:{a}" for a in articles}
    if stories:
        for member_id, key in session.exec(
            select(Article.id, Article.story_key).where(col(Article.story_key).in_(stories))
        ).all():
            if member_id is not None:
                members[member_id] = key
    rows = session.exec(
        select(ArticleSource.article_id, Feed)
        .join(Feed, col(ArticleSource.feed_id) == col(Feed.id))
        .where(col(ArticleSource.article_id).in_(list(members)))
        .order_by(col(ArticleSource.seen_at), col(ArticleSource.id))
    ).all()
    outlets_by_story: dict[str, list[tuple[int | None, str]]] = {}
    for member_id, feed in rows:
        outlet = (feed.id, feed.name or feed.title or feed.url)
        seen = outlets_by_story.setdefault(members[member_id], [])
        if outlet not in seen:
            seen.append(outlet)
    found: dict[int, list[str]] = {}
    for article_id, feed_id in articles.items():
        outlets = outlets_by_story.get(members[article_id], [])
        names = [name for fid, name in outlets if fid != feed_id]
        if names:
            found[article_id] = list(dict.fromkeys(names))
    return found


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff for a failed delivery: 1, 2, 4 … minutes, at most 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def retry_at(now: datetime, attempts: int) -> datetime:
    """When a delivery that failed `attempts` times may be tried again (a little early)."""
    delay = retry_delay(attempts)
    return now + delay - min(delay * RETRY_SLACK, MAX_RETRY_SLACK)


def mark_sent(session: Session, *, delivery_ids: Sequence[int], now: datetime) -> None:
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(list(delivery_ids)))
            .values(status=DeliveryStatus.SENT.value, sent_at=now, last_error=None)
        )


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
        delivery.next_attempt_at = retry_at(now, delivery.attempts)
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


def release_held(session: Session, *, now: datetime) -> int:
    """Make every pending instant delivery due now (a user asked to try them at once).

    It also frees a delivery another sender has claimed and is sending at this very moment,
    which could then go out twice: the same window as a crash mid-send, as rare, and folded
    by the mail client the same way (the Message-ID does not change).
    """
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.kind) == DeliveryKind.INSTANT.value)
        .where(col(Delivery.status) == DeliveryStatus.PENDING.value)
        .where(col(Delivery.next_attempt_at) > now)
        .values(next_attempt_at=now)
    )
    return int(getattr(result, "rowcount", 0))


def sent_since(session: Session, *, channel: str, since: datetime) -> int:
    """Alert messages a channel was sent since a moment, for its rate limit: one per
    article, however many of its matches (rules) the message listed."""
    return int(
        session.exec(
            select(func.count(func.distinct(Match.article_id)))
            .select_from(Delivery)
            .join(Match, col(Match.id) == col(Delivery.match_id))
            .where(Delivery.channel == channel)
            .where(Delivery.kind == DeliveryKind.INSTANT.value)
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
    return session.exec(stmt).one()


def oldest_pending_at(session: Session, *, channel: str, kind: DeliveryKind) -> datetime | None:
    return session.exec(
        select(func.min(Delivery.created_at))
        .where(Delivery.channel == channel)
        .where(Delivery.kind == kind.value)
        .where(Delivery.status == DeliveryStatus.PENDING.value)
    ).one()


def waiting_alerts(
    session: Session, *, statuses: Sequence[DeliveryStatus] = (DeliveryStatus.PENDING,)
) -> list[tuple[Delivery, PendingAlert]]:
    """Deliveries in these states with what they are about, oldest first."""
    rows = session.exec(
        select(Delivery)
        .where(col(Delivery.status).in_([s.value for s in statuses]))
        .order_by(col(Delivery.created_at), col(Delivery.id))
    ).all()
    alerts = {
        a.delivery_id: a for a in pending_alerts(session, delivery_ids=[d.id for d in rows if d.id])
    }
    return [(d, alerts[d.id]) for d in rows if d.id in alerts]


def count_waiting(session: Session, *, kind: DeliveryKind | None = None) -> dict[str, int]:
    """Deliveries not sent, by status ("pending", "dead"), of one kind when `kind` is given."""
    stmt = (
        select(Delivery.status, func.count())
        .where(col(Delivery.status) != DeliveryStatus.SENT.value)
        .group_by(col(Delivery.status))
    )
    if kind is not None:
        stmt = stmt.where(Delivery.kind == kind.value)
    return {str(status): int(n) for status, n in session.exec(stmt).all()}


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
    return int(getattr(result, "rowcount", 0))


def deliveries(session: Session, *, status: str | None = None) -> list[Delivery]:
    stmt = select(Delivery).order_by(col(Delivery.id))
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    return list(session.exec(stmt).all())
