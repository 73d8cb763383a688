"""The exit codes a scheduler reads (cron, systemd, CI): the README and `--help` list them."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from newswatch.models import CycleReport


class ExitCode(IntEnum):
    """What a command's exit status means; the worst outcome of a run wins."""

    OK = 0
    """all well"""
    CRASHED = 1
    """an unexpected error (a bug: the traceback is printed)"""
    CONFIG_ERROR = 2
    """the config, a command-line option or the database cannot be used; nothing ran"""
    FEEDS_FAILED = 3
    """the run finished, but some feeds failed (`newswatch feeds status` says why)"""
    ALERTS_FAILED = 4
    """alerts failed or are still pending after their retries (`newswatch alerts failed`)"""


EXIT_CODES_HELP = (
    "Exit codes: 0 all well; 2 config or database error (nothing ran); "
    "3 some feeds failed; 4 alerts failed or pending after retries; 1 a crash (a bug)."
)
"""One paragraph for `--help`."""


def run_exit_code(report: CycleReport, *, alerts_waiting: int) -> ExitCode:
    """A run's code; the worst outcome wins: an alert that did not go out matters more than
    a feed that failed this time (it will be polled again)."""
    delivery = report.delivery
    if delivery.failed or delivery.dead or alerts_waiting:
        return ExitCode.ALERTS_FAILED
    if report.failed_feeds:
        return ExitCode.FEEDS_FAILED
    return ExitCode.OK


def alerts_waiting_for_retry(engine: Engine) -> int:
    """Deliveries that failed at least once and still wait for their next attempt."""
    from sqlmodel import Session

    from newswatch import store
    from newswatch.models import DeliveryStatus

    with Session(engine) as session:
        pending = store.deliveries(session, status=DeliveryStatus.PENDING.value)
    return sum(1 for delivery in pending if delivery.attempts > 0)
