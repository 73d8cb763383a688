"""Digests: one message per digest channel with every match since its last digest.

Each channel's own cron expression (in its time zone) says when; the digest flow only
has to run often enough. Claiming all of a channel's pending digest deliveries and marking
them sent together is what puts each match in exactly one digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from cronsim import CronSim
from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.alerts import Channel, send
from newswatch.channels import SecretLookup, channels_from, redactor_for
from newswatch.config import Config
from newswatch.models import DeliveryKind
from newswatch.render import render_digest

MAX_DIGEST_ITEMS = 500


def digest_due(*, cron: str, zone: str, since: datetime, now: datetime) -> bool:
    """Whether the channel's schedule fired between `since` and `now`."""
    local_since = since.astimezone(ZoneInfo(zone))
    return next(CronSim(cron, local_since)) <= now.astimezone(ZoneInfo(zone))


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
    now: datetime | None = None,
    channel: str | None = None,
    force: bool = False,
    secrets: SecretLookup | None = None,
) -> DigestReport:
    """Send the digests that are due (all with pending matches when `force`)."""
    when = now or store.utcnow()
    channels, problems = channels_from(config, environ, secrets)
    report = DigestReport()
    for problem in problems:
        report.failed[problem.split(":", 1)[0]] = problem
    redact = redactor_for(channels)
    for name, chan in channels.items():
        if channel is not None and name != channel:
            continue
        if not force and not _due(engine, chan, when):
            report.skipped.append(name)
            continue
        with Session(engine) as session:
            alerts = store.claim_due_deliveries(
                session,
                now=when,
                limit=MAX_DIGEST_ITEMS,
                channels=[name],
                kind=DeliveryKind.DIGEST,
            )
        if not alerts:
            report.skipped.append(name)
            continue
        message = render_digest(alerts, channel=name, fmt=chan.format, zone=chan.zone)
        outcome = send(chan, message, redact=redact)
        ids = [a.delivery_id for a in alerts]
        with Session(engine) as session:
            if outcome.ok:
                store.mark_many_sent(session, delivery_ids=ids, now=when)
                report.sent[name] = len(ids)
            else:
                error = outcome.error or "unknown error"
                for delivery_id in ids:
                    store.mark_failed(
                        session,
                        delivery_id=delivery_id,
                        error=error,
                        now=when,
                        max_attempts=chan.max_attempts,
                    )
                report.failed[name] = error
            session.commit()
    return report


def _due(engine: Engine, chan: Channel, now: datetime) -> bool:
    with Session(engine) as session:
        oldest = store.oldest_pending_at(session, channel=chan.name, kind=DeliveryKind.DIGEST)
        if oldest is None:
            return False  # nothing is sent when there is nothing
        last = store.last_sent_at(session, channel=chan.name, kind=DeliveryKind.DIGEST)
    since = max(last, oldest) if last is not None else oldest
    return digest_due(cron=chan.digest_cron, zone=chan.zone, since=since, now=now)
