"""Render alerts and deliver them through Apprise, one target per channel.

Channel URLs carry passwords and tokens, so nothing here lets a URL or a secret reach a
log, an error message or the database: errors pass through `Redactor` first.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import apprise
from apprise.decorators import notify as apprise_notify
from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.store import PendingAlert

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 8


@apprise_notify(on="console", name="newswatch console")  # type: ignore[untyped-decorator]
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
            # Tokens live in the path for slack://T/B/X-style URLs and in query values.
            found.update(p for p in parts.path.split("/") if len(p) >= 8)
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
    name: str
    url: str  # resolved: secrets included; never printed


def render(alert: PendingAlert) -> tuple[str, str]:
    """(title, body) of one alert: what a reader needs to decide whether to click."""
    title = f"[{alert.rule_name}] {alert.article_title}"
    published = alert.published_at.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        alert.article_title,
        f"Outlet: {alert.source}",
        f"Published: {published}",
        f"Link: {alert.article_url or '(none)'}",
        f"Rule: {alert.rule_id}",
        f"Matched terms: {', '.join(alert.terms) or '-'}",
    ]
    if alert.also_reported_by:
        lines.append(f"Also reported by: {', '.join(alert.also_reported_by)}")
    if alert.article_summary:
        lines += ["", _shorten(alert.article_summary, 600)]
    return title, "\n".join(lines)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str | None = None


def send(channel: Channel, *, title: str, body: str, redact: Redactor) -> SendResult:
    """Send one message to one channel's single target and say why it failed."""
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(secure_logging=True))
    if not notifier.add(channel.url):
        return SendResult(False, f"channel {channel.name!r}: Apprise rejected its URL")
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        try:
            result = notifier.notify(title=title, body=body)
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
    errors: list[str] = field(default_factory=list)


def deliver_pending(
    engine: Engine,
    *,
    channels: Mapping[str, Channel],
    redact: Redactor,
    now: Callable[[], datetime] = store.utcnow,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    batch: int = 50,
) -> DeliveryReport:
    """Send every due delivery once; failures stay pending with a later attempt time."""
    report = DeliveryReport()
    names = list(channels)
    while True:
        with Session(engine) as session:
            claimed = store.claim_due_deliveries(session, now=now(), limit=batch, channels=names)
        if not claimed:
            return report
        for alert in claimed:
            title, body = render(alert)
            outcome = send(channels[alert.channel], title=title, body=body, redact=redact)
            with Session(engine) as session:
                if outcome.ok:
                    store.mark_sent(session, delivery_id=alert.delivery_id, now=now())
                    report.sent += 1
                else:
                    error = outcome.error or "unknown error"
                    status = store.mark_failed(
                        session,
                        delivery_id=alert.delivery_id,
                        error=error,
                        now=now(),
                        max_attempts=max_attempts,
                    )
                    report.failed += 1
                    report.dead += status == "dead"
                    report.errors.append(f"{alert.channel}: {error}")
                    log.warning("alert to channel %r failed: %s", alert.channel, error)
                session.commit()
        if len(claimed) < batch:
            return report
