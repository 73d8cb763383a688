"""One monitor cycle as plain functions: fetch -> parse -> normalize -> dedupe -> match
-> store -> alert.

Prefect (flows/) only decides where and when these run; a test or a benchmark calls them
directly. Work is grouped per batch of feeds, never per article.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlmodel import Session

from connectors.feed import FeedParseError, ParsedFeed, ParserPool
from connectors.http import FeedFetcher, FetchResult, FetchSettings, origin_key
from connectors.schedule import describe_outcome, next_poll_delay_s
from newswatch import store
from newswatch.alerts import DeliveryReport
from newswatch.channels import deliver as deliver  # re-exported for flows/
from newswatch.channels import notify_operator as notify_operator  # re-exported for flows/
from newswatch.config import Config, FeedConfig
from newswatch.normalize import CleanArticle, normalize_entry
from newswatch.store import FeedOutcome, MatchToStore
from rules import Document, Hit, RuleIndex, compile_rules

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class MatchedArticle:
    article: CleanArticle
    hits: list[Hit]


@dataclass
class FeedReport:
    url: str
    name: str
    health: str
    ok: bool
    new_articles: int = 0
    matches: int = 0
    elapsed_s: float = 0.0
    matched: list[MatchedArticle] = field(default_factory=list)


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


INDEX_SAMPLE_SIZE: Final = 300  # recent articles that tell the rule index which words are rare


class Matcher:
    """The compiled rule index plus what each rule alerts, built once per cycle."""

    def __init__(self, config: Config, *, sample: Sequence[Document] = ()) -> None:
        self.index: RuleIndex = compile_rules(config.rule_specs(), config.lists, sample=sample)
        self.channels = {r.id: config.channels_for(r) for r in config.rules}
        # Channels where a rule's matches wait for the digest instead of going out at once.
        self.digest_channels = {
            r.id: frozenset(
                c
                for c in self.channels[r.id]
                if r.mode == "digest" or config.channels[c].mode == "digest"
            )
            for r in config.rules
        }

    def to_store(self, hit: Hit) -> MatchToStore:
        highlights: dict[str, list[list[int]]] = {}
        for term in hit.terms:
            highlights.setdefault(term.field, []).extend([s, e] for s, e in term.spans)
        return MatchToStore(
            rule_id=hit.rule_id,
            terms=hit.matched_terms,
            channels=self.channels.get(hit.rule_id, []),
            digest_channels=self.digest_channels.get(hit.rule_id, frozenset()),
            highlights=highlights,
        )

    def match(self, article: CleanArticle) -> list[Hit]:
        return self.index.match(
            document(
                title=article.title,
                summary=article.summary,
                body=article.body,
                source=article.source,
                url=article.url or article.feed_url,
            )
        )


def document(*, title: str, summary: str, body: str, source: str, url: str | None) -> Document:
    """What the rules see of an article: its text fields, and the outlet's name and domain."""
    host = urlsplit(url or "").hostname or ""
    return Document(title=title, summary=summary, body=body, source=f"{source} {host}".strip())


def index_sample(engine: Engine, *, limit: int = INDEX_SAMPLE_SIZE) -> list[Document]:
    """The newest stored articles as the rules see them.

    Given to the rule index, they let it file each rule under the word that is really rarest
    in this desk's news rather than one guessed from the rules, so fewer rules are looked at
    per article; what matches is the same either way.
    """
    with Session(engine) as session:
        articles = store.recent_articles(session, limit=limit)
        return [
            document(title=a.title, summary=a.summary, body=a.body, source=a.source, url=a.url)
            for a in articles
        ]


def matcher_for(engine: Engine, config: Config) -> Matcher:
    """The cycle's matcher, its index filed by the recent articles in the store."""
    return Matcher(config, sample=index_sample(engine))


# --- planning ------------------------------------------------------------------------


