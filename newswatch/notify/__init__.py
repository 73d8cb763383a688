"""Alerts leave newswatch here: channels from the config, rendering per target, the outbox
(instant and digest), and the Notifier that sends (Apprise, or in memory for tests)."""

from newswatch.notify.channels import (
    Channel,
    ChannelUnavailable,
    Redactor,
    SecretLookup,
    channel_url_problem,
    channels_from,
)
from newswatch.notify.notifier import AppriseNotifier, InMemoryNotifier, Notifier
from newswatch.notify.outbox import (
    DigestReport,
    deliver,
    digest_due,
    notify_operator,
    send_digests,
)
from newswatch.notify.render import escape, highlight, render_alert, render_digest

__all__ = [
    "AppriseNotifier",
    "Channel",
    "ChannelUnavailable",
    "DigestReport",
    "InMemoryNotifier",
    "Notifier",
    "Redactor",
    "SecretLookup",
    "channel_url_problem",
    "channels_from",
    "deliver",
    "digest_due",
    "escape",
    "highlight",
    "notify_operator",
    "render_alert",
    "render_digest",
    "send_digests",
]
