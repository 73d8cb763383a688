"""Where a rendered message leaves newswatch: the Notifier protocol, the Apprise one that
production uses, and an in-memory one shipped for tests (as httpx ships MockTransport)."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from typing import Protocol

from newswatch.models import Message, SendResult
from newswatch.notify.apprise_urls import load_apprise
from newswatch.notify.channels import Channel, Redactor
from newswatch.notify.email_parts import email_parts


class Notifier(Protocol):
    """Sends one message to one channel and says plainly why it failed."""

    def send(self, channel: Channel, message: Message) -> SendResult: ...


class AppriseNotifier:
    """Sends through Apprise, one target per channel; errors never carry the URL's secrets."""

    def send(self, channel: Channel, message: Message) -> SendResult:
        """Apprise 2.x returns one result per target; a channel is one target, so its truth
        is that target's outcome, and the warnings it logged while failing are the reason.

        A service that takes a structured payload (json://) gets the message's fields in it;
        an email gets a Message-ID made from the message's key, and its own text part.
        """
        apprise = load_apprise()
        redact = Redactor.for_channels([channel])
        asset = apprise.AppriseAsset(secure_logging=True)
        service = apprise.Apprise.instantiate(channel.url, asset=asset)
        if service is None:
            return SendResult(False, f"channel {channel.name!r}: Apprise rejected its URL")
        extras = getattr(service, "payload_extras", None)
        if isinstance(extras, dict):
            extras.update(message.fields)
        notifier = apprise.Apprise(asset=asset)
        notifier.add(service)
        with (
            apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured,
            email_parts(key=message.key, text=message.text),
        ):
            try:
                title, body = _title_and_body(service, message)
                result = notifier.notify(
                    title=title,
                    body=body,
                    body_format=message.apprise_format,
                )
            except Exception as exc:  # a plugin bug must not stop the other deliveries
                return SendResult(False, redact(f"{type(exc).__name__}: {exc}"))
            messages = captured.getvalue().strip() if hasattr(captured, "getvalue") else ""
        if result:
            return SendResult(True)
        reason = " | ".join(line.strip() for line in messages.splitlines() if line.strip())
        return SendResult(False, redact(reason or "the service did not accept the message"))


def _title_and_body(service: object, message: Message) -> tuple[str, str]:
    """A service with no title of its own (Telegram) writes the title into the body, where it
    is read as the body's format: an HTML body's title is escaped as HTML too. A Markdown
    title would become a bold heading, inside which Telegram's Markdown honours no escape:
    the escaped title goes first in the body instead."""
    if getattr(service, "title_maxlen", None) != 0:
        return message.title, message.body
    if message.format == "html":
        return html.escape(message.title, quote=False), message.body
    if message.format == "telegram_markdown" and message.title:
        return "", f"{message.title}\n\n{message.body}"
    return message.title, message.body


@dataclass
class InMemoryNotifier:
    """Keeps what it was asked to send; channels named in `failing` fail with `error`."""

    sent: list[tuple[str, Message]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    error: str = "the service is down"

    def send(self, channel: Channel, message: Message) -> SendResult:
        if channel.name in self.failing:
            return SendResult(False, self.error)
        self.sent.append((channel.name, message))
        return SendResult(True)
