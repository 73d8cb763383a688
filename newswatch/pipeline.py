"""One monitor cycle, top to bottom:

    plan -> fetch -> parse -> refresh -> normalise -> dedupe -> match -> store -> deliver

Prefect (flows/) only decides where and when these run: the flow calls `plan()` and then
`poll_batch()` once per batch of feeds (a Prefect task each) and `notify.deliver()`;
`run_cycle()` does the same in one process for the CLI's tests and the benchmarks.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from connectors import (
    FeedFetcher,
    FeedParseError,
    FetchResult,
    FetchSettings,
    ParsedFeed,
    ParserPool,
    origin_key,
)
from newswatch import fulltext, notify, refresh, store
from newswatch.config import Config, FeedConfig
from newswatch.matching import Matcher, matcher_for
from newswatch.models import (
    CleanArticle,
    CycleReport,
    DeliveryReport,
    FeedOutcome,
    FeedReport,
    FeedTarget,
    MatchedArticle,
)
from newswatch.normalize import normalize_entry
from newswatch.ordered_window import in_order
from newswatch.settings import get_settings
from newswatch.stories import DEFAULT_THRESHOLD, DEFAULT_WINDOW

log = logging.getLogger(__name__)

MiB: Final = 1024 * 1024
_HEALTH_BATCH: Final = 256  # feeds with nothing new whose rows are written in one transaction


# --- plan ------------------------------------------------------------------------------


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
    store.migrate(engine)
    with store.session_scope(engine) as session:
        store.sync_feeds(session, feeds=[(f.url, f.name) for f in config.feeds])
        store.sync_rules(session, rules=[(r.id, r.query, r.name) for r in config.rules], now=now)


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


# --- one batch of feeds: fetch -> parse -> refresh -> normalise -> dedupe -> match -> store


def poll_batch(
    targets: Sequence[FeedTarget],
    *,
    engine: Engine,
    matcher: Matcher,
    options: PollOptions,
    now: datetime,
    send_alerts: Callable[[], object] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[FeedReport]:
    """Poll a batch of feeds and store what is new; one feed's failure stays its own.

    With `send_alerts`, the outbox is sent while the batch goes on: a feed that stalls for
    its whole timeout holds back no other feed's alerts (the caller sends what is left
    once the batch is done).
    """
    alerter = _Alerter(send_alerts, options.patience_s) if send_alerts else None
    writer = _Writer(engine, matcher, options, now, alerter)
    try:
        return asyncio.run(_poll(targets, engine, writer, options, transport))
    finally:
        if alerter is not None:
            alerter.close()


class _Alerter:
    """Sends the outbox from a thread of its own whenever a stored feed added alerts.

    An alert waits up to `patience_s` for the rest of the batch (it then names every
    outlet that carried its story), never for a feed that does not answer.
    """

    def __init__(self, send: Callable[[], object], patience_s: float) -> None:
        self._send = send
        self._patience_s = patience_s
        self._due = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()

    def stored(self) -> None:
        self._due.set()

    def close(self) -> None:
        self._closed.set()
        self._due.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self._due.wait()
            if self._closed.wait(None if math.isinf(self._patience_s) else self._patience_s):
                return  # the batch is done: its caller sends what is left
            self._due.clear()
            try:
                self._send()
            except Exception:  # the caller sends again at the end of the batch
                log.exception("sending alerts during the batch failed")


@dataclass(frozen=True, slots=True)
class _Polled:
    """One feed's fetch and parse, waiting for its turn to be stored."""

    result: FetchResult | None
    parsed: ParsedFeed | None
    parse_error: FeedParseError | None
    internal_error: str | None
    elapsed_s: float


async def _poll(
    targets: Sequence[FeedTarget],
    engine: Engine,
    writer: _Writer,
    options: PollOptions,
    transport: httpx.AsyncBaseTransport | None,
) -> list[FeedReport]:
    """Fetch and parse concurrently; store in the listed order while the fetches go on.

    Storing runs in a thread so fetching never waits for the database.
    """
    workers = options.parser_workers or min(os.cpu_count() or 1, 4)
    with ParserPool(workers=workers) as parser:
        async with FeedFetcher(options.fetch, transport=transport) as fetcher:

            async def fetch_and_parse(target: FeedTarget) -> _Polled:
                return await _fetch_and_parse(target, fetcher, parser)

            window = max(4 * options.fetch.max_concurrency, 8)
            async for ready in in_order(
                targets, fetch_and_parse, window=window, patience_s=options.patience_s
            ):
                if writer.has_work(ready):
                    await asyncio.to_thread(writer.write, ready)
                else:  # nothing to write yet: not worth a trip to a thread
                    writer.write(ready)
    await asyncio.to_thread(writer.flush)
    return writer.reports


