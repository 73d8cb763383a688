"""What was stored when: recent matches for the CLI, a run's progress, and a fanned-out
cycle read back by the run that started its shards."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnClause, Select, column, func, literal_column, table
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select as SqlModelSelect

from newswatch.models import Article, CycleFeed, CycleMatch, Delivery, Feed, Match, MatchRow

_WORD = re.compile(r"\w+")
# written as the index ix_article_search is (migration 0007): bound parameters in
# place of the ' ' literals would keep PostgreSQL from using it
_PG_DOCUMENT: ColumnClause[str] = literal_column(
    "to_tsvector('simple'::regconfig, "
    "article.title || ' ' || article.summary || ' ' || article.body)"
)


class SearchError(ValueError):
    """A --search text with no word in it: nothing a word index could look up."""


def recent_matches(
    session: Session,
    *,
    limit: int = 20,
    rule_id: str | None = None,
    since: datetime | None = None,
    search: str | None = None,
) -> list[MatchRow]:
    """Matches newest first: of one rule, since a time, of articles holding `search`.

    Read from the end of the (matched_at, id) index, so the cost follows `limit`, not the
    number of matches stored; `search` is a phrase looked up in the article word index
    (FTS5 on SQLite, a tsvector GIN index on PostgreSQL: migration 0007).
    """
    stmt = matches_statement(session, limit=limit, rule_id=rule_id, since=since, search=search)
    return [
        MatchRow(
            matched_at=m.matched_at,
            rule_id=m.rule_id,
            title=a.title,
            url=a.url,
            terms=m.terms,
            source=a.source,
            published_at=a.published_at,
        )
        for m, a in session.exec(stmt).all()
    ]


def matches_statement(
    session: Session,
    *,
    limit: int,
    rule_id: str | None = None,
    since: datetime | None = None,
    search: str | None = None,
) -> SqlModelSelect[Match, Article]:
    """The query behind recent_matches, for EXPLAIN (bench/matches.py prints its plan)."""
    stmt = select(Match, Article).join(Article, col(Article.id) == col(Match.article_id))
    if rule_id is not None:
        stmt = stmt.where(col(Match.rule_id) == rule_id)
    if since is not None:
        stmt = stmt.where(col(Match.matched_at) >= since)
    if search is not None:
        stmt = stmt.where(col(Article.id).in_(_articles_with(session, search)))
    return stmt.order_by(col(Match.matched_at).desc(), col(Match.id).desc()).limit(limit)


def _articles_with(session: Session, text: str) -> Select[int | None]:
    words = _WORD.findall(text)
    if not words:
        raise SearchError(f"cannot search for {text!r}: it holds no word")
    if session.get_bind().dialect.name == "postgresql":
        query = func.phraseto_tsquery(literal_column("'simple'::regconfig"), " ".join(words))
        return sa_select(col(Article.id)).where(_PG_DOCUMENT.bool_op("@@")(query))
    phrase = '"' + " ".join(words).replace('"', '""') + '"'
    fts = table("article_fts", column("rowid"))
    return sa_select(fts.c.rowid).where(literal_column("article_fts").match(phrase))


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
        new_by_feed = dict(
            session.exec(
                select(Article.feed_id, func.count())
                .where(col(Article.feed_id).in_(ids), col(Article.fetched_at) >= since)
                .group_by(col(Article.feed_id))
            ).all()
        )
        matches_by_feed = dict(
            session.exec(
                select(Article.feed_id, func.count())
                .join(Match, col(Match.article_id) == col(Article.id))
                .where(col(Article.feed_id).in_(ids), col(Match.matched_at) >= since)
                .group_by(col(Article.feed_id))
            ).all()
        )
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
            published_at=a.published_at,
            matched_at=m.matched_at,
        )
        for m, a in rows
    ]


def alerts_sent_since(session: Session, *, since: datetime) -> int:
    """Deliveries marked sent at or after `since`: a run's alerts so far, for its progress."""
    return int(
        session.exec(
            select(func.count()).select_from(Delivery).where(col(Delivery.sent_at) >= since)
        ).one()
    )
