"""The monitor flows: due feeds -> a task per batch of feeds -> deliver the outbox.

`monitor` polls in this process, or with `shards` > 1 fans the cycle out as runs of the
`monitor-shard` deployment that any worker of the pool picks up; it then delivers once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run as current_run
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote
from sqlmodel import Session

from flows import fanout
from flows.hooks import alert_operator
from flows.secret_blocks import read_secret_block
from newswatch import run_summary, sharding, store
from newswatch.config import Config, load_config
from newswatch.cycle import (
    Alerts,
    CyclePlan,
    DigestPool,
    StoryWindow,
    batches,
    merged,
    plan,
    poll_batch,
    prepare,
    selected_feeds,
)
from newswatch.models import CycleReport, DeliveryReport, FeedReport, FeedTarget, utcnow
from newswatch.run_summary import RunSummary
from newswatch.settings import get_settings

T = TypeVar("T")


def unexamined(value: T) -> T:
    """The value, marked so that Prefect hands it to a task without walking it first.

    Prefect visits every object inside a task's parameters, looking for futures to wait on;
    the plan (every feed, the compiled rules) and the pools hold none, and walking them cost
    a third of a flow run's own CPU. The task receives the value itself.
    """
    return cast(T, quote(value))


class ShardRunsFailed(RuntimeError):
    """Some shard runs did not complete; what they stored was still delivered."""


@task(name="poll-feeds", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def poll_feeds(
    cycle: CyclePlan,
    targets: list[FeedTarget],
    database_url: str,
    pool: DigestPool,
    alerts: Alerts | None = None,
    stories: StoryWindow | None = None,
) -> tuple[list[FeedReport], DeliveryReport]:
    """One batch of feeds (cycle.poll_batch); retrying is safe because the store dedupes.
    With `alerts`, alerts go out while the batch runs (a stalled feed holds back no other's)."""
    with store.engine_at(database_url) as engine:
        return poll_batch(cycle, targets, engine=engine, pool=pool, alerts=alerts, stories=stories)


@task(name="deliver-alerts", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def deliver_alerts(database_url: str, alerts: Alerts) -> DeliveryReport:
    """Send the outbox; retrying is safe because each delivery is claimed before sending."""
    with store.engine_at(database_url) as engine:
        return alerts.send(engine, utcnow())


@flow(
    name="monitor",
    task_runner=ThreadPoolTaskRunner(max_workers=2),  # type: ignore[arg-type]
    on_failure=[alert_operator],
    on_crashed=[alert_operator],
)
def monitor(
    config_path: str | None = None,
    feeds: list[str] | None = None,
    dry_run: bool = False,
    due_only: bool = False,
    shards: int = 1,
) -> CycleReport:
    """Poll every feed (only the due ones with `due_only`, as the schedule's runs do), store
    new matches, send alerts; with `shards` > 1, shard runs on the pool's workers poll.

    (`shards` is checked here, not with Annotated[int, Field(ge=1)]: under this module's
    postponed annotations a deployment run could not resolve that parameter model.)
    """
    sharding.check_shard(0, shards)
    if shards > 1:
        return _final_state(_fan_out(config_path, feeds, dry_run, due_only, shards))
    _, config, database_url, cycle = _plan(config_path, feeds, due_only, dry_run)
    alerts = None if dry_run else _alerts(config)
    report = _poll(cycle, config, database_url, alerts)
    if alerts is not None:
        rest = deliver_alerts(database_url, unexamined(alerts))
        report.delivery = merged([report.delivery, rest])
    summary = run_summary.from_cycle(report)
    _record(summary, prefix="monitor")
    _log_outcome(summary)
    return _final_state(report)


@flow(
    name="monitor-shard",
    task_runner=ThreadPoolTaskRunner(max_workers=2),  # type: ignore[arg-type]
    on_failure=[alert_operator],
    on_crashed=[alert_operator],
)
def monitor_shard(
    shard: int,
    shards: int,
    config_path: str | None = None,
    feeds: list[str] | None = None,
    dry_run: bool = False,
    due_only: bool = True,
) -> CycleReport:
    """Poll the due feeds of one shard and store their matches; the run that started the
    shards delivers, once for the whole cycle."""
    sharding.check_shard(shard, shards)
    _, config, database_url, cycle = _plan(config_path, feeds, due_only, dry_run)
    mine = sharding.in_shard(cycle.targets, shard=shard, shards=shards, url=lambda t: t.scope)
    get_run_logger().info("shard %d of %d: %d due feeds", shard, shards, len(mine))
    report = _poll(replace(cycle, targets=mine), config, database_url)
    title = f"newswatch monitor shard {shard} of {shards}"
    _record(run_summary.from_cycle(report, title=title), prefix="monitor-shard")
    return report


def _log_outcome(summary: RunSummary) -> None:
    """What the run polled, matched and sent, in its log: one line, then one per match."""
    logger = get_run_logger()
    logger.info("%s", run_summary.outcome_line(summary))
    for match in summary.matches:
        logger.info("match: %s -> %s (%s)", match.rule, match.title, match.outlet)


def alerts_state_name(delivery: DeliveryReport) -> str | None:
    """The run's state name when alerts did not go out: None when none failed."""
    failed = delivery.failed + delivery.dead
    if not failed:
        return None
    return "Alerts failed" if delivery.sent == 0 else "Some alerts failed"


def _final_state(report: CycleReport) -> CycleReport:
    """The report, in a run state named for what did not go out.

    No alert of the run went out: Failed, named "Alerts failed", so the UI's badge and an
    automation see a failure (the feeds were polled and the matches stored all the same, and
    the alerts wait in the outbox for the next run; a caller that asks for the state still
    gets the report). Some went out: Completed, named "Some alerts failed". The message
    names the failing channels. Prefect makes a returned State the run's final state.
    """
    name = alerts_state_name(report.delivery)
    if name is None:
        if report.feeds or report.dry_run:
            return report
        nothing: State[CycleReport] = Completed(
            data=report, name="Nothing due", message="no feed was due: nothing polled"
        )
        return cast(CycleReport, nothing)
    delivery = report.delivery
    channels = ", ".join(delivery.failed_channels) or "unknown"
    message = (
        f"{name}: {delivery.sent} sent, {delivery.failed} failed (retried by the next run), "
        f"{delivery.dead} given up; failing channels: {channels}; the run log has a line for each"
    )
    kind = Failed if delivery.sent == 0 else Completed
    state: State[CycleReport] = kind(data=report, name=name, message=message)
    return cast(CycleReport, state)  # see the docstring: callers receive state.data


def _alerts(config: Config) -> Alerts:
    """Where the run's alerts go: channel secrets from the environment or Secret blocks."""
    return Alerts(config, os.environ, secrets=read_secret_block)


def _load(config_path: str | None) -> tuple[Path, Config, str]:
    settings = get_settings()
    path = Path(config_path) if config_path else settings.config
    return path, load_config(path), settings.resolved_database_url()


def _prepare(config_path: str | None) -> tuple[Path, Config, str, datetime]:
    """Load the config and bring the database in line with it; returns when that was."""
    path, config, database_url = _load(config_path)
    now = utcnow()
    with store.engine_at(database_url) as engine:
        prepare(engine, config, now=now)
    return path, config, database_url, now


def _plan(
    config_path: str | None, feeds: list[str] | None, due_only: bool, dry_run: bool
) -> tuple[Path, Config, str, CyclePlan]:
    """The cycle's plan, as the plain cycle makes it (cycle.plan); the config is read once."""
    path, config, database_url = _load(config_path)
    with store.engine_at(database_url) as engine:
        cycle = plan(engine, config, now=utcnow(), only=feeds, due_only=due_only, dry_run=dry_run)
    return path, config, database_url, cycle


def _poll(
    cycle: CyclePlan, config: Config, database_url: str, alerts: Alerts | None = None
) -> CycleReport:
    """A task per batch of feeds, all sharing one pool of digest workers; one run-logger
    line per feed problem."""
    report = CycleReport(dry_run=cycle.options.dry_run)
    sent: list[DeliveryReport] = []
    stories = StoryWindow()  # the run's window of stored sketches, read once for all batches
    with DigestPool(cycle.matcher, workers=cycle.options.parser_workers) as pool:
        futures = [
            poll_feeds.submit(
                unexamined(cycle),
                unexamined(batch),
                database_url,
                unexamined(pool),
                unexamined(alerts),
                stories,
            )
            for batch in batches(cycle.targets, config.monitor.batch_size)
        ]
        for future in futures:
            feeds, delivery = future.result()
            report.feeds.extend(feeds)
            sent.append(delivery)
    report.delivery = merged(sent)
    logger = get_run_logger()
    for feed in report.failed_feeds:
        logger.warning("feed %s (%s): %s", feed.name, feed.url, feed.health)
    return report


def _record(summary: RunSummary, *, prefix: str) -> None:
    """The run history: a summary, a table of the new matches, a table of the polled feeds."""
    create_markdown_artifact(
        markdown=run_summary.summary_markdown(summary), key=f"{prefix}-summary"
    )
    create_table_artifact(
        table=run_summary.match_rows(summary),
        key=f"{prefix}-matches",
        description="New matches of this run, with links",
    )
    create_table_artifact(
        table=run_summary.feed_rows(summary),
        key=f"{prefix}-feeds",
        description="Feeds polled by this run",
    )


def _fan_out(
    config_path: str | None,
    feeds: list[str] | None,
    dry_run: bool,
    due_only: bool,
    shards: int,
) -> CycleReport:
    """Start a shard run per shard, wait for all, deliver once, summarise from the database."""
    logger = get_run_logger()
    # Once here, so the shards do not race each other to migrate an empty database.
    _, config, database_url, started = _prepare(config_path)
    parameters = sharding.shard_run_parameters(
        shards=shards, config_path=config_path, dry_run=dry_run, feeds=feeds, due_only=due_only
    )
    runs = fanout.start_shards(parameters, key=str(current_run.id or started.isoformat()))
    logger.info("started %d shard runs of %s", len(runs), fanout.SHARD_DEPLOYMENT)
    outcomes = fanout.wait_for_shards(runs)
    failed = [o for o in outcomes if not o.completed]
    for outcome in failed:
        logger.warning("%s", outcome.describe())
    report = CycleReport(dry_run=dry_run)
    if not dry_run:  # what the shards stored goes out even when one of them failed
        report.delivery = deliver_alerts(database_url, _alerts(config))
    summary = _shards_summary(
        config, database_url, outcomes, report.delivery, feeds, started, dry_run
    )
    _record(summary, prefix="monitor")
    report.feeds = [
        FeedReport(f.url, f.name, f.health, f.ok, f.new_articles, f.matches, f.elapsed_s or 0.0)
        for f in summary.feeds
    ]
    if failed:
        raise ShardRunsFailed("; ".join(o.describe() for o in failed))
    return report


def _shards_summary(
    config: Config,
    database_url: str,
    outcomes: list[fanout.ShardRun],
    delivery: DeliveryReport,
    only: Sequence[str] | None,
    started: datetime,
    dry_run: bool,
) -> RunSummary:
    """The cycle as the shards left it: feed rows and matches from the shared database,
    poll times from the shard runs' feed tables, and each shard run's final state."""
    rows = fanout.shard_table_rows(outcomes, key="monitor-shard-feeds")
    notes = [
        f"shard {o.shard}: {o.state}" if o.completed else o.describe()
        for o in sorted(outcomes, key=lambda o: o.shard)
    ]
    title = f"newswatch monitor run ({len(outcomes)} shards)"
    if dry_run:  # the shards stored nothing: their feed tables are all there is
        return run_summary.from_feed_rows(rows, title=title, notes=notes)
    urls = [f.url for f in selected_feeds(config, only)]
    with store.engine_at(database_url) as engine, Session(engine) as session:
        polled = store.cycle_feeds(session, since=started, config_urls=urls)
        matches = store.cycle_matches(session, since=started, feed_ids=[f.id for f in polled])
    return run_summary.from_store(
        polled,
        matches,
        timings=run_summary.timings_from_rows(rows),
        alerts_sent=delivery.sent,
        alerts_failed=delivery.failed,
        alerts_dead=delivery.dead,
        alerts_pending=delivery.pending,
        failing_channels=delivery.failed_channels,
        title=title,
        notes=notes,
    )
