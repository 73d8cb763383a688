"""Articles, the feeds that carried them, and their matches with the outbox rows they make.

Dedupe rests on the database's unique keys (an article's fingerprint and canonical URL,
(article, rule) for matches, (match, channel) for deliveries), so two workers or a crash
between steps cannot store an article, a match or a delivery twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy import select as sa_select
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
    StoryAlert,
)
from newswatch.store.db import insert
from newswatch.store.stories import StoryWindow, assign_stories
from newswatch.stories import DEFAULT_THRESHOLD, DEFAULT_WINDOW, Sketch, opening_text, sketch


@dataclass(frozen=True, slots=True)
class StoredText:
    """What a stored article said, to tell an updated entry from the same one polled again."""

    article_id: int
    title: str
    summary: str
    body: str


def known_articles(
    session: Session, *, fingerprints: Sequence[str], canonical_urls: Sequence[str]
) -> dict[str, int]:
    """Map each already-stored fingerprint or canonical URL to its article id.

    One Core query for both keys: run once per polled feed, the ORM's per-query work cost
    more than the lookup.
    """
    urls = [u for u in canonical_urls if u]
    if not fingerprints and not urls:
        return {}
    table = Article.metadata.tables["article"]
    c = table.c
    query = sa_select(c.id, c.fingerprint, c.canonical_url).where(
        or_(c.fingerprint.in_(list(fingerprints)), c.canonical_url.in_(urls))
    )
    wanted_fps, wanted_urls = set(fingerprints), set(urls)
    found: dict[str, int] = {}
    for article_id, fingerprint, url in session.connection().execute(query):
        if fingerprint in wanted_fps:
            found[fingerprint] = article_id
        if url and url in wanted_urls:
            found[url] = article_id
    return found


def store_articles(
    session: Session,
    *,
    feed_id: int,
    articles: Sequence[tuple[CleanArticle, Sequence[MatchToStore]]],
    now: datetime,
    story_threshold: float = DEFAULT_THRESHOLD,
    story_window: timedelta = DEFAULT_WINDOW,
    sketches: Mapping[str, Sketch] | None = None,
    stories: StoryWindow | None = None,
) -> StoreCounts:
    """Insert new articles with their matches and outbox rows, skipping ones already stored
    (another feed carried them: this feed is noted as one more source).

    Each new article joins the story of the most similar recent article (stories.py), and
    a match makes outbox rows only for the (story, rule, channel) not alerted yet: a copy
    of a story already alerted adds its outlet and sends nothing.

    A few statements for the whole feed, however many articles: one batched INSERT for the
    articles, one for their matches, one for the outbox rows. A statement per article
    cost more than everything else the cycle does outside parsing.

    `sketches` (by fingerprint): made by the cycle's digest step; made here otherwise.
    `stories`: the cycle's window of stored sketches (store/stories.py).
    """
    counts = StoreCounts()
    if not articles:
        return counts
    table = Article.metadata.tables["article"]
    rows = [
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
            "date_known": article.date_known,
        }
        for article, _ in articles
    ]
    statement = (
        insert(session, table).on_conflict_do_nothing().returning(table.c.id, table.c.fingerprint)
    )
    inserted: dict[str, int] = {
        fingerprint: article_id
        for article_id, fingerprint in session.connection().execute(statement, rows)
    }
    counts.new_articles = len(inserted)
    assign_stories(
        session,
        articles=[
            (
                inserted[article.fingerprint],
                article.fingerprint,
                (sketches or {}).get(article.fingerprint)
                or sketch(article.title, opening_text(article.summary, article.body)),
                article.published_at,
            )
            for article, _ in articles
            if article.fingerprint in inserted
        ],
        threshold=story_threshold,
        window=story_window,
        stories=stories,
    )
    lost = [article for article, _ in articles if article.fingerprint not in inserted]
    carried = list(inserted.values())
    if lost:  # stored by another process since this feed's entries were looked up
        existing = known_articles(
            session,
            fingerprints=[a.fingerprint for a in lost],
            canonical_urls=[a.canonical_url for a in lost if a.canonical_url],
        )
        for article in lost:
            stored = existing.get(article.fingerprint) or existing.get(article.canonical_url or "")
            if stored is not None:
                carried.append(stored)
    matched = [
        (inserted[article.fingerprint], matches)
        for article, matches in articles
        if matches and article.fingerprint in inserted
    ]
    added = _store_matches(session, matched, now=now)
    counts.matches, counts.deliveries = added.matches, added.deliveries
    add_sources(session, article_ids=carried, feed_id=feed_id, now=now)
    return counts


def store_matches(
    session: Session, *, article_id: int, matches: Sequence[MatchToStore], now: datetime
) -> StoreCounts:
    """Matches of one stored article and one outbox row per (match, channel); a match that
    exists already (same article and rule) is left alone, so nothing is alerted twice."""
    return _store_matches(session, [(article_id, matches)], now=now)


def _store_matches(
    session: Session,
    matched: Sequence[tuple[int, Sequence[MatchToStore]]],
    *,
    now: datetime,
) -> StoreCounts:
    """Matches of stored articles, and their outbox rows, in one batched INSERT each."""
    counts = StoreCounts()
    wanted = {(article_id, m.rule_id): m for article_id, matches in matched for m in matches}
    if not wanted:
        return counts
    table = Match.metadata.tables["match"]
    statement = (
        insert(session, table)
        .on_conflict_do_nothing()
        .returning(table.c.id, table.c.article_id, table.c.rule_id)
    )
    rows = [
        {
            "article_id": article_id,
            "rule_id": rule_id,
            "terms": m.terms,
            "highlights": m.highlights,
            "words": m.words,
            "matched_at": now,
        }
        for (article_id, rule_id), m in wanted.items()
    ]
    connection = session.connection()
    new_matches = list(connection.execute(statement, rows))
    counts.matches = len(new_matches)
    stories = _story_keys(session, article_ids=[article_id for _, article_id, _ in new_matches])
    claims = [
        {
            "story_key": stories[article_id],
            "rule_id": rule_id,
            "channel": channel,
            "match_id": match_id,
            "created_at": now,
        }
        for match_id, article_id, rule_id in new_matches
        for channel in wanted[(article_id, rule_id)].channels
    ]
    article_of = {match_id: article_id for match_id, article_id, _ in new_matches}
    deliveries = []
    if claims:
        alerts = StoryAlert.metadata.tables["story_alert"]
        claimed = connection.execute(
            insert(session, alerts)
            .on_conflict_do_nothing()
            .returning(alerts.c.match_id, alerts.c.rule_id, alerts.c.channel),
            claims,
        )
        for match_id, rule_id, channel in claimed:
            digest = wanted[(article_of[match_id], rule_id)].digest_channels
            deliveries.append(
                {
                    "match_id": match_id,
                    "channel": channel,
                    "kind": (
                        DeliveryKind.DIGEST.value
                        if channel in digest
                        else DeliveryKind.INSTANT.value
                    ),
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                }
            )
    if deliveries:
        outbox = Delivery.metadata.tables["delivery"]
        connection.execute(insert(session, outbox).on_conflict_do_nothing(), deliveries)
        counts.deliveries = len(deliveries)
    return counts


def _story_keys(session: Session, *, article_ids: Sequence[int]) -> dict[int, str]:
    """Each article's story; an article stored before stories existed is its own."""
    if not article_ids:
        return {}
    c = Article.metadata.tables["article"].c
    rows = session.connection().execute(
        sa_select(c.id, c.story_key, c.fingerprint).where(c.id.in_(list(set(article_ids))))
    )
    return {article_id: key or fingerprint for article_id, key, fingerprint in rows}