def prepare(engine: Engine, config: Config, *, now: datetime) -> None:
    """Bring the database in line with the config: schema, feed rows, rule rows."""
    store.migrate(engine)
    with Session(engine) as session:
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
    """Feeds of the config to poll now: the due ones (or all, for a manual run);
    `only` picks a subset by URL or name."""
    wanted = selected_feeds(config, only)
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
            )
            for f in feeds
        ]


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


# --- one batch of feeds ----------------------------------------------------------------

MiB: Final = 1024 * 1024


def _version() -> str:
    try:
        return importlib.metadata.version("newswatch")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "0"


def user_agent(contact_url: str) -> str:
    """Names newswatch and who runs it, so a publisher can reach us instead of blocking us."""
    return f"newswatch/{_version()} (+{contact_url})"


@dataclass(frozen=True)
class PollOptions:
    base_interval_s: float
    fetch: FetchSettings
    dry_run: bool = False
    parser_workers: int | None = None


def poll_options(config: Config, *, dry_run: bool = False) -> PollOptions:
    """The cycle's knobs from `monitor:`: the polling pace and the fetcher's politeness bounds."""
    monitor = config.monitor
    total = monitor.fetch_timeout_seconds
    defaults = FetchSettings()
    return PollOptions(
        base_interval_s=monitor.poll_interval_minutes * 60,
        fetch=FetchSettings(
            user_agent=user_agent(monitor.contact_url),
            # A deadline shorter than a phase's timeout makes that timeout moot.
            connect_timeout_s=min(defaults.connect_timeout_s, total),
            read_timeout_s=min(defaults.read_timeout_s, total),
            total_timeout_s=total,
            max_body_bytes=int(monitor.max_feed_size_mib * MiB),
            max_concurrency=monitor.max_concurrent_fetches,
            per_host_limit=monitor.per_host_limit,
        ),
        dry_run=dry_run,
    )


def poll_batch(
    targets: Sequence[FeedTarget],
    *,
    engine: Engine,
    matcher: Matcher,
    options: PollOptions,
    now: Callable[[], datetime] = store.utcnow,
) -> list[FeedReport]:
    """Fetch, parse, dedupe, match and store a batch of feeds; one feed's failure stays its own."""
    return asyncio.run(
        poll_feeds(targets, engine=engine, matcher=matcher, options=options, now=now)
    )


@dataclass(frozen=True, slots=True)
class _Fetched:
    """One feed's fetch and parse, waiting for its turn to be stored."""

    outcome: FeedOutcome
    parsed: ParsedFeed | None
    result: FetchResult | None
    elapsed_s: float


async def poll_feeds(
    targets: Sequence[FeedTarget],
    *,
    engine: Engine,
    matcher: Matcher,
    options: PollOptions,
    now: Callable[[], datetime] = store.utcnow,
) -> list[FeedReport]:
    """Fetch and parse concurrently; store feed by feed in the given order as results arrive.

    Storing in order makes the first feed listed the one that owns a story that several
    outlets carry, whatever order the fetches finish in. Storing runs in a thread while the
    fetches go on, and only a window of feeds is fetched ahead of the one being stored, so
    memory stays bounded however many feeds there are. Feeds with nothing to store (304,
    unchanged, failed) are recorded together, a few hundred a transaction: a thousand 304s
    are a few commits, not a thousand. (A crash loses only those feeds' new poll times:
    they are polled again, cheaply, next cycle.)
    """
    workers = options.parser_workers or min(os.cpu_count() or 1, 4)
    window = max(4 * options.fetch.max_concurrency, 8)
    reports: list[FeedReport] = []
    health_only: list[tuple[FeedTarget, FeedOutcome, FeedReport]] = []
    # A dry run stores nothing, so it remembers this batch's articles itself.
    dry_run_seen: set[str] = set()
    with ParserPool(workers=workers) as parser:
        async with FeedFetcher(options.fetch) as fetcher:
            upcoming = iter(targets)
            pending: deque[tuple[FeedTarget, asyncio.Task[_Fetched]]] = deque()

            def top_up() -> None:
                while len(pending) < window and (target := next(upcoming, None)) is not None:
                    task = _fetch_and_parse(target, fetcher, parser, options, now)
                    pending.append((target, asyncio.create_task(task)))

            try:
                top_up()
                while pending:
                    await asyncio.wait([pending[0][1]])
                    ready: list[tuple[FeedTarget, _Fetched]] = []
                    while pending and pending[0][1].done():
                        target, task = pending.popleft()
                        ready.append((target, task.result()))
                    top_up()
                    store_args = (ready, engine, matcher, options, now, dry_run_seen, health_only)
                    if any(f.parsed for _, f in ready) or len(health_only) + len(ready) >= (
                        _HEALTH_BATCH
                    ):
                        reports += await asyncio.to_thread(_store_ready, *store_args)
                    else:  # nothing to write yet: not worth a trip to a thread
                        reports += _store_ready(*store_args)
                if health_only and not options.dry_run:
                    await asyncio.to_thread(_record_health, health_only, engine, now)
            finally:
                for _, task in pending:
                    task.cancel()
                await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
    return reports


