"""The plan of a cycle: the database brought in line with the config, the due feeds, the
compiled rules and the cycle's knobs, all values the orchestrator (cycle.py) hands its steps."""

from __future__ import annotations

import importlib.metadata
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Engine
from sqlmodel import Session

from connectors import FetchSettings, origin_key
from newswatch import store
from newswatch.config import Config, FeedConfig
from newswatch.matching import Matcher, matcher_for
from newswatch.models import FeedTarget
from newswatch.settings import get_settings
from newswatch.stories import DEFAULT_THRESHOLD, DEFAULT_WINDOW

MiB: Final = 1024 * 1024
_MIGRATING: Final = threading.Lock()
_MIGRATED: Final[set[str]] = set()  # database URLs this process has migrated


@dataclass(frozen=True)
class PollOptions:
    """The cycle's knobs from `monitor:`: polling pace and the fetcher's bounds."""

    base_interval_s: float
    fetch: FetchSettings
    dry_run: bool = False
    parser_workers: int | None = None
    # How long a feed that is done waits for a slower one listed before it (so the first
    # feed listed owns a story several carry), and new alerts for the rest of the batch
    # (so they name every outlet that carried the story), before going on without them.
    patience_s: float = 2.0
    # Article pages of summary-only feeds: how they are fetched, and for how long per batch.
    page_fetch: FetchSettings = FetchSettings()  # noqa: RUF009 frozen: safe as a shared default
    full_text_budget_s: float = 20.0
    # How alike two articles must be to be one story, and how far apart in time (stories.py).
    story_threshold: float = DEFAULT_THRESHOLD
    story_window: timedelta = DEFAULT_WINDOW


@dataclass(frozen=True)
class CyclePlan:
    """What one cycle will do: which feeds, with which rules, how politely."""

    targets: list[FeedTarget]
    matcher: Matcher
    options: PollOptions
    now: datetime


def plan(
    engine: Engine,
    config: Config,
    *,
    now: datetime,
    only: Sequence[str] | None = None,
    due_only: bool = True,
    dry_run: bool = False,
) -> CyclePlan:
    """Bring the database in line with the config, pick the feeds to poll (the due ones,
    or all for a manual run; `only` by URL or name) and compile the rules."""
    prepare(engine, config, now=now)
    return CyclePlan(
        targets=due_targets(engine, config, now=now, only=only, due_only=due_only),
        matcher=matcher_for(engine, config),
        options=poll_options(config, dry_run=dry_run),
        now=now,
    )


def prepare(engine: Engine, config: Config, *, now: datetime) -> None:
    """Schema, feed rows and rule rows as the config says."""
    migrate_once(engine)
    with store.session_scope(engine) as session:
        store.sync_feeds(session, feeds=[(f.url, f.name) for f in config.feeds])
        store.sync_rules(session, rules=[(r.id, r.query, r.name) for r in config.rules], now=now)


def migrate_once(engine: Engine) -> None:
    """Migrations are checked once per process and database (a check opens a connection,
    takes a lock and reads Alembic's state: not worth paying every cycle)."""
    key = engine.url.render_as_string(hide_password=False)
    path = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if path and path != ":memory:":  # a file replaced since (a new database) is migrated anew
        try:
            key += f"#{os.stat(path).st_ino}"
        except OSError:
            key += "#new"
    with _MIGRATING:
        if key not in _MIGRATED:
            store.migrate(engine)
            if not key.endswith("#new"):
                _MIGRATED.add(key)


def selected_feeds(config: Config, only: Sequence[str] | None) -> list[FeedConfig]:
    """The config's feeds that `only` names by URL or name (all of them without `only`)."""
    return [f for f in config.feeds if not only or f.url in only or f.name in only]


def due_targets(
    engine: Engine,
    config: Config,
    *,
    now: datetime,
    only: Sequence[str] | None = None,
    due_only: bool = True,
) -> list[FeedTarget]:
    wanted = selected_feeds(config, only)
    full_text = {f.url: f.full_text for f in wanted}
    with Session(engine) as session:
        feeds = store.due_feeds(session, now=now, urls=[f.url for f in wanted], due_only=due_only)
        return [
            FeedTarget(
                id=f.id or 0,
                url=f.url,
                name=f.name or f.title or f.url,
                etag=f.etag,
                last_modified=f.last_modified,
                body_hash=f.body_hash,
                consecutive_failures=f.consecutive_failures,
                ttl_minutes=f.ttl_minutes,
                config_url=f.config_url,
                full_text=full_text.get(f.config_url or f.url, "auto"),
            )
            for f in feeds
        ]


def poll_options(config: Config, *, dry_run: bool = False) -> PollOptions:
    monitor = config.monitor
    total = monitor.fetch_timeout_seconds
    defaults = FetchSettings()
    fetch = FetchSettings(
        user_agent=user_agent(monitor.contact_url),
        # A deadline shorter than a phase's timeout makes that timeout moot.
        connect_timeout_s=min(defaults.connect_timeout_s, total),
        read_timeout_s=min(defaults.read_timeout_s, total),
        total_timeout_s=total,
        max_body_bytes=int(monitor.max_feed_size_mib * MiB),
        max_concurrency=monitor.max_concurrent_fetches,
        per_host_limit=monitor.per_host_limit,
    )
    settings = get_settings()
    return PollOptions(
        base_interval_s=monitor.poll_interval_minutes * 60,
        fetch=fetch,
        dry_run=dry_run,
        page_fetch=replace(fetch, max_body_bytes=int(monitor.max_page_size_mib * MiB)),
        full_text_budget_s=monitor.full_text_budget_seconds,
        story_threshold=settings.story_threshold,
        story_window=timedelta(hours=settings.story_window_hours),
    )


def user_agent(contact_url: str) -> str:
    """Names newswatch and who runs it, so a publisher can reach us instead of blocking us."""
    try:
        version = importlib.metadata.version("newswatch")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        version = "0"
    return f"newswatch/{version} (+{contact_url})"


def batches(targets: Sequence[FeedTarget], size: int) -> Iterator[list[FeedTarget]]:
    """Batches of about `size` feeds that never split one server's feeds between batches.

    Batches may run at the same time (one Prefect task each, each with its own fetcher), so
    keeping a host's feeds together is what keeps the per-host limit true across them.
    """
    by_host: dict[str, list[FeedTarget]] = {}
    for target in targets:
        by_host.setdefault(origin_key(target.url), []).append(target)
    batch: list[FeedTarget] = []
    for group in by_host.values():
        if batch and len(batch) + len(group) > max(size, 1):
            yield batch
            batch = []
        batch.extend(group)
    if batch:
        yield batch