def stored_texts(session: Session, *, fingerprints: Sequence[str]) -> dict[str, StoredText]:
    """The stored title and text of articles by fingerprint (their guid within a feed)."""
    if not fingerprints:
        return {}
    c = Article.metadata.tables["article"].c
    rows = session.connection().execute(
        sa_select(c.fingerprint, c.id, c.title, c.summary, c.body).where(
            c.fingerprint.in_(list(fingerprints))
        )
    )
    return {
        fingerprint: StoredText(article_id=article_id, title=title, summary=summary, body=body)
        for fingerprint, article_id, title, summary, body in rows
    }


def update_articles(
    session: Session,
    *,
    updates: Sequence[tuple[int, CleanArticle, Sequence[MatchToStore]]],
    now: datetime,
) -> StoreCounts:
    """Store the new title and text of articles whose entry changed under the same guid,
    with the matches the new text makes. A rule the article matched before keeps its match
    and sends nothing: only rules it had not matched alert (once per story, as ever)."""
    if not updates:
        return StoreCounts()
    table = Article.metadata.tables["article"]
    for article_id, article, _ in updates:
        session.connection().execute(
            update(table)
            .where(table.c.id == article_id)
            .values(title=article.title, summary=article.summary, body=article.body)
        )
    return _store_matches(
        session, [(article_id, matches) for article_id, _, matches in updates], now=now
    )


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
