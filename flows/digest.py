"""The digest flow: each digest channel gets one message with its matches since the last one."""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, get_run_logger

from flows.hooks import alert_operator
from flows.secret_blocks import read_secret_block
from newswatch import store
from newswatch.config import load_config
from newswatch.models import utcnow
from newswatch.notify import DigestReport, send_digests
from newswatch.settings import get_settings


@flow(
    name="digest",
    retries=1,
    retry_delay_seconds=60,
    on_failure=[alert_operator],
    on_crashed=[alert_operator],
)
def digest(
    config_path: str | None = None, channel: str | None = None, force: bool = False
) -> DigestReport:
    """Send the digests whose schedule has come (each channel's own cron and time zone)."""
    logger = get_run_logger()
    settings = get_settings()
    config = load_config(Path(config_path) if config_path else settings.config)
    with store.engine_at(settings.resolved_database_url()) as engine:
        store.migrate(engine)
        report = send_digests(
            engine,
            config,
            environ=os.environ,
            now=utcnow(),
            channel=channel,
            force=force,
            secrets=read_secret_block,
        )
    for name, count in report.sent.items():
        logger.info("digest to %s: %d matches", name, count)
    for name, error in report.failed.items():
        logger.warning("digest to %s failed: %s", name, error)
    return report
