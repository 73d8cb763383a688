"""The monitor flow: due feeds -> a task per batch of feeds -> deliver the outbox."""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.secrets import read_secret_block
from newswatch import pipeline, store
from newswatch.alerts import DeliveryReport
from newswatch.channels import deliver
from newswatch.config import load_config
from newswatch.pipeline import CycleReport, FeedReport, FeedTarget, Matcher, PollOptions
from newswatch.settings import get_settings


@task(name="poll-feeds", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def poll_feeds(
    targets: list[FeedTarget], database_url: str, matcher: Matcher, options: PollOptions
) -> list[FeedReport]:
    """One batch of feeds; retrying is safe because the store dedupes."""
    engine = store.make_engine(database_url)
    try:
        return pipeline.poll_batch(targets, engine=engine, matcher=matcher, options=options)
    finally:
        engine.dispose()


@task(name="deliver-alerts", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def deliver_alerts(database_url: str, config_path: str) -> DeliveryReport:
    config = load_config(Path(config_path))
    engine = store.make_engine(database_url)
    try:
        return deliver(engine, config, environ=os.environ, secrets=read_secret_block)
    finally:
        engine.dispose()


@flow(name="monitor", task_runner=ThreadPoolTaskRunner(max_workers=2))  # type: ignore[arg-type]
def monitor(
    config_path: str | None = None,
    feeds: list[str] | None = None,
    dry_run: bool = False,
    due_only: bool = True,
) -> CycleReport:
    """Poll the due feeds (every feed when not `due_only`), store new matches, send alerts."""
    logger = get_run_logger()
    settings = get_settings()
    path = Path(config_path) if config_path else settings.config
    config = load_config(path)
    database_url = settings.resolved_database_url()
    engine = store.make_engine(database_url)
    now = store.utcnow()
    pipeline.prepare(engine, config, now=now)
    targets = pipeline.due_targets(engine, config, now=now, only=feeds, due_only=due_only)
    engine.dispose()
    matcher = Matcher(config)
    options = pipeline.poll_options(config, dry_run=dry_run)
    futures = [
        poll_feeds.submit(batch, database_url, matcher, options)
        for batch in pipeline.batches(targets, config.monitor.batch_size)
    ]
    report = CycleReport(dry_run=dry_run)
    for future in futures:
        report.feeds.extend(future.result())
    for feed in report.failed_feeds:
        logger.warning("feed %s (%s): %s", feed.name, feed.url, feed.health)
    if not dry_run:
        report.delivery = deliver_alerts(database_url, str(path))
    create_markdown_artifact(markdown=summary_markdown(report), key="monitor-summary")
    return report


def summary_markdown(report: CycleReport) -> str:
    lines = [
        "# newswatch monitor run" + (" (dry run)" if report.dry_run else ""),
        "",
        f"- feeds polled: {len(report.feeds)} ({len(report.failed_feeds)} failed)",
        f"- new articles: {report.new_articles}",
        f"- matches: {report.matches}",
        f"- alerts sent: {report.delivery.sent}, failed: {report.delivery.failed}",
        "",
        "| feed | result | new | matches | seconds |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {f.name} | {f.health} | {f.new_articles} | {f.matches} | {f.elapsed_s:.2f} |"
        for f in sorted(report.feeds, key=lambda f: -f.elapsed_s)
    ]
    return "\n".join(lines)
