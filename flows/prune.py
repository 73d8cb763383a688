"""The prune flow: old unmatched articles removed on a schedule (newswatch.prune does it)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from newswatch import store, timespec
from newswatch.models import PruneReport, utcnow
from newswatch.prune import describe, prune_articles
from newswatch.settings import get_settings


@flow(name="prune", retries=1, retry_delay_seconds=300)
def prune(older_than: str = "90d") -> PruneReport:
    """Remove the articles stored longer ago than `older_than` that no rule matched."""
    age = timespec.parse_age(older_than)
    with store.engine_at(get_settings().resolved_database_url()) as engine:
        store.migrate(engine)
        report = prune_articles(engine, older_than=age, now=utcnow())
    get_run_logger().info("%s", describe(report))
    return report
