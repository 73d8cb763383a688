"""Articles, the feeds that carried them, and their matches with the outbox rows they make.

Dedupe rests on the database's unique keys (an article's fingerprint and canonical URL,
(article, rule) for matches, (match, channel) for deliveries), so two workers or a crash
between steps cannot store an article, a match or a delivery twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from newswatch.models import (
    Article,
    ArticleSource,
    CleanArticle,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Match,
    MatchToStore,
    StoreCounts,
)
from newswatch.store.db import insert


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


def store_articles(
    session: Session,
    *,
    feed_id: int,
    articles: Sequence[tuple[CleanArticle, Sequence[MatchToStore]]],
    now: datetime,
) -> StoreCounts:
    """Insert new articles with their matches and outbox rows, skipping ones already stored
    (another feed carried them: this feed is noted as one more source).

    One statement, bound per article: building an ORM INSERT per row cost more than
    running it.
    """
    counts = StoreCounts()
    table = Article.metadata.tables["article"]
    insert_article = insert(session, table).on_conflict_do_nothing().returning(table.c.id)
    connection = session.connection()
    carried: list[int] = []  # articles this feed carried, new or stored before
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
                "lang": article.lang,
            },
        ).scalar()
        if article_id is None:
            existing = known_articles(
                session,
                fingerprints=[article.fingerprint],
                canonical_urls=[article.canonical_url] if article.canonical_url else [],
            )
            stored = existing.get(article.fingerprint) or existing.get(article.canonical_url or "")
            if stored is not None:
                carried.append(stored)
            continue
        counts.new_articles += 1
        carried.append(article_id)
        if matches:
            added = store_matches(session, article_id=article_id, matches=matches, now=now)
            counts.matches += added.matches
            counts.deliveries += added.deliveries
    add_sources(session, article_ids=carried, feed_id=feed_id, now=now)
    return counts


def store_matches(
    session: Session, *, article_id: int, matches: Sequence[MatchToStore], now: datetime
) -> StoreCounts:
    """Matches of one stored article and one outbox row per (match, channel); a match that
    exists already (same article and rule) is left alone, so nothing is alerted twice."""
    counts = StoreCounts()
    for m in matches:
        match_id = session.execute(
            insert(session, Match)
            .values(
                article_id=article_id,
                rule_id=m.rule_id,
                terms=m.terms,
                highlights=m.highlights,
                words=m.words,
                matched_at=now,
            )
            .on_conflict_do_nothing()
            .returning(Match.id)
        ).scalar()
        if match_id is None:
            continue
        counts.matches += 1
        rows = [
            {
                "match_id": match_id,
                "channel": channel,
                "kind": (
                    DeliveryKind.DIGEST.value
                    if channel in m.digest_channels
                    else DeliveryKind.INSTANT.value
                ),
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            }
            for channel in m.channels
        ]
        if rows:
            session.execute(insert(session, Delivery).values(rows).on_conflict_do_nothing())
            counts.deliveries += len(rows)
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
    """Note that a feed carried these articles, in one statement run for all of them."""
    if not article_ids:
        return
    table = ArticleSource.metadata.tables["article_source"]
    rows = [
        {"article_id": a, "feed_id": feed_id, "seen_at": now} for a in dict.fromkeys(article_ids)
    ]
    session.connection().execute(insert(session, table).on_conflict_do_nothing(), rows)
