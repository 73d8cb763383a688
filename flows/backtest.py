"""The backtest flow: a rule or query over stored articles, triggered by hand."""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.secret_blocks import read_secret_block
from newswatch import store
from newswatch.backtest import BacktestReport, describe, run_backtest, window
from newswatch.config import load_config
from newswatch.models import utcnow
from newswatch.notify import deliver
from newswatch.settings import get_settings


@flow(name="backtest")
def backtest(
    rule: str | None = None,
    query: str | None = None,
    since: str = "7d",
    until: str | None = None,
    notify: bool = False,
    config_path: str | None = None,
) -> BacktestReport:
    """Print (and record as an artifact) what the rule matches; send only when `notify`."""
    settings = get_settings()
    config = load_config(Path(config_path) if config_path else settings.config)
    now = utcnow()
    start, end = window(since, until, now=now)
    with store.engine_at(settings.resolved_database_url()) as engine:
        store.migrate(engine)
        report = run_backtest(
            engine,
            config,
            since=start,
            until=end,
            rule_id=rule,
            query=query,
            notify=notify,
            now=now,
        )
        if notify and report.alerts_queued:
            deliver(engine, config, environ=os.environ, now=utcnow(), secrets=read_secret_block)
    text = describe(report)
    get_run_logger().info("%s", text.splitlines()[-1])
    create_markdown_artifact(markdown=f"```\n{text}\n```", key="backtest")
    return report
