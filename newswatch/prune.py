"""Keeping the store to a size: old articles that matched nothing are removed, in batches.

A batch per transaction, so a prune of a year of articles never holds SQLite's write lock
for long: a monitor cycle running meanwhile waits for one batch at most.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from newswatch import store
from newswatch.models import PruneReport

DEFAULT_BATCH = 2_000


def prune_articles(
    engine: Engine, *, older_than: timedelta, now: datetime, batch: int = DEFAULT_BATCH
) -> PruneReport:
    """Delete the articles stored more than `older_than` before `now` that no rule matched.

    Age is the time an article was stored, not the date it claims: an entry a feed still
    carries keeps its article however old its date, so it is not stored and matched anew.
    """
    before = now - older_than
    articles = 0
    while True:
        with store.session_scope(engine) as session:
            ids = store.unmatched_articles_before(session, before=before, limit=batch)
            articles += store.delete_articles(session, article_ids=ids)
        if len(ids) < batch:
            return PruneReport(before=before, articles=articles)


def describe(report: PruneReport) -> str:
    """One line for the terminal and the flow's log."""
    return (
        f"removed {report.articles} article(s) that no rule matched, stored before "
        f"{report.before:%Y-%m-%d %H:%M %Z}; matched articles are kept"
    )
