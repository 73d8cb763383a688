"""Every table newswatch keeps, and every value that crosses a module boundary.

Alembic owns the schema (see migrations/). The unique keys are what make dedupe hold in the
database, not just in Python: an article's fingerprint and canonical URL, (article, rule)
for matches and (match, channel) for deliveries.

The value types below the tables are plain frozen dataclasses: what one room of the cycle
hands the next (cycle.py shows the order), kept here so no module imports another's
internals to get them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlmodel import Field, SQLModel

from rules import Hit


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always an aware UTC datetime in Python.

    SQLite keeps no time zone and hands back naive values; converting at this one seam
    means no query result needs converting after it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(*, index: bool = False, nullable: bool = True) -> Any:
    """A timestamp column (SQLite stores it as text, PostgreSQL as timestamptz)."""
    return Field(
        default=None,
        sa_column=Column(UTCDateTime(), index=index, nullable=nullable),
    )


class Feed(SQLModel, table=True):
    """A polled source and its health: what the last fetch said and when to poll next.

    `config_url` is the URL the config names (the row's identity for the config); `url` is
    where the feed is polled. They differ once the feed moved permanently (301/308): the row
    follows the feed, and the config keeps working until the user updates it.
    """

    __table_args__ = (Index("ix_feed_config_url", "config_url", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    config_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    name: str = Field(default="", description="the outlet's name from the config")
    title: str = Field(default="", description="the title the feed gives itself")
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    next_poll_at: datetime | None = _ts(index=True)
    last_polled_at: datetime | None = _ts()
    last_success_at: datetime | None = _ts()
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    health: str = Field(default="never polled", description="one line saying what happened")
    consecutive_failures: int = 0
    entries_seen: int = 0
    gone: bool = False
    # RSS <ttl> from the last parsed body: still honoured while the feed answers 304.
    ttl_minutes: int | None = None


class Article(SQLModel, table=True):
    """One story from one or more feeds, cleaned; stored once whatever carried it."""

    __table_args__ = (
        Index("ix_article_published_at", "published_at"),
        Index("ix_article_fetched_at", "fetched_at"),  # prune: what was stored before a date
    )

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    canonical_url: str | None = Field(default=None, sa_column=Column(Text, unique=True))
    story_key: str = Field(default="", index=True)
    feed_id: int = Field(foreign_key="feed.id", index=True)
    source: str = ""
    title: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    url: str | None = Field(default=None, sa_column=Column(Text))
    author: str | None = None
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    fetched_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    lang: str | None = None  # ISO 639-1 code detected when normalised (newswatch.language)
    # False when the feed gave no date: published_at then holds the fetch time, for sorting
    date_known: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=true())
    )


class ArticleSource(SQLModel, table=True):
    """Every feed that carried an article, for "also reported by"."""

    __tablename__ = "article_source"
    __table_args__ = (UniqueConstraint("article_id", "feed_id", name="uq_article_source"),)

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    feed_id: int = Field(foreign_key="feed.id")
    seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class StorySketch(SQLModel, table=True):
    """An article's MinHash signature, kept so later copies can be compared with it."""

    __tablename__ = "story_sketch"

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    story_key: str = Field(sa_column=Column(Text, nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # a cycle reads its window of sketches by time (store/stories.py)
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class StoryAlert(SQLModel, table=True):
    """A (story, rule, channel) alerted once: its unique key is what keeps a second copy
    of a story, from another outlet or a later cycle, from alerting again."""

    __tablename__ = "story_alert"
    __table_args__ = (UniqueConstraint("story_key", "rule_id", "channel", name="uq_story_alert"),)

    id: int | None = Field(default=None, primary_key=True)
    story_key: str = Field(sa_column=Column(Text, nullable=False))
    rule_id: str
    channel: str
    match_id: int = Field(foreign_key="match.id", index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Rule(SQLModel, table=True):
    """The rules as last loaded from the config, so stored matches keep their meaning."""

    id: str = Field(primary_key=True)
    query: str = Field(sa_column=Column(Text, nullable=False))
    name: str = ""
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Match(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("article_id", "rule_id", name="uq_match_article_rule"),
        # `newswatch matches`: newest first, all rules or one, read from the index's end
        Index("ix_match_matched_at", "matched_at", "id"),
        Index("ix_match_rule_matched_at", "rule_id", "matched_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    rule_id: str = Field(foreign_key="rule.id", index=True)
    terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # {"title": [[start, end], ...], "summary": [...]}: where the terms fired, to highlight.
    highlights: dict[str, list[list[int]]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=True)
    )
    # {"@uk": ["Britain"], "visit": ["visited"]}: the article's own words behind each term,
    # so an alert shows what matched, not only a list's name.
    words: dict[str, list[str]] = Field(default_factory=dict, sa_column=Column(JSON, nullable=True))
    matched_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DeliveryKind(StrEnum):
    INSTANT = "instant"  # sent on the next delivery pass
    DIGEST = "digest"  # gathered into the channel's next digest


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class Delivery(SQLModel, table=True):
    """The outbox: one row per (match, channel), written with the match, sent later.

    A row stays pending until a send succeeds, so a crash or an outage loses nothing.
    """

    __table_args__ = (
        UniqueConstraint("match_id", "channel", name="uq_delivery_match_channel"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_delivery_channel_kind", "channel", "kind", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    match_id: int = Field(foreign_key="match.id", index=True)
    channel: str
    kind: str = Field(default=DeliveryKind.INSTANT.value)
    status: str = Field(default=DeliveryStatus.PENDING.value)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = _ts()


# --- values handed from one room of the cycle to the next ----------------------------------


@dataclass(frozen=True, slots=True)
class CleanArticle:
    """An article ready to match and store; `fingerprint` is its identity across polls."""

    fingerprint: str
    canonical_url: str | None
    story_key: str
    feed_url: str
    source: str
    title: str
    summary: str
    body: str
    url: str | None
    author: str | None
    published_at: datetime  # the fetch time when the entry gave no date (see date_known)
    fetched_at: datetime
    lang: str | None = None  # ISO 639-1 code; None when the text is too short to tell
    date_known: bool = True  # False: the entry had no date; shown as "date unknown"


@dataclass(frozen=True, slots=True)
class FeedTarget:
    """What a poll needs to know about one feed, detached from any database session."""

    id: int
    url: str
    name: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    consecutive_failures: int
    ttl_minutes: int | None = None  # the feed's RSS <ttl> from its last parsed body
    config_url: str | None = None  # the URL the config names; `url` differs once it moved
    full_text: Literal["auto", "always", "never"] = "auto"  # the config's: when to read pages

    @property
    def scope(self) -> str:
        """The URL the feed's entries belong to: the config's, even after a move."""
        return self.config_url or self.url


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What one poll of one feed did, for the feed's row: health, validators, next poll."""

    status: int | None
    ok: bool
    health: str
    next_poll_at: datetime
    error: str | None = None
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # set only when a new body was parsed
    entries: int = 0
    new_url: str | None = None  # where a 301/308 moved the feed
    gone: bool = False
    ttl_minutes: int | None = None  # RSS <ttl>; kept only when a new body was parsed


@dataclass(frozen=True, slots=True)
class MatchToStore:
    """One rule's hit on an article, with where its alerts go."""

    rule_id: str
    terms: list[str]
    channels: list[str]
    digest_channels: frozenset[str] = frozenset()  # of `channels`, those that get digests
    highlights: dict[str, list[list[int]]] = field(default_factory=dict)
    words: dict[str, list[str]] = field(default_factory=dict)  # term -> the words it matched


@dataclass(slots=True)
class StoreCounts:
    new_articles: int = 0
    matches: int = 0
    deliveries: int = 0


@dataclass(frozen=True, slots=True)
class MatchedArticle:
    article: CleanArticle
    hits: list[Hit]


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """What a parsed document says about its feed, without its entries."""

    title: str
    version: str
    warning: str | None  # loose-parse (bozo) warning as one line; entries still kept
    ttl_minutes: int | None  # RSS <ttl>
    entries: int


@dataclass(frozen=True, slots=True)
class DigestedArticle:
    """One entry as the digest step returns it: the clean article, the rules it hit (with
    their outbox channels and highlights) and its sketch for story grouping."""

    article: CleanArticle
    hits: list[Hit]
    to_store: list[MatchToStore]
    signature: bytes
    shingles: int


@dataclass(frozen=True, slots=True)
class Digest:
    """A feed's bytes as the worker leaves them: the feed's own fields and its articles
    (one per fingerprint), never the parse tree."""

    feed: FeedMeta
    articles: list[DigestedArticle]


@dataclass
class FeedReport:
    """One feed's part of a cycle, as the run summary and the CLI show it."""

    url: str
    name: str
    health: str
    ok: bool
    new_articles: int = 0
    matches: int = 0
    elapsed_s: float = 0.0
    matched: list[MatchedArticle] = field(default_factory=list)
    # article pages that could not be read (full_text): their articles were matched on the
    # feed's text alone, which a desk must know
    pages_failed: int = 0
    page_problem: str = ""  # the first failed page: "URL: why"


@dataclass
class DeliveryReport:
    """What one pass over the outbox did, and what still waits after it.

    `pending` counts every instant delivery still queued when the pass ended (this pass's
    failures and ones not yet due), so a run never looks clean while alerts wait.
    """

    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0  # left for later: the channel failed or hit its rate limit
    pending: int = 0
    errors: list[str] = field(default_factory=list)
    failed_channels: list[str] = field(default_factory=list)  # by name: never a channel URL


@dataclass
class CycleReport:
    feeds: list[FeedReport] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    dry_run: bool = False

    @property
    def new_articles(self) -> int:
        return sum(f.new_articles for f in self.feeds)

    @property
    def matches(self) -> int:
        return sum(f.matches for f in self.feeds)

    @property
    def failed_feeds(self) -> list[FeedReport]:
        return [f for f in self.feeds if not f.ok]


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """Everything needed to render and send one delivery, read in one query."""

    delivery_id: int
    channel: str
    attempts: int
    article_id: int
    rule_id: str
    rule_name: str
    terms: list[str]
    article_title: str
    article_summary: str
    article_url: str | None
    source: str
    published_at: datetime
    also_reported_by: list[str]
    highlights: dict[str, list[list[int]]]
    created_at: datetime
    words: dict[str, list[str]] = field(default_factory=dict)  # term -> the words it matched
    lang: str | None = None  # the article's language code
    date_known: bool = True  # False: published_at is the fetch time, shown as "date unknown"
    article_body: str = ""  # the page's text (full_text): where a rule may have matched


Format = Literal[
    "plain", "markdown", "slack", "html", "chat", "teams", "telegram", "telegram_markdown"
]
# What Apprise is told the body is (its `body_format`).
APPRISE_FORMAT: dict[Format, str] = {
    "plain": "text",
    "markdown": "markdown",
    # Slack: Apprise's Markdown-to-mrkdwn converter keeps backslashes that Slack shows, so
    # Slack gets text (Apprise escapes & < >, Slack's only escapes) made inert by word joiners.
    "slack": "text",
    "html": "html",
    # Discord and Mattermost render Markdown, which Apprise declares as text and passes on as
    # it is: the body is escaped Markdown already (newswatch.notify.render), never converted.
    "chat": "text",
    # Teams' cards show a subset of Markdown and no backslash escapes (notify.escaping).
    "teams": "markdown",
    "telegram": "html",
    "telegram_markdown": "markdown",
}


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered alert or digest, ready for a Notifier."""

    title: str
    body: str
    format: Format
    # What the message announces, stable across retries (e.g. its delivery ids): an email's
    # Message-ID is made from it, so a mail client folds a rare duplicate.
    key: str | None = None
    # The alert's facts as plain values (rule, url, outlet, published ...), for services
    # that take structured payloads, such as a generic JSON webhook.
    fields: dict[str, str] = field(default_factory=dict)
    # The same message as plain text, for an HTML message's text part (an email's).
    text: str | None = None

    @property
    def apprise_format(self) -> str:
        return APPRISE_FORMAT[self.format]


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MatchRow:
    matched_at: datetime
    rule_id: str
    title: str
    url: str | None
    terms: list[str]
    source: str = ""
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What `newswatch prune` removed: unmatched articles stored before `before`."""

    before: datetime
    articles: int


@dataclass(frozen=True, slots=True)
class CycleFeed:
    """A feed polled since a cycle began, with what that poll stored."""

    id: int
    name: str
    url: str
    config_url: str
    health: str
    ok: bool
    new_articles: int
    matches: int


@dataclass(frozen=True, slots=True)
class CycleMatch:
    rule_id: str
    title: str
    outlet: str
    url: str | None
    published_at: datetime
    matched_at: datetime
