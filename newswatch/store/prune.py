"""Old articles nobody matched: found by the time they were stored, deleted with the rows
that point at them. Matched articles stay (their matches, outbox rows and alerts refer to
them), and so does everything they belong to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists
from sqlmodel import Session, col, select

from newswatch.models import Article, ArticleSource, Match


def unmatched_articles_before(session: Session, *, before: datetime, limit: int) -> list[int]:
    """Up to `limit` ids of articles stored before `before` that no rule matched, oldest
    first (read from the fetched_at index; the match lookup uses match.article_id's)."""
    matched = exists().where(col(Match.article_id) == col(Article.id))
    query = (
        select(Article.id)
        .where(col(Article.fetched_at) < before)
        .where(~matched)
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
    unmatched = ~exists().where(col(Match.article_id) == col(Article.id))
    still_unmatched = select(Article.id).where(col(Article.id).in_(ids)).where(unmatched)
    connection = session.connection()
    connection.execute(
        delete(ArticleSource).where(col(ArticleSource.article_id).in_(still_unmatched))
    )
    articles = connection.execute(
        delete(Article).where(col(Article.id).in_(ids)).where(unmatched).returning(col(Article.id))
    ).all()
    return len(articles)
