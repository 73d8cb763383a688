"""Old articles nobody matched: found by the time they were stored, deleted with the rows
that point at them. Matched articles stay (their matches, outbox rows and alerts refer to
them), and so does every copy of a matched story: its outlet is an "also reported by"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from newswatch.models import Article, ArticleSource, Match, StorySketch


def _unmatched() -> ColumnElement[bool]:
    """No rule matched the article, nor any other copy of its story."""
    own = exists().where(col(Match.article_id) == col(Article.id))
    mine, copy = aliased(StorySketch), aliased(StorySketch)
    story = (
        exists()
        .where(col(mine.article_id) == col(Article.id))
        .where(col(copy.story_key) == col(mine.story_key))
        .where(col(Match.article_id) == col(copy.article_id))
    )
    return ~own & ~story


def unmatched_articles_before(session: Session, *, before: datetime, limit: int) -> list[int]:
    """Up to `limit` ids of articles stored before `before` that no rule matched, oldest
    first (read from the fetched_at index; the match lookup uses match.article_id's)."""
    query = (
        select(Article.id)
        .where(col(Article.fetched_at) < before)
        .where(_unmatched())
        .order_by(col(Article.fetched_at), col(Article.id))
        .limit(limit)
    )
    return [article_id for article_id in session.exec(query).all() if article_id is not None]


def delete_articles(session: Session, *, article_ids: Sequence[int]) -> int:
    """Delete these articles, and the notes of which feeds carried them; how many articles.

    A match stored since the ids were read keeps its article: the delete re-checks."""
    if not article_ids:
        return 0
    ids = list(article_ids)
    connection = session.connection()
    doomed = [
        row[0]
        for row in connection.execute(
            select(Article.id).where(col(Article.id).in_(ids)).where(_unmatched())
        )
    ]
    if not doomed:
        return 0
    connection.execute(delete(StorySketch).where(col(StorySketch.article_id).in_(doomed)))
    connection.execute(delete(ArticleSource).where(col(ArticleSource.article_id).in_(doomed)))
    articles = connection.execute(
        delete(Article)
        .where(col(Article.id).in_(doomed))
        .where(_unmatched())  # a match stored since they were read keeps its article
        .returning(col(Article.id))
    ).all()
    return len(articles)
