"""State hooks: a failed run tells the operator channel, when the config names one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import FlowRun, State
from prefect.logging.loggers import flow_run_logger

from flows.secret_blocks import read_secret_block
from newswatch.config import load_config
from newswatch.notify import Redactor, notify_operator
from newswatch.settings import get_settings

MAX_ERROR_CHARS = 500


def alert_operator(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """on_failure / on_crashed hook. Never raises: a broken hook must not mask the failure."""
    logger = flow_run_logger(flow_run, flow)
    try:
        _alert_operator(flow, flow_run, state, logger)
    except Exception as exc:  # the failure itself is already recorded; say why no alert went
        logger.warning("operator alert not sent: %s", type(exc).__name__)


def failure_message(flow_name: str, run_name: str, state: State[Any], *, redact: Redactor) -> str:
    """One short paragraph naming the run and its error, with secrets hidden."""
    error = " ".join((state.message or "no message").split())
    if len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 1] + "…"
    return redact(
        f"Flow run {run_name!r} of flow {flow_name!r} ended {state.name}: {error}\n"
        "Its logs and artifacts are in the Prefect UI."
    )


def _alert_operator(flow: Any, flow_run: FlowRun, state: State[Any], logger: Any) -> None:
    settings = get_settings()
    given = flow_run.parameters.get("config_path")
    path = Path(given) if isinstance(given, str) and given else settings.config
    try:
        config = load_config(path)
    except Exception as exc:  # nothing to say where the operator channel is
        logger.warning(
            "operator alert skipped: cannot load the config: %s", str(exc).splitlines()[0]
        )
        return
    if config.monitor.operator_channel is None:
        return
    flow_name = str(getattr(flow, "name", flow_run.name))
    try:
        database_url = settings.resolved_database_url()
    except Exception:  # a bad database setting may be the failure itself
        database_url = ""
    redact = Redactor.for_urls([database_url] if database_url else [])
    result = notify_operator(
        config,
        environ=os.environ,
        title=f"newswatch: {flow_name} run {flow_run.name!r} {(state.name or 'failed').lower()}",
        body=failure_message(flow_name, flow_run.name, state, redact=redact),
        secrets=read_secret_block,
    )
    if result is not None and not result.ok:
        logger.warning("operator alert failed: %s", result.error)
    elif result is not None:
        logger.info("operator alert sent to channel %r", config.monitor.operator_channel)