async def _fetch_and_parse(target: FeedTarget, fetcher: FeedFetcher, parser: ParserPool) -> _Polled:
    started = time.perf_counter()
    result: FetchResult | None = None
    parsed: ParsedFeed | None = None
    parse_error: FeedParseError | None = None
    internal_error: str | None = None
    try:
        result = await fetcher.fetch(
            target.url, etag=target.etag, last_modified=target.last_modified
        )
        if refresh.needs_parse(result, target):
            assert result.body is not None  # needs_parse checked it
            try:
                parsed = await parser.parse(
                    result.body, url=result.final_url, headers=result.headers
                )
            except FeedParseError as exc:
                parse_error = exc
    except Exception as exc:  # one feed's bug must not stop the others; say which feed
        log.exception("feed %s: unexpected error", target.url)
        internal_error = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]
    return _Polled(result, parsed, parse_error, internal_error, time.perf_counter() - started)


class _Writer:
    """The store stage of a batch: each parsed feed in one transaction with its articles,
    matches and outbox rows; feeds with nothing new gathered and written together."""

    def __init__(
        self,
        engine: Engine,
        matcher: Matcher,
        options: PollOptions,
        now: datetime,
        alerter: _Alerter | None = None,
    ):
        self.engine = engine
        self.matcher = matcher
        self.options = options
        self.now = now
        self.alerter = alerter
        self.reports: list[FeedReport] = []
        self.pages_budget = fulltext.Budget(options.full_text_budget_s)
        self._unchanged: list[tuple[FeedTarget, FeedOutcome, FeedReport]] = []
        self._dry_run_seen: set[str] = set()  # a dry run stores nothing: it remembers here

    def has_work(self, ready: Sequence[tuple[FeedTarget, _Polled]]) -> bool:
        return any(p.parsed for _, p in ready) or (
            len(self._unchanged) + len(ready) >= _HEALTH_BATCH
        )

    def write(self, ready: Sequence[tuple[FeedTarget, _Polled]]) -> None:
        for target, polled in ready:
            report = FeedReport(
                url=target.url, name=target.name, health="", ok=True, elapsed_s=polled.elapsed_s
            )
            self.reports.append(report)
            if polled.parsed is None:
                outcome = self._outcome(target, polled)
                report.health, report.ok = outcome.health, outcome.ok
                self._unchanged.append((target, outcome, report))
            else:
                self._write_parsed(target, polled, polled.parsed, report)
        if len(self._unchanged) >= _HEALTH_BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the gathered feeds' rows in one transaction."""
        unchanged, self._unchanged = self._unchanged, []
        if not unchanged or self.options.dry_run:
            return
        try:
            with store.session_scope(self.engine) as session:
                outcomes = [(t.id, outcome) for t, outcome, _ in unchanged]
                store.record_feed_outcomes(session, outcomes=outcomes, now=self.now)
        except Exception as exc:  # the database failed: say so on each feed, go on
            log.exception("could not record the health of %d feeds", len(unchanged))
            for _, _, report in unchanged:
                report.ok, report.health = False, f"internal error: {type(exc).__name__}: {exc}"

    def _outcome(
        self, target: FeedTarget, polled: _Polled, new_entries: int | None = None
    ) -> FeedOutcome:
        return refresh.feed_outcome(
            target,
            polled.result,
            now=self.now,
            base_interval_s=self.options.base_interval_s,
            parsed=polled.parsed,
            parse_error=polled.parse_error,
            new_entries=new_entries,
            internal_error=polled.internal_error,
        )

    def _write_parsed(
        self, target: FeedTarget, polled: _Polled, parsed: ParsedFeed, report: FeedReport
    ) -> None:
        try:
            with store.session_scope(self.engine) as session:
                new, seen, updated = new_articles(session, parsed, target, now=self.now)
                pages = fulltext.fill(
                    new,
                    mode=target.full_text,
                    settings=self.options.page_fetch,
                    budget=self.pages_budget,
                )
                new = pages.ready
                if self.options.dry_run:
                    new = [a for a in new if _first_sighting(a, self._dry_run_seen)]
                matched = [MatchedArticle(a, self.matcher.match(a)) for a in new]
                report.matched = [m for m in matched if m.hits]
                if self.options.dry_run:
                    outcome = self._outcome(target, polled, new_entries=len(new))
                    report.new_articles = len(new)
                    # one per (article, rule), as store_articles counts the real run's
                    report.matches = sum(len(m.hits) for m in report.matched)
                    report.health, report.ok = outcome.health, outcome.ok
                    session.rollback()
                    return
                stored = [
                    (m.article, [self.matcher.to_store(h, m.article) for h in m.hits])
                    for m in matched
                ]
                counts = store.store_articles(
                    session,
                    feed_id=target.id,
                    articles=stored,
                    now=self.now,
                    story_threshold=self.options.story_threshold,
                    story_window=self.options.story_window,
                )
                rematched = store.update_articles(
                    session,
                    updates=[
                        (i, a, [self.matcher.to_store(h, a) for h in self.matcher.match(a)])
                        for i, a in updated
                    ],
                    now=self.now,
                )
                counts.matches += rematched.matches
                counts.deliveries += rematched.deliveries
                store.add_sources(session, article_ids=seen, feed_id=target.id, now=self.now)
                outcome = self._outcome(target, polled, new_entries=counts.new_articles)
                store.record_feed_outcomes(session, outcomes=[(target.id, outcome)], now=self.now)
                if pages.deferred:  # read again next cycle, when their pages get their turn
                    store.forget_feed_validators(session, feed_id=target.id)
            report.new_articles, report.matches = counts.new_articles, counts.matches
            report.health, report.ok = outcome.health, outcome.ok
            if counts.deliveries and self.alerter is not None:
                self.alerter.stored()
        except Exception as exc:  # a store error for one feed leaves the others to go on
            log.exception("feed %s: could not store its entries", target.url)
            report.ok, report.health = False, f"internal error: {type(exc).__name__}: {exc}"