async def _fetch_and_parse(
    target: FeedTarget,
    fetcher: FeedFetcher,
    parser: ParserPool,
    options: PollOptions,
    now: Callable[[], datetime],
) -> _Fetched:
    started = time.perf_counter()
    result: FetchResult | None = None
    try:
        result = await fetcher.fetch(
            target.url, etag=target.etag, last_modified=target.last_modified
        )
        outcome, parsed = await _interpret(result, target, parser, options, now())
    except Exception as exc:  # one feed's bug must not stop the others; say which feed
        log.exception("feed %s: unexpected error", target.url)
        error = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]
        delay = next_poll_delay_s(
            result=None,
            consecutive_failures=target.consecutive_failures + 1,
            base_interval_s=options.base_interval_s,
        )
        outcome = FeedOutcome(
            status=None,
            ok=False,
            health=error,
            error=error,
            next_poll_at=now() + timedelta(seconds=delay),
        )
        parsed = None
    return _Fetched(outcome, parsed, result, time.perf_counter() - started)


_HEALTH_BATCH = 256  # feeds whose health is written in one transaction


def _store_ready(
    ready: Sequence[tuple[FeedTarget, _Fetched]],
    engine: Engine,
    matcher: Matcher,
    options: PollOptions,
    now: Callable[[], datetime],
    dry_run_seen: set[str],
    health_only: list[tuple[FeedTarget, FeedOutcome, FeedReport]],
) -> list[FeedReport]:
    """Store fetched feeds in order: entries one transaction per feed; the health of feeds
    with nothing to store joins `health_only`, written once enough have gathered."""
    reports: list[FeedReport] = []
    for target, fetched in ready:
        outcome = fetched.outcome
        report = FeedReport(
            url=target.url,
            name=target.name,
            health=outcome.health,
            ok=outcome.ok,
            elapsed_s=fetched.elapsed_s,
        )
        reports.append(report)
        if fetched.parsed is None:
            health_only.append((target, outcome, report))
        else:
            _process(target, fetched, report, engine, matcher, options, now, dry_run_seen)
    if options.dry_run:
        health_only.clear()
    elif len(health_only) >= _HEALTH_BATCH:
        _record_health(health_only, engine, now)
    return reports


def _record_health(
    health_only: list[tuple[FeedTarget, FeedOutcome, FeedReport]],
    engine: Engine,
    now: Callable[[], datetime],
) -> None:
    """Write the gathered feeds' health in one transaction, and empty the list."""
    try:
        with Session(engine) as session:
            store.record_feed_outcomes(
                session, outcomes=[(t.id, outcome) for t, outcome, _ in health_only], now=now()
            )
            session.commit()
    except Exception as exc:  # the database failed: say so on each feed, go on
        log.exception("could not record the health of %d feeds", len(health_only))
        for _, _, report in health_only:
            report.ok, report.health = False, f"internal error: {type(exc).__name__}: {exc}"
    health_only.clear()


