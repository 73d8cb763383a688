"""Sending the outbox: instant alerts as they come, digests when their channel's cron says.

Each delivery is claimed before it is sent and marked after the service accepted it, so a
crash never loses an alert. When a channel fails, the rest of its queue waits for the same
retry time untried: an outage costs one attempt per pass, not one per alert, and the
alerts arrive in order once it recovers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import monotonic
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from cronsim import CronSim
from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.models import (
    DeliveryKind,
    DeliveryReport,
    DeliveryStatus,
    Message,
    PendingAlert,
    SendResult,
)
from newswatch.notify.channels import Channel, Redactor, SecretLookup, channels_from
from newswatch.notify.notifier import AppriseNotifier, Notifier
from newswatch.notify.render import render_alert, render_digest

if TYPE_CHECKING:
    from newswatch.config import Config

log = logging.getLogger(__name__)

MAX_DIGEST_ITEMS: Final = 500
RATE_WINDOW: Final = timedelta(seconds=60)


def deliver(
    engine: Engine,
    config: Config,
    *,
    environ: Mapping[str, str],
    now: datetime,
    secrets: SecretLookup | None = None,
    notifier: Notifier | None = None,
    batch: int = 50,
) -> DeliveryReport:
    """Send every due instant alert of the outbox (this cycle's and earlier failures).

    An article that several rules matched goes to a channel as one message listing the
    rules; its deliveries are marked sent (or failed) together. Each send renews its claim
    first, so the lease only has to cover one send. A failed or dead delivery is a WARNING
    line in the log (the run log, under Prefect). A delivery that gives up is reported to
    the operator channel, unless that is the channel that failed: a failing channel never
    alerts itself about its own failure.
    """
    channels, problems = channels_from(config, environ, secrets)
    for problem in problems:
        log.warning("alerts cannot be sent now: %s", problem)
    sender = _Sender(channels, notifier or AppriseNotifier())
    report = DeliveryReport(errors=list(problems))
    held: dict[str, datetime] = {}  # channel -> when its deliveries may be tried again
    started = monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=monotonic() - started)

    while open_channels := [n for n in channels if n not in held]:
        # claimed for a short while: each send renews its own article's claim (below)
        claim_now = clock()
        with store.session_scope(engine) as session:
            claimed = store.claim_due_deliveries(
                session,
                now=claim_now,
                limit=batch,
                channels=open_channels,
                lease=store.QUEUED_LEASE,
            )
        claimed_until = claim_now + store.QUEUED_LEASE
        for group in _by_article(claimed):
            channel = channels[group[0].channel]
            if channel.name in held:
                continue  # held with the rest of its queue below; its claim lapses
            if _over_rate(engine, channel, now):
                _hold(engine, held, channel.name, now + RATE_WINDOW)
                report.deferred += len(group)
                continue
            send_until = clock() + store.CLAIM_LEASE
            with store.session_scope(engine) as session:
                mine = store.renew_claims(
                    session,
                    delivery_ids=[a.delivery_id for a in group],
                    claimed_until=claimed_until,
                    until=send_until,
                )
            group = [a for a in group if a.delivery_id in mine]
            if group:
                _send_group(engine, config, sender, channel, group, now, report, held)
        if len(claimed) < batch:
            break
    with Session(engine) as session:
        waiting = store.count_waiting(session, kind=DeliveryKind.INSTANT)
    report.pending = waiting.get(DeliveryStatus.PENDING.value, 0)
    return report


def _by_article(alerts: Sequence[PendingAlert]) -> list[list[PendingAlert]]:
    """The claimed alerts as one group per (article, channel), in the order claimed."""
    groups: dict[tuple[int, str], list[PendingAlert]] = {}
    for alert in alerts:
        groups.setdefault((alert.article_id, alert.channel), []).append(alert)
    return list(groups.values())


def _send_group(
    engine: Engine,
    config: Config,
    sender: _Sender,
    channel: Channel,
    group: list[PendingAlert],
    now: datetime,
    report: DeliveryReport,
    held: dict[str, datetime],
) -> None:
    """Send one article's alerts to one channel as one message; mark them all alike."""
    outcome = sender.send(channel, render_alert(group, fmt=channel.format, zone=channel.zone))
    ids = [a.delivery_id for a in group]
    if outcome.ok:
        with store.session_scope(engine) as session:
            store.mark_sent(session, delivery_ids=ids, now=now)
        report.sent += len(ids)
        return
    error = outcome.error or "unknown error"
    with store.session_scope(engine) as session:
        statuses = [
            store.mark_failed(
                session,
                delivery_id=delivery_id,
                error=error,
                now=now,
                max_attempts=channel.max_attempts,
            )
            for delivery_id in ids
        ]
    attempts = max(a.attempts for a in group) + 1
    retry_at = store.retry_at(now, attempts)
    report.failed += len(ids)
    report.errors.append(f"{channel.name}: {error}")
    if channel.name not in report.failed_channels:
        report.failed_channels.append(channel.name)
    _hold(engine, held, channel.name, retry_at)
    if DeliveryStatus.DEAD.value in statuses:
        report.dead += statuses.count(DeliveryStatus.DEAD.value)
        log.warning(
            "alert to channel %r gave up after %d attempts (%s): %s",
            channel.name,
            attempts,
            group[0].article_title,
            error,
        )
        _tell_operator_of_dead(config, sender, failed=channel.name, error=error)
        return
    log.warning(
        "alert to channel %r failed (attempt %d of %d, next try %s): %s",
        channel.name,
        attempts,
        channel.max_attempts,
        retry_at.isoformat(timespec="seconds"),
        error,
    )


def notify_operator(
    config: Config,
    *,
    environ: Mapping[str, str],
    title: str,
    body: str,
    secrets: SecretLookup | None = None,
    notifier: Notifier | None = None,
) -> SendResult | None:
    """Tell the operator channel (if one is configured) that something went wrong.

    Sent directly, not through the outbox: it reports on the pipeline itself.
    """
    name = config.monitor.operator_channel
    if name is None:
        return None
    channels, _ = channels_from(config, environ, secrets)
    if name not in channels:
        return SendResult(False, f"operator channel {name!r} is not usable now")
    sender = _Sender(channels, notifier or AppriseNotifier())
    return sender.send(channels[name], Message(title, sender.redact(body), "plain"))


@dataclass
class DigestReport:
    sent: dict[str, int] = field(default_factory=dict)  # channel -> matches in its digest
    failed: dict[str, str] = field(default_factory=dict)  # channel -> error
    skipped: list[str] = field(default_factory=list)  # not due, or nothing to send


def send_digests(
    engine: Engine,
    config: Config,
    *,
    environ: Mapping[str, str],
    now: datetime,
    channel: str | None = None,
    force: bool = False,
    secrets: SecretLookup | None = None,
    notifier: Notifier | None = None,
) -> DigestReport:
    """Send the digests that are due (all with pending matches when `force`).

    Claiming all of a channel's pending digest deliveries and marking them together is
    what puts each match in exactly one digest.
    """
    channels, problems = channels_from(config, environ, secrets)
    sender = _Sender(channels, notifier or AppriseNotifier())
    report = DigestReport()
    for problem in problems:
        report.failed[problem.split(":", 1)[0]] = problem
    for name, chan in channels.items():
        if channel is not None and name != channel:
            continue
        if not force and not _digest_due(engine, chan, now):
            report.skipped.append(name)
            continue
        with store.session_scope(engine) as session:
            alerts = store.claim_due_deliveries(
                session, now=now, limit=MAX_DIGEST_ITEMS, channels=[name], kind=DeliveryKind.DIGEST
            )
        if not alerts:
            report.skipped.append(name)
            continue
        message = render_digest(alerts, channel=name, fmt=chan.format, zone=chan.zone)
        outcome = sender.send(chan, message)
        ids = [a.delivery_id for a in alerts]
        with store.session_scope(engine) as session:
            if outcome.ok:
                store.mark_sent(session, delivery_ids=ids, now=now)
                report.sent[name] = len(ids)
                continue
            error = outcome.error or "unknown error"
            for delivery_id in ids:
                store.mark_failed(
                    session,
                    delivery_id=delivery_id,
                    error=error,
                    now=now,
                    max_attempts=chan.max_attempts,
                )
            report.failed[name] = error
            log.warning("digest to channel %r failed: %s", name, error)
    return report


def digest_due(*, cron: str, zone: str, since: datetime, now: datetime) -> bool:
    """Whether the channel's schedule fired between `since` and `now`."""
    local_since = since.astimezone(ZoneInfo(zone))
    return next(CronSim(cron, local_since)) <= now.astimezone(ZoneInfo(zone))


class _Sender:
    """A notifier whose every error passes through the redactor of all the channels."""

    def __init__(self, channels: Mapping[str, Channel], notifier: Notifier) -> None:
        self.channels = channels
        self.notifier = notifier
        self.redact = Redactor.for_channels(channels.values())

    def send(self, channel: Channel, message: Message) -> SendResult:
        try:
            outcome = self.notifier.send(channel, message)
        except Exception as exc:  # a notifier's bug must not stop the other deliveries
            outcome = SendResult(False, f"{type(exc).__name__}: {exc}")
        if outcome.error is None:
            return outcome
        return SendResult(outcome.ok, self.redact(outcome.error))


def _tell_operator_of_dead(config: Config, sender: _Sender, *, failed: str, error: str) -> None:
    operator = config.monitor.operator_channel
    if operator is None or operator == failed or operator not in sender.channels:
        return
    sender.send(
        sender.channels[operator],
        Message(
            title=f"newswatch: alerts to {failed!r} gave up",
            body=f"A delivery to channel {failed!r} failed for good: {error}\n"
            "List them with `newswatch alerts failed`; retry with `newswatch alerts retry`.",
            format="plain",
        ),
    )


def _hold(engine: Engine, held: dict[str, datetime], channel: str, until: datetime) -> None:
    held[channel] = until
    with store.session_scope(engine) as session:
        store.hold_channel(session, channel=channel, until=until)


def _over_rate(engine: Engine, channel: Channel, now: datetime) -> bool:
    limit = channel.rate_limit_per_minute
    if limit is None:
        return False
    with Session(engine) as session:
        return store.sent_since(session, channel=channel.name, since=now - RATE_WINDOW) >= limit


def _digest_due(engine: Engine, chan: Channel, now: datetime) -> bool:
    with Session(engine) as session:
        oldest = store.oldest_pending_at(session, channel=chan.name, kind=DeliveryKind.DIGEST)
        if oldest is None:
            return False  # nothing is sent when there is nothing
        last = store.last_sent_at(session, channel=chan.name, kind=DeliveryKind.DIGEST)
    since = max(last, oldest) if last is not None else oldest
    return digest_due(cron=chan.digest_cron, zone=chan.zone, since=since, now=now)
