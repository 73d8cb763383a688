"""Render alerts and deliver them through Apprise, one target per channel.

Channel URLs carry passwords and tokens, so nothing here lets a URL or a secret reach a
log, an error message or the database: errors pass through `Redactor` first.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import apprise
from apprise.decorators import notify as apprise_notify
from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.models import DeliveryStatus
from newswatch.render import Format, Message, render_alert

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 8


@apprise_notify(on="console", name="newswatch console")  # type: ignore[untyped-decorator,no-untyped-call]
def _console(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
    """The demo's channel: an alert printed to standard output."""
    sys.stdout.write(f"\n=== ALERT: {title}\n{body}\n")
    sys.stdout.flush()
    return True


def channel_url_problem(url: str) -> str | None:
    """Why Apprise cannot use this URL, in words that never repeat the URL's secrets."""
    scheme = urlsplit(url).scheme or url.split(":", 1)[0]
    if not scheme:
        return "the channel URL has no scheme (e.g. mailto://, slack://, json://)"
    if apprise.Apprise.instantiate(url) is None:
        return f"Apprise does not accept this {scheme}:// URL (unknown scheme or bad form)"
    return None


@dataclass(frozen=True)
class Redactor:
    """Hides every secret-bearing string (whole URLs, passwords, tokens) in a message."""

    secrets: tuple[str, ...] = ()

    @classmethod
    def for_urls(cls, urls: Iterable[str], extra: Iterable[str] = ()) -> Redactor:
        found: set[str] = set(extra)
        for url in urls:
            found.add(url)
            parts = urlsplit(url)
            if parts.password:
                found.add(parts.password)
            if parts.username:
                found.add(parts.username)
            # Tokens live in the host and path of slack://T/B/X-style URLs, and in query values.
            host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
            found.update(p for p in [host, *parts.path.split("/")] if len(p) >= 8 and "." not in p)
            found.update(
                v.split("=", 1)[1]
                for v in parts.query.split("&")
                if "=" in v and len(v.split("=", 1)[1]) >= 8
            )
        return cls(tuple(sorted((s for s in found if len(s) >= 4), key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


@dataclass(frozen=True)
class Channel:
    """A channel ready to send: its resolved URL (secrets included: never print it)."""

    name: str
    url: str
    format: Format = "plain"
    zone: str = "UTC"
    mode: str = "instant"
    rate_limit_per_minute: int | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    digest_cron: str = "0 8 * * *"

    def __repr__(self) -> str:
        return f"Channel(name={self.name!r}, format={self.format!r}, mode={self.mode!r})"


def service_format(url: str) -> str | None:
    """The body format the Apprise service for `url` prefers ("html", "markdown", "text")."""
    asked = parse_qs(urlsplit(url).query).get("format")
    if asked:
        return asked[0].lower()  # the URL's own ?format= wins, as it does in Apprise
    service = apprise.Apprise.instantiate(url)
    if service is None:
        return None
    preferred = service.notify_format  # a tuple, most preferred first, in Apprise 2.x
    if isinstance(preferred, tuple | list):
        preferred = preferred[0] if preferred else None
    return None if preferred is None else str(getattr(preferred, "value", preferred))


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str | None = None


def send(channel: Channel, message: Message, *, redact: Redactor) -> SendResult:
    """Send one message to one channel's single target and say why it failed.

    Apprise 2.x returns one result per target; a channel is one target, so its truth is
    that target's outcome, and the warnings it logged while failing are the reason.
    """
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(secure_logging=True))
    if not notifier.add(channel.url):
        return SendResult(False, f"channel {channel.name!r}: Apprise rejected its URL")
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:  # type: ignore[no-untyped-call]
        try:
            result = notifier.notify(
                title=message.title, body=message.body, body_format=message.apprise_format
            )
        except Exception as exc:  # a plugin bug must not stop the other deliveries
            return SendResult(False, redact(f"{type(exc).__name__}: {exc}"))
        messages = captured.getvalue().strip() if hasattr(captured, "getvalue") else ""
    if result:
        return SendResult(True)
    reason = " | ".join(line.strip() for line in messages.splitlines() if line.strip())
    return SendResult(False, redact(reason or "the service did not accept the message"))


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0  # left for later: the channel failed or hit its rate limit
    errors: list[str] = field(default_factory=list)


DeadHandler = Callable[[str, str], None]  # (channel, error) when a delivery gives up


def deliver_pending(
    engine: Engine,
    *,
    channels: Mapping[str, Channel],
    redact: Redactor,
    now: Callable[[], datetime] = store.utcnow,
    on_dead: DeadHandler | None = None,
    batch: int = 50,
) -> DeliveryReport:
    """Send every due instant delivery once, oldest first.

    When a channel fails, its other deliveries wait for the same retry time untried, so an
    outage costs one attempt per cycle, not one per alert, and order is kept for when it
    comes back. A rate-limited channel's surplus waits for the next minute.
    """
    report = DeliveryReport()
    held: dict[str, datetime] = {}  # channel -> when its deliveries may be tried again
    while True:
        open_channels = [n for n in channels if n not in held]
        if not open_channels:
            return report
        with Session(engine) as session:
            claimed = store.claim_due_deliveries(
                session, now=now(), limit=batch, channels=open_channels
            )
        if not claimed:
            return report
        for alert in claimed:
            channel = channels[alert.channel]
            if channel.name in held:
                continue  # already held (with the rest of its queue) below
            with Session(engine) as session:
                if _over_rate(session, channel, now()):
                    _hold(engine, held, channel.name, now() + timedelta(seconds=60))
                    report.deferred += 1
                    continue
            message = render_alert(alert, fmt=channel.format, zone=channel.zone)
            outcome = send(channel, message, redact=redact)
            with Session(engine) as session:
                if outcome.ok:
                    store.mark_sent(session, delivery_id=alert.delivery_id, now=now())
                    session.commit()
                    report.sent += 1
                    continue
                error = outcome.error or "unknown error"
                status = store.mark_failed(
                    session,
                    delivery_id=alert.delivery_id,
                    error=error,
                    now=now(),
                    max_attempts=channel.max_attempts,
                )
                session.commit()
            report.failed += 1
            report.errors.append(f"{alert.channel}: {error}")
            log.warning("alert to channel %r failed: %s", alert.channel, error)
            _hold(engine, held, channel.name, now() + store.retry_delay(alert.attempts + 1))
            if status == DeliveryStatus.DEAD.value:
                report.dead += 1
                if on_dead is not None:
                    on_dead(channel.name, error)
        if len(claimed) < batch:
            return report


def _hold(engine: Engine, held: dict[str, datetime], channel: str, until: datetime) -> None:
    held[channel] = until
    with Session(engine) as session:
        store.hold_channel(session, channel=channel, until=until)
        session.commit()


def _over_rate(session: Session, channel: Channel, now: datetime) -> bool:
    limit = channel.rate_limit_per_minute
    if limit is None:
        return False
    return (
        store.sent_since(session, channel=channel.name, since=now - timedelta(seconds=60)) >= limit
    )