def _process(
    target: FeedTarget,
    fetched: _Fetched,
    report: FeedReport,
    engine: Engine,
    matcher: Matcher,
    options: PollOptions,
    now: Callable[[], datetime],
    dry_run_seen: set[str],
) -> None:
    """Dedupe, match and store one parsed feed's entries with its new health, in one
    transaction; fills in `report`."""
    parsed = fetched.parsed
    assert parsed is not None  # only parsed feeds come here
    try:
        new, seen = _split_articles(parsed, target, engine, now())
        if options.dry_run:
            new = [a for a in new if _first_sighting(a, dry_run_seen)]
        matched = [MatchedArticle(a, matcher.match(a)) for a in new]
        report.matched = [m for m in matched if m.hits]
        if options.dry_run:
            report.new_articles, report.matches = len(new), len(report.matched)
            report.health = _health(fetched, len(new))
            return
        counts = _store(engine, target, matched, seen, matcher, fetched, now())
        report.new_articles, report.matches = counts.new_articles, counts.matches
        report.health = _health(fetched, counts.new_articles)
    except Exception as exc:  # a store error for one feed leaves the others to go on
        log.exception("feed %s: could not store its entries", target.url)
        report.ok, report.health = False, f"internal error: {type(exc).__name__}: {exc}"


def _health(fetched: _Fetched, new_entries: int) -> str:
    """The health line of a parsed feed, now that we know how many entries were new."""
    parsed = fetched.parsed
    if parsed is None or fetched.result is None:
        return fetched.outcome.health
    return describe_outcome(
        fetched.result,
        entries=len(parsed.entries),
        new_entries=new_entries,
        warning=parsed.warning,
    )


async def _interpret(
    result: FetchResult,
    target: FeedTarget,
    parser: ParserPool,
    options: PollOptions,
    now: datetime,
) -> tuple[FeedOutcome, ParsedFeed | None]:
    """Turn a fetch into the feed's health and next poll time, parsing only a changed body.

    Successes poll at the feed's own pace: the base interval, slower when RSS <ttl> (kept
    across 304s), Cache-Control max-age or Retry-After ask. Failures back off exponentially
    with jitter, up to a day and never for good; Retry-After (429/503) is a floor; a 410 marks
    the feed gone and asks again once a day. A 301/308 moves the feed's row to the new URL.
    """
    new_url = result.final_url if result.permanent_redirect else None

    def schedule(ok: bool, ttl: int | None = None) -> datetime:
        delay = next_poll_delay_s(
            result=result,
            consecutive_failures=0 if ok else target.consecutive_failures + 1,
            base_interval_s=options.base_interval_s,
            ttl_minutes=ttl,
        )
        return now + timedelta(seconds=delay)

    if result.not_modified:
        return FeedOutcome(
            status=result.status,
            ok=True,
            health=describe_outcome(result),
            next_poll_at=schedule(True, target.ttl_minutes),
            new_url=new_url,
        ), None
    if result.error is not None or not result.ok or result.body is None:
        error = result.error or f"HTTP {result.status}"
        return FeedOutcome(
            status=result.status,
            ok=False,
            health=describe_outcome(result) if result.error else error,
            error=error,
            next_poll_at=schedule(False),
            new_url=new_url,
            gone=result.status == 410,
        ), None
    if target.body_hash and result.body_sha256 == target.body_hash:
        return FeedOutcome(
            status=result.status,
            ok=True,
            health=f"{describe_outcome(result)}, unchanged since the last poll",
            etag=result.etag,
            last_modified=result.last_modified,
            next_poll_at=schedule(True, target.ttl_minutes),
            new_url=new_url,
        ), None
    try:
        parsed = await parser.parse(result.body, url=result.final_url, headers=result.headers)
    except FeedParseError as exc:
        problem = str(exc)  # a page that links a feed says so (NotAFeed.links)
        return FeedOutcome(
            status=result.status,
            ok=False,
            health=describe_outcome(result, parse_error=problem),
            error=problem,
            next_poll_at=schedule(False),
            new_url=new_url,
        ), None
    return FeedOutcome(
        status=result.status,
        ok=True,
        health=describe_outcome(result, entries=len(parsed.entries), warning=parsed.warning),
        title=parsed.title,
        etag=result.etag,
        last_modified=result.last_modified,
        body_hash=result.body_sha256,
        entries=len(parsed.entries),
        next_poll_at=schedule(True, parsed.ttl_minutes),
        new_url=new_url,
        ttl_minutes=parsed.ttl_minutes,
    ), parsed


