"""Apprise URLs on their own: `${VAR}` references, whether Apprise takes a URL, its format.

The config checks its channel URLs with these, and the channels resolve them: kept apart from
both so that neither imports the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import ModuleType
from typing import Final
from urllib.parse import parse_qs, urlsplit

ENV_REF: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve_channel_url(url: str, environ: Mapping[str, str]) -> str:
    """Replace ${VAR} with its value; a missing variable is a KeyError naming it."""

    def sub(m: re.Match[str]) -> str:
        return environ[m.group(1)]

    return ENV_REF.sub(sub, url)


def load_apprise() -> ModuleType:
    """Apprise, with newswatch's console:// service registered.

    Imported on first use: its plugins take about a second, which a command that sends
    nothing should not pay.
    """
    import apprise

    import newswatch.notify.console  # noqa: F401  (registers console://)

    return apprise


def channel_url_problem(url: str) -> str | None:
    """Why Apprise cannot use this URL, in words that never repeat the URL's secrets."""
    apprise = load_apprise()
    scheme = urlsplit(url).scheme or url.split(":", 1)[0]
    if not scheme:
        return "the channel URL has no scheme (e.g. mailto://, slack://, json://)"
    if apprise.Apprise.instantiate(url) is None:
        return f"Apprise does not accept this {scheme}:// URL (unknown scheme or bad form)"
    return None


def service_format(url: str) -> str | None:
    """The body format the Apprise service for `url` prefers ("html", "markdown", "text")."""
    asked = parse_qs(urlsplit(url).query).get("format")
    if asked:
        return asked[0].lower()  # the URL's own ?format= wins, as it does in Apprise
    service = load_apprise().Apprise.instantiate(url)
    if service is None:
        return None
    preferred = service.notify_format  # a tuple, most preferred first, in Apprise 2.x
    if isinstance(preferred, tuple | list):
        preferred = preferred[0] if preferred else None
    return None if preferred is None else str(getattr(preferred, "value", preferred))
