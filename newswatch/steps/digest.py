"""digest: a feed's bytes -> compact records, CPU only, in the cycle's worker processes.

Everything an entry costs in CPU happens here, next to the parse: feedparser, normalising
(text, canonical URL, dates, language), the story sketch and the rule match. What goes back
to the orchestrator is one small record per article, never the parse tree.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Final

from connectors.feed import FeedParseError, ParsedFeed, parse_feed
from newswatch.matching import Matcher
from newswatch.models import CleanArticle, Digest, DigestedArticle, FeedMeta
from newswatch.normalize import normalize_entry
from newswatch.stories import opening_text, sketch

# The rules of this worker's cycle: set once per worker life by `load_rules` (the pool's
# initializer), so the compiled index never travels with a feed.
_RULES: Final[list[Matcher]] = []


def load_rules(matcher: Matcher) -> None:
    """Worker initializer: keep the cycle's compiled rules for every feed this worker digests."""
    _RULES[:] = [matcher]


def digest_in_worker(
    body: bytes,
    url: str,
    headers: dict[str, str] | None,
    scope: str,
    source: str,
    fetched_at: datetime,
) -> Digest | FeedParseError:
    """Runs in a worker; returns the parse error instead of raising to keep pickling simple."""
    try:
        parsed = parse_feed(body, url=url, headers=headers)
    except FeedParseError as exc:
        return exc
    return digest(parsed, matcher=_RULES[0], scope=scope, source=source, fetched_at=fetched_at)


def digest(
    parsed: ParsedFeed, *, matcher: Matcher, scope: str, source: str, fetched_at: datetime
) -> Digest:
    """One article per fingerprint, each with its hits and sketch.

    Entries are scoped to the feed as the config names it (`scope`), not to the URL it was
    fetched from: a feed that moved (301/308) keeps its entries' fingerprints.
    """
    articles: dict[str, DigestedArticle] = {}
    for entry in parsed.entries:
        if entry.feed_url != scope:
            entry = replace(entry, feed_url=scope)
        article = normalize_entry(entry, fetched_at=fetched_at, source=source)
        if article.fingerprint not in articles:
            articles[article.fingerprint] = digested(article, matcher)
    meta = FeedMeta(
        title=parsed.title,
        version=parsed.version,
        warning=parsed.warning,
        ttl_minutes=parsed.ttl_minutes,
        entries=len(parsed.entries),
    )
    return Digest(feed=meta, articles=list(articles.values()))


def digested(article: CleanArticle, matcher: Matcher) -> DigestedArticle:
    """The article matched and sketched (again, when its text changed: a page was read)."""
    hits = matcher.match(article)
    made = sketch(article.title, opening_text(article.summary, article.body))
    return DigestedArticle(
        article=article,
        hits=hits,
        to_store=[matcher.to_store(hit, article) for hit in hits],
        signature=made.signature,
        shingles=made.shingles,
    )
