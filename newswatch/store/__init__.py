"""Every query newswatch makes: keyword-only functions that take a Session and never commit.

`session_scope(engine)` owns the commit, so the caller decides what is written together.
"""

from newswatch.store.articles import (
    add_sources,
    articles_between,
    known_articles,
    recent_articles,
    store_articles,
    store_matches,
)
from newswatch.store.db import (
    DatabaseUnavailable,
    count_rows,
    engine_at,
    make_engine,
    migrate,
    open_database,
    redacted_url,
    session_scope,
)
from newswatch.store.feeds import (
    due_feeds,
    list_feeds,
    record_feed_outcomes,
    sync_feeds,
    sync_rules,
)
from newswatch.store.history import alerts_sent_since, cycle_feeds, cycle_matches, recent_matches
from newswatch.store.outbox import (
    CLAIM_LEASE,
    claim_due_deliveries,
    dead_alerts,
    deliveries,
    hold_channel,
    last_sent_at,
    mark_failed,
    mark_sent,
    oldest_pending_at,
    pending_alerts,
    requeue_dead,
    retry_delay,
    sent_since,
)

__all__ = [
    "CLAIM_LEASE",
    "DatabaseUnavailable",
    "add_sources",
    "alerts_sent_since",
    "articles_between",
    "claim_due_deliveries",
    "count_rows",
    "cycle_feeds",
    "cycle_matches",
    "dead_alerts",
    "deliveries",
    "due_feeds",
    "engine_at",
    "hold_channel",
    "known_articles",
    "last_sent_at",
    "list_feeds",
    "make_engine",
    "mark_failed",
    "mark_sent",
    "migrate",
    "oldest_pending_at",
    "open_database",
    "pending_alerts",
    "recent_articles",
    "recent_matches",
    "record_feed_outcomes",
    "redacted_url",
    "requeue_dead",
    "retry_delay",
    "sent_since",
    "session_scope",
    "store_articles",
    "store_matches",
    "sync_feeds",
    "sync_rules",
]
