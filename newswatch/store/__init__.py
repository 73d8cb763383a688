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
from newswatch.store.db import count_rows, engine_at, make_engine, migrate, session_scope
from newswatch.store.feeds import (
    due_feeds,
    list_feeds,
    record_feed_outcomes,
    sync_feeds,
    sync_rules,
)
from newswatch.store.history import cycle_feeds, cycle_matches, recent_matches
from newswatch.store.outbox import (
    CLAIM_LEASE,
    claim_due_deliveries,
    count_waiting,
    deliveries,
    hold_channel,
    last_sent_at,
    mark_failed,
    mark_sent,
    oldest_pending_at,
    pending_alerts,
    release_held,
    renew_claims,
    requeue_dead,
    retry_delay,
    sent_since,
    waiting_alerts,
)

__all__ = [
    "CLAIM_LEASE",
    "add_sources",
    "articles_between",
    "claim_due_deliveries",
    "count_rows",
    "count_waiting",
    "cycle_feeds",
    "cycle_matches",
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
    "pending_alerts",
    "recent_articles",
    "recent_matches",
    "record_feed_outcomes",
    "release_held",
    "renew_claims",
    "requeue_dead",
    "retry_delay",
    "sent_since",
    "session_scope",
    "store_articles",
    "store_matches",
    "sync_feeds",
    "sync_rules",
    "waiting_alerts",
]