def _first_sighting(article: CleanArticle, seen: set[str]) -> bool:
    keys = {article.fingerprint, article.canonical_url or article.fingerprint}
    if keys & seen:
        return False
    seen.update(keys)
    return True


def _split_articles(
    parsed: ParsedFeed, target: FeedTarget, engine: Engine, now: datetime
) -> tuple[list[CleanArticle], list[int]]:
    """The new entries of a feed, and the ids of those already stored (by fingerprint or
    canonical URL), which only need this feed noted as one more source.

    Guids are scoped to the feed as the config names it, not to the URL it was fetched
    from: a feed that moved (301/308) or sits behind a temporary redirect keeps its entries'
    fingerprints, so its old entries never come back as new.
    """
    scope = target.config_url or target.url
    articles: dict[str, CleanArticle] = {}
    for entry in parsed.entries:
        if entry.feed_url != scope:
            entry = replace(entry, feed_url=scope)
        article = normalize_entry(entry, fetched_at=now, source=target.name)
        articles.setdefault(article.fingerprint, article)
    with Session(engine) as session:
        known = store.known_articles(
            session,
            fingerprints=list(articles),
            canonical_urls=[a.canonical_url for a in articles.values() if a.canonical_url],
        )
    new: list[CleanArticle] = []
    seen: list[int] = []
    new_urls: set[str] = set()
    for article in articles.values():
        url = article.canonical_url
        stored = known.get(article.fingerprint) or (known.get(url) if url else None)
        if stored is not None:
            seen.append(stored)
        elif url and url in new_urls:
            continue  # the same story twice in one feed
        else:
            new.append(article)
            if url:
                new_urls.add(url)
    return new, seen


def _store(
    engine: Engine,
    target: FeedTarget,
    matched: Sequence[MatchedArticle],
    seen_ids: Sequence[int],
    matcher: Matcher,
    fetched: _Fetched,
    now: datetime,
) -> store.StoreCounts:
    """Articles, matches, outbox rows and the feed's health in one transaction; entries
    stored before only get this feed noted as a source (for "also reported by")."""
    items = [(m.article, [matcher.to_store(h) for h in m.hits]) for m in matched]
    with Session(engine) as session:
        counts = store.store_articles(session, feed_id=target.id, articles=items, now=now)
        store.add_sources(session, article_ids=seen_ids, feed_id=target.id, now=now)
        outcome = replace(fetched.outcome, health=_health(fetched, counts.new_articles))
        store.record_feed_outcome(session, feed_id=target.id, outcome=outcome, now=now)
        session.commit()
    return counts


def run_cycle(
    engine: Engine,
    config: Config,
    *,
    environ: Mapping[str, str],
    now: datetime | None = None,
    only: Sequence[str] | None = None,
    dry_run: bool = False,
    due_only: bool = True,
) -> CycleReport:
    """One whole cycle without Prefect (tests and benchmarks use this).

    All due feeds go through one fetcher and one parser pool: the per-host limit holds for
    the whole cycle and the pool starts once. (Batches exist to give Prefect its tasks;
    poll_feeds bounds memory by itself.)
    """
    when = now or store.utcnow()
    prepare(engine, config, now=when)
    targets = due_targets(engine, config, now=when, only=only, due_only=due_only)
    matcher = matcher_for(engine, config)
    options = poll_options(config, dry_run=dry_run)
    report = CycleReport(dry_run=dry_run)
    report.feeds = poll_batch(
        targets, engine=engine, matcher=matcher, options=options, now=lambda: when
    )
    if not dry_run:
        report.delivery = deliver(engine, config, environ=environ, now=when)
    return report
