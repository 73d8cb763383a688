"""From the config's channel entries to channels ready to send, and the delivery pass.

Secrets are resolved here, at the last moment, from the environment or a secret lookup
(a Prefect Secret block, supplied by flows/); everything sent or logged goes through a
Redactor built from the resolved URLs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import Engine

from newswatch import store
from newswatch.alerts import (
    Channel,
    DeliveryReport,
    Redactor,
    SendResult,
    deliver_pending,
    send,
    service_format,
)
from newswatch.config import Config, resolve_channel_url
from newswatch.render import Message, channel_format

SecretLookup = Callable[[str], str]  # Secret block name -> its value


class ChannelUnavailable(Exception):
    """A channel's URL cannot be resolved (no secret lookup here, or the lookup failed)."""


def resolve_url(
    config: Config, name: str, environ: Mapping[str, str], secrets: SecretLookup | None
) -> str:
    entry = config.channels[name]
    if entry.url is not None:
        return resolve_channel_url(entry.url, environ)
    if secrets is None or entry.secret_block is None:
        raise ChannelUnavailable(
            f"channel {name!r} takes its URL from Secret block {entry.secret_block!r}, "
            "which only a Prefect flow can read"
        )
    try:
        return secrets(entry.secret_block)
    except Exception as exc:  # the block store says why; its message names no secret
        raise ChannelUnavailable(
            f"channel {name!r}: cannot read Secret block {entry.secret_block!r}: "
            f"{type(exc).__name__}"
        ) from None


def channels_from(
    config: Config, environ: Mapping[str, str], secrets: SecretLookup | None = None
) -> tuple[dict[str, Channel], list[str]]:
    """The usable channels, and one line per channel that cannot be used now."""
    channels: dict[str, Channel] = {}
    problems: list[str] = []
    for name, entry in config.channels.items():
        try:
            url = resolve_url(config, name, environ, secrets)
        except (ChannelUnavailable, KeyError) as exc:
            problems.append(
                str(exc)
                if isinstance(exc, ChannelUnavailable)
                else f"channel {name!r}: environment variable {exc} is not set"
            )
            continue
        channels[name] = Channel(
            name=name,
            url=url,
            format=channel_format(url, entry.format, service_format(url)),
            zone=config.channel_zone(name),
            mode=entry.mode,
            rate_limit_per_minute=entry.rate_limit_per_minute,
            max_attempts=entry.max_attempts,
            digest_cron=entry.digest_cron,
        )
    return channels, problems


def redactor_for(channels: Mapping[str, Channel]) -> Redactor:
    return Redactor.for_urls([c.url for c in channels.values()])


def deliver(
    engine: Engine,
    config: Config,
    *,
    environ: Mapping[str, str],
    now: datetime | None = None,
    secrets: SecretLookup | None = None,
    batch: int = 50,
) -> DeliveryReport:
    """Send every due instant alert of the outbox (this cycle's and earlier failures).

    A delivery that gives up is reported to the operator channel, unless that is the
    channel that failed: a failing channel never alerts itself about its own failure.
    """
    channels, problems = channels_from(config, environ, secrets)
    redact = redactor_for(channels)
    clock = (lambda: now) if now is not None else store.utcnow

    def on_dead(channel: str, error: str) -> None:
        operator = config.monitor.operator_channel
        if operator is None or operator == channel or operator not in channels:
            return
        send(
            channels[operator],
            Message(
                title=f"newswatch: alerts to {channel!r} gave up",
                body=f"A delivery to channel {channel!r} failed for good: {error}\n"
                "List them with `newswatch alerts failed`; retry with `newswatch alerts retry`.",
                format="plain",
            ),
            redact=redact,
        )

    report = deliver_pending(
        engine, channels=channels, redact=redact, now=clock, on_dead=on_dead, batch=batch
    )
    report.errors[:0] = problems
    return report


def notify_operator(
    config: Config,
    *,
    environ: Mapping[str, str],
    title: str,
    body: str,
    secrets: SecretLookup | None = None,
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
    redact = redactor_for(channels)
    return send(
        channels[name], Message(title=title, body=redact(body), format="plain"), redact=redact
    )
