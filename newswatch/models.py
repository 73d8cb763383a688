"""Every table newswatch keeps, in one place. Alembic owns the schema (see migrations/).

The unique keys are what make dedupe hold in the database, not just in Python:
an article's fingerprint and canonical URL, (article, rule) for matches and
(match, channel) for deliveries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(*, index: bool = False, nullable: bool = True) -> Any:
    """A timezone-aware timestamp column (SQLite stores it as text, PostgreSQL as timestamptz)."""
    return Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), index=index, nullable=nullable),
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

    __table_args__ = (Index("ix_article_published_at", "published_at"),)

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
    published_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    fetched_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ArticleSource(SQLModel, table=True):
    """Every feed that carried an article, for "also reported by"."""

    __tablename__ = "article_source"
    __table_args__ = (UniqueConstraint("article_id", "feed_id", name="uq_article_source"),)

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    feed_id: int = Field(foreign_key="feed.id")
    seen_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Rule(SQLModel, table=True):
    """The rules as last loaded from the config, so stored matches keep their meaning."""

    id: str = Field(primary_key=True)
    query: str = Field(sa_column=Column(Text, nullable=False))
    name: str = ""
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Match(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("article_id", "rule_id", name="uq_match_article_rule"),)

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True)
    rule_id: str = Field(foreign_key="rule.id", index=True)
    terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # {"title": [[start, end], ...], "summary": [...]}: where the terms fired, to highlight.
    highlights: dict[str, list[list[int]]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=True)
    )
    matched_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


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
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    sent_at: datetime | None = _ts()
