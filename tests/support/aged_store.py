"""A store with articles of two ages, matched and not, each carried by two feeds: what
prune must tell apart."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from newswatch import models, store
from newswatch.models import Article, CleanArticle


def article(key: str, *, stored: datetime, title: str) -> CleanArticle:
    url = f"https://outlet.example/{key}"
    return CleanArticle(
        fingerprint=key,
        canonical_url=url,
        story_key=key,
        feed_url="http://a.test/feed",
        source="Harbour Gazette",
        title=title,
        summary=f"{title}, the summary.",
        body="",
        url=url,
        author=None,
        published_at=stored,
        fetched_at=stored,
    )


def fill(engine: Engine, now: datetime) -> None:
    """Articles stored 100 and 10 days ago, matched and not, each carried by two feeds."""
    visit = [models.MatchToStore("uk-china-visit", ["UK", "China", "visit"], ["desk"])]
    with store.session_scope(engine) as s:
        store.sync_feeds(s, feeds=[("http://a.test/feed", "A"), ("http://b.test/feed", "B")])
        store.sync_rules(s, rules=[("uk-china-visit", "UK AND China AND visit", "")], now=now)
        a, b = (f.id or 0 for f in store.list_feeds(s))
    old, recent = now - timedelta(days=100), now - timedelta(days=10)
    batch = [
        (article("old-dredging", stored=old, title="Harbour dredging contract awarded"), []),
        (article("old-ferry", stored=old, title="Ferry timetable changes"), []),
        (article("old-visit", stored=old, title="UK minister to visit China"), visit),
        (article("recent-fair", stored=recent, title="Autumn fair opens"), []),
    ]
    for feed_id in (a, b):
        with store.session_scope(engine) as s:
            store.store_articles(s, feed_id=feed_id, articles=batch, now=old)


def stored_keys(engine: Engine) -> set[str]:
    with Session(engine) as s:
        return {a.fingerprint for a in s.exec(select(Article)).all()}