def new_articles(
    session: Session, parsed: ParsedFeed, target: FeedTarget, *, now: datetime
) -> tuple[list[CleanArticle], list[int], list[tuple[int, CleanArticle]]]:
    """Normalise a feed's entries; return the new ones, the ids of those already stored
    (by fingerprint or canonical URL), which only need this feed noted as one more source,
    and those stored under the same fingerprint (guid) whose title or text changed since,
    with their ids: an update of the same article, to store and match again (not when the
    stored text is the one read from the article's page).

    Guids are scoped to the feed as the config names it, not to the URL it was fetched
    from: a feed that moved (301/308) keeps its entries' fingerprints, so its old entries
    never come back as new.
    """
    articles: dict[str, CleanArticle] = {}
    for entry in parsed.entries:
        if entry.feed_url != target.scope:
            entry = replace(entry, feed_url=target.scope)
        article = normalize_entry(entry, fetched_at=now, source=target.name)
        articles.setdefault(article.fingerprint, article)
    known = store.known_articles(
        session,
        fingerprints=list(articles),
        canonical_urls=[a.canonical_url for a in articles.values() if a.canonical_url],
    )
    texts = store.stored_texts(
        session, fingerprints=[fp for fp in articles if known.get(fp) is not None]
    )
    new: list[CleanArticle] = []
    seen: list[int] = []
    updated: list[tuple[int, CleanArticle]] = []
    new_urls: set[str] = set()
    for article in articles.values():
        url = article.canonical_url
        stored = known.get(article.fingerprint) or (known.get(url) if url else None)
        if stored is not None:
            seen.append(stored)
            before = texts.get(article.fingerprint)
            if (
                before is not None
                and (before.title, before.summary, before.body)
                != (article.title, article.summary, article.body)
                and not _text_from_page(before, article, target)
            ):
                updated.append((before.article_id, article))
        elif url and url in new_urls:
            continue  # the same story twice in one feed
        else:
            new.append(article)
            if url:
                new_urls.add(url)
    return new, seen, updated


def _text_from_page(before: store.StoredText, entry: CleanArticle, target: FeedTarget) -> bool:
    """Whether the stored text was read from the article's page (full_text): longer than
    its short entry gives, it differs from the entry every time without being an update."""
    if not fulltext.wants_page(entry, target.full_text):
        return False
    stored = fulltext.word_count(f"{before.summary} {before.body}")
    return stored > fulltext.word_count(f"{entry.summary} {entry.body}")


def _first_sighting(article: CleanArticle, seen: set[str]) -> bool:
    keys = {article.fingerprint, article.canonical_url or article.fingerprint}
    if keys & seen:
        return False
    seen.update(keys)
    return True


# --- the whole cycle in one process ------------------------------------------------------


def run_cycle(
    engine: Engine,
    config: Config,
    *,
    environ: Mapping[str, str],
    now: datetime,
    only: Sequence[str] | None = None,
    dry_run: bool = False,
    due_only: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> CycleReport:
    """One whole cycle without Prefect: the same steps as the monitor flow.

    All due feeds go through one fetcher and one parser pool, so the per-host limit holds
    for the whole cycle and the pool starts once. Alerts go out while feeds are still
    being polled, and once more at the end.
    """
    cycle = plan(engine, config, now=now, only=only, due_only=due_only, dry_run=dry_run)
    report = CycleReport(dry_run=dry_run)
    sent: list[DeliveryReport] = []

    def send_alerts() -> None:
        sent.append(notify.deliver(engine, config, environ=environ, now=now))

    report.feeds = poll_batch(
        cycle.targets,
        engine=engine,
        matcher=cycle.matcher,
        options=cycle.options,
        now=now,
        send_alerts=None if dry_run else send_alerts,
        transport=transport,
    )
    if not dry_run:
        send_alerts()  # what is left, and earlier failures now due
        report.delivery = merged(sent)
    return report


def merged(reports: Sequence[DeliveryReport]) -> DeliveryReport:
    """Several sends of one cycle, in the order they ran, as one report (a channel's problem
    said once); what still waits is what the last of them left."""
    total = DeliveryReport(pending=reports[-1].pending if reports else 0)
    for part in reports:
        total.sent += part.sent
        total.failed += part.failed
        total.dead += part.dead
        total.deferred += part.deferred
        total.errors += [e for e in part.errors if e not in total.errors]
    return total
