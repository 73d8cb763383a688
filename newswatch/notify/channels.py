"""From the config's channel entries to channels ready to send.

Secrets are resolved here, at the last moment, from the environment or a secret lookup
(a Prefect Secret block, supplied by flows/); everything sent, logged or stored goes
through a Redactor built from the resolved URLs, so no password or token leaks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from newswatch.models import Format
from newswatch.notify.apprise_urls import resolve_channel_url, service_format

if TYPE_CHECKING:
    from newswatch.config import Config

DEFAULT_MAX_ATTEMPTS: Final = 8

SecretLookup = Callable[[str], str]  # Secret block name -> its value


class ChannelUnavailable(Exception):
    """A channel's URL cannot be resolved (no secret lookup here, or the lookup failed)."""


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

    @classmethod
    def for_channels(cls, channels: Iterable[Channel]) -> Redactor:
        return cls.for_urls([c.url for c in channels])

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


# Services that render Markdown (and mentions) in whatever Apprise sends as text.
_MARKDOWN_AS_TEXT = frozenset({"discord", "mmost", "mmosts"})


def channel_format(url: str, configured: str | None, service_format: str | None) -> Format:
    """The format to render for a channel: the configured one, else what the service takes."""
    scheme = urlsplit(url).scheme.lower()
    # These targets format (and mention) whatever the body is called: each has its own policy.
    if scheme in ("slack", "slacks"):
        return "slack"  # mrkdwn has no escapes, so Slack gets text (newswatch.notify.escaping)
    if scheme in _MARKDOWN_AS_TEXT:
        return "chat"
    if scheme in ("workflow", "workflows"):
        return "teams"  # a card's text block is Markdown, whatever Apprise is told
    if scheme == "tgram":
        # Telegram finds @usernames in HTML and Markdown alike; Apprise sends no plain text.
        markdown = (configured or service_format) == "markdown"
        return "telegram_markdown" if markdown else "telegram"
    if configured is not None:
        return _as_format(configured)
    if service_format == "html":
        return "html"
    if service_format == "markdown":
        return "markdown"
    return "plain"


def _as_format(name: str) -> Format:
    return {"plain": "plain", "markdown": "markdown", "html": "html"}.get(name, "plain")  # type: ignore[return-value]


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
        except ChannelUnavailable as exc:
            problems.append(str(exc))
            continue
        except KeyError as exc:
            problems.append(f"channel {name!r}: environment variable {exc} is not set")
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
