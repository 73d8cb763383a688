"""Alerts leave newswatch here: channels from the config, rendering per target, the outbox
(instant and digest), and the Notifier that sends (Apprise, or in memory for tests).

The names below are imported on first use: reading a config only needs
``notify.apprise_urls``, and the outbox brings the store (SQLModel, Alembic) with it, about a
second that ``rules test`` and ``rules check`` should not pay.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOME = {
    "Channel": "channels",
    "Redactor": "channels",
    "SecretLookup": "channels",
    "channels_from": "channels",
    "AppriseNotifier": "notifier",
    "InMemoryNotifier": "notifier",
    "Notifier": "notifier",
    "DigestReport": "outbox",
    "deliver": "outbox",
    "notify_operator": "outbox",
    "send_digests": "outbox",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
