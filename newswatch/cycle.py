"""The one orchestrator of a monitor cycle: every event loop, process pool and thread of a
cycle lives here; the steps it calls take values and return values.

    plan -> per feed, on an event loop in a thread of its own ("cycle-loop"):
            fetch (network) -> digest (a worker process: parse, normalise, language, sketch,
            match) -> pages (network, summary-only feeds)
         -> per feed, in the listed order, in the caller's thread: store (one transaction)
         -> deliver (the caller's thread: while the batch runs, and once at its end)

Three places run a feed's code: the caller's thread (a flow's task), the event loop's
thread, a digest worker process.

`run_cycle` is the whole cycle for `newswatch run`, the tests and the benches; the monitor
flow (flows/monitor.py) calls `plan`, `DigestPool`, `poll_batch` (a Prefect task per batch of
feeds) and `Alerts.send` (a task) of this module, and composes nothing itself.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from connectors import (
    FeedFetcher,
    FeedParseError,
    FetchResult,
    PageText,
    ParserPool,
)
from newswatch import fulltext, notify, refresh, store
from newswatch.config import Config
from newswatch.matching import Matcher
from newswatch.models import (
    CleanArticle,
    CycleReport,
    DeliveryReport,
    Digest,
    FeedOutcome,
    FeedReport,
    FeedTarget,
    MatchedArticle,
)
from newswatch.notify import SecretLookup
from newswatch.ordered_window import in_order
from newswatch.plan import CyclePlan, PollOptions, batches, plan, prepare, selected_feeds
from newswatch.steps.digest import digest_in_worker, digested, load_rules
from newswatch.steps.store import sort_articles, store_feed
from newswatch.store.stories import StoryWindow

__all__ = [
    "Alerts",
    "CyclePlan",
    "DigestPool",
    "PollOptions",
    "StoryWindow",
    "batches",
    "merged",
    "plan",
    "poll_batch",
    "prepare",
    "run_cycle",
    "selected_feeds",
]

log = logging.getLogger(__name__)

_HEALTH_BATCH: Final = 256  # feeds with nothing new whose rows are written in one transaction
_PRELOAD: Final = ("newswatch.steps.worker_start",)  # what every digest worker needs
_QUEUED_FEEDS: Final = 64  # digested feeds waiting for the store, at most
_FEEDS_PER_COMMIT: Final = 16  # feeds waiting together are stored in one transaction


@dataclass(frozen=True)
class Alerts:
    """Where a cycle's alerts go: the config's channels, the environment and (in a flow)
    the Prefect Secret blocks that fill in their secrets."""

    config: Config
    environ: Mapping[str, str]
    secrets: SecretLookup | None = None

    def send(self, engine: Engine, now: datetime) -> DeliveryReport:
        """Send the outbox's due alerts (this cycle's and earlier failures)."""
        return notify.deliver(
            engine, self.config, environ=self.environ, now=now, secrets=self.secrets
        )


# A digest's time limit per MiB of body, over ParserPool's 30 s: the digest parses,
# normalises, detects language, sketches and matches, about 3.4 s per MiB on a quiet 2-core
# machine (`bench/cycle.py --big-feed`) and several times that on a loaded one, which the
# parse-sized 6 s per MiB turned into a failed feed. 20 s per MiB allows 330 s at the
# 15 MiB body cap.
DIGEST_S_PER_MIB: Final = 20.0


class DigestPool:
    """The cycle's worker processes for the digest step, one pool per cycle (or flow run).

    The workers (and their forkserver, which loads the language model and the rules'
    dictionaries) start when the first body needs digesting, not before: a cycle in which
    every feed answers 304 or an unchanged body starts no process at all. Each worker
    receives the cycle's compiled rules once, as it starts (the pool's initializer), and
    digests any number of feeds with them. `in_process`: digest on the event loop's own
    thread instead (no time limit; for tracing an article's path).
    """

    def __init__(
        self, matcher: Matcher, *, workers: int | None = None, in_process: bool = False
    ) -> None:
        self.matcher = matcher
        self.in_process = in_process
        self._pool = ParserPool(
            workers=workers,
            timeout_s_per_mib=DIGEST_S_PER_MIB,
            initializer=load_rules,
            initargs=(matcher,),
            preload=_PRELOAD,
        )
        self._starting = threading.Lock()
        self._started = False

    def _start_workers(self) -> None:
        """Start the workers once, from a thread of its own: a worker's fork waits for the
        forkserver's imports, which must not stall the event loop's fetches meanwhile."""
        with self._starting:
            if not self._started:
                self._pool.start()
                self._started = True

    async def digest(self, result: FetchResult, target: FeedTarget, now: datetime) -> Digest:
        """The feed's body digested in a worker; raises FeedParseError (a timeout or a
        crash included) when it gives no feed."""
        assert result.body is not None  # refresh.needs_parse checked it
        args = (result.body, result.final_url, dict(result.headers), target.scope, target.name)
        if self.in_process:
            load_rules(self.matcher)
            outcome = digest_in_worker(*args, now)
        else:
            if not self._started:
                await asyncio.to_thread(self._start_workers)
            outcome = await self._pool.run(digest_in_worker, *args, now)
        if isinstance(outcome, FeedParseError):
            raise outcome
        return outcome

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> DigestPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    """One whole cycle without Prefect: the same stages as the monitor flow.

    All due feeds go through one fetcher and one pool, so the per-host limit holds for the
    whole cycle and the workers start once. Alerts go out while feeds are still being
    polled, and once more at the end.
    """
    cycle = plan(engine, config, now=now, only=only, due_only=due_only, dry_run=dry_run)
    alerts = None if dry_run else Alerts(config, environ)
    with DigestPool(cycle.matcher, workers=cycle.options.parser_workers) as pool:
        feeds, sent = poll_batch(
            cycle, cycle.targets, engine=engine, pool=pool, alerts=alerts, transport=transport
        )
    report = CycleReport(dry_run=dry_run, feeds=feeds)
    if alerts is not None:  # what is left, and earlier failures now due
        report.delivery = merged([sent, alerts.send(engine, now)])
    return report


def poll_batch(
    cycle: CyclePlan,
    targets: Sequence[FeedTarget],
    *,
    engine: Engine,
    pool: DigestPool | None = None,
    alerts: Alerts | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    stories: StoryWindow | None = None,
) -> tuple[list[FeedReport], DeliveryReport]:
    """Poll a batch of feeds and store what is new; one feed's failure stays its own.

    `stories`: the story window the cycle's batches share (read once per cycle, not once
    per batch); a batch alone reads its own.

    With `alerts`, the outbox is sent while the batch goes on: a feed that stalls for its
    whole timeout holds back no other feed's alerts (the caller sends what is left once
    the batch is done).
    """
    if pool is None:
        with DigestPool(cycle.matcher, workers=cycle.options.parser_workers) as own:
            return poll_batch(
                cycle,
                targets,
                engine=engine,
                pool=own,
                alerts=alerts,
                transport=transport,
                stories=stories,
            )
    batch = _Batch(engine, cycle, alerts, stories=stories or StoryWindow())
    batch.run(targets, pool, transport)
    listed = {target.url: i for i, target in enumerate(targets)}
    reports = sorted(batch.reports, key=lambda r: listed.get(r.url, len(listed)))
    return reports, merged(batch.sent)


@dataclass(slots=True)
class _Polled:
    """One feed fetched and digested (its pages read), waiting for its turn to be stored."""

    result: FetchResult | None = None
    digest: Digest | None = None
    parse_error: FeedParseError | None = None
    internal_error: str | None = None
    deferred: int = 0  # new articles whose page the budget did not reach
    failed_pages: list[PageText] = field(default_factory=list)
    elapsed_s: float = 0.0


_Handed = tuple[FeedTarget, _Polled] | BaseException | None  # a feed, the loop's error, or done


@dataclass
class _Batch:
    """One batch: fetch, digest and pages run concurrently on the event loop; each feed is
    then stored in the listed order, in one transaction; alerts go out as they are stored."""

    engine: Engine
    cycle: CyclePlan
    alerts: Alerts | None
    reports: list[FeedReport] = field(default_factory=list)
    sent: list[DeliveryReport] = field(default_factory=list)
    _unchanged: list[tuple[FeedTarget, FeedOutcome, FeedReport]] = field(default_factory=list)
    # the stored sketches of the cycle's window, read once, kept up to date as it stores
    stories: StoryWindow = field(default_factory=StoryWindow)
    _dry_run_seen: set[str] = field(default_factory=set)  # a dry run stores nothing

    @property
    def options(self) -> PollOptions:
        return self.cycle.options

    def run(
        self,
        targets: Sequence[FeedTarget],
        pool: DigestPool,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        """The event loop fetches, digests and reads pages in a thread of its own; this
        (the caller's) thread stores each feed as it is handed over, in the listed order,
        and sends the alerts, so its log lines reach the caller's (a flow run's) log."""
        handed: queue.Queue[_Handed] = queue.Queue()
        room = threading.Semaphore(_QUEUED_FEEDS)  # the store may lag this far behind
        stop = threading.Event()  # this thread gave up: the loop stops handing feeds over
        loop = threading.Thread(
            target=self._loop,
            args=(targets, pool, transport, handed, room, stop),
            name="cycle-loop",
        )
        loop.start()
        try:
            alert_at: float | None = None  # when the alerts stored so far go out
            while True:
                wait = None if alert_at is None else max(0.0, alert_at - time.monotonic())
                try:
                    item = handed.get(timeout=wait)
                except queue.Empty:
                    alert_at = None
                    self._send()
                    continue
                group: list[tuple[FeedTarget, _Polled]] = []
                while item is not None and not isinstance(item, BaseException):
                    group.append(item)
                    room.release()
                    if len(group) >= _FEEDS_PER_COMMIT or handed.empty():
                        break
                    item = handed.get_nowait()
                if self._store(group) and alert_at is None and self.alerts:
                    alert_at = time.monotonic() + self.options.patience_s
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
            self._flush()
        finally:
            stop.set()
            loop.join()

    def _loop(
        self,
        targets: Sequence[FeedTarget],
        pool: DigestPool,
        transport: httpx.AsyncBaseTransport | None,
        handed: queue.Queue[_Handed],
        room: threading.Semaphore,
        stop: threading.Event,
    ) -> None:
        try:
            asyncio.run(self._produce(targets, pool, transport, handed, room, stop))
            handed.put(None)
        except BaseException as exc:  # handed to the caller's thread, which raises it
            handed.put(exc)

    async def _produce(
        self,
        targets: Sequence[FeedTarget],
        pool: DigestPool,
        transport: httpx.AsyncBaseTransport | None,
        handed: queue.Queue[_Handed],
        room: threading.Semaphore,
        stop: threading.Event,
    ) -> None:
        pages_budget = fulltext.Budget(self.options.full_text_budget_s)
        async with FeedFetcher(self.options.fetch, transport=transport) as fetcher:

            async def prepare_feed(target: FeedTarget) -> _Polled:
                return await self._prepare(target, fetcher, pool, pages_budget)

            window = max(4 * self.options.fetch.max_concurrency, 8)
            async for ready in in_order(
                targets, prepare_feed, window=window, patience_s=self.options.patience_s
            ):
                for item in ready:
                    while not room.acquire(blocking=False):
                        if stop.is_set():
                            return  # nobody stores any more
                        await asyncio.sleep(0.01)  # the store is behind: let it catch up
                    handed.put(item)

    def _send(self) -> None:
        """Send the outbox while the batch goes on (the caller sends what is left)."""
        assert self.alerts is not None  # only called with alerts
        try:
            self.sent.append(self.alerts.send(self.engine, self.cycle.now))
        except Exception:  # the caller sends again at the end of the batch
            log.exception("sending alerts during the batch failed")

    async def _prepare(
        self,
        target: FeedTarget,
        fetcher: FeedFetcher,
        pool: DigestPool,
        pages_budget: fulltext.Budget,
    ) -> _Polled:
        """fetch -> digest -> pages for one feed; anything it raises is this feed's alone."""
        started = time.perf_counter()
        polled = _Polled()
        try:
            polled.result = await fetcher.fetch(
                target.url, etag=target.etag, last_modified=target.last_modified
            )
            if refresh.needs_parse(polled.result, target):
                try:
                    polled.digest = await pool.digest(polled.result, target, self.cycle.now)
                except FeedParseError as exc:
                    polled.parse_error = exc
            if polled.digest is not None:
                polled.digest, polled.deferred, polled.failed_pages = await self._pages(
                    target, polled.digest, pool.matcher, pages_budget
                )
        except Exception as exc:  # one feed's bug must not stop the others; say which feed
            log.exception("feed %s: unexpected error", target.url)
            polled.internal_error = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]
        polled.elapsed_s = time.perf_counter() - started
        return polled

    async def _pages(
        self, target: FeedTarget, digest: Digest, matcher: Matcher, budget: fulltext.Budget
    ) -> tuple[Digest, int, list[PageText]]:
        """Article pages for the feed's new summary-only entries, read before anything is
        stored; an article given its page's text is matched and sketched again. Articles
        the budget did not reach are left out (stored next cycle); the pages that failed
        are returned to be reported."""
        wanting = [d for d in digest.articles if fulltext.wants_page(d.article, target.full_text)]
        if not wanting:
            return digest, 0, []
        with Session(self.engine) as session:
            new = sort_articles(session, wanting, target).new
        if not new:
            return digest, 0, []
        pages = await fulltext.fill(
            [d.article for d in new],
            mode=target.full_text,
            settings=self.options.page_fetch,
            budget=budget,
        )
        ready = {a.fingerprint: a for a in pages.ready}
        deferred = {a.fingerprint for a in pages.deferred}
        articles = []
        for d in digest.articles:
            if d.article.fingerprint in deferred:
                continue
            page_read = ready.get(d.article.fingerprint)
            articles.append(d if page_read in (None, d.article) else digested(page_read, matcher))
        if pages.failed:
            first = pages.failed[0]
            log.warning(
                "feed %s: %d article page(s) could not be read, matched on the feed's text "
                "alone (first: %s: %s)",
                target.name,
                len(pages.failed),
                first.url,
                first.problem,
            )
        return replace(digest, articles=articles), len(deferred), pages.failed

    def _store(self, group: Sequence[tuple[FeedTarget, _Polled]]) -> bool:
        """Store the feeds handed over together in one transaction (each alone when that
        fails, so a feed's failure stays its own); whether they added alerts."""
        to_write: list[tuple[FeedTarget, _Polled, FeedReport]] = []
        for target, polled in group:
            report = FeedReport(
                url=target.url, name=target.name, health="", ok=True, elapsed_s=polled.elapsed_s
            )
            if polled.failed_pages:
                first = polled.failed_pages[0]
                report.pages_failed = len(polled.failed_pages)
                report.page_problem = f"{first.url}: {first.problem}"
            self.reports.append(report)
            if polled.digest is None:
                outcome = self._outcome(target, polled)
                report.health, report.ok = outcome.health, outcome.ok
                self._unchanged.append((target, outcome, report))
                if len(self._unchanged) >= _HEALTH_BATCH:
                    self._flush()
            elif self.options.dry_run:
                self._dry_run(target, polled, polled.digest, report)
            else:
                to_write.append((target, polled, report))
        if not to_write:
            return False
        written: list[Callable[[], bool] | None]
        try:
            with self._transaction() as session:
                written = [self._write(session, t, p, r) for t, p, r in to_write]
        except Exception:
            if len(to_write) == 1:
                written = [self._write_alone(*to_write[0])]
            else:
                log.warning("storing %d feeds together failed: each alone now", len(to_write))
                written = [self._write_alone(t, p, r) for t, p, r in to_write]
        added = False
        for apply in written:
            if apply is not None:
                added = apply() or added
        return added

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """One store transaction, the only one using the cycle's story window meanwhile
        (batches running at once share it); rolled back, it rolls the window back too."""
        with self.stories.lock:
            mark = self.stories.mark()
            try:
                with store.session_scope(self.engine) as session:
                    yield session
            except BaseException:
                self.stories.rollback(mark)
                raise

    def _write_alone(
        self, target: FeedTarget, polled: _Polled, report: FeedReport
    ) -> Callable[[], bool] | None:
        try:
            with self._transaction() as session:
                return self._write(session, target, polled, report)
        except Exception as exc:  # a store error for one feed leaves the others to go on
            log.exception("feed %s: could not store its entries", target.url)
            report.ok, report.health = False, f"internal error: {type(exc).__name__}: {exc}"
            return None

    def _write(
        self, session: Session, target: FeedTarget, polled: _Polled, report: FeedReport
    ) -> Callable[[], bool]:
        """One feed's rows; returns what to tell its report once they are committed."""
        assert polled.digest is not None  # only digested feeds are written
        stored = store_feed(
            session,
            target=target,
            articles=polled.digest.articles,
            now=self.cycle.now,
            story_threshold=self.options.story_threshold,
            story_window=self.options.story_window,
            stories=self.stories,
        )
        counts = stored.counts
        outcome = self._outcome(target, polled, new_entries=counts.new_articles)
        store.record_feed_outcomes(session, outcomes=[(target.id, outcome)], now=self.cycle.now)
        if polled.deferred:  # read again next cycle, when their pages get their turn
            store.forget_feed_validators(session, feed_id=target.id)

        def committed() -> bool:
            report.matched = stored.matched
            report.new_articles, report.matches = counts.new_articles, counts.matches
            report.health, report.ok = outcome.health, outcome.ok
            return counts.deliveries > 0

        return committed

    def _dry_run(
        self, target: FeedTarget, polled: _Polled, digest: Digest, report: FeedReport
    ) -> None:
        """What storing would have done, with nothing written."""
        with Session(self.engine) as session:
            new = sort_articles(session, digest.articles, target).new
        new = [d for d in new if _first_sighting(d.article, self._dry_run_seen)]
        outcome = self._outcome(target, polled, new_entries=len(new))
        report.matched = [MatchedArticle(d.article, d.hits) for d in new if d.hits]
        report.new_articles = len(new)
        report.matches = sum(len(d.hits) for d in new)  # one per (article, rule)
        report.health, report.ok = outcome.health, outcome.ok

    def _flush(self) -> None:
        """Write the gathered unchanged feeds' rows in one transaction."""
        unchanged, self._unchanged = self._unchanged, []
        if not unchanged or self.options.dry_run:
            return
        try:
            with store.session_scope(self.engine) as session:
                outcomes = [(t.id, outcome) for t, outcome, _ in unchanged]
                store.record_feed_outcomes(session, outcomes=outcomes, now=self.cycle.now)
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
            now=self.cycle.now,
            base_interval_s=self.options.base_interval_s,
            parsed=polled.digest.feed if polled.digest is not None else None,
            parse_error=polled.parse_error,
            new_entries=new_entries,
            internal_error=polled.internal_error,
        )


def _first_sighting(article: CleanArticle, seen: set[str]) -> bool:
    keys = {article.fingerprint, article.canonical_url or article.fingerprint}
    if keys & seen:
        return False
    seen.update(keys)
    return True


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
        total.failed_channels += [c for c in part.failed_channels if c not in total.failed_channels]
    return total
