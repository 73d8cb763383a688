"""Alerts leave newswatch here: channels from the config, rendering per target, the outbox
(instant and digest), and the Notifier that sends (Apprise, or in memory for tests)."""

from newswatch.notify.channels import Channel, Redactor, SecretLookup, channels_from
from newswatch.notify.notifier import AppriseNotifier, InMemoryNotifier, Notifier
from newswatch.notify.outbox import DigestReport, deliver, notify_operator, send_digests

__all__ = [
    "AppriseNotifier",
    "Channel",
    "DigestReport",
    "InMemoryNotifier",
    "Notifier",
    "Redactor",
    "SecretLookup",
    "channels_from",
    "deliver",
    "notify_operator",
    "send_digests",
]
