"""store: a digested feed -> rows, in the caller's transaction, with no network inside.

New, seen or updated: an article already stored (by fingerprint or canonical URL) only
gains this feed as a source; one stored under the same guid whose text changed is an
update, stored and matched again; the rest are new, each joining its story, with Match
rows and one outbox row per (story, rule, channel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from newswatch import fulltext, store
from newswatch.models import DigestedArticle, FeedTarget, MatchedArticle, StoreCounts
from newswatch.store.stories import StoryWindow
from newswatch.stories import Sketch


@dataclass(frozen=True, slots=True)
class Sorted:
    """A feed's articles against what is stored: new ones, the ids of those stored before,
    and stored ones whose entry changed under the same guid (with their ids)."""

    new: list[DigestedArticle]
    seen: list[int]
    updated: list[tuple[int, DigestedArticle]]


@dataclass(slots=True)
class Stored:
    """What storing a feed did."""

    counts: StoreCounts
    matched: list[MatchedArticle] = field(default_factory=list)


def sort_articles(
    session: Session, articles: Sequence[DigestedArticle], target: FeedTarget
) -> Sorted:
    """New, seen or updated, by what the database holds (two reads, no writes)."""
    by_fp = {d.article.fingerprint: d for d in articles}
    known = store.known_articles(
        session,
        fingerprints=list(by_fp),
        canonical_urls=[d.article.canonical_url for d in articles if d.article.canonical_url],
    )
    texts = store.stored_texts(
        session, fingerprints=[fp for fp in by_fp if known.get(fp) is not None]
    )
    new: list[DigestedArticle] = []
    seen: list[int] = []
    updated: list[tuple[int, DigestedArticle]] = []
    new_urls: set[str] = set()
    for digested in articles:
        article = digested.article
        url = article.canonical_url
        stored = known.get(article.fingerprint) or (known.get(url) if url else None)
        if stored is not None:
            seen.append(stored)
            before = texts.get(article.fingerprint)
            if (
                before is not None
                and (before.title, before.summary, before.body)
                != (article.title, article.summary, article.body)
                and not _text_from_page(before, digested, target)
            ):
                updated.append((before.article_id, digested))
        elif url and url in new_urls:
            continue  # the same story twice in one feed
        else:
            new.append(digested)
            if url:
                new_urls.add(url)
    return Sorted(new, seen, updated)


def store_feed(
    session: Session,
    *,
    target: FeedTarget,
    articles: Sequence[DigestedArticle],
    now: datetime,
    story_threshold: float,
    story_window: timedelta,
    stories: StoryWindow | None = None,
) -> Stored:
    """Store a feed's new articles, updates and sources (the caller commits); `stories`:
    the cycle's window of stored sketches, kept across its feeds."""
    found = sort_articles(session, articles, target)
    counts = store.store_articles(
        session,
        feed_id=target.id,
        articles=[(d.article, d.to_store) for d in found.new],
        now=now,
        story_threshold=story_threshold,
        story_window=story_window,
        sketches={d.article.fingerprint: sketch_of(d) for d in found.new},
        stories=stories,
    )
    rematched = store.update_articles(
        session, updates=[(i, d.article, d.to_store) for i, d in found.updated], now=now
    )
    counts.matches += rematched.matches
    counts.deliveries += rematched.deliveries
    store.add_sources(session, article_ids=found.seen, feed_id=target.id, now=now)
    matched = [MatchedArticle(d.article, d.hits) for d in found.new if d.hits]
    return Stored(counts, matched)


def sketch_of(digested: DigestedArticle) -> Sketch:
    return Sketch(signature=digested.signature, shingles=digested.shingles)


def _text_from_page(before: store.StoredText, entry: DigestedArticle, target: FeedTarget) -> bool:
    """Whether the stored text was read from the article's page (full_text): longer than
    its short entry gives, it differs from the entry every time without being an update."""
    if not fulltext.wants_page(entry.article, target.full_text):
        return False
    stored = fulltext.word_count(f"{before.summary} {before.body}")
    article = entry.article
    return stored > fulltext.word_count(f"{article.summary} {article.body}")
